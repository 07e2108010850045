/**
 * `warren invoke FN JSON|@file`: run one handler locally on one message, no broker, through the same
 * steps as a replica (maxBodySize, decoding, the schema, the timeout, then the same decision about
 * retry or dead letter: runtime/replica/attempt.ts and outcome.ts); print the result and what a
 * replica would do with the message. Like a replica, the handler runs in a worker thread of its own
 * (./invoke-thread.ts): a handler that blocks its event loop is ended at its timeout, one that exits
 * the process ends only that thread, and either is reported with what it would do to a replica.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../config';
import { functionNamed, type FunctionConfig } from '../config/types';
import { describeDuration } from '../config/units';
import { buildHandler } from '../functions/bundle';
import { findPackageRoot } from '../functions/package-root';
import { jsonOrInspect } from '../lib/show-value';
import type { Outcome, Settlement } from '../replica/outcome';
import { HANG_GRACE_MS, START_GRACE_MS } from '../supervisor/function-runner';
import { youngGenerationMb } from '../supervisor/replica';
import { internalExchanges } from '../replica-protocol/connection';
import { EXIT, WarrenError } from '../errors';
import { logLevelOf } from '../log';
import { parseHeaders, projectDir, readMessageArgument, repeated, reportFailure } from './common';
import type { InvokedItem } from './invoke-batch';
import type { FromInvoke, InvokedPublish, InvokeEnvelope, InvokeInit } from './invoke-thread';

export interface InvokeSettled {
  ok: boolean;
  value?: unknown;
  error?: Error;
  /** final: dead-lettered at once (Reject, schema, undecodable, too large), never retried */
  rejected?: boolean;
  outcome: Outcome;
  /** what a replica would do with the message after this first attempt */
  settlement: Settlement;
  published: InvokedPublish[];
  /** a batch function: what happened to each item of the array */
  items?: InvokedItem[];
}

/** The handler ended or blocked its thread: nothing settled the message; in Warren its replica dies. */
export interface InvokeDied {
  ok: false;
  died: Death;
  /** what a death does to the message (describeDeath) */
  fn: DeathFacts;
  published: InvokedPublish[];
  items?: never;
}

export type InvokeResult = InvokeSettled | InvokeDied;

export type Death =
  /** process.exit() in the handler */
  | { kind: 'exit'; code: number }
  /** the event loop stayed blocked past the timeout (a synchronous endless loop) */
  | { kind: 'blocked'; timeoutMs: number }
  /** an error thrown outside the handler's promise, out of memory, a module that never finished loading */
  | { kind: 'crash'; reason: string };

export async function invokeFunction(
  dir: string,
  name: string,
  message: unknown,
  env: Record<string, string | undefined>,
  envelope: InvokeEnvelope = {},
): Promise<InvokeResult> {
  const logLevel = logLevelOf(env);
  const config = await loadConfig({ dir, env });
  const fn = functionNamed(config, name);
  if (!fn) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, {
      hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
  const outDir = await mkdtemp(join(tmpdir(), 'warren-invoke-'));
  try {
    const built = await buildHandler({ file: fn.file, name: fn.name, outDir });
    const published: InvokedPublish[] = [];
    const end = await runInThread({ fn, bundleFile: built.bundleFile, message, logLevel, envelope, internalExchanges: internalExchanges(config) }, published);
    switch (end.type) {
      case 'died':
        return {
          ok: false,
          died: end.death,
          fn: { redeliveryLimit: fn.redeliveryLimit, deadLetter: fn.deadLetter, ordered: fn.ordered, batch: fn.batch !== undefined },
          published,
        };
      case 'refused':
        throw new WarrenError(end.code, end.message, end.details);
      case 'failed':
        throw end.error;
      case 'settled-batch': {
        const { items } = end;
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
      case 'settled': {
        const { outcome, settlement } = end;
        if (outcome.kind === 'ok') return { ok: true, value: outcome.value, outcome, settlement, published };
        return { ok: false, error: outcome.error, rejected: outcome.kind !== 'error', outcome, settlement, published };
      }
    }
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

type ThreadEnd = Extract<FromInvoke, { type: 'settled' | 'settled-batch' | 'refused' | 'failed' }> | { type: 'died'; death: Death };

/**
 * Runs the handler in its thread and watches it as a replica's supervisor does
 * (runtime/supervisor/function-runner.ts): a thread still busy HANG_GRACE_MS after the handler's
 * timeout has a blocked event loop, its own timeout timer never fires, and it is terminated.
 */
function runInThread(init: InvokeInit, published: InvokedPublish[]): Promise<ThreadEnd> {
  const { fn } = init;
  const file = invokeFile();
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(file, {
        workerData: init,
        resourceLimits: { maxOldGenerationSizeMb: fn.memoryMb, maxYoungGenerationSizeMb: youngGenerationMb(fn.memoryMb) },
      });
    } catch (err) {
      // The message is copied to the thread, which a value nested thousands deep overflows.
      if (!(err instanceof RangeError)) throw err;
      throw new WarrenError('WARREN_E_USAGE', `the message cannot be handed to the handler's thread: ${err.message} (is it nested thousands of levels deep?)`, {
        hint: 'a replica parses the bytes in its own thread instead: publish it with `warren publish` to see what a replica does with it',
      });
    }
    let end: ThreadEnd | undefined;
    let crash: string | undefined;
    const stop = (death: Death) => {
      end ??= { type: 'died', death };
      void worker.terminate();
    };
    // A handler module that spins at load never says it started.
    let watchdog = setTimeout(
      () => stop({ kind: 'crash', reason: `its module did not finish loading within ${describeDuration(START_GRACE_MS)}` }),
      START_GRACE_MS,
    );
    worker.on('message', (message: FromInvoke) => {
      if (message.type === 'started') {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => stop({ kind: 'blocked', timeoutMs: fn.timeout }), fn.timeout + HANG_GRACE_MS);
      } else if (message.type === 'publish') {
        published.push(message.publish);
      } else {
        end ??= message;
      }
    });
    worker.on('error', (err: Error & { code?: string }) => {
      crash = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `out of memory (limit ${fn.memoryMb} MiB)` : `uncaught ${err.stack ?? `${err.name}: ${err.message}`}`;
    });
    worker.on('exit', (code) => {
      clearTimeout(watchdog);
      resolve(end ?? { type: 'died', death: crash ? { kind: 'crash', reason: crash } : { kind: 'exit', code } });
    });
  });
}

/** dist/invoke.js; `npm run build` (run by `npm ci`) makes it. */
function invokeFile(): string {
  const file = join(findPackageRoot(), 'dist', 'invoke.js');
  if (!existsSync(file)) throw new WarrenError('WARREN_E_INTERNAL', `${file} is missing`, { hint: 'run `npm run build` (npm ci runs it)' });
  return file;
}

/** What the runtime does after a replica's death depends on: the limit, the dead-letter queue, order, batches. */
export type DeathFacts = Pick<FunctionConfig, 'redeliveryLimit' | 'deadLetter' | 'ordered'> & { batch: boolean };

/**
 * One line: the death, and what it would do to the message under `warren start` (runtime/replica/
 * suspects.ts). Said as what would happen there: invoke has no broker and runs the message once,
 * nothing is redelivered here.
 */
export function describeDeath(death: Death, fn: DeathFacts): string {
  const what =
    death.kind === 'exit'
      ? `the handler exited the process with code ${death.code}`
      : death.kind === 'blocked'
        ? `the handler blocked its event loop past its timeout (${describeDuration(death.timeoutMs)}) and was stopped`
        : `the handler's thread died: ${death.reason}`;
  const kills = death.kind === 'blocked' ? 'the watchdog would end its replica' : 'this would kill its replica';
  const limit = `redelivered up to redeliveryLimit (${fn.redeliveryLimit}) times, then ${fn.deadLetter ? 'dead-lettered' : 'dropped (deadLetter is false)'}`;
  const after = fn.batch
    ? `each item of the batch would go back to the queue and run again alone${fn.ordered ? ' in its place' : ''}, as a batch of one: the items that pass are settled as usual, one that kills every replica it runs in is ${limit}`
    : fn.ordered
      ? `the message would go back to the queue and run again in place (ordered: nothing overtakes it), ${limit}`
      : `the message would go back to the queue and run again, alone, ${limit}`;
  return `${what}; invoke ran ${fn.batch ? 'the batch' : 'it'} once and redelivers nothing; under \`warren start\` ${kills}, and ${after}`;
}

/** One line per publish, as the handler wrote it. */
export function describePublish(p: InvokedPublish): string {
  const after = p.delayMs === undefined ? '' : ` after ${describeDuration(p.delayMs)}`;
  return `publish ${p.exchange || '(default)'} ${p.routingKey}${after} ${showValue(p.body)}`;
}

/**
 * A value as `invoke` prints it: JSON, as a replica publishes it; bytes (a Buffer, which crosses from
 * the handler's thread as a Uint8Array) as their count and text; what JSON cannot hold (a BigInt, a
 * cycle: only a function without `output` gets this far with one) as Node shows it.
 */
export function showValue(value: unknown, indent?: number): string {
  if (value instanceof Uint8Array) return `(${value.length} bytes) ${JSON.stringify(Buffer.from(value).toString('utf8'))}`;
  return jsonOrInspect(value, { ...(indent === undefined ? {} : { indent }), inspect: { depth: 6 } });
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
    .option('--header <k=v>', 'a header the handler sees in ctx.headers (repeatable)', repeated, [] as string[])
    .option('--routing-key <key>', "ctx.routingKey (default: the function's queue)")
    .option('--exchange <name>', "ctx.exchange (default: '', the default exchange)")
    .action(async (name: string, message: string, options: { dir?: string; text?: boolean; header: string[]; routingKey?: string; exchange?: string }) => {
      const dir = projectDir(options);
      try {
        const { value } = await readMessageArgument(message, { text: options.text ?? false });
        const envelope: InvokeEnvelope = {
          headers: parseHeaders(options.header),
          ...(options.routingKey !== undefined ? { routingKey: options.routingKey } : {}),
          ...(options.exchange !== undefined ? { exchange: options.exchange } : {}),
        };
        const result = await invokeFunction(dir, name, value, process.env, envelope);
        for (const p of result.published) process.stderr.write(`${describePublish(p)}\n`);
        if ('died' in result) {
          process.stderr.write(`${name}: ${describeDeath(result.died, result.fn)}\n`);
          process.exitCode = EXIT.RUNTIME;
          return;
        }
        if (result.items) {
          for (const item of result.items)
            process.stderr.write(
              `item ${item.index}${item.handlerIndex === undefined ? '' : ` (items[${item.handlerIndex}] in the handler's call)`}: ${item.outcome.kind === 'ok' ? 'ok' : item.outcome.error.message}; ${item.behind === undefined ? describeSettlement(item.settlement) : `a replica would run it again in place with item ${item.behind}, after that item's retry delay (ordered: nothing overtakes it)`}\n`,
            );
          process.exitCode = result.ok ? EXIT.OK : EXIT.RUNTIME;
          return;
        }
        if (result.ok) {
          // Bytes go out as they are, as a replica would publish them (`warren invoke … > out.bin`).
          if (result.value instanceof Uint8Array) {
            process.stdout.write(result.value);
            // On a terminal the next line would run on from the bytes; redirected, they stay exact.
            if (process.stdout.isTTY && result.value[result.value.length - 1] !== 0x0a) process.stdout.write('\n');
          } else process.stdout.write((result.value === undefined ? '' : showValue(result.value, 2)) + '\n');
          process.exitCode = EXIT.OK;
        } else {
          const kind = result.outcome.kind as Exclude<Outcome['kind'], 'ok'>;
          const how = result.outcome.kind === 'error' && result.outcome.timedOut ? 'timed out' : WHAT_FAILED[kind];
          process.stderr.write(`${name} ${how}: ${result.error?.stack ?? result.error?.message}\n`);
          process.exitCode = EXIT.RUNTIME;
        }
        process.stderr.write(`${describeSettlement(result.settlement)}\n`);
      } catch (err) {
        process.exitCode = reportFailure(err, dir);
      }
    });
}
