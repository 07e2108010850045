/**
 * A list of nodes with one that takes the socket and never answers (a frozen node, a port mistyped
 * into another service): the next node is tried beside it after a second, so a replica losing its
 * node consumes again within about a second, not after the 10 s handshake timeout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connectToAny } from '../../runtime/connection/connect';
import { createTestVhost, type TestVhost } from '../helpers/broker';

let silent: Server;
let silentUrl = '';
let vhost: TestVhost;
const held = new Set<Socket>();
let accepted = 0;

beforeAll(async () => {
  vhost = await createTestVhost('connect-list');
  silent = createServer((socket) => {
    accepted++;
    // read what the client sends (its protocol header), so its close is seen
    socket.resume();
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `amqp://guest:guest@127.0.0.1:${(silent.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
  await vhost.cleanup();
});

it('passes a silent node after a second and connects to the next that answers', async () => {
  const began = Date.now();
  const found = await connectToAny(`${silentUrl},${vhost.url}`, { timeout: 10_000 });
  const took = Date.now() - began;
  try {
    expect(found.index).toBe(1);
    expect(took).toBeLessThan(5_000);
    expect(accepted).toBe(1);
    // The silent node's socket is let go once another answered, not held until its 10 s timeout.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(held.size).toBe(0);
  } finally {
    await found.connection.close();
  }
});

it('opens no second connection when the first node answers', async () => {
  const before = accepted;
  const found = await connectToAny(`${vhost.url},${silentUrl}`, { timeout: 10_000 });
  try {
    expect(found.index).toBe(0);
    // past the stagger: had the race gone on, the silent node would have been tried by now
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(accepted).toBe(before);
  } finally {
    await found.connection.close();
  }
});
