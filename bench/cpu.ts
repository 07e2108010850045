/** CPU seconds used by a process (user + system), from /proc; the broker's Erlang VM found by name. */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

let broker: number | null | undefined;
/** pid of RabbitMQ's beam.smp on this machine, or null when it runs elsewhere */
export function brokerPid(): number | null {
  if (broker !== undefined) return broker;
  broker = null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'beam.smp') return (broker = Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return broker;
}

export function brokerCpuSeconds(): number {
  const pid = brokerPid();
  return pid === null ? Number.NaN : cpuSeconds(pid);
}

export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Wait until the local broker is quiet: under QUIET_SHARE of a core over a 250 ms window (at most
 * `maxMs`). A quorum queue goes on writing for a while after a burst of publishes (its log moves from
 * the WAL to segment files); a drain started then shares the broker with that work and measured about
 * half its rate, so one contender or another was slowed at random. Every drain of a row starts here.
 * A broker elsewhere (no local beam.smp) gets a fixed 2 s.
 */
export async function brokerSettled(maxMs = 10_000): Promise<void> {
  const QUIET_SHARE = 0.1;
  const WINDOW_MS = 250;
  if (brokerPid() === null) return new Promise((resolve) => setTimeout(resolve, 2_000));
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const before = brokerCpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    if ((brokerCpuSeconds() - before) / (WINDOW_MS / 1000) < QUIET_SHARE) return;
  }
}
