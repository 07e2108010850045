/**
 * GET /metrics: a prom-client Registry whose collectors read the supervisor at scrape time (the
 * replicas count in shared memory, so nothing is pushed per message). Names follow Prometheus
 * conventions: counters end in _total, durations are in seconds.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { FunctionStatus } from '../supervisor/supervisor';
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS_MS } from '../replica-protocol/stats';
import type { QueueDepth } from './depths';
import { totalMessages } from './view';

export interface MetricsSource {
  status(): readonly FunctionStatus[];
  ready(): boolean;
  /** the dead-letter queue of a function, or null when it has none */
  deadLetterQueue(name: string): string | null;
  /** the retry queues of a function (none without retries) */
  retryQueues(name: string): string[];
  depth(queue: string): Promise<QueueDepth | null>;
}

const OUTCOMES = [
  ['acked', 'ack'],
  ['retried', 'retry'],
  ['dead', 'dead'],
  ['dropped', 'dropped'],
] as const;

export function createMetricsRegistry(source: MetricsSource): Registry {
  const registry = new Registry();
  const fnLabel = ['function'] as const;

  new Counter({
    name: 'warren_messages_total',
    help: 'Messages settled by each function, by outcome (ack, retry, dead, dropped)',
    labelNames: ['function', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status()) for (const [key, outcome] of OUTCOMES) this.inc({ function: s.name, outcome }, s.stats[key]);
    },
  });
  new Counter({
    name: 'warren_messages_redelivered_total',
    help: 'Messages a replica took that the broker had delivered before (a replica crashed or drained)',
    labelNames: fnLabel,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status()) this.inc({ function: s.name }, s.stats.redelivered);
    },
  });
  new Counter({
    name: 'warren_replica_restarts_total',
    help: 'Replicas restarted after dying or hanging',
    labelNames: fnLabel,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status()) this.inc({ function: s.name }, s.restarts);
    },
  });
  gauge(registry, 'warren_replicas_desired', 'Replicas each function should run', (s) => s.desired, source);
  // Those connected: a replica reconnecting (its node lost, its vhost deleted) consumes nothing, and
  // an alert on running < desired should fire meanwhile.
  gauge(registry, 'warren_replicas_running', 'Replicas of each function consuming now (connected to the broker)', (s) => s.connected ?? s.running, source);
  gauge(registry, 'warren_messages_in_flight', 'Messages being handled now', (s) => s.stats.inFlight, source);
  new Gauge({
    name: 'warren_ready',
    help: '1 when connected and every function has its desired replicas consuming',
    registers: [registry],
    collect() {
      this.set(source.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'warren_queue_messages',
    help: "Messages ready in each function's queue (absent while the broker does not answer)",
    labelNames: ['function', 'queue'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        source.status().map(async (s) => {
          const depth = await source.depth(s.queue);
          if (depth) this.set({ function: s.name, queue: s.queue }, depth.messages);
        }),
      );
    },
  });
  new Gauge({
    name: 'warren_dead_letter_messages',
    help: "Messages in each function's dead-letter queue (absent while the broker does not answer)",
    labelNames: ['function', 'queue'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        source.status().map(async (s) => {
          const queue = source.deadLetterQueue(s.name);
          const depth = queue ? await source.depth(queue) : null;
          if (queue && depth) this.set({ function: s.name, queue }, depth.messages);
        }),
      );
    },
  });
  new Gauge({
    name: 'warren_retry_messages',
    help: "Messages waiting in each function's retry queues to be tried again (absent while the broker does not answer)",
    labelNames: fnLabel,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        source.status().map(async (s) => {
          const total = totalMessages(await Promise.all(source.retryQueues(s.name).map((queue) => source.depth(queue))));
          if (total !== null) this.set({ function: s.name }, total);
        }),
      );
    },
  });
  registry.registerMetric(durationHistogram(source));
  registry.registerMetric(batchSizeHistogram(source));
  return registry;
}

function gauge(registry: Registry, name: string, help: string, read: (s: FunctionStatus) => number, source: MetricsSource): void {
  new Gauge({
    name,
    help,
    labelNames: ['function'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.status()) this.set({ function: s.name }, read(s));
    },
  });
}

/**
 * The handler duration histogram. The replicas already count per bucket (in shared memory), and
 * prom-client's Histogram can only observe single values, so this metric hands the registry the
 * counts as they are; the registry still does all the formatting.
 */
function durationHistogram(source: MetricsSource): Metric {
  const name = 'warren_handler_duration_seconds';
  const help =
    'Handler run time per message, from its call to its result (not the wait for a rate-limit turn or a batch, nor the publishes and settlement after it)';
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    collect: () => undefined,
    reset: () => undefined,
    get() {
      const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
      for (const s of source.status()) {
        let cumulative = 0;
        s.stats.buckets.forEach((count, i) => {
          cumulative += count;
          const bound = DURATION_BUCKETS_MS[i];
          values.push({ metricName: `${name}_bucket`, labels: { function: s.name, le: bound === undefined ? '+Inf' : bound / 1000 }, value: cumulative });
        });
        values.push({ metricName: `${name}_sum`, labels: { function: s.name }, value: s.stats.durationSumMs / 1000 });
        values.push({ metricName: `${name}_count`, labels: { function: s.name }, value: s.stats.durationCount });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  // The registry only calls get() (and reads name/type); see the comment above for why this is not a prom-client Histogram.
  return metric as unknown as Metric;
}

/**
 * Batch functions only: items per batch handler call (`_count` is the number of batches, `_sum` the
 * items), read from the replicas' shared counters like the duration histogram above.
 */
function batchSizeHistogram(source: MetricsSource): Metric {
  const name = 'warren_batch_size';
  const help = 'Items per batch handler call (functions with batch:)';
  const get = () => {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const s of source.status()) {
      if (!s.batch) continue;
      let cumulative = 0;
      s.stats.batchSizes.forEach((count, i) => {
        cumulative += count;
        const bound = BATCH_SIZE_BUCKETS[i];
        values.push({ metricName: `${name}_bucket`, labels: { function: s.name, le: bound === undefined ? '+Inf' : bound }, value: cumulative });
      });
      values.push({ metricName: `${name}_sum`, labels: { function: s.name }, value: s.stats.batchItems });
      values.push({ metricName: `${name}_count`, labels: { function: s.name }, value: s.stats.batches });
    }
    return { name, help, type: 'histogram', aggregator: 'sum', values };
  };
  return { name, help, type: 'histogram', aggregator: 'sum', collect: () => undefined, reset: () => undefined, get } as unknown as Metric;
}
