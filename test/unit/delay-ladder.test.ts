import { parseDelayOption } from '../../runtime/cli/publish';
import { describe, expect, it } from 'vitest';
import {
  DELAY_HEADERS,
  DELIVER,
  ENTRY_EXCHANGE,
  HOLD_MS,
  LEVELS,
  MAX_DELAY_MS,
  UNIT_MS,
  delayRoutingKey,
  delayedPublish,
  entryExchange,
  forwardOf,
  levelName,
  levelPattern,
  levelsOf,
  parseDelay,
} from '../../runtime/delay/ladder';
import { planDelayLadder } from '../../runtime/topology/plan';
import { WarrenError } from '../../runtime/errors';

/** Walks a routing key through the planned ladder as the broker would, returning the time waited. */
function walk(routingKey: string, entry: string): { waitedMs: number; queues: string[]; reached: string } {
  const plan = planDelayLadder();
  const words = routingKey.split('.');
  const matches = (pattern: string): boolean => {
    const p = pattern.split('.');
    // The ladder's patterns are `*` words, one bit, then `#`.
    return p.slice(0, -1).every((w, i) => w === '*' || w === words[i]);
  };
  let exchange = entry;
  let waitedMs = 0;
  const queues: string[] = [];
  for (let guard = 0; guard < 3 * LEVELS && exchange !== DELIVER; guard++) {
    const routes = plan.bindings.filter((b) => b.exchange === exchange && matches(b.routingKey));
    expect(routes).toHaveLength(1);
    const route = routes[0]!;
    if (route.toExchange) {
      exchange = route.queue;
      continue;
    }
    const queue = plan.queues.find((q) => q.name === route.queue)!;
    waitedMs += queue.arguments['x-message-ttl'] as number;
    queues.push(queue.name);
    expect(queue.arguments['x-dead-letter-routing-key']).toBeUndefined();
    exchange = queue.arguments['x-dead-letter-exchange'] as string;
  }
  return { waitedMs, queues, reached: exchange };
}

describe('delay ladder', () => {
  it('reads delays as durations or milliseconds', () => {
    expect(parseDelay('90s')).toBe(90_000);
    expect(parseDelay(1500)).toBe(1500);
    expect(parseDelay('1h30m')).toBe(5_400_000);
    expect(parseDelay('24h')).toBe(86_400_000);
  });

  it('holds at least 24 h and refuses longer than its top with WARREN_E_DELAY', () => {
    expect(MAX_DELAY_MS).toBeGreaterThanOrEqual(86_400_000);
    expect(parseDelay(MAX_DELAY_MS)).toBe(MAX_DELAY_MS);
    const tooLong = (() => {
      try {
        parseDelay('3d');
      } catch (err) {
        return err;
      }
    })();
    expect(tooLong).toBeInstanceOf(WarrenError);
    expect((tooLong as WarrenError).code).toBe('WARREN_E_DELAY');
    expect((tooLong as WarrenError).message).toContain('longer than');
    expect(() => parseDelay('soon')).toThrow(/not a duration/);
    expect(() => parseDelay(-5)).toThrow(WarrenError);
  });

  it('refuses a fraction or a negative number of milliseconds, naming the value and what a delay may be', () => {
    const accepted = 'expected whole milliseconds >= 0 (e.g. 1500) or a duration such as "500ms", "90s", "5m", "1h30m"';
    expect(() => parseDelay(1.5)).toThrow(`delay 1.5 is not a whole number of milliseconds: ${accepted}`);
    expect(() => parseDelay(-1)).toThrow(`delay -1 is negative: ${accepted}`);
    expect(() => parseDelay('soon')).toThrow(`delay "soon" is not a duration: ${accepted}`);
    // `warren publish --delay` reads its text the same way: digits are milliseconds, a fraction is refused too
    expect(parseDelay('1500')).toBe(1500);
    expect(() => parseDelayOption('1.5')).toThrow(`delay "1.5" is not a whole number of milliseconds: ${accepted}`);
    expect(() => parseDelayOption('-1')).toThrow(`delay "-1" is negative: ${accepted}`);
    expect(() => parseDelay('-1s')).toThrow(`delay "-1s" is negative: ${accepted}`);
    expect(parseDelay('1.5s')).toBe(1500);
  });

  it('says a refused delay as it was written, and for `warren publish` with the option', () => {
    expect(() => parseDelay('37h')).toThrow('delay "37h" (1d13h) is longer than the longest Warren delays (1d12h24m31s)');
    expect(() => parseDelay('200d')).toThrow('delay "200d" is longer than the longest Warren delays (1d12h24m31s)');
    expect(() => parseDelay(1e300)).toThrow(/^delay 1e\+300 ms is longer than/);
    expect(() => parseDelay(Number.NaN)).toThrow('delay NaN is not a duration');
    expect(() => parseDelay(Number.POSITIVE_INFINITY)).toThrow('delay Infinity is not a duration');
    const cli = (() => {
      try {
        parseDelayOption('5 minutes');
      } catch (err) {
        return err as WarrenError;
      }
    })();
    expect(cli?.details.hint).toBe('write e.g. --delay 90s, --delay 1h30m, or --delay 1500 (milliseconds)');
  });

  it("writes the ladder's share in binary, highest level first: the delay minus the hold, rounded down", () => {
    expect(UNIT_MS).toBe(1_000);
    expect(HOLD_MS).toBe(2_000);
    expect(delayRoutingKey(0)).toBe(Array(LEVELS).fill('0').join('.'));
    expect(delayRoutingKey(2_999)).toBe(delayRoutingKey(0)); // all of it held by the forwarder
    expect(delayRoutingKey(3_000).endsWith('.0.1')).toBe(true);
    expect(delayRoutingKey(3_999).endsWith('.0.1')).toBe(true);
    expect(levelsOf(202_000)).toEqual([7, 6, 3]); // 200 units = 128 + 64 + 8
  });

  it('waits the delay less the hold (to within a unit) and lands in the deliver exchange, for every kind of delay', () => {
    for (const ms of [0, 1, 10, 999, 1_000, 2_000, 9_990, 90_000, 86_400_000, MAX_DELAY_MS]) {
      const { waitedMs, queues, reached } = walk(delayRoutingKey(ms), entryExchange(ms));
      expect(walk(delayRoutingKey(ms), ENTRY_EXCHANGE)).toEqual({ waitedMs, queues, reached });
      expect(reached).toBe(DELIVER);
      expect(waitedMs).toBeLessThanOrEqual(Math.max(0, ms - HOLD_MS));
      expect(waitedMs).toBeGreaterThan(ms - HOLD_MS - UNIT_MS);
      expect(queues).toEqual(levelsOf(ms).map(levelName));
    }
  });

  it('declares one TTL queue and topic exchange per level, durable', () => {
    const plan = planDelayLadder();
    expect(plan.exchanges.filter((x) => x.type === 'topic')).toHaveLength(LEVELS);
    for (let k = 0; k < LEVELS; k++) {
      const q = plan.queues.find((p) => p.name === levelName(k))!;
      expect(q.durable).toBe(true);
      expect(q.arguments['x-message-ttl']).toBe(2 ** k * UNIT_MS);
    }
    expect(levelPattern(LEVELS - 1, 1)).toBe('1.#');
    expect(levelPattern(0, 0)).toBe(
      `${Array(LEVELS - 1)
        .fill('*')
        .join('.')}.0.#`,
    );
  });

  it('carries the target in headers and gives it back without the ladder bookkeeping', () => {
    const sent = delayedPublish('users', 'user.deleted', 2_000, { trace: 'abc' }, 1_000_000);
    expect(sent.exchange).toBe(DELIVER); // 2 s: all of it held by the forwarder
    expect(entryExchange(10_000)).toBe(levelName(3)); // 8 s on the ladder: enters at its highest bit
    expect(sent.routingKey).toBe(delayRoutingKey(2_000));
    expect(sent.headers[DELAY_HEADERS.due]).toBe(1_002_000);
    // x-delivery-count: the forwarder that held it stopped, and warren.delay.deliver (quorum) counted a return
    const arrived = {
      ...sent.headers,
      'x-death': [{ queue: 'warren.delay.7' }],
      'x-first-death-queue': 'warren.delay.7',
      'x-last-death-reason': 'expired',
      'x-delivery-count': 2,
    };
    expect(forwardOf(arrived)).toEqual({
      exchange: 'users',
      routingKey: 'user.deleted',
      headers: { trace: 'abc', [DELAY_HEADERS.due]: 1_002_000 },
      due: 1_002_000,
    });
    expect(forwardOf({ trace: 'abc' })).toBeNull();
    expect(forwardOf({ ...sent.headers, [DELAY_HEADERS.exchange]: Buffer.from('') })?.exchange).toBe('');
  });

  it('holds CC and BCC through the ladder (the broker would send the message to their queues at once) and gives them back when due', () => {
    const sent = delayedPublish('', 'orders', 5_000, { CC: ['audit'], BCC: ['archive'], trace: 'abc' }, 0);
    expect(sent.headers['CC']).toBeUndefined();
    expect(sent.headers['BCC']).toBeUndefined();
    expect(forwardOf(sent.headers)?.headers).toEqual({ CC: ['audit'], BCC: ['archive'], trace: 'abc', [DELAY_HEADERS.due]: 5_000 });
  });
});
