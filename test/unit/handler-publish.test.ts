/** What `ctx.publish` hands the replica's publisher (runtime/replica/handler-context.ts), and what it refuses. */
import { describe, expect, it } from 'vitest';
import { publishFromHandler, type Publish } from '../../runtime/replica/handler-context';

function recorder() {
  const calls: Array<Parameters<Publish>> = [];
  const publish: Publish = async (...args) => void calls.push(args);
  return { calls, publish };
}

describe('ctx.publish', () => {
  it('carries a reply: correlationId, replyTo, type, appId and priority become AMQP properties', async () => {
    const { calls, publish } = recorder();
    await publishFromHandler(publish, '', 'replies', { ok: 1 }, { correlationId: 'c-1', replyTo: 'back', type: 'sum', appId: 'calc', priority: 5 });
    expect(calls).toHaveLength(1);
    const [target, , options] = calls[0]!;
    expect(target).toEqual({ kind: 'queue', name: 'replies', strict: true });
    expect(options.properties).toEqual({ correlationId: 'c-1', replyTo: 'back', type: 'sum', appId: 'calc', priority: 5, messageId: expect.any(String) });
  });

  it('gives every message an id of its own, unless the handler names one, delayed or not', async () => {
    const { calls, publish } = recorder();
    await publishFromHandler(publish, 'x', 'k', 1);
    await publishFromHandler(publish, 'x', 'k', 1);
    await publishFromHandler(publish, 'x', 'k', 1, { messageId: 'order-42' });
    await publishFromHandler(publish, 'x', 'k', 1, { delay: '5s' });
    const ids = calls.map(([, , options]) => options.properties?.messageId);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(4);
    expect(ids[2]).toBe('order-42');
  });

  it("publishes to RabbitMQ's direct reply-to without the mandatory flag, and to any other queue with it", async () => {
    const { calls, publish } = recorder();
    await publishFromHandler(publish, '', 'amq.rabbitmq.reply-to.g1h2AA==', 1);
    await publishFromHandler(publish, '', 'orders', 1);
    expect(calls.map(([target]) => target)).toEqual([
      { kind: 'queue', name: 'amq.rabbitmq.reply-to.g1h2AA==', strict: false, mandatory: false },
      { kind: 'queue', name: 'orders', strict: true },
    ]);
  });

  it('rejects a priority AMQP cannot carry, as a rejected promise, publishing nothing', async () => {
    const { calls, publish } = recorder();
    for (const priority of [256, -1, 1.5, Number.NaN]) {
      await expect(publishFromHandler(publish, 'x', 'k', 1, { priority })).rejects.toThrow('priority must be an integer from 0 to 255');
    }
    expect(calls).toEqual([]);
  });

  it('publishes a delay of zero at once, straight to its exchange, as `warren publish --delay 0` does; a real delay enters the ladder', async () => {
    const { calls, publish } = recorder();
    for (const delay of [0, '0s', '0ms']) await publishFromHandler(publish, 'orders', 'new', 1, { delay });
    await publishFromHandler(publish, 'orders', 'new', 1, { delay: '2s' });
    expect(calls.slice(0, 3).map(([target, , options]) => [target, options.routingKey, options.delayMs])).toEqual(
      Array(3).fill([{ kind: 'exchange', name: 'orders', strict: false }, 'new', undefined]),
    );
    const [laddered, , options] = calls[3]!;
    expect(laddered).not.toEqual({ kind: 'exchange', name: 'orders', strict: false });
    expect(options.delayMs).toBe(2_000);
    expect(options.delayedTo).toBe('orders');
  });
});
