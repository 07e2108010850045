import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../runtime/config/connection';
import { nodeOf, spreadOffset, splitUrls, startingAt } from '../../runtime/connection/urls';
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
    expect(bad).toContain('is not an amqp:// or amqps:// URL');
    expect(bad).not.toContain('secret');
  });
});
