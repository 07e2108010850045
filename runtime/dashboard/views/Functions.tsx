/** Every function: replicas (scale − / +, redeploy), live figures and their charts. */
import { useState } from 'preact/hooks';
import { api, ApiError, fnPath } from '../api';
import { count, ms, rate, shortVersion } from '../format';
import type { LiveState } from '../live';
import type { LiveFunction, SeriesName } from '../types';
import { toast } from '../toast';
import { Chart } from './Chart';

export function Functions({ live }: { live: LiveState }) {
  const fns = live.frame?.functions ?? [];
  if (!live.frame) return <p class="empty">Waiting for the first figures from the runtime…</p>;
  if (fns.length === 0)
    return (
      <p class="empty">
        No functions: add a handler file to <code>functions/</code>.
      </p>
    );
  const total = (k: 'inPerSec' | 'handledPerSec' | 'failedPerSec' | 'deadLetterDepth' | 'inFlight') => fns.reduce((a, f) => a + (f[k] ?? 0), 0);
  return (
    <>
      <section class="summary" aria-label="All functions">
        <Stat label="functions" value={String(fns.length)} />
        <Stat label="in / s" value={rate(total('inPerSec'))} />
        <Stat label="handled / s" value={rate(total('handledPerSec'))} />
        <Stat label="failed / s" value={rate(total('failedPerSec'))} tone={total('failedPerSec') > 0 ? 'bad' : undefined} />
        <Stat label="in flight" value={count(total('inFlight'))} />
        <Stat label="dead letters" value={count(total('deadLetterDepth'))} tone={total('deadLetterDepth') > 0 ? 'warn' : undefined} />
      </section>
      <div class="cards">
        {fns.map((fn) => (
          <FunctionCard key={fn.name} fn={fn} live={live} />
        ))}
      </div>
    </>
  );
}

function Stat({ label, value, tone, href }: { label: string; value: string; tone?: 'bad' | 'warn' | undefined; href?: string }) {
  const body = (
    <>
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </>
  );
  return href ? (
    <a class={`stat ${tone ?? ''}`} href={href}>
      {body}
    </a>
  ) : (
    <div class={`stat ${tone ?? ''}`}>{body}</div>
  );
}

function FunctionCard({ fn, live }: { fn: LiveFunction; live: LiveState }) {
  const [busy, setBusy] = useState<string | null>(null);
  const cols = live.columns.get(fn.name);
  const col = (s: SeriesName) => cols?.[s] ?? [];

  async function act(label: string, work: () => Promise<string>) {
    setBusy(label);
    try {
      toast('ok', await work());
    } catch (err) {
      toast('error', `${fn.name}: ${err instanceof ApiError ? err.message + (err.hint ? ` (${err.hint})` : '') : String(err)}`);
    } finally {
      setBusy(null);
    }
  }
  const scale = (n: number) =>
    act('scale', async () => {
      const r = await api<{ replicas: { desired: number; running: number } }>('POST', `${fnPath(fn.name)}/scale`, { replicas: n });
      return `${fn.name} scaled to ${r.replicas.desired} replica${r.replicas.desired === 1 ? '' : 's'}`;
    });
  const redeploy = () =>
    act('deploy', async () => {
      const r = await api<{ version: string; changed: boolean }>('POST', `${fnPath(fn.name)}/deploy`);
      return r.changed
        ? `${fn.name} redeployed: version ${shortVersion(r.version)}`
        : `${fn.name}: the file has not changed (version ${shortVersion(r.version)})`;
    });

  const health = fn.running < fn.desired ? 'degraded' : fn.desired === 0 ? 'stopped' : 'up';
  return (
    <article class={`card ${health}`} aria-labelledby={`fn-${fn.name}`} data-function={fn.name}>
      <header class="card-head">
        <div class="title">
          <span class={`dot ${health}`} title={health} />
          <h2 id={`fn-${fn.name}`}>{fn.name}</h2>
          <code class="chip" title={fn.version ?? ''}>
            {shortVersion(fn.version)}
          </code>
        </div>
        <div class="controls">
          <div class="scaler" role="group" aria-label={`replicas of ${fn.name}`}>
            <button
              type="button"
              class="icon"
              aria-label={`scale ${fn.name} down`}
              disabled={busy !== null || fn.desired === 0}
              onClick={() => scale(fn.desired - 1)}
            >
              −
            </button>
            <span class="replicas" data-testid="replicas" aria-live="polite" title="running / desired replicas">
              <b>{fn.running}</b>/{fn.desired}
            </span>
            <button type="button" class="icon" aria-label={`scale ${fn.name} up`} disabled={busy !== null} onClick={() => scale(fn.desired + 1)}>
              +
            </button>
          </div>
          <button type="button" disabled={busy !== null} onClick={redeploy}>
            {busy === 'deploy' ? 'Deploying…' : 'Redeploy'}
          </button>
        </div>
      </header>
      {fn.restarts > 0 || fn.lastError ? (
        <p class="death" role="status">
          <strong>
            {fn.restarts} restart{fn.restarts === 1 ? '' : 's'}
          </strong>
          {fn.lastError ? <> · last death: {fn.lastError}</> : null}
        </p>
      ) : null}
      <div class="stats">
        <Stat label="in / s" value={fn.inPerSec === null ? '–' : rate(fn.inPerSec)} />
        <Stat label="handled / s" value={rate(fn.handledPerSec)} />
        <Stat label="failed / s" value={rate(fn.failedPerSec)} tone={fn.failedPerSec > 0 ? 'bad' : undefined} />
        <Stat label="p50" value={ms(fn.p50Ms)} />
        <Stat label="p95" value={ms(fn.p95Ms)} />
        <Stat label="in flight" value={count(fn.inFlight)} />
        <Stat label="queued" value={count(fn.queueDepth)} />
        <Stat
          label="dead letters"
          value={count(fn.deadLetterDepth)}
          tone={(fn.deadLetterDepth ?? 0) > 0 ? 'warn' : undefined}
          href={`#/dead-letters/${encodeURIComponent(fn.name)}`}
        />
      </div>
      <div class="charts">
        <Chart
          title="Messages / s"
          t={live.t}
          version={live.version}
          series={[
            { label: 'in', color: '--accent', values: col('inPerSec'), format: rate },
            { label: 'handled', color: '--ok', values: col('handledPerSec'), format: rate },
            { label: 'failed', color: '--bad', values: col('failedPerSec'), format: rate },
          ]}
        />
        <Chart
          title="Handler latency"
          t={live.t}
          version={live.version}
          series={[
            { label: 'p50', color: '--accent', values: col('p50Ms'), format: ms },
            { label: 'p95', color: '--warn', values: col('p95Ms'), format: ms },
          ]}
        />
        <Chart
          title="Backlog"
          t={live.t}
          version={live.version}
          series={[
            { label: 'queued', color: '--accent', values: col('queueDepth'), format: count },
            { label: 'in flight', color: '--ok', values: col('inFlight'), format: count },
            { label: 'dead', color: '--warn', values: col('deadLetterDepth'), format: count },
          ]}
        />
      </div>
    </article>
  );
}
