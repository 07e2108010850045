// The consumer of RabbitMQ's classic "Hello World" tutorial, as a Warren function.
// Bound to my_exchange with routing key `test` (see queues.yaml). A plain producer's body `Test!`
// arrives as the string "Test!"; a JSON body arrives as the parsed object.
import type { Handler } from '../runtime';

const handler: Handler = async (message, ctx) => {
  ctx.log.info({ message, routingKey: ctx.routingKey }, 'received'); // ctx.log already names the function, message id and attempt
};

export default handler;
