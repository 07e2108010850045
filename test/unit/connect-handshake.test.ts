/**
 * A node that accepts the TCP connection and never answers the AMQP handshake (a RabbitMQ node out of
 * file descriptors does exactly this) is told apart from one that is not there: amqplib says
 * `connect ETIMEDOUT` for both. The silent peer here is a plain TCP server; no broker is involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { NO_HANDSHAKE, connectToAny } from '../../runtime/connection/connect';
import { unreachable } from '../../runtime/topology/declare';
import type { WarrenConfig } from '../../runtime/config/types';

describe('a broker that accepts connections and does not answer them', () => {
  let silent: Server;
  let port = 0;
  const held = new Set<Socket>();
  beforeAll(async () => {
    silent = createServer((socket) => {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('says the node accepted the connection but did not finish the handshake, and how to look', async () => {
    const url = `amqp://guest:secret@127.0.0.1:${port}/orders`;
    const err = await connectToAny(url, { timeout: 300 }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(`127.0.0.1:${port} ${NO_HANDSHAKE} within 300 ms`);

    const said = unreachable({ url, vhost: 'orders' } as WarrenConfig, err);
    expect(said.code).toBe('WARREN_E_BROKER_UNREACHABLE');
    expect(said.message).toContain('accepts connections but does not answer them');
    expect(said.message).not.toContain('secret');
    expect(said.details.hint).toMatch(/rabbitmq-diagnostics status.*File Descriptors/);
  });

  it('leaves a port where nothing listens as it was (connection refused)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await connectToAny(`amqp://127.0.0.1:${free}`, { timeout: 300 }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(unreachable({ url: `amqp://127.0.0.1:${free}`, vhost: '/' } as WarrenConfig, err).message).toMatch(/^no broker answers at/);
  });

  it('says a broker is down, not that it refused the credentials, whatever digits its port or host has', () => {
    const config = { url: 'amqp://mq-403:37403', vhost: '/' } as WarrenConfig;
    const down = unreachable(config, new Error('connect ECONNREFUSED 10.0.40.3:37403'));
    expect(down.message).toMatch(/^no broker answers at/);
    const refused = unreachable(config, new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused"'));
    expect(refused.message).toContain('refused the credentials');
  });

  it('names the silent node among a cluster list', async () => {
    const err = await connectToAny(`amqp://127.0.0.1:${port},amqp://127.0.0.1:${port}`, { timeout: 200 }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain(`127.0.0.1:${port}: 127.0.0.1:${port} ${NO_HANDSHAKE}`);
  });
});
