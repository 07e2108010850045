/**
 * The replicas of one function: keeps `desired` of them consuming, restarts the ones that die with
 * exponential backoff, scales, and redeploys (start the new version's replicas, then drain the old).
 */
import type { Logger } from 'pino';
import type { PrettyLogs } from '../log';
import type { FunctionConfig, QueueType } from '../config/types';
import type { ReplicaConnection } from '../replica-protocol/connection';
import { Replica } from './replica';
import type { TickOutcome } from '../schedule/outcome';
import { createRateBuffer } from '../ratelimit/shared-rate';
import { WarrenError } from '../errors';
import { addSnapshots, emptySnapshot, type StatsSnapshot } from '../replica-protocol/stats';
import { ClearedKeys } from '../replica-protocol/cleared-keys';
import { AFTER_DEATH_MS, AfterDeath, ForgivenDeliveries } from '../replica-protocol/forgiven';
import { LossGrace } from '../replica-protocol/loss-grace';
import { createIsolationBuffer, isolationBuffer } from '../replica-protocol/isolation-slots';
import { createPlacementBuffer, placementGone } from '../replica-protocol/placement';
import { RecentFailures } from '../replica-protocol/recent-failures';

export interface Build {
  bundleFile: string;
  version: string;
}

/** What a function runs with besides its code; a change in queues.yaml or rascal.json redeploys it with new ones. */
export interface RunnerSettings {
  fn: FunctionConfig;
  queueType: QueueType;
  connection: ReplicaConnection;
}

export interface RunnerOptions extends RunnerSettings {
  build: Build;
  log: Logger;
  logLevel: string;
  pretty: PrettyLogs;
  /** the project folder: a handler file's problems name it relative to this */
  projectDir: string;
  /**
   * Replicas spawned before this settles boot and wait (ReplicaInit.held); it resolves once the
   * topology is declared, and they consume. Rejected: they stay held until stop() drains them.
   */
  topology?: Promise<void>;
  /** a replica found the function's queue gone from the broker (deleted while the runtime ran) */
  onQueueMissing?(): void;
  /** a replica's publish was refused: this exchange, declared in queues.yaml, is gone from the broker */
  onExchangeMissing?(exchange: string): void;
}

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** a replica that ran this long without dying resets the backoff */
const HEALTHY_AFTER_MS = 30_000;
/**
 * A blocked event loop is declared hung once its heartbeat (every 200 ms, runtime/replica/thread.ts)
 * is older than the function's timeout plus HANG_GRACE_MS; the watchdog looks every WATCHDOG_MS. A
 * handler that blocks from its start is therefore ended within timeout + HANG_GRACE_MS + WATCHDOG_MS
 * (SPEC §4 asks for timeout + 2 s), and a pause has to outlast the timeout by a second to be taken
 * for a hang.
 */
export const HANG_GRACE_MS = 1_000;
export const WATCHDOG_MS = 250;
/**
 * A starting replica runs no handler yet, but booting a thread and loading its bundle can stall for
 * seconds on a loaded machine: it gets this much more before a silent start counts as a hang (a
 * handler module that spins at load).
 */
export const START_GRACE_MS = 10_000;
/** Replicas of one function booting at once (a scale to 256 starts them in waves of this many). */
export const BOOT_AT_ONCE = 8;
/**
 * A redeploy watches its new replicas this long after they consume, before it drains the old ones:
 * a version that dies right after starting (a timer at load that throws, a connection its module
 * opens and loses) fails the deploy, and the old version, still consuming meanwhile, keeps serving.
 */
export const DEPLOY_WATCH_MS = 1_000;

/** Pure: is a replica whose last heartbeat is `silentMs` old hung? */
export function isHung(silentMs: number, timeoutMs: number, starting = false): boolean {
  return silentMs > timeoutMs + (starting ? START_GRACE_MS : HANG_GRACE_MS);
}

export class FunctionRunner {
  private wanted = 0;
  get desired(): number {
    return this.wanted;
  }
  set desired(n: number) {
    this.wanted = n;
    // Its replicas read it to leave one of them taking fresh messages while others run suspects apart.
    isolationBuffer.setReplicas(this.isolation, n);
  }
  build: Build;
  private readonly replicas = new Set<Replica>();
  private retired: StatsSnapshot = emptySnapshot();
  private nextReplica = 1;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly watchdog: NodeJS.Timeout;
  private stopped = false;
  lastError: string | null = null;
  /** why the last replica could not start */
  private startFailure: Error | null = null;
  /** why the last replica died; told to every replica, so the messages it held carry it */
  lastDeath: string | null = null;
  restarts = 0;
  /** the latest scheduled tick a replica here settled */
  lastTick: TickOutcome | null = null;
  /** its last failed attempts, across its replicas (the dashboard's list) */
  readonly recentFailures = new RecentFailures();
  /** messages a replica held when it lost its connection: not suspects for any replica of this function */
  private readonly cleared = new ClearedKeys();
  /** deliveries forgiven: a replica died holding these suspects unstarted (runtime/replica-protocol/forgiven.ts) */
  private readonly forgiven = new ForgivenDeliveries();
  /** the replicas that died lately, for the ones started in their place (runtime/replica-protocol/forgiven.ts `AfterDeath`) */
  private readonly afterDeath = new AfterDeath();
  private readonly grace = new LossGrace();
  /** rateLimit state shared by this function's replicas (one per runtime: the limit is per instance) */
  private rate: { key: string; buffer: SharedArrayBuffer } | null = null;
  /** which replicas run suspects apart now, so that one keeps taking fresh messages (runtime/replica-protocol/isolation-slots.ts) */
  private readonly isolation = createIsolationBuffer();
  /** which node of a cluster each replica consumes from, so a lost node's replicas spread by count (runtime/replica-protocol/placement.ts) */
  private readonly placement = createPlacementBuffer();

  /** a redeploy runs both versions side by side: a restart timer waits for it to end (see `deploy`) */
  private deploying = false;
  private restartMissed = false;
  /** the topology is not declared yet: new replicas are held (RunnerOptions.topology) */
  held: boolean;
  private settings: RunnerSettings;

  constructor(private readonly options: RunnerOptions) {
    this.held = options.topology !== undefined;
    void options.topology?.then(
      () => {
        this.held = false;
        for (const r of this.replicas) r.release();
      },
      () => undefined,
    );
    this.settings = { fn: options.fn, queueType: options.queueType, connection: options.connection };
    this.desired = options.fn.replicas;
    this.build = options.build;
    this.watchdog = setInterval(() => this.checkHeartbeats(), WATCHDOG_MS).unref();
  }

  get name(): string {
    return this.fn.name;
  }

  get fn(): FunctionConfig {
    return this.settings.fn;
  }

  /** Replicas that consume now (not starting, not draining). */
  get running(): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === 'running') n++;
    return n;
  }

  /** Why a replica reconnecting cannot get back, when a person must fix it (a vhost deleted); null otherwise. */
  get reconnectProblem(): string | null {
    for (const r of this.replicas) if (r.state === 'running' && !r.connected && r.reconnectProblem) return r.reconnectProblem;
    return null;
  }

  /** Replicas that consume and are connected to the broker now (readiness). */
  get connected(): number {
    let n = 0;
    for (const r of this.replicas) if (r.state === 'running' && r.connected) n++;
    return n;
  }

  /** Where each consuming replica is: `host:port` of its broker node, null while it fails over. */
  get nodes(): Array<{ replica: number; node: string | null }> {
    const out: Array<{ replica: number; node: string | null }> = [];
    for (const r of this.replicas) if (r.state === 'running') out.push({ replica: r.number, node: r.connected ? r.node : null });
    return out;
  }

  /** Start until `desired` replicas consume; rejects if the first one cannot start. */
  async start(): Promise<void> {
    await this.reconcile();
  }

  async scale(n: number): Promise<void> {
    this.desired = n;
    await this.reconcile();
  }

  /**
   * Start the new version's replicas (new code, or new settings from queues.yaml), then drain the old
   * ones. The old keep serving if the new cannot start. The counters carry on: a redeployed function
   * is the same function to Prometheus, whose counters must not go backwards.
   */
  async deploy(build: Build, settings: RunnerSettings = this.settings): Promise<void> {
    const previous = this.settings;
    // `replicas` in queues.yaml is a starting count: a change to it is taken, otherwise a `warren scale` stays.
    const desired = settings.fn.replicas !== previous.fn.replicas ? settings.fn.replicas : this.desired;
    const old = [...this.replicas].filter((r) => r.state === 'starting' || r.state === 'running');
    const fresh: Replica[] = [];
    this.deploying = true;
    try {
      try {
        // In waves, as a scale up boots them (BOOT_AT_ONCE).
        while (fresh.length < desired) {
          const wave = Array.from({ length: Math.min(BOOT_AT_ONCE, desired - fresh.length) }, () => this.spawn(build, settings));
          fresh.push(...wave);
          await Promise.all(wave.map((r) => r.start()));
        }
      } catch (err) {
        await Promise.all(fresh.map((r) => r.kill()));
        throw err;
      }
      // One of an earlier wave that died while the later ones booted is a death too.
      const early = fresh.find((r) => r.state === 'stopped');
      const death = early ? { replica: early, reason: this.lastDeath ?? 'its thread ended', afterMs: 0 } : await firstDeath(fresh, DEPLOY_WATCH_MS);
      if (death) {
        // The ones still alive finish what they took; the old version never stopped consuming.
        await Promise.all(fresh.filter((r) => r.state !== 'stopped').map((r) => this.retire(r, settings.fn.timeout)));
        throw new WarrenError(
          'WARREN_E_REPLICA_START',
          `replica ${death.replica.number} of the new version died ${death.afterMs} ms after it started consuming: ${death.reason}`,
        );
      }
      if (this.stopped) return;
      this.build = build;
      this.settings = settings;
      this.desired = desired;
      // The old replicas finish what they hold within the timeout they run with. Draining, they no
      // longer count: a restart from now on is the new version's.
      const retiring = old.map((r) => this.retire(r, previous.fn.timeout));
      this.endDeploying();
      await Promise.all(retiring);
    } finally {
      this.endDeploying();
    }
  }

  private endDeploying(): void {
    if (!this.deploying) return;
    this.deploying = false;
    // A restart that came due meanwhile (a replica of either version died) is made up for now.
    if (this.restartMissed && !this.stopped) void this.reconcile().catch(() => undefined);
    this.restartMissed = false;
  }

  /** Drain every replica (SIGTERM, a deleted handler file). */
  async stop(graceMs = this.fn.timeout): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    await Promise.all([...this.replicas].map((r) => this.retire(r, graceMs)));
  }

  /** Counters of every replica this function ever ran. */
  stats(): StatsSnapshot {
    let total = this.retired;
    for (const r of this.replicas) total = addSnapshots(total, r.stats.snapshot());
    return total;
  }

  private async reconcile(): Promise<void> {
    // Mid-deploy both versions consume: counted together they look like a surplus to drain.
    if (this.deploying) {
      this.restartMissed = true;
      return;
    }
    const liveNow = () => [...this.replicas].filter((r) => r.state === 'starting' || r.state === 'running');
    const live = liveNow();
    if (live.length < this.desired) {
      // In waves: 256 threads booting at once on two cores starved one another for 15 s, and the
      // watchdog ended most of them as hung. Each wave counts again (a scale meanwhile changes `desired`).
      for (;;) {
        const wanted = this.desired - liveNow().length;
        if (wanted <= 0 || this.stopped) break;
        const fresh = Array.from({ length: Math.min(BOOT_AT_ONCE, wanted) }, () => this.spawn(this.build));
        await Promise.all(fresh.map((r) => r.start().catch((err: Error) => this.onStartFailure(r, err))));
        // A wave with none started: the restart scheduled with backoff tries again, not this loop.
        if (!fresh.some((r) => r.state === 'running')) break;
      }
      if (this.running === 0 && this.desired > 0 && this.lastError) {
        // A handler that does not load says so with its own code, file and line; anything else is a start failure.
        throw this.startFailure instanceof WarrenError ? this.startFailure : new WarrenError('WARREN_E_REPLICA_START', this.lastError);
      }
    } else if (live.length > this.desired) {
      // Drain the newest first: the oldest have warm connections.
      const surplus = live.slice(this.desired);
      await Promise.all(surplus.map((r) => this.retire(r)));
    }
  }

  private spawn(build: Build, { fn, queueType, connection }: RunnerSettings = this.settings): Replica {
    const replicaNo = this.nextReplica++;
    const log = this.options.log.child({ replica: replicaNo });
    const graceUntil = this.grace.until;
    const afterDeath = this.afterDeath.state();
    const replica = new Replica(
      {
        fn,
        queueType,
        connection,
        bundleFile: build.bundleFile,
        version: build.version,
        replica: replicaNo,
        ...this.rateBuffer(fn),
        isolation: this.isolation,
        placement: this.placement,
        logLevel: this.options.logLevel,
        pretty: this.options.pretty,
        ...(this.lastDeath ? { lastDeath: this.lastDeath } : {}),
        ...(this.held ? { held: true } : {}),
        ...(this.cleared.size > 0 ? { cleared: this.cleared.list() } : {}),
        ...(graceUntil > 0 ? { graceUntil } : {}),
        ...(this.forgiven.size > 0 ? { forgiven: this.forgiven.list() } : {}),
        ...(afterDeath ? { afterDeath } : {}),
      },
      log,
    );
    this.replicas.add(replica);
    replica.on('died', (reason) => this.onDeath(replica, reason));
    replica.on('stuck', (reason) => void this.replace(replica, reason));
    replica.on('queue-missing', () => this.options.onQueueMissing?.());
    replica.on('exchange-missing', (exchange) => this.options.onExchangeMissing?.(exchange));
    replica.on('cleared', (keys) => {
      this.cleared.add(keys);
      this.tellReplicas({ type: 'cleared', keys }, replica);
    });
    replica.on('suspect-runs', (key) => {
      this.afterDeath.runsElsewhere(key);
      this.tellReplicas({ type: 'suspect-runs', key }, replica);
    });
    replica.on('forgave', (key) => {
      this.forgiven.take(key);
      this.tellReplicas({ type: 'forgave', key }, replica);
    });
    replica.on('connection', (up) => {
      const until = up ? this.grace.reconnected() : this.grace.lost();
      if (until !== null) this.tellReplicas({ type: 'grace', until }, replica);
    });
    replica.on('failure', (failure) => this.recentFailures.add(failure));
    replica.on('tick', (scheduledAt, outcome) => {
      if (!this.lastTick || scheduledAt >= this.lastTick.scheduledAt) this.lastTick = { scheduledAt, outcome, at: new Date().toISOString() };
    });
    return replica;
  }

  /** Tells every replica of the function but `from` (the one it came from) what another did. */
  private tellReplicas(message: Parameters<Replica['tell']>[0], from?: Replica): void {
    for (const r of this.replicas) if (r !== from) r.tell(message);
  }

  /** The same buffer for every replica while the rate stays the same (across redeploys too). */
  private rateBuffer(fn: FunctionConfig): { rateLimit?: SharedArrayBuffer } {
    if (!fn.rateLimit) return {};
    const key = `${fn.rateLimit.count}/${fn.rateLimit.periodMs}`;
    if (this.rate?.key !== key) this.rate = { key, buffer: createRateBuffer(fn.rateLimit.count) };
    return { rateLimit: this.rate.buffer };
  }

  private async retire(replica: Replica, graceMs = this.fn.timeout): Promise<void> {
    await replica.drain(graceMs);
    this.forget(replica);
  }

  private forget(replica: Replica): void {
    if (!this.replicas.delete(replica)) return;
    isolationBuffer.gone(this.isolation, replica.number);
    placementGone(this.placement, replica.number);
    this.retired = addSnapshots(this.retired, { ...replica.stats.snapshot(), inFlight: 0 });
  }

  private onStartFailure(replica: Replica, err: Error): void {
    if (this.stopped) {
      // Drained before it consumed (stopped while the topology was being declared): not a failure.
      this.forget(replica);
      return;
    }
    this.lastError = err.message;
    this.startFailure = err;
    this.forget(replica);
    void replica.kill();
    const restartInMs = this.scheduleRestart();
    const retry = restartInMs === null ? '' : `; trying again in ${restartInMs} ms`;
    // A handler file that does not load says where and what to do, as `warren check` would; its
    // stack here would be the supervisor's own, the thread's was left behind. Anything else keeps its stack.
    if (err instanceof WarrenError)
      replica.logger.error({ problems: err.format(this.options.projectDir).split('\n'), restartInMs }, `replica could not start: ${err.message}${retry}`);
    else replica.logger.error({ err, restartInMs }, `replica could not start${retry}`);
  }

  private onDeath(replica: Replica, reason: string): void {
    this.forget(replica);
    this.lastError = reason;
    this.lastDeath = reason;
    // Each replica forgets its cleared messages on hearing of it: the death may be one of theirs.
    this.cleared.clear();
    this.grace.died();
    // The suspects it held waiting to start, and the messages it was moving aside, had no part in its
    // death: one delivery each is forgiven.
    const unstarted = [...replica.unstartedAtDeath(), ...replica.movingAtDeath()];
    if (unstarted.length > 0) {
      this.forgiven.add(unstarted);
      this.tellReplicas({ type: 'forgiven', keys: unstarted });
    }
    // And its replacement forgives the suspects it hands back that did not run there (they never reached it).
    this.afterDeath.died(replica.guiltyAtDeath(unstarted), Date.now() + AFTER_DEATH_MS);
    this.tellReplicas({ type: 'death', reason });
    this.restarts++;
    // A death with messages in hand, or after some were handled, is a message's doing: those messages
    // are charged and run apart (replica/suspects.ts), and the function is otherwise sound, so its
    // replacement starts at once rather than after a backoff grown by earlier deaths (a few poison
    // messages would otherwise stall a one-replica function for minutes). A replica that dies with
    // nothing in hand and nothing done, a crash loop, backs off.
    const seen = replica.stats.snapshot();
    const messagesDidIt = seen.inFlight > 0 || seen.acked + seen.retried + seen.dead + seen.dropped > 0;
    if (messagesDidIt || Date.now() - replica.startedAt > HEALTHY_AFTER_MS) this.failures = 0;
    const restartInMs = this.scheduleRestart();
    replica.logger.error({ reason, restartInMs, restarts: this.restarts }, 'replica died; its unacked messages return to the queue; restarting');
  }

  /** A replica whose handler ignored its timeout: start a replacement, then drain the stuck one. */
  private async replace(replica: Replica, reason: string): Promise<void> {
    if (this.stopped || replica.state !== 'running') return;
    replica.logger.warn({ reason }, 'replacing replica');
    // What its messages come back with, when they come back: this, not an older death's reason.
    this.lastDeath = reason;
    this.restarts++;
    const fresh = this.spawn(this.build);
    replica.state = 'draining';
    await fresh.start().catch((err: Error) => this.onStartFailure(fresh, err));
    await this.retire(replica);
  }

  /** Returns the wait before the restart (null: stopped, or one is already scheduled). */
  private scheduleRestart(): number | null {
    if (this.stopped || this.restartTimer) return null;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.failures);
    this.failures++;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped) void this.reconcile().catch(() => undefined);
    }, delay);
    this.restartTimer.unref();
    return delay;
  }

  /** A replica whose event loop is blocked (a synchronous endless loop) stops beating: end it. */
  private checkHeartbeats(): void {
    const now = Date.now();
    for (const r of this.replicas) {
      // Starting too: a handler module that spins at load would otherwise hold up start() forever.
      if (r.state === 'stopped') continue;
      const silentFor = now - r.stats.snapshot().heartbeat;
      // Loading its handler, a replica gets the start grace; once it subscribes, a delivery can
      // arrive in the same read as the broker's consume-ok and block it before it says it is ready.
      if (isHung(silentFor, this.fn.timeout, r.state === 'starting' && !r.subscribing)) {
        // No handler ran yet in a replica still starting: its module spins at load, or the machine is too busy to run the thread.
        void r.terminateAsDead(
          r.state === 'starting' && !r.subscribing
            ? `silent for ${silentFor} ms while starting (timeout ${this.fn.timeout} ms + ${START_GRACE_MS} ms to start): the handler module spins at load, or the machine is too busy to boot the thread`
            : `event loop blocked for ${silentFor} ms (timeout ${this.fn.timeout} ms): a handler never yields`,
        );
      }
    }
  }
}

/** The first of `replicas` to die within `ms` (null: none did); they all consume when it is called. */
function firstDeath(replicas: readonly Replica[], ms: number): Promise<{ replica: Replica; reason: string; afterMs: number } | null> {
  const since = Date.now();
  return new Promise((resolve) => {
    const listeners = new Map<Replica, (reason: string) => void>();
    const done = (value: { replica: Replica; reason: string; afterMs: number } | null) => {
      clearTimeout(timer);
      for (const [r, listener] of listeners) r.off('died', listener);
      resolve(value);
    };
    const timer = setTimeout(() => done(null), ms);
    for (const replica of replicas) {
      const listener = (reason: string) => done({ replica, reason, afterMs: Date.now() - since });
      listeners.set(replica, listener);
      replica.on('died', listener);
    }
  });
}
