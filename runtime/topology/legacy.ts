/**
 * The upgrade path for retry and dead-letter queues made classic by an earlier Warren (they are quorum
 * queues now, replicated across a cluster). Such a queue is kept and used as it is, with a warning
 * that says how to migrate it, rather than refusing to start: a queue's type cannot change in place,
 * and refusing would stop every function of a running project on upgrade. Pure.
 */
import { NOT_SET, type Mismatch } from './mismatch';

export interface LegacyQueue {
  name: string;
  role: 'retry' | 'dead';
  /** the function queue it serves */
  of: string;
  /** the function whose queue that is (a function's queue may have another name: `queue:`) */
  fn: string | undefined;
  /** what to do to make it replicated */
  migrate: string;
}

/** Splits the preflight's findings into classic retry/dead queues to keep, and real mismatches. */
export function splitLegacy(mismatches: readonly Mismatch[]): { legacy: LegacyQueue[]; mismatches: Mismatch[] } {
  const legacy: LegacyQueue[] = [];
  const rest: Mismatch[] = [];
  for (const m of mismatches) {
    const role = m.queue?.role;
    const wasClassic = m.argument === 'x-queue-type' && (m.current === NOT_SET || m.current === 'classic') && m.wanted === 'quorum';
    // An earlier Warren declared them durable and kept: one that is not (made by hand) loses its messages on a restart.
    const likeWarrens = !(m.alsoDiffers ?? []).some((argument) => NOT_WARRENS.has(argument));
    if (m.kind === 'queue' && wasClassic && likeWarrens && (role === 'retry' || role === 'dead')) {
      legacy.push({ name: m.name, role, of: m.queue!.of, fn: m.queue!.fn, migrate: migration(m.name, role, m.vhost) });
    } else rest.push(m);
  }
  return { legacy, mismatches: rest };
}

/** Flags no Warren ever declared a retry or dead-letter queue with. */
const NOT_WARRENS = new Set(['durable', 'auto_delete', 'exclusive']);

function migration(name: string, role: 'retry' | 'dead', vhost: string): string {
  const p = vhost === '/' ? '' : ` -p ${vhost}`;
  if (role === 'retry') {
    return `its messages return to their queue as their delay ends; once it is empty (\`rabbitmqctl${p} list_queues name messages\`), \`rabbitmqctl${p} delete_queue ${name}\` and the next start declares it replicated`;
  }
  return `replay or move its messages first (\`warren dlq replay\`, or a shovel to a new queue), then \`rabbitmqctl${p} delete_queue ${name}\`; the next start declares it replicated`;
}
