/**
 * The RabbitMQ management HTTP API, for test and bench set-up: a vhost of one's own (and its
 * permissions) and what the broker says about queues. Shared by test/ and bench/.
 */
export function amqpBase(): string {
  return process.env.WARREN_TEST_AMQP_URL ?? process.env.WARREN_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
}

export function managementBase(): string {
  return process.env.WARREN_TEST_MANAGEMENT_URL ?? process.env.WARREN_BENCH_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';
}

/** Calls the management HTTP API; returns parsed JSON (or undefined for an empty body). */
export async function management(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const base = new URL(managementBase());
  const auth = Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64');
  base.username = '';
  base.password = '';
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`management API ${method} ${path}: ${res.status} ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Creates vhost `name` with every permission for the AMQP user; returns its AMQP URL. */
export async function createVhost(name: string): Promise<string> {
  await management('PUT', `/api/vhosts/${encodeURIComponent(name)}`, {});
  const user = decodeURIComponent(new URL(amqpBase()).username || 'guest');
  await management('PUT', `/api/permissions/${encodeURIComponent(name)}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
  return `${amqpBase().replace(/\/+$/, '')}/${encodeURIComponent(name)}`;
}

export async function deleteVhost(name: string): Promise<void> {
  await management('DELETE', `/api/vhosts/${encodeURIComponent(name)}`);
}
