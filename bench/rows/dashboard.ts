/**
 * The dashboard's two figures (SPEC §9): bytes a browser transfers on a first load (fresh profile,
 * nothing cached), and the CPU that three open dashboards add to the runtime process while it drains
 * a steady 10,000 msg/s, measured side by side: the same runtime, the same load, windows without
 * and then with three headless chromium pages open (the CPU of the runtime process and all its threads).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { chromium, type BrowserContext } from 'playwright-core';
import { createVhost, purge } from '../broker';
import { cpuSeconds } from '../cpu';
import { sleep } from '../stats';
import { createProject, startWarren, waitReady } from '../warren';

const CHROMIUM = process.env.WARREN_BENCH_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface DashboardRuns {
  /** bytes on the wire (headers and bodies, as received) until every function is shown */
  firstLoadBytes: number[];
  /** runtime CPU in % of one core, per window */
  cpuWithout: number[];
  cpuWith: number[];
  /** messages handled per second in each window, to show the load held */
  rateWithout: number[];
  rateWith: number[];
  /** the same on an idle runtime (no messages), where the dashboards' own cost stands alone */
  idleWithout: number;
  idleWith: number;
}

async function browser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'warren-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return { context, close: async () => (await context.close(), await rm(profile, { recursive: true, force: true })) };
}

/** Publishes `rate` messages a second to `queue` until stopped (batches every 10 ms, honouring the channel's backpressure). */
async function steadyLoad(url: string, queue: string, rate: number): Promise<{ stop(): Promise<void> }> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  const body = Buffer.from('{"n":1}');
  let running = true;
  const done = (async () => {
    const started = Date.now();
    let sent = 0;
    while (running) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due && running) {
        sent++;
        if (!ch.sendToQueue(queue, body, { contentType: 'application/json' })) await new Promise((r) => ch.once('drain', r));
      }
      await sleep(10);
    }
  })();
  let stopped: Promise<void> | null = null;
  return {
    stop() {
      running = false;
      stopped ??= done.then(() => conn.close());
      return stopped;
    },
  };
}

/** Waits until the runtime handles nothing more for two seconds (the backlog of the loaded windows drained). */
async function waitForIdle(w: { acked(fn: string): Promise<number> }): Promise<void> {
  let last = -1;
  for (let i = 0; i < 120; i++) {
    const now = await w.acked('orders');
    if (now === last) return;
    last = now;
    await sleep(2_000);
  }
}

export async function measureDashboard(options: { runs: number; windowMs: number; rate: number; log: (line: string) => void }): Promise<DashboardRuns> {
  const { runs, windowMs, rate, log } = options;
  const vhost = await createVhost('dashboard');
  const names = ['orders', 'mailer', 'ledger'];
  const project = await createProject(
    `functions:\n${names.map((n) => `  ${n}: { prefetch: 100 }\n`).join('')}`,
    Object.fromEntries(names.map((n) => [n, 'export default async () => undefined;\n'])),
  );
  const out: DashboardRuns = { firstLoadBytes: [], cpuWithout: [], cpuWith: [], rateWithout: [], rateWith: [], idleWithout: 0, idleWith: 0 };
  const w = await startWarren(project.dir, vhost.url);
  try {
    await waitReady(w, 60_000);
    const base = `http://127.0.0.1:${w.adminPort}/`;

    const pid = w.child.pid!;
    const idle = async (label: string) => {
      const cpu0 = cpuSeconds(pid);
      const t0 = Date.now();
      await sleep(windowMs);
      const used = ((cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
      log(`  idle runtime ${label}: CPU ${used.toFixed(2)} % of a core`);
      return used;
    };
    out.idleWithout = await idle('without dashboards');
    const load = await steadyLoad(vhost.url, 'orders', rate);
    try {
      await sleep(3_000);
      const windowOf = async (label: string, cpu: number[], rates: number[]) => {
        const acked0 = await w.acked('orders');
        const cpu0 = cpuSeconds(pid);
        const t0 = Date.now();
        await sleep(windowMs);
        const seconds = (Date.now() - t0) / 1000;
        const used = ((cpuSeconds(pid) - cpu0) / seconds) * 100;
        const handled = ((await w.acked('orders')) - acked0) / seconds;
        cpu.push(used);
        rates.push(handled);
        log(`  ${label}: runtime CPU ${used.toFixed(1)} % of a core, ${Math.round(handled)} msg/s handled`);
      };
      // Without first: once a page has opened, the live ticker keeps running for 5 minutes after the
      // last one closes (so a page opened again has its charts), and would be counted as "without".
      for (let run = 1; run <= runs; run++) await windowOf(`window ${run}/${runs} without dashboards`, out.cpuWithout, out.rateWithout);
      const b = await browser();
      try {
        for (let i = 0; i < 3; i++) await (await b.context.newPage()).goto(base);
        for (const page of b.context.pages()) if (page.url().startsWith('http')) await page.locator('[data-function="orders"]').waitFor({ timeout: 30_000 });
        await sleep(2_000);
        for (let run = 1; run <= runs; run++) await windowOf(`window ${run}/${runs} with 3 dashboards open`, out.cpuWith, out.rateWith);
        await load.stop();
        // The backlog left by the loaded windows is not the idle runtime's: drop it, let in-flight work end.
        await purge(vhost.url, 'orders');
        await waitForIdle(w);
        out.idleWith = await idle('with 3 dashboards open');
      } finally {
        await b.close();
      }
    } finally {
      await load.stop();
    }

    for (let run = 1; run <= runs; run++) {
      const b = await browser();
      try {
        const page = await b.context.newPage();
        const cdp = await b.context.newCDPSession(page);
        await cdp.send('Network.enable');
        const bytes = new Map<string, number>();
        cdp.on('Network.dataReceived', (e: { requestId: string; encodedDataLength: number }) =>
          bytes.set(e.requestId, (bytes.get(e.requestId) ?? 0) + e.encodedDataLength),
        );
        cdp.on('Network.responseReceived', (e: { requestId: string; response: { encodedDataLength?: number } }) =>
          bytes.set(e.requestId, (bytes.get(e.requestId) ?? 0) + (e.response.encodedDataLength ?? 0)),
        );
        cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number }) => bytes.set(e.requestId, e.encodedDataLength));
        await page.goto(base);
        for (const n of names) await page.locator(`[data-function="${n}"]`).waitFor({ timeout: 30_000 });
        await sleep(500);
        const total = [...bytes.values()].reduce((a, n) => a + n, 0);
        out.firstLoadBytes.push(total);
        log(`  first load ${run}/${runs}: ${(total / 1024).toFixed(1)} KiB over ${bytes.size} requests`);
      } finally {
        await b.close();
      }
    }
  } finally {
    await w.stop();
    await project.remove();
    await vhost.remove();
  }
  return out;
}
