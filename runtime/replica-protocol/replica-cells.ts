/**
 * Memory a function's replicas share, a cell per replica (./isolation-slots.ts, ./placement.ts): the
 * cell of replica number n is n mod REPLICA_CELLS, and the supervisor clears it when the replica is gone.
 */

/** more than a runtime runs replicas of one function (runtime/config/limits.ts: 256), so live replicas never share a cell */
export const REPLICA_CELLS = 512;

export function replicaCell(replica: number): number {
  return replica % REPLICA_CELLS;
}
