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

const BUILTIN_LIST = 'amq.direct, amq.fanout, amq.topic, amq.headers and amq.match';

/**
 * An `amq.` exchange RabbitMQ does not predeclare cannot be declared either (access refused): the
 * hint names the ones that exist instead of saying to declare it. Undefined for any other name.
 */
export function unknownAmqExchangeHint(name: string, declared: readonly string[]): string | undefined {
  if (!name.startsWith('amq.') || BUILTIN_EXCHANGES[name]) return undefined;
  const guess = closest(name, [...Object.keys(BUILTIN_EXCHANGES), ...declared]);
  return (
    (guess ? `did you mean \`${guess}\`? ` : '') +
    `RabbitMQ predeclares only ${BUILTIN_LIST}, and refuses to declare any other name starting with \`amq.\`: use one of those, or declare an exchange with another name under exchanges:`
  );
}

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
        hint: BUILTIN_EXCHANGES[name]
          ? `use the built-in ${name} without declaring it, or pick another name`
          : `RabbitMQ refuses to declare a name starting with \`amq.\` (its own exchanges are ${BUILTIN_LIST}); pick another name`,
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
      internal: (e.internal as boolean | undefined) ?? false,
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
  const typeOf = (exchange: string): ExchangeType | undefined => exchanges[exchange]?.type ?? BUILTIN_EXCHANGES[exchange];
  /** An exchange a binding names: declared, or reported (`label` says which end) unless an entry set aside may declare it. */
  const declared = (name: string, pointer: string, label: string): boolean => {
    if (typeOf(name) !== undefined) return true;
    if (unchecked.exchange(name)) return false; // checked once the entry set aside is fixed
    const amq = unknownAmqExchangeHint(name, Object.keys(exchanges));
    if (amq) {
      ctx.report('WARREN_E_CONFIG_REFERENCE', `binding to exchange "${name}"${label}, which RabbitMQ does not predeclare`, pointer, { hint: amq });
      return false;
    }
    const guess = closest(name, Object.keys(exchanges));
    ctx.report('WARREN_E_CONFIG_REFERENCE', `binding to exchange "${name}"${label}, which is not declared`, pointer, {
      hint: (guess ? `did you mean \`${guess}\`? ` : '') + `declare it under exchanges:, e.g. \`${name}: { type: topic }\``,
    });
    return false;
  };
  list.forEach((item: unknown, i) => {
    // a hole: this binding was set aside for a shape error (setAsideInvalid)
    if (item === undefined) return;
    const pointer = ctx.pointer('bindings', i);
    const found = bindingEnds(ctx, item, pointer, typeOf, queues);
    if (!found) return;
    const { exchange, destination, toExchange, keys, args, exchangePointer, destinationPointer } = found;
    const type = typeOf(exchange);
    let ok = true;
    if (type === undefined && unchecked.exchange(exchange)) {
      ok = false; // it may be declared by an entry with a shape error: checked once that is fixed
    } else if (exchange === '') {
      ctx.report('WARREN_E_CONFIG_REFERENCE', 'queues cannot be bound to the default exchange', exchangePointer, {
        hint: 'every queue already receives messages published to "" with its name as routing key',
      });
      ok = false;
    } else if (!declared(exchange, exchangePointer, '')) {
      ok = false;
    }
    if (toExchange) {
      if (!declared(destination, destinationPointer, ' (toExchange)')) ok = false;
    } else if (!queues[destination] && (unchecked.queue(destination) || unchecked.exchange(destination))) {
      ok = false; // a queue, or (the shorthand) an exchange, that an entry set aside may declare
    } else if (!queues[destination]) {
      const guess = closest(destination, Object.keys(queues));
      ctx.report('WARREN_E_CONFIG_REFERENCE', `binding to queue "${destination}", which is not declared`, destinationPointer, {
        hint: (guess ? `did you mean \`${guess}\`? ` : '') + `declare it under queues:, or add a handler functions/${destination}.ts`,
      });
      ok = false;
    }
    if (!ok) return;
    const routingKeys = keys.length > 0 ? keys : [defaultRoutingKey(type, destination)];
    for (const routingKey of routingKeys) {
      if (nameBytes(routingKey) > MAX_NAME_BYTES) {
        ctx.report('WARREN_E_CONFIG_TYPE', `routing key ${shortName(routingKey)} is too long`, pointer, {
          expected: `at most ${MAX_NAME_BYTES} bytes`,
          hint: 'RabbitMQ refuses longer routing keys',
        });
      }
    }
    for (const routingKey of routingKeys)
      out.push({ exchange, queue: destination, ...(toExchange ? { toExchange } : {}), routingKey, arguments: args, at: ctx.valueAt(pointer) });
  });
  return out;
}

interface BindingEnds {
  exchange: string;
  destination: string;
  toExchange: true | undefined;
  keys: string[];
  args: Obj;
  exchangePointer: string;
  destinationPointer: string;
}

/**
 * The two ends of one binding as written. The shorthand's destination is a queue, as in rascal,
 * unless it names no queue and a declared (or `amq.*`) exchange: then it is an exchange-to-exchange
 * binding. So `"orders[order.*] -> orders"`, an exchange feeding the queue of the same name, keeps its
 * meaning; the mapping form's `toExchange:` binds to an exchange whatever queues exist.
 */
function bindingEnds(
  ctx: BuildContext,
  item: unknown,
  pointer: string,
  typeOf: (exchange: string) => ExchangeType | undefined,
  queues: Readonly<Record<string, QueueConfig>>,
): BindingEnds | undefined {
  if (typeof item === 'string') {
    const parsed = parseShorthandBinding(item);
    if (!parsed) return undefined; // the shape check already reported it
    const { exchange, queue: destination, routingKeys: keys } = parsed;
    const isExchange = !queues[destination] && typeOf(destination) !== undefined;
    return { exchange, destination, toExchange: isExchange || undefined, keys, args: {}, exchangePointer: pointer, destinationPointer: pointer };
  }
  const b = item as Obj;
  if ((b.queue === undefined) === (b.toExchange === undefined)) {
    const both = b.queue !== undefined;
    ctx.report('WARREN_E_CONFIG_TYPE', both ? 'a binding goes to a queue or to an exchange, not both' : 'a binding needs a destination', pointer, {
      expected: '`queue:` (a queue) or `toExchange:` (an exchange-to-exchange binding)',
      hint: both
        ? 'make two bindings, one with `queue:`, one with `toExchange:`'
        : `e.g. { exchange: ${String(b.exchange)}, queue: my_queue, routingKey: my.key }`,
    });
    return undefined;
  }
  const toExchange = b.toExchange !== undefined ? (true as const) : undefined;
  return {
    exchange: String(b.exchange),
    destination: String(toExchange ? b.toExchange : b.queue),
    toExchange,
    keys: b.routingKey === undefined ? [] : ([] as string[]).concat(b.routingKey as string | string[]),
    args: (b.arguments as Obj | undefined) ?? {},
    exchangePointer: pointer + ctx.pointer('exchange'),
    destinationPointer: pointer + ctx.pointer(toExchange ? 'toExchange' : 'queue'),
  };
}

/**
 * Shorthand bindings whose destination names a queue and also an exchange (other than their own
 * source): they bind the queue, as in rascal, which may not be what was meant. One warning each,
 * with the mapping that binds the exchange instead.
 */
export function sharedNameWarnings(
  section: unknown,
  exchanges: Readonly<Record<string, ExchangeConfig>>,
  queues: Readonly<Record<string, QueueConfig>>,
): Array<{ index: number; text: string }> {
  const list = Array.isArray(section) ? section : [];
  return list.flatMap((item: unknown, index) => {
    const parsed = typeof item === 'string' ? parseShorthandBinding(item) : undefined;
    if (!parsed || parsed.exchange === parsed.queue || !queues[parsed.queue] || !exchanges[parsed.queue]) return [];
    const { exchange, queue, routingKeys } = parsed;
    const key =
      routingKeys.length === 1
        ? `, routingKey: ${JSON.stringify(routingKeys[0])}`
        : routingKeys.length > 1
          ? `, routingKey: ${JSON.stringify(routingKeys)}`
          : '';
    return [
      {
        index,
        text:
          `"${item as string}" binds ${exchange} to the queue ${queue}; an exchange is named ${queue} too` +
          `\n  hint: to bind to the exchange instead, write { exchange: ${exchange}, toExchange: ${queue}${key} }; to keep the queue, write { exchange: ${exchange}, queue: ${queue}${key} } and this warning goes`,
      },
    ];
  });
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
