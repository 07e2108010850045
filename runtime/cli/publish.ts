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
    // A window of unconfirmed messages, counted (no promise per message): the loop waits only when
    // WINDOW are in flight, and the last confirms are awaited at the end.
    let inFlight = 0;
    let wake: (() => void) | null = null;
    const confirmed = (err: unknown) => {
      if (err) failure ??= new Error('the broker refused a message (nack)');
      inFlight--;
      if (wake && (inFlight < WINDOW || inFlight === 0)) {
        const w = wake;
        wake = null;
        w();
      }
    };
    // A closed channel (a missing exchange closes it) fails the run and wakes the loop.
    const fail = (err: Error) => {
      failure ??= err;
      const w = wake;
      wake = null;
      w?.();
    };
    channel.on('error', fail);
    channel.on('close', () => fail(new Error('the channel closed')));
    const properties = {
      persistent: true,
      mandatory: true,
      headers: options.headers,
      ...(options.contentType ? { contentType: options.contentType } : {}),
    };
    for (let i = 0; i < options.count; i++) {
      if (failure) throw failure;
      inFlight++;
      channel.publish(target.exchange, target.routingKey, body, { ...properties, messageId: randomUUID(), timestamp: Math.floor(Date.now() / 1000) }, confirmed);
      if (inFlight >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    }
    while (inFlight > 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
    if (failure) throw failure;
    channel.removeAllListeners('close');
    await channel.close();
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/NOT_FOUND/.test(message)) {
      throw new WarrenError('WARREN_E_CONFIG_REFERENCE', `the broker has no exchange "${target.exchange}"`, {
        hint: 'declare it in queues.yaml and run `warren start` once, or check the spelling',
      });
    }
    if (err instanceof WarrenError) throw err;
    throw new WarrenError('WARREN_E_PUBLISH_FAILED', message, { hint: 'the broker log says why; the messages it did not confirm may not have been published', cause: err });
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
