/**
 * Pure: the `exchanges:`, `queues:` and `bindings:` sections (already shape-checked) → normalised
 * entries, with the checks that need more than one entry (references, reserved names).
 */
import type { BuildContext } from './context';
import { NOTHING_UNCHECKED, type Unchecked } from './set-aside';
import { closest } from './suggest';
import { DEFAULTS, type BindingConfig, type ExchangeConfig, type ExchangeType, type QueueConfig, type QueueType } from './types';
import { parseDuration } from './units';
import { MAX_NAME_BYTES, nameBytes, shortName } from './limits';
import { isDeadQueueName, isRetryQueueName } from '../topology/names';

type Obj = Record<string, unknown>;
const entriesOf = (v: unknown): Array<[string, Obj]> =>
  v !== null && typeof v === 'object' ? Object.entries(v as Obj).map(([k, e]) => [k, (e ?? {}) as Obj]) : [];

/** RabbitMQ's own exchanges: they exist on every vhost and cannot be declared. */
export const BUILTIN_EXCHANGES: Readonly<Record<string, ExchangeType>> = {
  'amq.direct': 'direct',
  'amq.fanout': 'fanout',
  'amq.topic': 'topic',
  'amq.headers': 'headers',
  'amq.match': 'headers',
};

/** Names Warren gives its own queues (dead letters, retry ladder). */
export function reservedQueueName(name: string): string | undefined {
  if (isDeadQueueName(name)) return 'names ending in `.dead` are the dead-letter queues Warren creates';
  if (isRetryQueueName(name)) return 'names containing `.retry.` are the retry queues Warren creates';
  if (name.startsWith('amq.')) return 'RabbitMQ reserves names starting with `amq.`';
  if (name.startsWith('warren.delay.')) return 'names starting with `warren.delay.` are the delay ladder Warren creates';
  if (name.endsWith('.schedule')) return 'names ending in `.schedule` are the election queues Warren creates for scheduled functions';
  return undefined;
}

export function buildExchanges(ctx: BuildContext, section: unknown): Record<string, ExchangeConfig> {
  const out: Record<string, ExchangeConfig> = {};
  for (const [name, e] of entriesOf(section)) {
    const pointer = ctx.pointer('exchanges', name);
    tooLongName(ctx, 'exchange', name, pointer);
    if (name.startsWith('amq.')) {
      ctx.report('WARREN_E_CONFIG_CONFLICT', `exchange name "${name}" is reserved by RabbitMQ`, pointer, {
        onKey: true,
        hint: `use the built-in ${name} without declaring it, or pick another name`,
      });
    }
    if (name.startsWith('warren.delay.')) {
      ctx.report('WARREN_E_CONFIG_CONFLICT', `exchange name "${name}" is reserved`, pointer, {
        onKey: true,
        hint: 'names starting with `warren.delay.` are the delay ladder Warren creates; pick another name',
      });
    }
    out[name] = {
      name,
      type: (e.type as ExchangeType | undefined) ?? 'topic',
      durable: (e.durable as boolean | undefined) ?? true,
      autoDelete: (e.autoDelete as boolean | undefined) ?? false,
      arguments: (e.arguments as Obj | undefined) ?? {},
      at: ctx.keyAt(pointer),
    };
  }
  return out;
}

export function buildQueues(ctx: BuildContext, section: unknown): Record<string, QueueConfig> {
  const out: Record<string, QueueConfig> = {};
  for (const [name, q] of entriesOf(section)) {
    const pointer = ctx.pointer('queues', name);
    tooLongName(ctx, 'queue', name, pointer);
    const reserved = reservedQueueName(name);
    if (reserved) ctx.report('WARREN_E_CONFIG_CONFLICT', `queue name "${name}" is reserved`, pointer, { onKey: true, hint: `${reserved}; pick another name` });
    const type = (q.type as QueueType | undefined) ?? DEFAULTS.queueType;
    const durable = (q.durable as boolean | undefined) ?? true;
    if (type === 'quorum' && !durable) {
      ctx.report('WARREN_E_CONFIG_CONFLICT', 'a quorum queue is always durable', ctx.pointer('queues', name, 'durable'), {
        hint: 'drop `durable: false`, or use `type: classic` for a transient queue',
      });
    }
    const messageTtl = q.messageTtl === undefined ? undefined : parseDuration(q.messageTtl);
    if (q.replicationFactor !== undefined && type !== 'quorum') {
      ctx.report('WARREN_E_CONFIG_CONFLICT', 'a classic queue lives on one node and is not replicated', ctx.pointer('queues', name, 'replicationFactor'), {
        hint: 'drop `replicationFactor`, or use `type: quorum` (the default) for a queue replicated across the cluster',
      });
    }
    const args = (q.arguments as Obj | undefined) ?? {};
    if (type === 'quorum') {
      for (const arg of Object.keys(args)) {
        const why = CLASSIC_ONLY_ARGUMENTS[arg];
        if (why)
          ctx.report('WARREN_E_CONFIG_CONFLICT', `a quorum queue does not take ${arg}: ${why}`, ctx.pointer('queues', name, 'arguments', arg), {
            onKey: true,
            hint: `set \`type: classic\` on queues.${name} to keep ${arg}, or drop it (quorum is Warren's default type)`,
          });
      }
      if (args['x-overflow'] === 'reject-publish-dlx')
        ctx.report(
          'WARREN_E_CONFIG_CONFLICT',
          'a quorum queue does not take x-overflow: reject-publish-dlx',
          ctx.pointer('queues', name, 'arguments', 'x-overflow'),
          {
            hint: `use drop-head or reject-publish, or set \`type: classic\` on queues.${name}`,
          },
        );
    }
    out[name] = {
      name,
      type,
      durable,
      ...(q.maxLength === undefined ? {} : { maxLength: q.maxLength as number }),
      ...(messageTtl === undefined ? {} : { messageTtl }),
      ...(q.replicationFactor === undefined ? {} : { replicationFactor: q.replicationFactor as number }),
      arguments: args,
      implicit: false,
      at: ctx.keyAt(pointer),
    };
  }
  return out;
}

/**
 * Queue arguments RabbitMQ 3.x refuses on a quorum queue (PRECONDITION_FAILED "invalid arg" at
 * declare), said at `warren check` instead of at the first start.
 */
const CLASSIC_ONLY_ARGUMENTS: Record<string, string> = {
  'x-max-priority': 'RabbitMQ 3.x quorum queues have no message priorities',
  'x-queue-mode': 'lazy mode is for classic queues; a quorum queue keeps its messages on disk already',
  'x-queue-version': 'it chooses a classic queue storage format',
  'x-queue-master-locator': 'it places a classic queue; a quorum queue takes x-queue-leader-locator',
};

/** rascal's shorthand `exchange[key1, key2] -> queue` (keys split on commas and spaces, as rascal does). */
export function parseShorthandBinding(text: string): { exchange: string; queue: string; routingKeys: string[] } | undefined {
  const match = /^\s*([\w:.-]+)\s*(?:\[([^\]]*)\])?\s*->\s*([\w:.-]+)\s*$/.exec(text);
  if (!match) return undefined;
  const keys = (match[2] ?? '').split(/[,\s]+/).filter((k) => k !== '');
  return { exchange: match[1] ?? '', queue: match[3] ?? '', routingKeys: keys };
}

/**
 * The key a binding gets when none is written: topic `#` (every message, as rascal does), direct the
 * queue name (as Spring AMQP and most direct-exchange setups do), fanout and headers `` (ignored).
 */
export function defaultRoutingKey(type: ExchangeType | undefined, queue: string): string {
  if (type === 'topic') return '#';
  if (type === 'direct') return queue;
  return '';
}

export function buildBindings(
  ctx: BuildContext,
  section: unknown,
  exchanges: Readonly<Record<string, ExchangeConfig>>,
  queues: Readonly<Record<string, QueueConfig>>,
  unchecked: Unchecked = NOTHING_UNCHECKED,
): BindingConfig[] {
  const out: BindingConfig[] = [];
  const list = Array.isArray(section) ? section : [];
  list.forEach((item: unknown, i) => {
    // a hole: this binding was set aside for a shape error (setAsideInvalid)
    if (item === undefined) return;
    const pointer = ctx.pointer('bindings', i);
    let exchange: string;
    let queue: string;
    let keys: string[];
    let args: Obj = {};
    let exchangePointer = pointer;
    let queuePointer = pointer;
    if (typeof item === 'string') {
      const parsed = parseShorthandBinding(item);
      if (!parsed) return; // the shape check already reported it
      ({ exchange, queue, routingKeys: keys } = parsed);
    } else {
      const b = item as Obj;
      exchange = String(b.exchange);
      queue = String(b.queue);
      keys = b.routingKey === undefined ? [] : ([] as string[]).concat(b.routingKey as string | string[]);
      args = (b.arguments as Obj | undefined) ?? {};
      exchangePointer = pointer + ctx.pointer('exchange');
      queuePointer = pointer + ctx.pointer('queue');
    }
    const type = exchanges[exchange]?.type ?? BUILTIN_EXCHANGES[exchange];
    let ok = true;
    if (type === undefined && unchecked.exchange(exchange)) {
      ok = false; // it may be declared by an entry with a shape error: checked once that is fixed
    } else if (exchange === '') {
      ctx.report('WARREN_E_CONFIG_REFERENCE', 'queues cannot be bound to the default exchange', exchangePointer, {
        hint: 'every queue already receives messages published to "" with its name as routing key',
      });
      ok = false;
    } else if (type === undefined) {
      const guess = closest(exchange, Object.keys(exchanges));
      ctx.report('WARREN_E_CONFIG_REFERENCE', `binding to exchange "${exchange}", which is not declared`, exchangePointer, {
        hint: (guess ? `did you mean \`${guess}\`? ` : '') + `declare it under exchanges:, e.g. \`${exchange}: { type: topic }\``,
      });
      ok = false;
    }
    if (!queues[queue] && unchecked.queue(queue)) {
      ok = false;
    } else if (!queues[queue]) {
      const guess = closest(queue, Object.keys(queues));
      const isExchange = exchanges[queue] !== undefined;
      ctx.report('WARREN_E_CONFIG_REFERENCE', `binding to queue "${queue}", which is not declared`, queuePointer, {
        hint: isExchange
          ? 'bindings go from an exchange to a queue; exchange-to-exchange bindings are not supported'
          : (guess ? `did you mean \`${guess}\`? ` : '') + `declare it under queues:, or add a handler functions/${queue}.ts`,
      });
      ok = false;
    }
    if (!ok) return;
    const routingKeys = keys.length > 0 ? keys : [defaultRoutingKey(type, queue)];
    for (const routingKey of routingKeys) {
      if (nameBytes(routingKey) > MAX_NAME_BYTES) {
        ctx.report('WARREN_E_CONFIG_TYPE', `routing key ${shortName(routingKey)} is too long`, pointer, {
          expected: `at most ${MAX_NAME_BYTES} bytes`,
          hint: 'RabbitMQ refuses longer routing keys',
        });
      }
    }
    for (const routingKey of routingKeys) out.push({ exchange, queue, routingKey, arguments: args, at: ctx.valueAt(pointer) });
  });
  return out;
}

/** RabbitMQ refuses a name over 255 bytes when it is declared; say so at check, at the name. */
export function tooLongName(ctx: BuildContext, kind: 'exchange' | 'queue', name: string, pointer: string): boolean {
  if (nameBytes(name) <= MAX_NAME_BYTES) return false;
  ctx.report('WARREN_E_CONFIG_TYPE', `${kind} name ${shortName(name)} is too long`, pointer, {
    onKey: true,
    expected: `at most ${MAX_NAME_BYTES} bytes`,
    hint: `RabbitMQ refuses longer ${kind} names; pick a shorter one`,
  });
  return true;
}
