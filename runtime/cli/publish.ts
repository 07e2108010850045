/**
 * `warren publish EXCHANGE ROUTING_KEY JSON|@file [--count N] [--header k=v]`: publish persistent
 * messages with publisher confirms, pipelined (a window of unconfirmed messages, never one at a time).
 */
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { loadConfig } from '../config';
import { EXIT, WarrenError, redactUrl } from '../errors';
import { parseCount, projectDir, readMessageArgument, reportFailure } from './common';

export interface PublishResult {
  published: number;
  unroutable: number;
}

const WINDOW = 1_000;

/** Publish `count` copies with confirms; resolves once every one is confirmed. */
export async function publishMessages(
  url: string,
  target: { exchange: string; routingKey: string },
  body: Buffer,
  options: { count: number; headers: Record<string, string>; contentType?: string },
): Promise<PublishResult> {
  const connection = await amqp.connect(url).catch((err: Error) => {
    throw new WarrenError('WARREN_E_BROKER_UNREACHABLE', `cannot connect to ${redactUrl(url)}: ${err.message}`, {
      hint: 'start RabbitMQ (`rabbitmq-server -detached`) or set AMQP_URL',
    });
  });
  let unroutable = 0;
  try {
    const channel = await connection.createConfirmChannel();
    channel.on('return', () => unroutable++);
    let failure: Error | null = null;
    channel.on('error', (err: Error) => (failure = err));
    const pending = new Set<Promise<void>>();
    for (let i = 0; i < options.count; i++) {
      if (failure) throw failure;
      const confirmed = new Promise<void>((resolve, reject) => {
        channel.publish(
          target.exchange,
          target.routingKey,
          body,
          {
            persistent: true,
            mandatory: true,
            messageId: randomUUID(),
            timestamp: Math.floor(Date.now() / 1000),
            headers: options.headers,
            ...(options.contentType ? { contentType: options.contentType } : {}),
          },
          (err) => (err ? reject(new Error('the broker refused the message (nack)')) : resolve()),
        );
      });
      pending.add(confirmed);
      void confirmed.finally(() => pending.delete(confirmed)).catch(() => undefined);
      if (pending.size >= WINDOW) await Promise.race(pending);
    }
    await Promise.all(pending);
    await channel.close();
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/NOT_FOUND/.test(message)) {
      throw new WarrenError('WARREN_E_CONFIG_REFERENCE', `the broker has no exchange "${target.exchange}"`, {
        hint: 'declare it in queues.yaml and run `warren start` once, or check the spelling',
      });
    }
    throw err;
  } finally {
    await connection.close().catch(() => undefined);
  }
  return { published: options.count, unroutable };
}

export function parseHeaders(pairs: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new WarrenError('WARREN_E_USAGE', `--header ${pair}: expected key=value`);
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}

export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description('publish a message (persistent, with publisher confirms)')
    .argument('<exchange>', "exchange name ('' for the default exchange)")
    .argument('<routingKey>', 'routing key')
    .argument('<message>', 'JSON, or @file holding JSON')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json)')
    .option('--count <n>', 'publish N copies', '1')
    .option('--header <k=v>', 'add a header (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--text', 'send the message as plain text instead of JSON')
    .action(async (exchange: string, routingKey: string, message: string, options: { dir?: string; count: string; header: string[]; text?: boolean }) => {
      const dir = projectDir(options);
      try {
        const count = parseCount(options.count, '--count');
        const headers = parseHeaders(options.header);
        const { text } = await readMessageArgument(message, { text: options.text ?? false });
        const config = await loadConfig({ dir, env: process.env });
        const started = performance.now();
        const result = await publishMessages(config.url, { exchange, routingKey }, Buffer.from(text), {
          count,
          headers,
          contentType: options.text ? 'text/plain' : 'application/json',
        });
        const seconds = (performance.now() - started) / 1000;
        const rate = count > 1 ? ` (${Math.round(count / seconds)} msg/s)` : '';
        process.stdout.write(`published ${result.published} message${count === 1 ? '' : 's'} to ${exchange || '(default)'} with routing key ${routingKey}${rate}\n`);
        if (result.unroutable) {
          process.stderr.write(`warren: ${result.unroutable} message(s) were unroutable: no queue is bound to ${exchange || '(default)'} for ${routingKey}\n`);
          process.exitCode = EXIT.RUNTIME;
        } else {
          process.exitCode = EXIT.OK;
        }
      } catch (err) {
        process.exitCode = reportFailure(err, dir);
      }
    });
}
