/** `warren invoke FN JSON|@file`: run one handler locally on one message, no broker; print the result. */
import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config';
import { buildHandler } from '../functions/bundle';
import { loadHandler } from '../functions/load';
import { compileMessageSchema } from '../replica/schema';
import { createLogger } from '../log';
import { EXIT, WarrenError } from '../errors';
import { isReject, type Context } from '../index';
import { projectDir, readMessageArgument, reportFailure } from './common';

export interface InvokeResult {
  ok: boolean;
  value?: unknown;
  error?: Error;
  rejected?: boolean;
  published: Array<{ exchange: string; routingKey: string; body: unknown }>;
}

export async function invokeFunction(dir: string, name: string, message: unknown, env: Record<string, string | undefined>): Promise<InvokeResult> {
  const config = await loadConfig({ dir, env });
  const fn = config.functions[name];
  if (!fn) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, { hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}` });
  }
  if (fn.schema) {
    const problem = (await compileMessageSchema(fn.schema))(message);
    if (problem) return { ok: false, error: new Error(`schema validation failed: ${problem}`), rejected: true, published: [] };
  }
  const outDir = await mkdtemp(join(tmpdir(), 'warren-invoke-'));
  try {
    const built = await buildHandler({ file: fn.file, name: fn.name, outDir });
    const handler = await loadHandler(built.bundleFile, fn.file);
    const published: InvokeResult['published'] = [];
    const raw = Buffer.from(typeof message === 'string' ? message : JSON.stringify(message));
    const ctx: Context = {
      log: createLogger({ level: env.WARREN_LOG_LEVEL ?? 'info', base: { function: name } }),
      publish: async (exchange, routingKey, body) => {
        published.push({ exchange, routingKey, body });
      },
      raw,
      headers: {},
      routingKey: fn.name,
      exchange: '',
      messageId: 'invoke',
      attempt: 1,
      signal: AbortSignal.timeout(fn.timeout),
      functionName: fn.name,
    };
    try {
      const value = await handler(message, ctx);
      return { ok: true, value, published };
    } catch (err) {
      return { ok: false, error: err as Error, rejected: isReject(err), published };
    }
  } finally {
    await rm(outDir, { recursive: true, force: true });
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
        if (result.ok) {
          process.stdout.write((result.value === undefined ? '' : JSON.stringify(result.value, null, 2)) + '\n');
          process.exitCode = EXIT.OK;
        } else {
          const how = result.rejected ? 'rejected (would be dead-lettered at once)' : 'failed (would be retried)';
          process.stderr.write(`${name} ${how}: ${result.error?.stack ?? result.error?.message}\n`);
          process.exitCode = EXIT.RUNTIME;
        }
      } catch (err) {
        process.exitCode = reportFailure(err, dir);
      }
    });
}
