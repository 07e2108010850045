/**
 * Pure: turn what the broker said about an existing queue or exchange into an error a person can act
 * on (which argument differs, the broker's value vs Warren's, the queues.yaml key, how to migrate).
 */
import { WarrenError } from '../errors';
import { BROKER_LIMIT_MARGIN, argumentSetting, type PlannedExchange, type PlannedQueue } from './plan';

export interface Mismatch {
  kind: 'queue' | 'exchange';
  name: string;
  vhost: string;
  /** the argument RabbitMQ named, e.g. `x-queue-type`, `durable`, `type` */
  argument: string;
  /** the broker's value, as RabbitMQ reported it ("none" when unset) */
  current: string;
  /** the value Warren would declare, as RabbitMQ reported it */
  wanted: string;
  /** the broker's words, when they did not parse as an inequivalent-argument error */
  brokerMessage?: string;
  /** further arguments of the same queue/exchange that differ too (moot once the type differs) */
  alsoDiffers?: string[];
  queue?: PlannedQueue;
  exchange?: PlannedExchange;
  /** real-time counts of the existing queue */
  messageCount?: number;
  consumerCount?: number;
}

export interface Inequivalence {
  argument: string;
  kind: 'queue' | 'exchange';
  name: string;
  vhost: string;
  wanted: string;
  current: string;
  /** AMQP type RabbitMQ named for the current value (`long`, `bool`, ...), when it did */
  currentType?: string;
}

/** What RabbitMQ says (unquoted) for an argument the queue or exchange was declared without. */
export const NOT_SET = 'none';

/**
 * Parses RabbitMQ's PRECONDITION_FAILED text, e.g.
 * `inequivalent arg 'x-queue-type' for queue 'my_app' in vhost '/': received 'quorum' but current is none`
 * or `... received the value '10' of type 'signedint' but current is none`.
 */
export function parseInequivalence(message: string): Inequivalence | undefined {
  const m = /inequivalent arg '([^']+)' for (queue|exchange) '([^']*)' in vhost '([^']*)': received (.+?) but current is (.+?)"?$/.exec(message.trim());
  if (!m) return undefined;
  const [, argument = '', kind, name = '', vhost = '', wanted = '', current = ''] = m;
  const currentType = /^the value '.*' of type '([^']*)'$/.exec(current)?.[1];
  return {
    argument,
    kind: kind === 'exchange' ? 'exchange' : 'queue',
    name,
    vhost,
    wanted: cleanValue(wanted),
    current: cleanValue(current),
    ...(currentType ? { currentType } : {}),
  };
}

function cleanValue(raw: string): string {
  const typed = /^the value '(.*)' of type '[^']*'$/.exec(raw);
  if (typed) return typed[1] ?? raw;
  const quoted = /^'(.*)'$/.exec(raw);
  return quoted ? (quoted[1] ?? raw) : raw;
}

export function mismatchError(m: Mismatch): WarrenError {
  const at = m.queue?.at ?? m.exchange?.at;
  const where = at ? { file: at.file, line: at.line, column: at.column } : {};
  if (m.brokerMessage !== undefined) {
    return new WarrenError('WARREN_E_TOPOLOGY_MISMATCH', `the broker refused ${m.kind} ${m.name}: ${m.brokerMessage}`, {
      ...where,
      key: keyOf(m),
      hint: `check ${m.kind} ${m.name} in the management UI (vhost ${m.vhost}) against queues.yaml`,
    });
  }
  const message =
    `${m.kind} ${m.name} already exists on the broker with ${setTo(m.current, m.argument)}, ` +
    (m.wanted === NOT_SET ? `Warren would declare it without ${m.argument}` : `Warren would declare ${m.argument} = ${shown(m.wanted, m.argument)}`) +
    (m.alsoDiffers?.length ? ` (${m.alsoDiffers.join(', ')} differ${m.alsoDiffers.length === 1 ? 's' : ''} too)` : '');
  return new WarrenError('WARREN_E_TOPOLOGY_MISMATCH', message, { ...where, key: keyOf(m), hint: hintOf(m) });
}

/** `argument = value`, or that the argument is not set (a queue without x-queue-type is a classic queue). */
function setTo(value: string, argument: string): string {
  if (value !== NOT_SET) return `${argument} = ${shown(value, argument)}`;
  return argument === 'x-queue-type' ? `${argument} not set (a classic queue)` : `${argument} not set`;
}

/** An argument's value as a person reads it: the empty string (the default exchange) as `''`, not a blank. */
function shown(value: string, argument: string): string {
  if (value !== '') return value;
  return argument === 'x-dead-letter-exchange' ? "'' (the default exchange)" : "''";
}

/** The queues.yaml key to look at. */
function keyOf(m: Mismatch): string {
  if (m.kind === 'exchange') return `exchanges.${m.name}`;
  const q = m.queue;
  if (!q) return `queues.${m.name}`;
  const fnKey = q.fn === undefined ? undefined : `functions.${q.fn}`;
  if (q.role === 'retry' && fnKey) return `${fnKey}.retry`;
  if (q.role === 'dead' && fnKey) return `${fnKey}.deadLetter`;
  return argumentSetting(m.argument, q.of, q.fn) ?? `queues.${q.of}.${m.argument === 'durable' ? 'durable' : 'arguments'}`;
}

function hintOf(m: Mismatch): string {
  const safeDelete = emptyQueueHint(m);
  if (m.kind === 'exchange') {
    const keep = m.argument === 'type' ? `set \`type: ${m.current}\` under exchanges.${m.name}` : `match ${m.argument} under exchanges.${m.name}`;
    return (
      `an exchange keeps its settings for its life; to keep it, ${keep}, or delete it ` +
      `(management UI, or \`rabbitmqadmin delete exchange name=${m.name}\`) and Warren declares it again`
    );
  }
  const q = m.queue;
  if (q && q.role !== 'main') {
    const what = { dead: 'dead-letter queue', retry: 'retry queue', delay: 'delay ladder queue', schedule: 'schedule election queue' }[q.role];
    return (
      `${m.name} is the ${what} Warren generates` +
      (q.role === 'delay' ? '' : ` for ${q.of}`) +
      (q.fn ? ` (function ${q.fn})` : '') +
      `; it was created with other settings, so move or drain its messages and delete it, and Warren declares it again` +
      (safeDelete ? `; ${safeDelete}` : '')
    );
  }
  const name = m.name;
  let hint: string;
  if (m.argument === 'x-queue-type') {
    const currentType = m.current === NOT_SET || m.current === 'classic' ? 'classic' : m.current;
    const wantedType = m.wanted === NOT_SET ? 'classic' : m.wanted;
    hint =
      `the queue ${name} exists as a ${currentType} queue; to keep it set \`type: ${currentType}\` under queues.${name}, ` +
      `or move its messages: create ${name}.v2 with type ${wantedType}, shovel messages, delete ${name}`;
  } else if (m.argument === 'x-delivery-limit' && Number.isInteger(Number(m.current)) && Number(m.current) > BROKER_LIMIT_MARGIN) {
    // Warren declares redeliveryLimit + a margin (runtime/topology/plan.ts): name the setting that gives the same.
    hint =
      `RabbitMQ keeps a queue's arguments for its life; Warren sets x-delivery-limit to redeliveryLimit + ${BROKER_LIMIT_MARGIN}, so to keep ${name} ` +
      `as it is set ${keyOf(m)} to ${Number(m.current) - BROKER_LIMIT_MARGIN}, or move its messages: create ${name}.v2 with the new settings, shovel messages, delete ${name}`;
  } else if (m.argument === 'x-delivery-limit' && m.current === NOT_SET) {
    // No redeliveryLimit leaves it unset: the queue itself has to be made again.
    hint =
      `RabbitMQ keeps a queue's arguments for its life, and ${name} was made without a delivery limit, which Warren's redelivery limit needs as a backstop; ` +
      `move its messages: create ${name}.v2 with the new settings, shovel messages, delete ${name}, and Warren declares it with the limit`;
  } else if (m.argument.startsWith('x-dead-letter-') && m.current === NOT_SET && keyOf(m).endsWith('.deadLetter')) {
    // A queue made before Warren, without dead-lettering: the setting that keeps it is deadLetter: false.
    hint =
      `RabbitMQ keeps a queue's arguments for its life, and ${name} has no dead-letter exchange; to keep it as it is, set ` +
      `\`deadLetter: false\` under ${keyOf(m).slice(0, -'.deadLetter'.length)} (a message that fails its last attempt is then logged and dropped), ` +
      `or move its messages: create ${name}.v2 with the new settings, shovel messages, delete ${name}`;
  } else {
    hint =
      `RabbitMQ keeps a queue's arguments for its life; to keep ${name} as it is, change ${keyOf(m)} so ${m.argument} ` +
      `is ${m.current === NOT_SET ? 'not set' : shown(m.current, m.argument)}, or move its messages: create ${name}.v2 with the new settings, shovel messages, delete ${name}`;
  }
  return safeDelete ? `${hint}; ${safeDelete}` : hint;
}

function emptyQueueHint(m: Mismatch): string | undefined {
  if (m.kind !== 'queue' || m.messageCount !== 0 || m.consumerCount !== 0) return undefined;
  const vhost = m.vhost === '/' ? '' : ` -p ${m.vhost}`;
  return `it holds no messages and has no consumers, so \`rabbitmqctl delete_queue${vhost} ${m.name}\` is safe`;
}
