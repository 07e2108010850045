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
