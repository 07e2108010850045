/**
 * How many nodes of the RabbitMQ cluster run now, asked of the management API (AMQP does not say):
 * `RABBITMQ_MANAGEMENT_URL` when set (the variable `warren manifests` already uses), otherwise port
 * 15672 of each AMQP node with its credentials. Null when no management API answers.
 */
import { splitUrls } from './urls';

export async function runningNodes(amqpUrls: string, env: Record<string, string | undefined>, timeoutMs = 3_000): Promise<number | null> {
  const candidates = env.RABBITMQ_MANAGEMENT_URL ? [env.RABBITMQ_MANAGEMENT_URL] : splitUrls(amqpUrls).map(managementOf);
  for (const base of candidates) {
    try {
      const url = new URL(base);
      const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
      const res = await fetch(new URL('/api/nodes?columns=name,running', url.origin), {
        headers: { authorization: `Basic ${auth}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) continue;
      const nodes = (await res.json()) as Array<{ running?: boolean }>;
      return nodes.filter((n) => n.running !== false).length;
    } catch {
      // this one does not answer: the next
    }
  }
  return null;
}

function managementOf(amqpUrl: string): string {
  const url = new URL(amqpUrl);
  const scheme = url.protocol === 'amqps:' ? 'https' : 'http';
  const port = url.protocol === 'amqps:' ? 15671 : 15672;
  const user = url.username || 'guest';
  const password = url.password || 'guest';
  return `${scheme}://${user}:${password}@${url.hostname}:${port}`;
}
