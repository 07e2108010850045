// Receives every `user.*` event from the `users` topic exchange (bound in queues.yaml with rascal's
// shorthand), with the defaults: one replica, a quorum queue named `audit`, three attempts.
import type { Handler } from '../runtime';

const handler: Handler<{ deleted: string }> = async (event, ctx) => {
  ctx.log.info({ event, routingKey: ctx.routingKey }, 'audit');
};

export default handler;
