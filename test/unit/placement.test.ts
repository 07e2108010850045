/** Where a lost node's replicas go (runtime/replica-protocol/placement.ts): by count, over the nodes left. */
import { describe, expect, it } from 'vitest';
import { createPlacementBuffer, Placement, placementGone } from '../../runtime/replica-protocol/placement';

describe('Placement', () => {
  it('sends the replicas of a lost node to the nodes left with the fewest, even two whose numbers would choose alike', () => {
    const buffer = createPlacementBuffer();
    const [r1, r2, r3, r4] = [1, 2, 3, 4].map((n) => new Placement(buffer, n));
    // three nodes: replicas 1 and 2 on node 0, 3 on node 1, 4 on node 2
    r1!.at(0);
    r2!.at(0);
    r3!.at(1);
    r4!.at(2);
    // node 0 lost: the same spread for both, still one each to nodes 1 and 2
    const first = r1!.next(0, 3, 2);
    const second = r2!.next(0, 3, 2);
    expect([first, second].sort()).toEqual([1, 2]);
  });

  it('never picks the lost node, picks the emptiest, and forgets a replica that is gone', () => {
    const buffer = createPlacementBuffer();
    const [r1, r2, r3] = [1, 2, 3].map((n) => new Placement(buffer, n));
    r2!.at(1);
    r3!.at(1);
    expect(r1!.next(0, 3, 0)).toBe(2);
    expect(r1!.next(2, 3, 7)).toBe(0);
    placementGone(buffer, 2);
    placementGone(buffer, 3);
    // with nobody elsewhere, any node but the lost one, chosen by its spread
    expect([1, 2]).toContain(r1!.next(0, 3, 5));
    // two nodes: the other one
    expect(r1!.next(1, 2, 9)).toBe(0);
  });
});
