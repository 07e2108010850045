// A function with a message schema (queues.yaml: functions.delete-user.schema) and an output route:
// what it returns is published to the `users` exchange as `user.deleted`, confirmed before the ack.
import type { Handler } from '../runtime';
import { Reject } from '../runtime';

type DeleteUser = { action: 'delete_user'; userId: string };

const handler: Handler<DeleteUser> = async (message, ctx) => {
  if (message.userId === 'root') throw new Reject('the root user cannot be deleted');
  ctx.log.info({ userId: message.userId }, 'deleting user');
  return { deleted: message.userId, at: new Date().toISOString() };
};

export default handler;
