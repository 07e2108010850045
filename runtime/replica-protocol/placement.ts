/**
 * Which node of a cluster each replica of a function consumes from, in memory the function's
 * replicas share, so that the replicas of a lost node go to the surviving nodes with the fewest of
 * the function's replicas. Chosen by its own number alone, a replica could not know where the others
 * went: two that shared a node moved together, and three nodes with one lost ended 3 and 1 where 2 and
 * 2 was possible (then the next loss took every replica at once).
 *
 * Cell (replica number mod REPLICA_CELLS) holds 1 + the index in the URL list of the node the replica
 * consumes from, or is about to try, and 0 while it has none; the supervisor clears a replica's cell
 * when it is gone. Two replicas that choose in the same instant may still choose alike: each claims
 * its choice before it connects, so one a moment later sees it.
 */

import { REPLICA_CELLS, replicaCell } from './replica-cells';

export function createPlacementBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * REPLICA_CELLS);
}

/** The supervisor's side: a replica gone frees its place. */
export function placementGone(buffer: SharedArrayBuffer, replica: number): void {
  Atomics.store(new Int32Array(buffer), replicaCell(replica), 0);
}

export class Placement {
  private readonly cells: Int32Array;
  private readonly own: number;

  constructor(buffer: SharedArrayBuffer, replica: number) {
    this.cells = new Int32Array(buffer);
    this.own = replicaCell(replica);
  }

  /** This replica consumes from (or is about to try) the node at `index` of the list; null: none. */
  at(index: number | null): void {
    Atomics.store(this.cells, this.own, index === null ? 0 : index + 1);
  }

  /**
   * Where to try first after losing the node at `lost` (of `count`): the other node with the fewest of
   * the function's other replicas, ties broken by `spread` (the replica's own offset). Claimed at once.
   */
  next(lost: number, count: number, spread: number): number {
    const load = new Array<number>(count).fill(0);
    for (let i = 0; i < this.cells.length; i++) {
      const at = Atomics.load(this.cells, i);
      if (i !== this.own && at > 0 && at <= count) load[at - 1]!++;
    }
    let least = Infinity;
    for (let i = 0; i < count; i++) if (i !== lost && load[i]! < least) least = load[i]!;
    const best: number[] = [];
    for (let i = 0; i < count; i++) if (i !== lost && load[i] === least) best.push(i);
    const choice = best.length > 0 ? best[Math.abs(Math.trunc(spread)) % best.length]! : (lost + 1) % count;
    this.at(choice);
    return choice;
  }
}
