/**
 * The validated, normalised configuration Warren runs from. Produced once by `loadConfig`
 * (runtime/config/load.ts), frozen, and passed to every other stage. Durations are milliseconds,
 * sizes are bytes unless the name says otherwise, every file path is absolute.
 */

export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';
export type QueueType = 'quorum' | 'classic';

/** Where a config value came from, so errors can point at it. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export interface ExchangeConfig {
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  /** fed only by exchange-to-exchange bindings: the broker refuses a publish to it */
  internal: boolean;
  arguments: Record<string, unknown>;
  at?: SourceLocation;
}

export interface QueueConfig {
  name: string;
  type: QueueType;
  durable: boolean;
  maxLength?: number;
  messageTtl?: number;
  /** quorum queues: nodes holding a copy (x-quorum-initial-group-size); unset: the broker's default */
  replicationFactor?: number;
  arguments: Record<string, unknown>;
  /** true when no `queues:` entry declared it (a function's default queue). */
  implicit: boolean;
  at?: SourceLocation;
}

export interface BindingConfig {
  exchange: string;
  /** the destination: a queue, or with `toExchange` an exchange (an exchange-to-exchange binding) */
  queue: string;
  toExchange?: true;
  routingKey: string;
  arguments: Record<string, unknown>;
  at?: SourceLocation;
}

export type BackoffKind = 'exponential' | 'fixed';

export interface RetryConfig {
  /** total handler runs before dead-lettering (>= 1) */
  attempts: number;
  backoff: BackoffKind;
  /** first wait, ms */
  delay: number;
  /** cap on any wait, ms */
  maxDelay: number;
}

export interface OutputRoute {
  exchange: string;
  routingKey: string;
}

export interface BatchConfig {
  /** most items per handler call */
  size: number;
  /** longest wait after the first item for a batch to fill, ms */
  windowMs: number;
}

export interface RateLimitConfig {
  /** at most `count` messages (or batch items) start per `periodMs`, across the function's replicas in one runtime */
  count: number;
  periodMs: number;
}

export interface FunctionConfig {
  /** the file name without extension */
  name: string;
  /** absolute path of the handler file */
  file: string;
  queue: string;
  replicas: number;
  /** as written (or the default); a replica's own is `effectivePrefetch(fn)` (runtime/config/prefetch.ts) */
  prefetch: number;
  /** per message, ms */
  timeout: number;
  retry: RetryConfig;
  /** redeliveries tolerated when a replica dies mid-message (crash, exit, OOM, hang) */
  redeliveryLimit: number;
  deadLetter: boolean;
  /** JSON Schema the decoded message must satisfy */
  schema?: Record<string, unknown>;
  /** absolute path of the file `schema` was read from, when queues.yaml named one */
  schemaFile?: string;
  output?: OutputRoute;
  ordered: boolean;
  /** a batch handler (SPEC §3): never together with `output` */
  batch?: BatchConfig;
  rateLimit?: RateLimitConfig;
  /** per-replica heap limit, MiB */
  memoryMb: number;
  /** largest accepted body, bytes */
  maxBodyBytes: number;
  /** cron expression: one message per tick to the function's queue (runtime/schedule/) */
  schedule?: string;
  /** IANA time zone of `schedule` (UTC by default) */
  timezone?: string;
  at?: SourceLocation;
}

export interface WarrenConfig {
  /** absolute project folder (holds queues.yaml, rascal.json, functions/) */
  dir: string;
  /** AMQP URL after interpolation (AMQP_URL wins); may contain a password: log `redactUrl(url)` only */
  url: string;
  vhost: string;
  /** the user's rascal.json after interpolation, minus the connection Warren computes */
  rascal: Record<string, unknown>;
  exchanges: Readonly<Record<string, ExchangeConfig>>;
  queues: Readonly<Record<string, QueueConfig>>;
  bindings: readonly BindingConfig[];
  functions: Readonly<Record<string, FunctionConfig>>;
}

/**
 * The function named `name`, or undefined: an own entry only, so a name someone typed (`constructor`,
 * `__proto__`, `toString`) is no function rather than one of Object's properties.
 */
export function functionNamed(config: Pick<WarrenConfig, 'functions'> | undefined, name: string): FunctionConfig | undefined {
  return config && Object.hasOwn(config.functions, name) ? config.functions[name] : undefined;
}

export const DEFAULTS = Object.freeze({
  replicas: 1,
  prefetch: 1,
  timeoutMs: 30_000,
  batchWindowMs: 200,
  retry: Object.freeze({ attempts: 3, backoff: 'exponential' as BackoffKind, delay: 1_000, maxDelay: 300_000 }),
  redeliveryLimit: 3,
  memoryMb: 256,
  maxBodyBytes: 16 * 1024 * 1024,
  queueType: 'quorum' as QueueType,
  url: 'amqp://guest:guest@127.0.0.1:5672',
});
