/**
 * The main process's own broker connection for time: the delay forwarder (runtime/delay/deliver.ts)
 * and one tick emitter per scheduled function it runs (runtime/schedule/emitter.ts). Reconnects with
 * backoff; while it is down the broker keeps every delayed message and hands the schedule to another
 * instance, so nothing is lost, only late.
 */
import type { ChannelModel } from 'amqplib';
import { connectToAny } from '../connection/connect';
import { closeWithin } from '../connection/close';
import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/types';
import { amqpConnection, knownExchanges } from '../replica-protocol/connection';
import { RECONNECT_MAX_MS } from '../connection/backoff';
import { DelayForwarder } from '../delay/deliver';
import { TickEmitter, type EmitterStatus } from '../schedule/emitter';
import { parseSchedule } from '../schedule/ticks';
import { ReconnectReport } from '../connection/unreachable';

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = RECONNECT_MAX_MS;

export class TimeKeeper {
  private connection: ChannelModel | null = null;
  private nextNode = 0;
  private forwarder: DelayForwarder | null = null;
  private emitters = new Map<string, TickEmitter>();
  private config: WarrenConfig | null = null;
  private retryMs = RETRY_MIN_MS;
  /** how failed reconnects are said: in words, a repeat at most once a minute */
  private readonly reconnects = new ReconnectReport();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly log: Logger) {}

  /** Connect and start forwarding and emitting; a failed first attempt is retried in the background. */
  async start(config: WarrenConfig): Promise<void> {
    this.config = config;
    this.forwarder = new DelayForwarder({ log: this.log.child({ stage: 'delay' }), known: new Set(knownExchanges(config)) });
    await this.setEmitters(config);
    await this.connect();
  }

  /** The functions this instance runs changed (`--watch`, `warren deploy --all`): add, change and remove emitters. */
  async update(config: WarrenConfig): Promise<void> {
    this.config = config;
    const before = new Map(this.emitters);
    await this.setEmitters(config, true);
    for (const [name, emitter] of this.emitters)
      if (before.get(name) !== emitter && this.connection)
        await emitter.attach(this.connection).catch((err: Error) => this.log.error({ err, function: name }, 'could not start the schedule'));
  }

  /** delayed messages this instance's forwarder holds for their last seconds (out of the deliver queue's count) */
  delayedHeld(): number {
    return this.forwarder?.holding ?? 0;
  }

  status(): Record<string, EmitterStatus> {
    return Object.fromEntries([...this.emitters].map(([name, e]) => [name, e.status()]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // Before the close: messages the forwarder holds are handed back by it, not forwarded on a closing channel.
    this.forwarder?.detach();
    await Promise.all([...this.emitters.values()].map((e) => e.close()));
    const connection = this.connection;
    this.connection = null;
    if (connection) await closeWithin(connection);
  }

  /**
   * One emitter per scheduled function. A changed schedule or time zone applies in place (the
   * emitter keeps its place in the election and goes on from now on the new schedule); a function
   * moved to another queue gets a new emitter, since the election queue is named after the queue.
   */
  private async setEmitters(config: WarrenConfig, whileRunning = false): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const [name, emitter] of this.emitters) {
      const fn = config.functions[name];
      if (!fn || fn.schedule === undefined || fn.queue !== emitter.queueOf) {
        closing.push(emitter.close());
        this.emitters.delete(name);
      }
    }
    await Promise.all(closing);
    for (const fn of Object.values(config.functions)) {
      if (fn.schedule === undefined) continue;
      const schedule = parseSchedule(fn.schedule, fn.timezone);
      if ('error' in schedule) continue; // refused when the config was loaded
      const running = this.emitters.get(fn.name);
      if (running) running.reschedule(schedule);
      // Added to a running instance (`--watch`, a deploy): its ticks count from now, as a changed
      // schedule's do. The election queue may still hold the record of an earlier time the function
      // had a schedule, and a tick from before the change was run as "missed while no runtime ran".
      else
        this.emitters.set(fn.name, new TickEmitter(fn, schedule, this.log.child({ function: fn.name, stage: 'schedule' }), whileRunning ? new Date() : null));
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || !this.config) return;
    const { url, socketOptions } = amqpConnection(this.config);
    let connection: ChannelModel;
    try {
      // A cluster's list: the next node after the one lost, so the forwarder and emitters move on.
      const found = await connectToAny(url, { startAt: this.nextNode, connectionName: 'warren time', ...(socketOptions ? { socketOptions } : {}) });
      this.nextNode = found.index + 1;
      connection = found.connection;
    } catch (err) {
      return this.failed(err as Error, url);
    }
    // The close that follows says it ("delayed delivery and schedules: lost the broker connection; reconnecting").
    connection.on('error', (err: Error) => this.log.debug({ err }, 'delayed delivery and schedules: connection error'));
    connection.on('close', () => this.lost(connection));
    this.connection = connection;
    try {
      await this.forwarder?.attach(connection);
      for (const emitter of this.emitters.values()) await emitter.attach(connection);
      this.retryMs = RETRY_MIN_MS;
      this.reconnects.reset();
    } catch (err) {
      this.log.error({ err }, 'could not start delayed delivery and schedules; retrying');
      await connection.close().catch(() => undefined);
    }
  }

  private lost(connection: ChannelModel): void {
    if (this.connection !== connection) return;
    this.connection = null;
    this.forwarder?.detach();
    for (const emitter of this.emitters.values()) emitter.detach();
    if (this.stopped) return;
    this.failed(new Error('lost the broker connection'));
  }

  private failed(err: Error, url?: string): void {
    if (this.stopped || this.timer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    if (url) {
      const said = this.reconnects.failed(url, err, delay);
      this.log[said.level](said.fields, `delayed delivery and schedules: reconnecting: ${said.message}`);
    } else this.log.warn({ retryInMs: delay }, `delayed delivery and schedules: ${err.message}; reconnecting`);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
