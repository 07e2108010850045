/**
 * Throughput of a pre-filled queue: Warren (the real runtime as a child process) against bare amqplib
 * consumers, and for the no-op case BullMQ, each run interleaved so drift hits all of them alike.
 * The producer figures of the same runs give the publish row (`warren publish` vs amqplib confirms).
 */
import { createVhost, drainBaseline, publishBaseline, purge, queueDepth } from '../broker';
import { drainFastest, drainFastestFresh } from '../fastest-client';
import { bullmqDrain } from '../bullmq';
import { brokerCpuSeconds, brokerSettled, cpuSeconds, selfCpuSeconds } from '../cpu';
import { sleep } from '../stats';
import { createProject, startWarren, warrenPublish, type RunningWarren } from '../warren';

export interface DrainCase {
  fn: string;
  count: number;
  replicas: number;
  prefetch: number;
  workMs: number;
  runs: number;
  withBullmq: boolean;
  /** measure the publishers too (amqplib confirms vs `warren publish`) */
  withPublish: boolean;
  /** also drain with the fastest plain client (prefetch 100, one multiple ack per 50) */
  withFastest?: boolean;
  /** the queue's type (queues.yaml `type`); default: Warren's default, a quorum queue */
  queueType?: 'classic';
  /** node flags for the Warren child, e.g. --cpu-prof */
  nodeArgs?: string[];
  log: (line: string) => void;
}

export interface DrainRuns {
  warren: number[];
  amqplib: number[];
  bullmq: number[];
  /** the fastest plain client, same queue, same run (withFastest) */
  fastest: number[];
  /** the same client in a fresh process of its own, cold as Warren's replica is (withFastest) */
  fastestFresh: number[];
  publishWarren: number[];
  publishAmqplib: number[];
  /** CPU µs per message: the consumer process, and the broker in the same window */
  cpu: { warren: number[]; amqplib: number[]; brokerWarren: number[]; brokerAmqplib: number[]; fastest: number[]; brokerFastest: number[] };
}

const handlerSource = (workMs: number) =>
  workMs > 0 ? `export default async () => { await new Promise((r) => setTimeout(r, ${workMs})); };\n` : `export default async () => undefined;\n`;

export async function measureDrain(c: DrainCase): Promise<DrainRuns> {
  const vhost = await createVhost(c.fn);
  const queues = c.queueType ? `queues:\n  ${c.fn}: { type: ${c.queueType} }\n` : '';
  const project = await createProject(`${queues}functions:\n  ${c.fn}: { replicas: ${c.replicas}, prefetch: ${c.prefetch} }\n`, {
    [c.fn]: handlerSource(c.workMs),
  });
  const out: DrainRuns = {
    warren: [],
    amqplib: [],
    bullmq: [],
    fastest: [],
    fastestFresh: [],
    publishWarren: [],
    publishAmqplib: [],
    cpu: { warren: [], amqplib: [], brokerWarren: [], brokerAmqplib: [], fastest: [], brokerFastest: [] },
  };
  try {
    // A first start declares the topology (the function's queue and its dead-letter queue).
    await (await startWarren(project.dir, vhost.url)).stop();
    for (let run = 1; run <= c.runs; run++) {
      // Alternate which consumer drains first, so a broker that slows down (or warms up) over a run hits both alike.
      let pubA = 0;
      let amq = 0;
      let pubW = 0;
      let w = 0;
      const amqplibTurn = async () => {
        pubA = await publishBaseline(vhost.url, c.fn, c.count);
        await brokerSettled();
        amq = await inThisProcess(
          () => drainBaseline(vhost.url, c.fn, c.count, { prefetch: c.prefetch, consumers: c.replicas, workMs: c.workMs }),
          c.count,
          out.cpu.amqplib,
          out.cpu.brokerAmqplib,
        );
      };
      const warrenTurn = async () => {
        // Every consumer drains the same messages: `warren publish` gives each an id and a timestamp,
        // which cost a consumer more to decode than the baseline publisher's, so its messages are
        // measured as a publish and then replaced by the baseline's.
        if (c.withPublish) {
          pubW = warrenPublish(project.dir, vhost.url, c.fn, c.count);
          await purge(vhost.url, c.fn);
        }
        await publishBaseline(vhost.url, c.fn, c.count);
        await brokerSettled();
        const d = await warrenDrain(project.dir, vhost.url, c.fn, c.count, c.nodeArgs);
        w = d.rate;
        out.cpu.warren.push((d.cpuSeconds / c.count) * 1e6);
        out.cpu.brokerWarren.push((d.brokerCpuSeconds / c.count) * 1e6);
      };
      let fast = 0;
      let fresh = 0;
      const fastestTurn = async () => {
        if (!c.withFastest) return;
        await publishBaseline(vhost.url, c.fn, c.count);
        await brokerSettled();
        fast = await inThisProcess(() => drainFastest(vhost.url, c.fn, c.count, c.prefetch), c.count, out.cpu.fastest, out.cpu.brokerFastest);
        await publishBaseline(vhost.url, c.fn, c.count);
        await brokerSettled();
        fresh = await drainFastestFresh(vhost.url, c.fn, c.count, c.prefetch);
      };
      // Half the runs drain the bare clients first, half Warren first.
      const order = run % 2 ? [amqplibTurn, fastestTurn, warrenTurn] : [warrenTurn, fastestTurn, amqplibTurn];
      for (const turn of order) await turn();
      if (c.withFastest) {
        out.fastest.push(fast);
        out.fastestFresh.push(fresh);
      }
      out.amqplib.push(amq);
      out.warren.push(w);
      if (c.withPublish) {
        out.publishAmqplib.push(pubA);
        out.publishWarren.push(pubW);
      }

      let line = `  ${c.fn} run ${run}/${c.runs}: warren ${Math.round(w)} msg/s, amqplib ${Math.round(amq)} msg/s`;
      if (c.withFastest) line += `, fastest client ${Math.round(fast)} msg/s (fresh process ${Math.round(fresh)})`;
      if (c.withBullmq) {
        const b = await bullmqDrain(`warren-bench-${c.fn}`, c.count, c.prefetch);
        out.bullmq.push(b);
        line += `, bullmq ${Math.round(b)} jobs/s`;
      }
      const last = (xs: number[]) => Math.round(xs[xs.length - 1]!);
      line += `; CPU µs/msg: warren ${last(out.cpu.warren)} (broker ${last(out.cpu.brokerWarren)}), amqplib ${last(out.cpu.amqplib)} (broker ${last(out.cpu.brokerAmqplib)})`;
      if (c.withFastest) line += `, fastest ${last(out.cpu.fastest)} (broker ${last(out.cpu.brokerFastest)})`;
      if (c.withPublish) line += `; publish: warren ${Math.round(pubW)} msg/s, amqplib ${Math.round(pubA)} msg/s`;
      c.log(line);
      const left = await queueDepth(vhost.url, c.fn);
      if (left) {
        c.log(`  warning: ${left} messages left in ${c.fn}; purged`);
        await purge(vhost.url, c.fn);
      }
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}

/** A drain by a client in this process; pushes its CPU µs per message, and the broker's meanwhile. */
async function inThisProcess(drain: () => Promise<number>, count: number, self: number[], broker: number[]): Promise<number> {
  const cpu0 = selfCpuSeconds();
  const broker0 = brokerCpuSeconds();
  const rate = await drain();
  self.push(((selfCpuSeconds() - cpu0) / count) * 1e6);
  broker.push(((brokerCpuSeconds() - broker0) / count) * 1e6);
  return rate;
}

/**
 * Start the runtime on a pre-filled queue; time from the moment its replicas consume (the supervisor's
 * "function started" line, logged once every replica subscribed) until /metrics counts every message acked.
 */
async function warrenDrain(
  dir: string,
  url: string,
  fn: string,
  count: number,
  nodeArgs?: string[],
): Promise<{ rate: number; cpuSeconds: number; brokerCpuSeconds: number }> {
  const w: RunningWarren = await startWarren(dir, url, { waitReady: false, ...(nodeArgs ? { nodeArgs } : {}) });
  try {
    const started = (await w.waitForLog((l) => l.msg === 'function started' && l['function'] === fn, 30_000)).time;
    const cpu0 = cpuSeconds(w.child.pid!);
    const broker0 = brokerCpuSeconds();
    // Polled every 250 ms; the moment the last message was acked is extrapolated from the rate of the
    // scrape interval before the one that saw it (a scrape after the end sees the count stop there,
    // so the end lies between the two). Polling faster near the end measured mostly the scrapes: each
    // renders /metrics and asks the broker for queue depths, on the same 2 cores as the drain.
    let before = { at: started, acked: 0 };
    let rate = 0;
    let t = 0;
    for (;;) {
      await sleep(250);
      // The count is read as the scrape begins.
      const at = Date.now();
      const acked = await w.acked(fn).catch(() => 0);
      if (acked >= count) {
        t = rate > 0 ? Math.min(at, before.at + (count - before.acked) / rate) : at;
        break;
      }
      if (acked > before.acked) rate = (acked - before.acked) / (at - before.at);
      before = { at, acked };
    }
    return { rate: count / ((t - started) / 1000), cpuSeconds: cpuSeconds(w.child.pid!) - cpu0, brokerCpuSeconds: brokerCpuSeconds() - broker0 };
  } finally {
    await w.stop();
  }
}

/**
 * The no-op row once the consumers run warm: Warren on a backlog of twice `count` with the second
 * `count` timed (its replica's first messages, while V8 optimizes its hot path, are left out), and the
 * fastest client the same way. Reported beside the row, which times a replica from its start.
 */
export async function measureWarm(c: {
  fn: string;
  count: number;
  runs: number;
  log: (line: string) => void;
}): Promise<{ warren: number[]; fastest: number[] }> {
  const vhost = await createVhost(`${c.fn}-warm`);
  const project = await createProject(`functions:\n  ${c.fn}: { replicas: 1, prefetch: 100 }\n`, { [c.fn]: handlerSource(0) });
  const out = { warren: [] as number[], fastest: [] as number[] };
  try {
    await (await startWarren(project.dir, vhost.url)).stop();
    for (let run = 1; run <= c.runs; run++) {
      await publishBaseline(vhost.url, c.fn, 2 * c.count);
      await brokerSettled();
      const w = await startWarren(project.dir, vhost.url, { waitReady: false });
      let rate = 0;
      try {
        await w.waitForLog((l) => l.msg === 'function started' && l['function'] === c.fn, 30_000);
        let from: { at: number; acked: number } | null = null;
        for (;;) {
          await sleep(50);
          const at = performance.now();
          const acked = await w.acked(c.fn).catch(() => 0);
          if (!from && acked >= c.count) from = { at, acked };
          if (from && acked >= 2 * c.count) {
            rate = (acked - from.acked) / ((at - from.at) / 1000);
            break;
          }
        }
      } finally {
        await w.stop();
      }
      await publishBaseline(vhost.url, c.fn, 2 * c.count);
      await brokerSettled();
      const fast = await drainFastest(vhost.url, c.fn, 2 * c.count, 100, 50, c.count);
      out.warren.push(rate);
      out.fastest.push(fast);
      c.log(
        `  ${c.fn} warm run ${run}/${c.runs} (the second ${c.count} of ${2 * c.count}): warren ${Math.round(rate)} msg/s, fastest client ${Math.round(fast)} msg/s`,
      );
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}
