/**
 * Which replicas of a function run suspects apart right now (runtime/replica/suspects.ts), in memory
 * the function's replicas share. A suspect may be what blocked or killed a replica, so the replica
 * that runs it apart takes no fresh message meanwhile; when every replica of a function took a group
 * at once (two blocking messages came back from waiting aside together, one to each of two
 * replicas), the whole function stalled until the watchdog ended them, 3–4 s with nothing handled.
 * So a replica starts a group only while fewer than `replicas - 1` others run one (a function of one
 * replica still runs its own): a suspect that finds no room waits aside once more, and at least one
 * replica keeps taking fresh messages (SPEC §4).
 *
 * Cell 0 holds the function's replica count (the supervisor's `desired`); cell 1 + (replica number
 * mod REPLICA_CELLS) is 1 while that replica has a group. The supervisor clears a replica's cell when it dies.
 * Two replicas that look in the same instant may both start: the rule keeps the function flowing in
 * all but that.
 */

import { REPLICA_CELLS, replicaCell } from './replica-cells';

export function createIsolationBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (1 + REPLICA_CELLS));
}

/** after cell 0, the replica count */
function cellOf(replica: number): number {
  return 1 + replicaCell(replica);
}

/** The supervisor's side: the replica count now, and a dead replica's cell cleared. */
export const isolationBuffer = {
  setReplicas(buffer: SharedArrayBuffer, replicas: number): void {
    Atomics.store(new Int32Array(buffer), 0, replicas);
  },
  gone(buffer: SharedArrayBuffer, replica: number): void {
    Atomics.store(new Int32Array(buffer), cellOf(replica), 0);
  },
};

/** One replica's side (runtime/replica/suspects.ts `IsolationGate`). */
export class IsolationSlots {
  private readonly cells: Int32Array;
  private readonly own: number;

  constructor(buffer: SharedArrayBuffer, replica: number) {
    this.cells = new Int32Array(buffer);
    this.own = cellOf(replica);
  }

  /** Whether this replica may start a group now: fewer than `replicas - 1` others run one (at least one may). */
  mayStart(): boolean {
    const allowed = Math.max(1, Atomics.load(this.cells, 0) - 1);
    let others = 0;
    for (let i = 1; i < this.cells.length; i++) if (i !== this.own && Atomics.load(this.cells, i) !== 0) others++;
    return others < allowed;
  }

  /** This replica has a group (true) or none any more (false). */
  set(running: boolean): void {
    Atomics.store(this.cells, this.own, running ? 1 : 0);
  }
}
