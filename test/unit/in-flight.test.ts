/** The processor's list of taken, unended deliveries (runtime/replica/delivery.ts), against a Set as the model. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InFlight, Settle } from '../../runtime/replica/delivery';

const target = { ack: () => undefined, nack: () => undefined };

describe('InFlight', () => {
  it('holds exactly what was added and not deleted, for any order of adds and deletes, repeats included', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 19 })), { maxLength: 200 }), (steps) => {
        const settles = Array.from({ length: 20 }, (_, i) => new Settle(target, i + 1));
        const list = new InFlight();
        const model = new Set<Settle>();
        for (const [add, i] of steps) {
          const s = settles[i]!;
          if (add) {
            list.add(s);
            model.add(s);
          } else {
            list.delete(s);
            model.delete(s);
          }
          expect(list.size).toBe(model.size);
        }
        expect(new Set(list)).toEqual(model);
        expect([...list]).toHaveLength(model.size);
      }),
    );
  });

  it('can be walked while the walk requeues what it finds (the drain spreads it first)', () => {
    const list = new InFlight();
    const settles = [1, 2, 3].map((tag) => new Settle(target, tag));
    for (const s of settles) list.add(s);
    let requeued = 0;
    for (const s of [...list]) {
      if (s.requeue()) requeued++;
      list.delete(s);
    }
    expect(requeued).toBe(3);
    expect(list.size).toBe(0);
    expect([...list]).toEqual([]);
  });
});
