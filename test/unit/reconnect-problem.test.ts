/**
 * A reconnect that failed says, in a person's words, what must be fixed (the vhost was deleted, the
 * credentials changed), and nothing more for a node that is simply down, which the retry handles.
 */
import { expect, it } from 'vitest';
import { reconnectProblem } from '../../runtime/connection/unreachable';

const url = 'amqp://app:secret@127.0.0.1:5672/orders?heartbeat=10';

it('names a vhost deleted under a running runtime, and how to create it, without the password', () => {
  const problem = reconnectProblem(url, new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'));
  expect(problem?.reason).toBe('the broker at amqp://app:***@127.0.0.1:5672/orders?heartbeat=10 has no vhost "orders" (or the user may not use it)');
  expect(problem?.hint).toContain('rabbitmqctl add_vhost orders');
  expect(JSON.stringify(problem)).not.toContain('secret');
});

it('names refused credentials', () => {
  const problem = reconnectProblem(url, new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED"'));
  expect(problem?.reason).toContain('refused the credentials');
});

it('says nothing more of a node that is down', () => {
  expect(reconnectProblem(url, new Error('connect ECONNREFUSED 127.0.0.1:5672'))).toBeNull();
});
