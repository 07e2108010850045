/** A connection closed at shutdown (runtime/connection/close.ts): a broker that never answers costs `ms`, not forever. */
import { createServer, connect, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import type { ChannelModel } from 'amqplib';
import { closeWithin } from '../../runtime/connection/close';

it('destroys the socket of a connection whose close the broker never answers, after the time given', async () => {
  // A peer that takes the bytes and says nothing, as a broker out of file descriptors did.
  const held: Socket[] = [];
  const server = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const silent = { close: () => new Promise<void>(() => undefined), connection: { stream: socket } } as unknown as ChannelModel;

  const began = Date.now();
  await closeWithin(silent, 300);
  expect(Date.now() - began).toBeGreaterThanOrEqual(290);
  expect(Date.now() - began).toBeLessThan(2_000);
  expect(socket.destroyed).toBe(true);

  // One that answers is left to close on its own.
  const answered = connect(port, '127.0.0.1');
  await new Promise((resolve) => answered.once('connect', resolve));
  await closeWithin({ close: async () => undefined, connection: { stream: answered } } as unknown as ChannelModel, 300);
  expect(answered.destroyed).toBe(false);
  answered.destroy();
  for (const s of held) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});
