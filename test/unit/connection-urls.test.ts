import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../runtime/config/connection';
import { nextStart, nodeOf, spreadOffset, splitUrls, startingAt, tryOrder } from '../../runtime/connection/urls';
import { replicaConnection } from '../../runtime/replica-protocol/connection';
import { vhostUrl } from '../../runtime/topology/names';
import type { WarrenConfig } from '../../runtime/config/types';

describe('a list of broker URLs', () => {
  it('splits on commas that begin a new URL, keeping a comma inside a password', () => {
    expect(splitUrls('amqp://a:p@n1:5672, amqp://a:p@n2:5672,amqps://a:x,y@n3')).toEqual(['amqp://a:p@n1:5672', 'amqp://a:p@n2:5672', 'amqps://a:x,y@n3']);
    expect(splitUrls('amqp://n1')).toEqual(['amqp://n1']);
  });

  it('names a node by host and port only', () => {
    expect(nodeOf('amqp://u:secret@rabbit-1.rabbit:5672/orders')).toBe('rabbit-1.rabbit:5672');
    expect(nodeOf('amqps://u:secret@rabbit')).toBe('rabbit:5671');
  });

  it('begins each replica at another node', () => {
    const nodes = ['n1', 'n2', 'n3'];
    expect(startingAt(nodes, 1)).toEqual(['n2', 'n3', 'n1']);
    expect(startingAt(nodes, 5)).toEqual(['n3', 'n1', 'n2']);
    const first = (replica: number) => startingAt(nodes, spreadOffset('work', replica, 7))[0];
    expect(new Set([first(1), first(2), first(3)]).size).toBe(3);
  });

  it('spreads the replicas whose node is down, or was lost, over the other nodes rather than all on the next', () => {
    const nodes = ['n1', 'n2', 'n3'];
    const spreads = Array.from({ length: 8 }, (_, i) => spreadOffset('work', i + 1, 7));
    // n1 is down at start: each replica takes the first other node of its order
    const landed = spreads.map((s) => tryOrder(nodes, s, s).find((n) => n !== 'n1'));
    expect(landed.filter((n) => n === 'n2').length).toBeGreaterThanOrEqual(3);
    expect(landed.filter((n) => n === 'n3').length).toBeGreaterThanOrEqual(3);
    // every replica tries every node
    for (const s of spreads) expect([...tryOrder(nodes, s, s)].sort()).toEqual(nodes);
    // the replicas on n1 lose it: where each tries next is another node, not all the same one
    const onN1 = spreads.filter((s) => startingAt(nodes, s)[0] === 'n1');
    expect(onN1.length).toBeGreaterThanOrEqual(2);
    const next = onN1.map((s) => nodes[nextStart(0, 3, s) % 3]);
    expect(next).not.toContain('n1');
    expect(new Set(next).size).toBe(2);
    // two nodes: the other one, as before
    expect(nextStart(0, 2, 5) % 2).toBe(1);
  });

  it('comes from AMQP_URL, comma-separated, and sets the vhost and heartbeat on each URL', () => {
    const resolved = resolveConnection({}, { AMQP_URL: 'amqp://u:p@n1:5672/orders, amqp://u:p@n2:5672/orders' });
    expect(resolved).toMatchObject({ url: 'amqp://u:p@n1:5672/orders,amqp://u:p@n2:5672/orders', vhost: 'orders', source: 'AMQP_URL' });
    expect(resolved.problem).toBeUndefined();
    expect(vhostUrl(resolved.url, 'other')).toBe('amqp://u:p@n1:5672/other,amqp://u:p@n2:5672/other');
    const config = { url: resolved.url, vhost: 'orders', rascal: {}, exchanges: {}, queues: {}, bindings: [], functions: { f: {} } } as unknown as WarrenConfig;
    expect(replicaConnection(config, 'f').url).toBe('amqp://u:p@n1:5672/orders?heartbeat=10,amqp://u:p@n2:5672/orders?heartbeat=10');
  });

  it("honours rascal.json's connections: [...], strings and attribute objects, and their socket options", () => {
    const resolved = resolveConnection(
      {
        vhosts: {
          orders: {
            connections: [{ hostname: 'n1', user: 'u', password: 'p', socketOptions: { servername: 'rabbit' } }, 'amqp://u:p@n2:5672/orders'],
          },
        },
      },
      {},
    );
    expect(resolved).toMatchObject({
      url: 'amqp://u:p@n1:5672/orders,amqp://u:p@n2:5672/orders',
      vhost: 'orders',
      source: 'rascal.json vhosts.orders.connections',
    });
    expect(resolved.rascal).toEqual({ vhosts: { orders: { connection: { socketOptions: { servername: 'rabbit' } } } } });
  });

  it('refuses a list whose URLs name different vhosts, or a URL that is not AMQP, without showing a password', () => {
    expect(resolveConnection({}, { AMQP_URL: 'amqp://u:p@n1/a,amqp://u:p@n2/b' }).problem).toContain('different vhosts');
    const bad = resolveConnection({}, { AMQP_URL: 'amqp://u:secret@n1,http://u:secret@n2' }).problem;
    expect(bad).toContain('the URL begins "http:", not amqp:// or amqps://');
    expect(bad).not.toContain('secret');
  });
});
