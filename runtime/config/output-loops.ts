/**
 * Functions whose `output` the declared topology routes back to themselves: `orders` returning to
 * `shop` with `order.shipped` while `shop[order.*] -> orders` is bound, or `a` feeding `b` feeding
 * `a`. Every result comes back as a new message, and the loop ends only when a handler returns
 * nothing. A warning, not an error: a step machine may loop on purpose, returning undefined when done.
 *
 * The routing is RabbitMQ's: the default exchange delivers to the queue named by the routing key, a
 * direct binding matches its key exactly, a topic binding its pattern (`*` one word, `#` any number),
 * a fanout binding always. A headers exchange routes on headers an output does not choose: not judged.
 */
import { basename } from 'node:path';
import type { BindingConfig, ExchangeType, FunctionConfig, SourceLocation, WarrenConfig } from './types';
import { BUILTIN_EXCHANGES } from './topology-sections';

type Topology = Pick<WarrenConfig, 'exchanges' | 'bindings' | 'functions'>;

/** One output of `from` reaching the queue `to` consumes, through the bindings `via` (empty: the default exchange). */
interface Step {
  from: FunctionConfig;
  to: FunctionConfig;
  via: readonly BindingConfig[];
}

/**
 * One warning per loop, each starting with `where(fn)`: the place of the first function's `output`
 * in queues.yaml (`queues.yaml:12:5 functions.orders.output:`).
 */
export function outputLoops(config: Topology, where: (fn: string) => string): string[] {
  const byQueue = new Map(Object.values(config.functions).map((fn) => [fn.queue, fn]));
  const feeds = new Map<string, Step[]>();
  for (const from of Object.values(config.functions)) {
    if (!from.output) continue;
    const steps = routes(config, from.output.exchange, from.output.routingKey).flatMap(({ queue, via }) => {
      const to = byQueue.get(queue);
      return to ? [{ from, to, via }] : [];
    });
    feeds.set(from.name, steps);
  }
  const warnings: string[] = [];
  const reported = new Set<string>();
  for (const name of feeds.keys()) {
    const loop = loopFrom(name, feeds);
    if (!loop) continue;
    const members = loop.map((s) => s.from.name);
    const key = [...members].sort().join('\n');
    if (reported.has(key)) continue;
    reported.add(key);
    warnings.push(`${where(name)} ${describeLoop(loop)}`);
  }
  return warnings;
}

/** The shortest chain of outputs from `start` back to `start` (breadth first), or null. */
function loopFrom(start: string, feeds: ReadonlyMap<string, readonly Step[]>): Step[] | null {
  const cameBy = new Map<string, Step>();
  let frontier = [start];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const step of feeds.get(name) ?? []) {
        const to = step.to.name;
        if (to === start) return [...pathTo(name, start, cameBy), step];
        if (cameBy.has(to)) continue;
        cameBy.set(to, step);
        next.push(to);
      }
    }
    frontier = next;
  }
  return null;
}

function pathTo(name: string, start: string, cameBy: ReadonlyMap<string, Step>): Step[] {
  const steps: Step[] = [];
  for (let at = name; at !== start;) {
    const step = cameBy.get(at)!;
    steps.unshift(step);
    at = step.from.name;
  }
  return steps;
}

function describeLoop(loop: readonly Step[]): string {
  const first = loop[0]!.from;
  if (loop.length === 1) {
    return (
      `the results of ${first.name} come back to it: its output (${outputText(first)}) reaches its own queue ${first.queue} through ${bindingsText(loop[0]!.via)}. ` +
      `Each result is handled again as a new message, with no end unless the handler returns nothing` +
      `\n  hint: send the output to a routing key the binding does not match, or narrow the binding (and unbind the old one on the broker: Warren never deletes a binding)`
    );
  }
  const how = loop.map((s) => `${s.from.name}'s output (${outputText(s.from)}) reaches ${s.to.name} through ${bindingsText(s.via)}`);
  return (
    `results go round ${[...loop.map((s) => s.from.name), first.name].join(' → ')}: ${how.join('; ')}. ` +
    `Each result is handled again as a new message, with no end unless a handler returns nothing` +
    `\n  hint: send one of these outputs to a routing key its binding does not match, or narrow the binding (and unbind the old one on the broker: Warren never deletes a binding)`
  );
}

function outputText(fn: FunctionConfig): string {
  const { exchange, routingKey } = fn.output!;
  return `${exchange === '' ? 'the default exchange' : `exchange ${exchange}`}, routing key ${routingKey}`;
}

function bindingsText(via: readonly BindingConfig[]): string {
  if (via.length === 0) return 'the default exchange';
  // rascal's shorthand, as queues.yaml accepts it
  const one = (b: BindingConfig) =>
    `${b.routingKey === '' ? b.exchange : `${b.exchange}[${b.routingKey}]`} -> ${b.toExchange ? 'exchange ' : ''}${b.queue}${b.at ? ` (${located(b.at)})` : ''}`;
  return `${via.length === 1 ? 'the binding' : 'the bindings'} ${via.map(one).join(', ')}`;
}

function located(at: SourceLocation): string {
  return `${basename(at.file)}:${at.line}`;
}

/**
 * The queues a message published to `exchange` with `routingKey` reaches, and the bindings on the
 * way to each (none: the default exchange). Exchange-to-exchange bindings are followed with the
 * same routing key, as RabbitMQ routes them, each exchange once.
 */
export function routes(
  config: Pick<WarrenConfig, 'exchanges' | 'bindings'>,
  exchange: string,
  routingKey: string,
  seen: Set<string> = new Set(),
): Array<{ queue: string; via: BindingConfig[] }> {
  if (exchange === '') return [{ queue: routingKey, via: [] }];
  if (seen.has(exchange)) return [];
  seen.add(exchange);
  const type: ExchangeType | undefined = config.exchanges[exchange]?.type ?? BUILTIN_EXCHANGES[exchange];
  if (type === undefined || type === 'headers') return [];
  const matches = (b: BindingConfig): boolean =>
    type === 'fanout' || (type === 'direct' ? b.routingKey === routingKey : topicMatches(b.routingKey, routingKey));
  return config.bindings
    .filter((b) => b.exchange === exchange && matches(b))
    .flatMap((b) =>
      b.toExchange ? routes(config, b.queue, routingKey, seen).map((r) => ({ queue: r.queue, via: [b, ...r.via] })) : [{ queue: b.queue, via: [b] }],
    );
}

/** RabbitMQ's topic match: words split on `.`, `*` is exactly one word, `#` zero or more. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  return matchWords(pattern.split('.'), 0, routingKey.split('.'), 0);
}

function matchWords(p: readonly string[], i: number, k: readonly string[], j: number): boolean {
  if (i === p.length) return j === k.length;
  if (p[i] === '#') {
    for (let skip = j; skip <= k.length; skip++) if (matchWords(p, i + 1, k, skip)) return true;
    return false;
  }
  return j < k.length && (p[i] === '*' || p[i] === k[j]) && matchWords(p, i + 1, k, j + 1);
}
