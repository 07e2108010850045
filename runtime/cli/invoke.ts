/**
 * `warren invoke FN JSON|@file`: run one handler locally on one message, no broker, through the same
 * steps as a replica (maxBodySize, decoding, the schema, the timeout, then the same decision about
 * retry or dead letter: runtime/replica/attempt.ts and outcome.ts); print the result and what a
 * replica would do with the message.
 */
import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config';
import { buildHandler } from '../functions/bundle';
import { loadHandler } from '../functions/load';
import { compileMessageSchema } from '../replica/schema';
import { attemptMessage } from '../replica/attempt';
import { decideSettlement, type Outcome, type Settlement } from '../replica/outcome';
import type { Delivery } from '../replica/delivery';
import type { Publish } from '../replica/handler-context';
import { createLogger } from '../log';
import { EXIT, WarrenError } from '../errors';
import { projectDir, readMessageArgument, reportFailure } from './common';
import { invokeBatch, type InvokedItem } from './invoke-batch';
import type { BatchHandler } from '../index';

export interface InvokeResult {
  ok: boolean;
  value?: unknown;
  error?: Error;
  /** final: dead-lettered at once (Reject, schema, undecodable, too large), never retried */
  rejected?: boolean;
  outcome: Outcome;
  /** what a replica would do with the message after this first attempt */
  settlement: Settlement;
  published: Array<{ exchange: string; routingKey: string; body: unknown }>;
  /** a batch function: what happened to each item of the array */
  items?: InvokedItem[];
}

export async function invokeFunction(dir: string, name: string, message: unknown, env: Record<string, string | undefined>): Promise<InvokeResult> {
  const config = await loadConfig({ dir, env });
  const fn = config.functions[name];
  if (!fn) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, {
      hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
  const validate = fn.schema ? await compileMessageSchema(fn.schema) : null;
  const outDir = await mkdtemp(join(tmpdir(), 'warren-invoke-'));
  try {
    const built = await buildHandler({ file: fn.file, name: fn.name, outDir });
    const handler = await loadHandler(built.bundleFile, fn.file);
    const published: InvokeResult['published'] = [];
    const publish: Publish = async (target, body, { routingKey }) => {
      published.push(
        target.kind === 'exchange' ? { exchange: target.name, routingKey: routingKey ?? '', body } : { exchange: '', routingKey: target.name, body },
      );
    };
    const log = createLogger({ level: env.WARREN_LOG_LEVEL ?? 'info', base: { function: name } });
    if (fn.batch) {
      const items = await invokeBatch(fn, handler as unknown as BatchHandler, message, { validate, publish, log, asDelivery: (m) => asDelivery(m, fn.name) });
      const failed = items.find((i) => i.outcome.kind !== 'ok');
      const summary = failed ?? items[0] ?? { outcome: { kind: 'ok', value: undefined } as Outcome, settlement: { action: 'ack' } as Settlement };
      const error = failed && failed.outcome.kind !== 'ok' ? failed.outcome.error : undefined;
      return {
        ok: !failed,
        ...(error ? { error, rejected: failed?.outcome.kind !== 'error' } : {}),
        outcome: summary.outcome,
        settlement: summary.settlement,
        published,
        items,
      };
    }
    const attempt = 1;
    const outcome = await attemptMessage(asDelivery(message, fn.name), attempt, {
      fn,
      handler,
      validate,
      publish,
      log,
      shutdown: new AbortController().signal,
      onStuck: (reason) => log.warn({ reason }, 'a replica would be recycled'),
    });
    const settlement = decideSettlement(fn, attempt, outcome);
    if (outcome.kind === 'ok') return { ok: true, value: outcome.value, outcome, settlement, published };
    const rejected = outcome.kind !== 'error';
    return { ok: false, error: outcome.error, rejected, outcome, settlement, published };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/** The message as a producer would have sent it: a string as text, anything else as JSON. */
function asDelivery(message: unknown, functionName: string): Delivery {
  const text = typeof message === 'string';
  return {
    content: Buffer.from(text ? message : JSON.stringify(message)),
    properties: { contentType: text ? 'text/plain' : 'application/json', messageId: 'invoke', headers: {} },
    fields: { exchange: '', routingKey: functionName, redelivered: false },
  };
}

const WHAT_FAILED: Record<Exclude<Outcome['kind'], 'ok'>, string> = {
  error: 'failed',
  reject: 'rejected',
  schema: 'rejected by its schema',
  'invalid-json': 'could not decode the message',
  'too-large': 'refused the message as too large',
  'delivery-limit': 'passed its redelivery limit',
};

/** One line: what a replica would do after this attempt. */
export function describeSettlement(s: Settlement): string {
  switch (s.action) {
    case 'ack':
      return s.output ? `a replica would publish the result to ${s.output.exchange || '(default)'} ${s.output.routingKey}, then ack` : 'a replica would ack';
    case 'retry':
      return `a replica would retry it in ${s.delayMs} ms (attempt ${s.nextAttempt}, through ${s.queue})`;
    case 'requeue':
      return `a replica would retry it in place after ${s.delayMs} ms (ordered)`;
    case 'dead':
      return `a replica would dead-letter it to ${s.queue} (reason ${s.reason})`;
    case 'drop':
      return `a replica would drop it (reason ${s.reason}; deadLetter is false)`;
  }
}

export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .description('run one handler locally on one message, without a broker, and print its result')
    .argument('<function>', 'function name')
    .argument('<message>', 'JSON, or @file holding JSON')
    .option('--dir <dir>', 'project folder')
    .option('--text', 'pass the message as a plain string')
    .action(async (name: string, message: string, options: { dir?: string; text?: boolean }) => {
      const dir = projectDir(options);
      try {
        const { value } = await readMessageArgument(message, { text: options.text ?? false });
        const result = await invokeFunction(dir, name, value, process.env);
        for (const p of result.published) process.stderr.write(`publish ${p.exchange || '(default)'} ${p.routingKey} ${JSON.stringify(p.body)}\n`);
        if (result.items) {
          for (const item of result.items)
            process.stderr.write(
              `item ${item.index}: ${item.outcome.kind === 'ok' ? 'ok' : item.outcome.error.message}; ${describeSettlement(item.settlement)}\n`,
            );
          process.exitCode = result.ok ? EXIT.OK : EXIT.RUNTIME;
          return;
        }
        if (result.ok) {
          process.stdout.write((result.value === undefined ? '' : JSON.stringify(result.value, null, 2)) + '\n');
          process.exitCode = EXIT.OK;
        } else {
          const kind = result.outcome.kind as Exclude<Outcome['kind'], 'ok'>;
          const how = result.outcome.kind === 'error' && result.outcome.timedOut ? 'timed out' : WHAT_FAILED[kind];
          process.stderr.write(`${name} ${how}: ${result.error?.stack ?? result.error?.message}\n`);
          process.exitCode = EXIT.RUNTIME;
        }
        process.stderr.write(`${describeSettlement(result.settlement)}\n`);
        // A handler that ignores ctx.signal past its timeout would keep this process alive.
        if (result.outcome.kind === 'error' && result.outcome.timedOut) process.exit();
      } catch (err) {
        process.exitCode = reportFailure(err, dir);
      }
    });
}
