/**
 * A function whose `output` the declared bindings route back to it (alone or through other functions)
 * would handle its own results forever: `warren check` and `warren start` warn, naming the output's
 * line and the binding that closes the loop.
 */
import { describe, expect, it } from 'vitest';
import { readProject } from '../../runtime/config';
import { topicMatches } from '../../runtime/config/output-loops';
import { handler, project } from '../fixtures/config/project';

const lines = (...l: string[]): string => l.join('\n') + '\n';

async function warningsOf(yaml: string[], functions: string[]): Promise<string[]> {
  const files: Record<string, string> = { 'queues.yaml': lines(...yaml) };
  for (const fn of functions) files[`functions/${fn}.ts`] = handler;
  const read = await readProject({ dir: await project(files), env: {} });
  expect(read.errors).toEqual([]);
  return read.warnings;
}

describe('an output routed back to its own function', () => {
  it('names the output, the binding that matches it and the fix', async () => {
    const warnings = await warningsOf(
      [
        'exchanges:',
        '  shop: { type: topic }',
        'bindings:',
        '  - "shop[order.*] -> orders"',
        'functions:',
        '  orders:',
        '    output: { exchange: shop, routingKey: order.shipped }',
      ],
      ['orders'],
    );
    expect(warnings).toEqual([
      'queues.yaml:7:5 functions.orders.output: the results of orders come back to it: its output (exchange shop, routing key order.shipped) ' +
        'reaches its own queue orders through the binding shop[order.*] -> orders (queues.yaml:4). ' +
        'Each result is handled again as a new message, with no end unless the handler returns nothing' +
        '\n  hint: send the output to a routing key the binding does not match, or narrow the binding (and unbind the old one on the broker: Warren never deletes a binding)',
    ]);
  });

  it('finds a loop through several functions once, and through the default exchange', async () => {
    const warnings = await warningsOf(
      [
        'exchanges:',
        '  jobs: { type: direct }',
        'bindings:',
        '  - { exchange: jobs, queue: b, routingKey: to-b }',
        'functions:',
        '  a: { output: { exchange: jobs, routingKey: to-b } }',
        "  b: { output: { exchange: '', routingKey: a } }",
      ],
      ['a', 'b'],
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('queues.yaml:6:8 functions.a.output: results go round a → b → a:');
    expect(warnings[0]).toContain("a's output (exchange jobs, routing key to-b) reaches b through the binding jobs[to-b] -> b (queues.yaml:4)");
    expect(warnings[0]).toContain("b's output (the default exchange, routing key a) reaches a through the default exchange");
  });

  it('follows exchange-to-exchange bindings, with the routing key the output was published with, and names every hop', async () => {
    const warnings = await warningsOf(
      [
        'exchanges:',
        '  shop: { type: topic }',
        '  audit: { type: fanout }',
        '  ops: { type: direct }',
        'bindings:',
        '  - "shop[order.*] -> audit"',
        '  - { exchange: audit, toExchange: ops }',
        '  - { exchange: ops, queue: orders, routingKey: order.shipped }',
        '  - { exchange: ops, queue: quiet, routingKey: order.new }',
        '  - { exchange: ops, toExchange: shop, routingKey: order.shipped }',
        'functions:',
        '  orders: { output: { exchange: shop, routingKey: order.shipped } }',
        '  quiet: { output: { exchange: shop, routingKey: order.lost } }',
      ],
      ['orders', 'quiet'],
    );
    // ops -> shop closes a cycle of exchanges: followed once, no endless walk; `quiet`'s key is dropped at ops
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      'reaches its own queue orders through the bindings shop[order.*] -> exchange audit (queues.yaml:6), audit -> exchange ops (queues.yaml:7), ops[order.shipped] -> orders (queues.yaml:8)',
    );
  });

  it('says nothing when the output goes elsewhere, or through a headers exchange it cannot judge', async () => {
    const warnings = await warningsOf(
      [
        'exchanges:',
        '  shop: { type: topic }',
        '  meta: { type: headers }',
        '  wide: { type: fanout }',
        'bindings:',
        '  - "shop[order.new] -> orders"',
        '  - { exchange: meta, queue: tagger, arguments: { x-match: any, kind: a } }',
        '  - { exchange: wide, queue: audit }',
        'functions:',
        '  orders: { output: { exchange: shop, routingKey: order.shipped } }',
        '  tagger: { output: { exchange: meta, routingKey: x } }',
        '  audit: {}',
      ],
      ['orders', 'tagger', 'audit'],
    );
    expect(warnings).toEqual([]);
    const fanout = await warningsOf(
      [
        'exchanges:',
        '  wide: { type: fanout }',
        'bindings:',
        '  - { exchange: wide, queue: audit }',
        'functions:',
        '  audit: { output: { exchange: wide, routingKey: any } }',
      ],
      ['audit'],
    );
    expect(fanout[0]).toContain('through the binding wide -> audit (queues.yaml:4)');
  });
});

describe("RabbitMQ's topic match", () => {
  it('treats * as one word and # as any number of words', () => {
    const cases: Array<[string, string, boolean]> = [
      ['order.*', 'order.shipped', true],
      ['order.*', 'order', false],
      ['order.*', 'order.shipped.eu', false],
      ['order.#', 'order', true],
      ['order.#', 'order.shipped.eu', true],
      ['#', 'anything.at.all', true],
      ['*.shipped', 'order.shipped', true],
      ['#.eu', 'order.shipped.eu', true],
      ['#.eu', 'order.shipped.us', false],
      ['order.shipped', 'order.shipped', true],
      ['order.shipped', 'order.shippedx', false],
    ];
    for (const [pattern, key, expected] of cases) expect([pattern, key, topicMatches(pattern, key)]).toEqual([pattern, key, expected]);
  });
});
