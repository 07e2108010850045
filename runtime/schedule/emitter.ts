/**
 * One scheduled function's tick emitter, in every instance that runs the function; the broker elects
 * which one emits. The election queue `<queue>.schedule` (single active consumer, max length 1) holds
 * one message: the last tick emitted. Each instance consumes it with prefetch 1; the active consumer
 * receives the message and holds it unacked, and holding it is what makes an instance the emitter.
 * When the emitter dies its channel closes, the broker hands the message to the next consumer, and
 * that one reads the last tick from it: so it takes over at once and emits the latest tick due since
 * (within CATCH_UP_MS), counting the earlier ones as skipped.
 *
 * At a tick T the emitter (1) records T in the broker (publishes the new state, confirmed), (2) acks
 * the message it held, (3) publishes the tick to the function's queue (confirmed), with the id
 * `warren.schedule:<fn>:<T>`. The record comes first, so a hand-over can never emit T twice; a crash
 * between (1) and (3) loses T (ms wide), which we prefer to a duplicate run. The new state comes back to
 * the same consumer (it stays the active one). With nothing to emit, the emitter still rewrites the
 * record every REFRESH_MS, so RabbitMQ's consumer_timeout never takes the message back.
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { FunctionConfig } from '../config/types';
import { scheduleQueueName } from '../topology/names';
import { publishConfirmed } from '../delay/confirm';
import { SCHEDULED_AT_HEADER } from './outcome';
import { COUNT_CAP, decodeState, dueTicks, encodeState, laterTick, latestDue, tickBody, tickMessageId, type Schedule } from './ticks';

const REFRESH_MS = 60_000;
/**
 * After emitting, the emitter counts the messages ready in the function's queue: past PILED_UP (the
 * new tick among them) the ticks run late and, with a handler slower than its schedule, pile up.
 * Every tick still runs (SPEC §2: one message per tick); the warning comes at most every WARN_EVERY_MS.
 */
export const PILED_UP = 3;
const WARN_EVERY_MS = 10 * 60_000;

export interface EmitterStatus {
  schedule: string;
  timezone: string;
  /** this instance holds the election message and emits */
  emitting: boolean;
  /** the next tick (ISO) */
  next: string | null;
  /** the last tick recorded in the broker as emitted, as far as this instance has seen */
  lastTick: string | null;
}

export class TickEmitter {
  private channel: ConfirmChannel | null = null;
  private held: ConsumeMessage | null = null;
  /**
   * The held record was handed back after a new one was written, which comes back to this consumer:
   * it still emits meanwhile. Without it, `emitting` read false for a moment at every tick (an
   * every-second schedule's status flickered, and a test reading it just then failed in CI).
   */
  private handingOver = false;
  private lastTick: Date | null = null;
  /** when the schedule last changed: its ticks count from then, not from the last tick of the old one */
  private since: Date | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly queue: string;
  /** the connection the channel is on: the queue's depth is read on a channel of its own */
  private connection: ChannelModel | null = null;
  /** when ticks were last said to pile up (0: never) */
  private warnedAt = 0;

  constructor(
    private readonly fn: FunctionConfig,
    private schedule: Schedule,
    private readonly log: Logger,
    /** a schedule added to a running instance ticks from this moment on */
    since: Date | null = null,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.queue = scheduleQueueName(fn.queue);
    this.since = since;
  }

  /** The election queue's function queue: an emitter serves one queue for its whole life. */
  get queueOf(): string {
    return this.fn.queue;
  }

  /**
   * The schedule or time zone changed (a redeploy): tick on the new one from now on. Ticks the new
   * schedule would have had before the change are not due, so a switch from yearly to every second
   * does not emit a burst for the time since the last yearly tick.
   */
  reschedule(schedule: Schedule): void {
    if (schedule.expression === this.schedule.expression && schedule.timezone === this.schedule.timezone) return;
    this.log.info({ schedule: schedule.expression, timezone: schedule.timezone, was: this.schedule.expression }, 'schedule changed');
    this.schedule = schedule;
    this.since = this.now();
    if (this.channel && this.held) this.arm(this.channel);
  }

  status(): EmitterStatus {
    const next = this.schedule.next(laterTick(this.lastTick, this.now()) ?? this.now());
    return {
      schedule: this.schedule.expression,
      timezone: this.schedule.timezone,
      emitting: this.held !== null || this.handingOver,
      next: next ? next.toISOString() : null,
      // The record also marks where the schedule started (or resumed past skipped ticks): that moment
      // is not a tick, and `warren status` showed it as one emitted.
      lastTick: this.lastTick && onSchedule(this.schedule, this.lastTick) ? this.lastTick.toISOString() : null,
    };
  }

  async attach(connection: ChannelModel): Promise<void> {
    const channel = await connection.createConfirmChannel();
    channel.on('error', (err: Error) => this.log.warn({ err }, 'schedule channel error'));
    channel.on('close', () => {
      if (this.channel === channel) this.detach();
    });
    await channel.prefetch(1, false);
    this.channel = channel;
    this.connection = connection;
    // The first instance ever writes the first record. Several starting at once each write one and
    // max-length 1 keeps a single one; a record held by an emitter is not ready, hence the consumer count.
    const { messageCount, consumerCount } = await channel.checkQueue(this.queue);
    if (messageCount === 0 && consumerCount === 0)
      await publishConfirmed(channel, '', this.queue, encodeState(null), { persistent: true, contentType: 'application/json' });
    await channel.consume(this.queue, (message) => {
      if (message) void this.received(channel, message);
    });
  }

  /** The connection or channel is gone: the broker already took the record back. */
  detach(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.held = null;
    this.handingOver = false;
    this.channel = null;
    this.connection = null;
  }

  /** Close the channel (shutdown): the record goes to the next instance at once. */
  async close(): Promise<void> {
    const channel = this.channel;
    this.detach();
    if (channel) await channel.close().catch(() => undefined);
  }

  private async received(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    if (this.channel !== channel) return;
    this.held = message;
    this.handingOver = false;
    const now = this.now();
    // No record yet: this emitter starts the schedule now.
    this.lastTick = laterTick(this.lastTick, decodeState(message.content)) ?? now;
    // Taking over: the latest tick due, if any; the ones before it are skipped.
    const due = latestDue(dueTicks(this.schedule, this.from(), now));
    if (due.skipped > 0) {
      this.log.warn(
        { skipped: due.skipped, lastTick: this.lastTick.toISOString() },
        `skipped ${due.skipped >= COUNT_CAP ? 'at least ' : ''}${due.skipped} tick${due.skipped === 1 ? '' : 's'} missed while no runtime ran`,
      );
    }
    if (due.emit.length > 0 || due.skipped > 0) return this.emit(channel, due.emit, due.skipped > 0 ? now : undefined);
    this.arm(channel);
  }

  private arm(channel: ConfirmChannel): void {
    if (this.timer) clearTimeout(this.timer);
    const now = this.now().getTime();
    const next = this.schedule.next(this.from() ?? new Date(now));
    const wait = next ? Math.min(REFRESH_MS, next.getTime() - now) : REFRESH_MS;
    this.timer = setTimeout(() => void this.wake(channel), Math.max(0, wait));
  }

  private wake(channel: ConfirmChannel): Promise<void> {
    this.timer = null;
    if (this.channel !== channel || !this.held || !this.lastTick) return Promise.resolve();
    const due = dueTicks(this.schedule, this.from(), this.now());
    // Nothing due (a timer a little early, or the refresh): rewrite the record as it is.
    return this.emit(channel, due.emit);
  }

  /** Where the next tick is counted from: the last tick, or the last change of schedule when later. */
  private from(): Date | null {
    return laterTick(this.lastTick, this.since);
  }

  /** Record the last of `ticks` (or `skippedTo`, or the same record), hand back the held message, then emit. */
  private async emit(channel: ConfirmChannel, ticks: Date[], skippedTo?: Date): Promise<void> {
    const held = this.held;
    if (!held) return;
    const record = ticks.at(-1) ?? laterTick(this.lastTick, skippedTo ?? null);
    try {
      await publishConfirmed(channel, '', this.queue, encodeState(record), { persistent: true, contentType: 'application/json' });
      this.lastTick = record;
      this.held = null;
      this.handingOver = true;
      channel.ack(held); // the new record comes back to this consumer: it stays the active one
      for (const at of ticks) {
        await publishConfirmed(channel, '', this.fn.queue, Buffer.from(JSON.stringify(tickBody(at))), {
          persistent: true,
          contentType: 'application/json',
          messageId: tickMessageId(this.fn.name, at),
          timestamp: Math.floor(at.getTime() / 1000),
          headers: { [SCHEDULED_AT_HEADER]: at.toISOString() },
        });
        this.log.debug({ scheduledAt: at.toISOString() }, 'tick emitted');
      }
      const last = ticks.at(-1);
      if (last) await this.lookBehind(last);
    } catch (err) {
      // The channel is gone: the broker hands the record to the next instance.
      this.handingOver = false;
      this.log.warn({ err }, 'could not emit a tick; another instance takes over');
    }
  }

  /**
   * Says so when the tick just emitted waits behind others in the function's queue. A channel of its
   * own: a queue deleted on the broker closes the channel that asks, and this one must live on.
   */
  private async lookBehind(at: Date): Promise<void> {
    const connection = this.connection;
    if (!connection || this.now().getTime() - this.warnedAt < WARN_EVERY_MS) return;
    let waiting: number;
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      try {
        waiting = (await channel.checkQueue(this.fn.queue)).messageCount;
      } finally {
        await channel.close().catch(() => undefined);
      }
    } catch {
      return;
    }
    if (waiting < PILED_UP) return;
    this.warnedAt = this.now().getTime();
    this.log.warn(
      { scheduledAt: at.toISOString(), waiting, queue: this.fn.queue, schedule: this.schedule.expression },
      `the tick of ${at.toISOString()} waits behind ${waiting - 1} other messages in ${this.fn.queue}: it runs late, and if the handler takes longer than the time between ticks, ticks pile up (each still runs once). Give the function more replicas or a slower schedule, or let the handler skip a tick whose scheduledAt is old; said again in 10 minutes if it goes on`,
    );
  }
}

/** `at` is one of the schedule's ticks: the next tick after the second before it is `at` itself. */
function onSchedule(schedule: Schedule, at: Date): boolean {
  return schedule.next(new Date(at.getTime() - 1_000))?.getTime() === at.getTime();
}
