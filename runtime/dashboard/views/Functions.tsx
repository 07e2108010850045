/** Every function: totals, a table to compare them at a glance, and a card each (scale − / +, redeploy, live charts). */
import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, fnPath } from '../api';
import { ago, clock, count, ms, plural, rate, shortVersion, when } from '../format';
import { BY_NAME, cardId, functionRows, healthOf, healthTitle, total, type Sort } from '../function-rows';
import type { LiveState } from '../live';
import type { FunctionSetup, LiveFunction, RecentFailure, SeriesName } from '../types';
import { toast } from '../toast';
import { Chart } from './Chart';
import { Confirm } from './Confirm';
import { FunctionTable } from './FunctionTable';

/**
 * What each rate counts. All count messages, so they add up: a message that fails twice and then
 * succeeds is one in, two retried, one handled; one that runs out of attempts is one handled and one
 * failed.
 */
const RATE_TITLES = {
  in: 'messages published to the function per second (a retry coming back is not counted again)',
  handled: 'messages settled for good per second: done, dead-lettered or dropped',
  failed: 'messages that failed for good per second: dead-lettered or dropped',
  retried: 'failed attempts per second that wait in a retry queue to be tried again',
};

/** The chart's legend keeps the last figure measured; the tile says what holds now. */
const LATENCY_TITLE = 'handler time of the messages handled in the last second; – when none was (the chart keeps the last figure)';

/** From this many functions on, a filter box: 30 cards do not fit in anyone's head. */
const FILTER_FROM = 6;

const DELAYED_TITLE =
  "delayed messages waiting for their time in the broker's delay ladder (ctx.publish with a delay, warren publish --delay), for every function of this vhost";

export function Functions({ live, focus = null }: { live: LiveState; focus?: string | null }) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<Sort>(BY_NAME);
  const fns = live.frame?.functions ?? [];
  const delayed = live.frame?.delayed ?? null;
  const known = fns.some((f) => f.name === focus);

  // #/functions/NAME (a table row, a topology node): bring that card into view once it is drawn.
  useEffect(() => {
    if (!focus || !known) return;
    const card = document.getElementById(cardId(focus));
    card?.scrollIntoView({ block: 'start' });
    card?.querySelector<HTMLElement>('h2')?.focus({ preventScroll: true });
  }, [focus, known]);

  if (!live.frame)
    return <p class="empty">{live.connection === 'lost' ? 'The runtime does not answer yet; retrying…' : 'Waiting for the first figures from the runtime…'}</p>;
  if (fns.length === 0)
    return (
      <p class="empty">
        No functions: add a handler file to <code>functions/</code>.
      </p>
    );
  const rows = functionRows(fns, filter, sort);
  const failed = total(fns, 'failedPerSec') ?? 0;
  const retried = total(fns, 'retriedPerSec') ?? 0;
  const dead = total(fns, 'deadLetterDepth');
  return (
    <>
      <section class="summary" aria-label="All functions">
        <Stat label={fns.length === 1 ? 'function' : 'functions'} value={count(fns.length)} />
        <Stat label="in/s" value={rate(total(fns, 'inPerSec'))} title={RATE_TITLES.in} />
        <Stat label="handled/s" value={rate(total(fns, 'handledPerSec'))} title={RATE_TITLES.handled} />
        <Stat label="failed/s" value={rate(failed)} tone={failed > 0 ? 'bad' : undefined} title={RATE_TITLES.failed} />
        <Stat label="retried/s" value={rate(retried)} tone={retried > 0 ? 'warn' : undefined} title={RATE_TITLES.retried} />
        <Stat label="in flight" value={count(total(fns, 'inFlight'))} />
        <Stat label={dead === 1 ? 'dead letter' : 'dead letters'} value={count(dead)} tone={(dead ?? 0) > 0 ? 'warn' : undefined} href="#/dead-letters" />
        <Stat label="delayed" value={count(delayed?.waiting)} title={DELAYED_TITLE} />
      </section>
      {(delayed?.undeliverable ?? 0) > 0 ? (
        <p class="banner warn" role="status" data-testid="undeliverable">
          <strong>{plural(delayed!.undeliverable!, 'delayed message')} came due with nowhere to go</strong> (its exchange, or the queue it was sent to, was
          gone) and {delayed!.undeliverable === 1 ? 'waits' : 'wait'} in <code>warren.delay.undeliverable</code>, body and headers kept; move{' '}
          {delayed!.undeliverable === 1 ? 'it' : 'them'} back once the route exists.
        </p>
      ) : null}
      {fns.length >= FILTER_FROM ? (
        <div class="filter">
          <label class="field">
            <span>Filter functions</span>
            <input type="search" value={filter} placeholder="name" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
          </label>
          <span class="muted" aria-live="polite">
            {rows.length === fns.length ? plural(fns.length, 'function') : `${count(rows.length)} of ${plural(fns.length, 'function')}`}
          </span>
        </div>
      ) : null}
      {fns.length > 1 ? <FunctionTable rows={rows} sort={sort} onSort={setSort} answering={live.connection !== 'lost'} /> : null}
      {rows.length === 0 ? <p class="empty">No function's name holds “{filter.trim()}”.</p> : null}
      <div class="cards">
        {rows.map((fn) => (
          <FunctionCard key={fn.name} fn={fn} live={live} />
        ))}
      </div>
    </>
  );
}

function Stat({ label, value, tone, href, title }: { label: string; value: string; tone?: 'bad' | 'warn' | undefined; href?: string; title?: string }) {
  const body = (
    <>
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </>
  );
  return href ? (
    <a class={`stat ${tone ?? ''}`} href={href} title={title}>
      {body}
    </a>
  ) : (
    <div class={`stat ${tone ?? ''}`} title={title}>
      {body}
    </div>
  );
}

function FunctionCard({ fn, live }: { fn: LiveFunction; live: LiveState }) {
  const [busy, setBusy] = useState<string | null>(null);
  /**
   * Replicas asked for on this page that the live figures do not show yet. Clicks add up: three
   * quick clicks on + ask for three more, though the page is redrawn (and `desired` comes back from
   * the runtime) only after the first; one request at a time, the last one asks for the sum.
   */
  const [asked, setAsked] = useState<number | null>(null);
  const target = useRef<number | null>(null);
  const scaling = useRef(false);
  const rounds = useRef(0);
  const desired = asked ?? fn.desired;
  useEffect(() => {
    if (asked !== null && !scaling.current && fn.desired === asked) {
      target.current = null;
      setAsked(null);
    }
  }, [fn.desired, asked, busy]);
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
  /** scaling down to no replica waits for a confirmation */
  const [stopping, setStopping] = useState(false);
  const scale = (step: number) => {
    const next = Math.max(0, (target.current ?? fn.desired) + step);
    target.current = next;
    setAsked(next);
    if (scaling.current) return;
    scaling.current = true;
    void act('scale', async () => {
      try {
        let sent: number | null = null;
        let now = fn.desired;
        while (target.current !== null && target.current !== sent) {
          sent = target.current;
          const r = await api<{ replicas: { desired: number; running: number } }>('POST', `${fnPath(fn.name)}/scale`, { replicas: sent });
          now = r.replicas.desired;
        }
        // The runtime settled on another number than asked: show its own from now on.
        if (now !== sent) target.current = null;
        return `${fn.name} scaled to ${plural(now, 'replica')}`;
      } catch (err) {
        target.current = null;
        setAsked(null);
        throw err;
      } finally {
        scaling.current = false;
        if (target.current === null) setAsked(null);
        // Normally the live figures show the number asked for within a second; if someone else scaled
        // meanwhile they never will: the runtime's own number is shown again after a while.
        const round = ++rounds.current;
        setTimeout(() => {
          if (round !== rounds.current || scaling.current) return;
          target.current = null;
          setAsked(null);
        }, 5_000);
      }
    });
  };
  const redeploy = () =>
    act('deploy', async () => {
      const r = await api<{ version: string; changed: boolean; problems?: Array<{ error: string; hint?: string }> }>('POST', `${fnPath(fn.name)}/deploy`);
      const done = r.changed
        ? `${fn.name} redeployed: version ${shortVersion(r.version)}`
        : `${fn.name}: the file has not changed (version ${shortVersion(r.version)})`;
      // Deployed, with something that went wrong beside it (the topology could not be declared again).
      for (const p of r.problems ?? []) toast('error', `${done}, but: ${p.error}${p.hint ? ` (${p.hint})` : ''}`);
      return done;
    });

  const health = healthOf(fn, live.connection !== 'lost');
  return (
    <article id={cardId(fn.name)} class={`card ${health}`} aria-labelledby={`fn-${fn.name}`} data-function={fn.name}>
      <header class="card-head">
        <div class="title">
          <span class={`dot ${health}`} title={healthTitle(health)} />
          <h2 id={`fn-${fn.name}`} tabIndex={-1}>
            {fn.name}
          </h2>
          <code class="chip" title={fn.version ? `version ${fn.version}` : 'not started yet'}>
            {shortVersion(fn.version)}
          </code>
        </div>
        <div class="controls">
          <div class="scaler" role="group" aria-label={`replicas of ${fn.name}`}>
            <button
              type="button"
              class="icon"
              aria-label={`scale ${fn.name} down`}
              disabled={busy === 'deploy' || desired === 0}
              // Down to none stops the function: asked first, as a purge is.
              onClick={() => ((target.current ?? fn.desired) === 1 ? setStopping(true) : scale(-1))}
            >
              −
            </button>
            <span class="replicas" data-testid="replicas" aria-live="polite" title="running / desired replicas">
              <b>{fn.running}</b>/{desired}
            </span>
            <button type="button" class="icon" aria-label={`scale ${fn.name} up`} disabled={busy === 'deploy'} onClick={() => scale(1)}>
              +
            </button>
          </div>
          <button type="button" aria-label={`redeploy ${fn.name}`} disabled={busy !== null} onClick={redeploy}>
            {busy === 'deploy' ? 'Deploying…' : 'Redeploy'}
          </button>
        </div>
      </header>
      {stopping ? (
        <Confirm
          title={`Stop ${fn.name}?`}
          confirm="Scale to 0"
          danger
          onConfirm={() => {
            setStopping(false);
            scale(-1);
          }}
          onCancel={() => setStopping(false)}
        >
          <p>
            With no replica, <code>{fn.name}</code> takes no messages: they wait in its queue
            {fn.setup ? (
              <>
                {' '}
                <code>{fn.setup.queue}</code>
              </>
            ) : null}{' '}
            until it is scaled up again.
          </p>
        </Confirm>
      ) : null}
      {fn.setup ? <Setup setup={fn.setup} /> : null}
      {fn.restarts > 0 || fn.lastError ? (
        <p class="death" role="status">
          <strong>{plural(fn.restarts, 'restart')}</strong>
          {fn.lastError ? <> · last death: {fn.lastError}</> : null}
        </p>
      ) : null}
      <div class="stats">
        <Stat label="in/s" value={rate(fn.inPerSec)} title={RATE_TITLES.in} />
        <Stat label="handled/s" value={rate(fn.handledPerSec)} title={RATE_TITLES.handled} />
        <Stat label="failed/s" value={rate(fn.failedPerSec)} tone={fn.failedPerSec > 0 ? 'bad' : undefined} title={RATE_TITLES.failed} />
        <Stat label="retried/s" value={rate(fn.retriedPerSec)} tone={fn.retriedPerSec > 0 ? 'warn' : undefined} title={RATE_TITLES.retried} />
        <Stat label="p50" value={ms(fn.p50Ms)} title={LATENCY_TITLE} />
        <Stat label="p95" value={ms(fn.p95Ms)} title={LATENCY_TITLE} />
        <Stat label="in flight" value={count(fn.inFlight)} />
        <Stat label="queued" value={count(fn.queueDepth)} />
        <Stat label="retrying" value={count(fn.retryDepth)} title="waiting in the retry queues to be tried again" />
        <Stat
          label="dead letters"
          value={count(fn.deadLetterDepth)}
          tone={(fn.deadLetterDepth ?? 0) > 0 ? 'warn' : undefined}
          href={`#/dead-letters/${encodeURIComponent(fn.name)}`}
        />
      </div>
      {fn.recentFailures.length > 0 ? <RecentFailures failures={fn.recentFailures} fn={fn.name} /> : null}
      <div class="charts">
        <Chart
          title="Messages / s"
          unit="rate"
          t={live.t}
          version={live.version}
          series={[
            { label: 'in', color: '--accent', values: col('inPerSec'), format: rate },
            { label: 'handled', color: '--ok', values: col('handledPerSec'), format: rate },
            { label: 'failed', color: '--bad', values: col('failedPerSec'), format: rate },
            { label: 'retried', color: '--warn', values: col('retriedPerSec'), format: rate },
          ]}
        />
        <Chart
          title="Handler latency"
          unit="ms"
          t={live.t}
          version={live.version}
          series={[
            { label: 'p50', color: '--accent', values: col('p50Ms'), format: ms },
            { label: 'p95', color: '--warn', values: col('p95Ms'), format: ms },
          ]}
        />
        <Chart
          title="Backlog"
          unit="count"
          t={live.t}
          version={live.version}
          series={[
            { label: 'queued', color: '--accent', values: col('queueDepth'), format: count },
            { label: 'in flight', color: '--ok', values: col('inFlight'), format: count },
            { label: 'retrying', color: '--muted', values: col('retryDepth'), format: count },
            { label: 'dead', color: '--warn', values: col('deadLetterDepth'), format: count },
          ]}
        />
      </div>
    </article>
  );
}

/** How the function runs, in one line: its queue and settings, and with `schedule:` its next tick and last run. */
function Setup({ setup }: { setup: FunctionSetup }) {
  const { schedule, batch } = setup;
  const parts = [
    <>
      queue <code>{setup.queue}</code>
    </>,
    <span title="unacked messages one replica holds (the prefetch it really uses)">prefetch {setup.prefetch}</span>,
    <span title="per message (per batch for a batch function)">timeout {ms(setup.timeoutMs)}</span>,
    <span title="attempts before a failed message is dead-lettered">{plural(setup.attempts, 'attempt')}</span>,
  ];
  if (batch)
    parts.push(
      <span title="a batch handler: up to this many messages at once, or what came within the window">
        batch {batch.size} / {ms(batch.windowMs)}
      </span>,
    );
  if (setup.rateLimit) parts.push(<span title="messages started at most, across the replicas of this runtime">rate ≤ {setup.rateLimit}</span>);
  if (setup.ordered) parts.push(<span title="single active consumer: strict queue order, the other replicas stand by">ordered</span>);
  return (
    <p class="setup" data-testid="setup">
      {parts.map((part, i) => (
        <Fragment key={i}>
          {i > 0 ? ' · ' : null}
          {part}
        </Fragment>
      ))}
      {schedule ? (
        <span class="schedule" data-testid="schedule">
          {' · '}schedule <code>{schedule.cron}</code> {schedule.timezone} · next {schedule.next ? when(schedule.next) : '–'} · last run{' '}
          {schedule.lastRun ? (
            <span class={schedule.lastRun.outcome === 'acked' ? undefined : 'warn-text'} title={`tick of ${schedule.lastRun.scheduledAt}`}>
              {schedule.lastRun.outcome} {ago(schedule.lastRun.scheduledAt)}
            </span>
          ) : (
            'none seen yet'
          )}
        </span>
      ) : null}
    </p>
  );
}

/** Its last failed attempts, newest first: what goes wrong now, before anything reaches the dead letters. */
function RecentFailures({ failures, fn }: { failures: readonly RecentFailure[]; fn: string }) {
  const latest = failures[0]!;
  return (
    <details class="failures" data-testid="recent-failures">
      <summary>
        Recent failures: <span class="failure-error">{latest.error}</span> <span class="muted">({ago(latest.at)})</span>
      </summary>
      <ul>
        {failures.map((f, i) => (
          <li key={i}>
            <span class="muted">{clock(Date.parse(f.at))}</span> <code>{f.messageId ?? '(no id)'}</code> attempt {f.attempt}:{' '}
            {f.outcome === 'retried' ? 'retried' : f.outcome === 'dead' ? <a href={`#/dead-letters/${encodeURIComponent(fn)}`}>dead-lettered</a> : 'dropped'}
            {f.reason && f.reason !== 'error' ? ` (${f.reason})` : ''} · <span class="failure-error">{f.error}</span>
          </li>
        ))}
      </ul>
    </details>
  );
}
