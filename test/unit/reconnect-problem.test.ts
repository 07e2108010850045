/**
 * A reconnect that failed says, in a person's words, what must be fixed (the vhost was deleted, the
 * credentials changed), and nothing more for a node that is simply down, which the retry handles.
 */
import { describe, expect, it } from 'vitest';
import { ReconnectReport, reconnectProblem } from '../../runtime/connection/unreachable';

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

describe('ReconnectReport', () => {
  it('says a failed reconnect in words with its hint, once, then again a minute later or when it says something new', () => {
    let now = 0;
    const report = new ReconnectReport(() => now);
    const url = 'amqp://guest:s3cret@127.0.0.1:25840/v';
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25840'), { code: 'ECONNREFUSED' });
    const first = report.failed(url, refused, 5_000);
    expect(first.level).toBe('warn');
    expect(first.message).toBe(
      'no broker answers at amqp://guest:***@127.0.0.1:25840/v (connect ECONNREFUSED 127.0.0.1:25840); retrying (said again in a minute if it lasts)',
    );
    expect(first.fields).toMatchObject({ retryInMs: 5_000, hint: expect.stringContaining('start RabbitMQ') });
    expect(JSON.stringify(first)).not.toContain('s3cret');
    now = 5_000;
    expect(report.failed(url, refused, 5_000).level).toBe('debug');
    now = 61_000;
    expect(report.failed(url, refused, 5_000).level).toBe('warn');
    now = 62_000;
    const vhost = report.failed(url, new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'), 5_000);
    expect(vhost.level).toBe('warn');
    expect(vhost.fields['reason']).toBe('the broker at amqp://guest:***@127.0.0.1:25840/v has no vhost "v" (or the user may not use it)');
    report.reset();
    expect(report.failed(url, refused, 1_000).level).toBe('warn');
  });
});
