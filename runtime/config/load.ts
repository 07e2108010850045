/**
 * loadConfig: the project folder → a validated, normalised, frozen WarrenConfig. Reads queues.yaml,
 * rascal.json, functions/ and schema files; never touches the network. Every problem it can find is
 * collected and thrown together as one WarrenErrors, so `warren check` lists them all at once.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WarrenError, WarrenErrors } from '../errors';
import { scanHandlers } from '../functions/discover';
import { BUILTIN_EXCHANGES, buildBindings, buildExchanges, buildQueues } from './topology-sections';
import { BuildContext } from './context';
import { resolveConnection } from './connection';
import { deepFreeze } from './freeze';
import { buildFunctions } from './functions';
import type { Env } from './interpolate';
import { readSchemaFile, type SchemaFileResult } from './message-schema';
import { parseRascalJson } from './rascal-json';
import { checkShape } from './shape';
import { parseYamlSource } from './source';
import { readConfigText } from './read-text';
import type { WarrenConfig } from './types';

export interface LoadOptions {
  /** the project folder (holds queues.yaml, rascal.json, functions/) */
  dir: string;
  /** the environment `${VAR}` and AMQP_URL are read from */
  env: Env;
}

type Obj = Record<string, unknown>;

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

function byPosition(a: WarrenError, b: WarrenError): number {
  const fa = a.details.file ?? '';
  const fb = b.details.file ?? '';
  if (fa !== fb) return fa < fb ? -1 : 1;
  return (a.details.line ?? 0) - (b.details.line ?? 0) || (a.details.column ?? 0) - (b.details.column ?? 0);
}

function fail(errors: WarrenError[]): never {
  throw new WarrenErrors(withoutEchoes(errors).sort(byPosition));
}

/**
 * An unset `${VAR}` reads as "" and the value's own check then fails at the same spot: the missing
 * variable is the one problem to report there.
 */
function withoutEchoes(errors: WarrenError[]): WarrenError[] {
  const at = (e: WarrenError) => `${e.details.file}:${e.details.line}:${e.details.column}`;
  const unset = new Set(errors.filter((e) => e.code === 'WARREN_E_CONFIG_ENV' && e.details.line !== undefined).map(at));
  return errors.filter((e) => e.code === 'WARREN_E_CONFIG_ENV' || !unset.has(at(e)));
}

export async function loadConfig(opts: LoadOptions): Promise<WarrenConfig> {
  const { config, missingHandlers } = await loadProject(opts);
  if (missingHandlers.size > 0) fail([...missingHandlers.values()]);
  return config;
}

export interface LoadedProject {
  /** every function of queues.yaml and functions/, those in `missingHandlers` included */
  config: WarrenConfig;
  /**
   * Functions with an entry in queues.yaml and no handler file, each with its WARREN_E_HANDLER_MISSING.
   * loadConfig refuses them; a reload of a running runtime stops them instead (their file was deleted),
   * while their queues keep the arguments their settings give.
   */
  missingHandlers: ReadonlyMap<string, WarrenError>;
}

/** loadConfig, except that a function whose handler file is missing is reported, not refused. */
export async function loadProject(opts: LoadOptions): Promise<LoadedProject> {
  const dir = resolve(opts.dir);
  const yamlFile = join(dir, 'queues.yaml');
  const rascalFile = join(dir, 'rascal.json');
  const functionsDir = join(dir, 'functions');

  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
    fail([
      new WarrenError('WARREN_E_CONFIG_MISSING', `project folder ${dir} does not exist`, {
        file: dir,
        hint: 'pass the folder that holds queues.yaml and functions/ with --dir',
      }),
    ]);
  }

  const [yamlRead, rascalRead, scanned] = await Promise.all([readConfigText(yamlFile), readConfigText(rascalFile), scanHandlers(functionsDir)]);
  const tooLarge = [yamlRead, rascalRead].filter((read): read is WarrenError => read instanceof WarrenError);
  if (tooLarge.length > 0) fail(tooLarge);
  const yamlText = yamlRead as string | undefined;
  const rascalText = rascalRead as string | undefined;
  const errors: WarrenError[] = [...scanned.errors];
  if (yamlText === undefined && scanned.handlers.length === 0 && scanned.errors.length === 0) {
    fail([
      new WarrenError('WARREN_E_CONFIG_MISSING', `no queues.yaml and no handler files in ${dir}`, {
        file: yamlFile,
        hint: 'add a handler such as functions/hello.ts (queues.yaml is optional), or pass the right folder with --dir',
      }),
    ]);
  }

  const source = parseYamlSource(yamlFile, yamlText ?? '', opts.env);
  errors.push(...source.errors);
  const rascalJson = rascalText === undefined ? { value: {}, errors: [] } : parseRascalJson(rascalFile, rascalText, opts.env);
  errors.push(...rascalJson.errors);
  const connection = resolveConnection(rascalJson.value, opts.env);
  if (connection.problem) {
    const fromEnv = connection.source === 'AMQP_URL';
    errors.push(
      new WarrenError('WARREN_E_CONFIG_TYPE', connection.problem, {
        ...(fromEnv ? {} : { file: rascalFile }),
        key: fromEnv ? 'AMQP_URL' : connection.source.replace(/^rascal\.json /, ''),
        expected: 'a URL like amqp://user:password@host:5672/vhost',
      }),
    );
  }
  if (source.errors.some((e) => e.code === 'WARREN_E_CONFIG_SYNTAX')) fail(errors);

  const shapeErrors = checkShape(yamlFile, source.value, source.at);
  // the semantic checks below trust the shape: with shape errors, report what we have
  if (shapeErrors.length > 0) fail([...errors, ...shapeErrors]);

  const raw = (source.value ?? {}) as Obj;
  const rawFunctions = (raw.functions ?? {}) as Record<string, Obj | null>;
  const existingFiles = new Set<string>();
  const schemaFiles = new Map<string, SchemaFileResult>();
  await Promise.all(
    Object.values(rawFunctions).map(async (entry) => {
      if (typeof entry?.handler === 'string') {
        const file = resolve(dir, entry.handler);
        if (await isFile(file)) existingFiles.add(file);
      }
      if (typeof entry?.schema === 'string') {
        const file = resolve(dir, entry.schema);
        schemaFiles.set(file, await readSchemaFile(file, entry.schema));
      }
    }),
  );

  const ctx = new BuildContext(yamlFile, source.at);
  const exchanges = buildExchanges(ctx, raw.exchanges);
  const declaredQueues = buildQueues(ctx, raw.queues);
  const { functions, missingHandlers, implicitQueues } = buildFunctions(ctx, raw.functions, {
    dir,
    handlers: scanned.handlers,
    existingFiles,
    schemaFiles,
    declaredQueues,
  });
  const queues = { ...declaredQueues, ...implicitQueues };
  const bindings = buildBindings(ctx, raw.bindings, exchanges, queues);
  checkOutputs(ctx, functions, exchanges);
  errors.push(...ctx.errors);
  const missing = new Set(missingHandlers.values());
  if (errors.some((e) => !missing.has(e))) fail(errors);

  const config = deepFreeze({ dir, url: connection.url, vhost: connection.vhost, rascal: connection.rascal, exchanges, queues, bindings, functions });
  return { config, missingHandlers };
}

function checkOutputs(ctx: BuildContext, functions: WarrenConfig['functions'], exchanges: WarrenConfig['exchanges']): void {
  for (const fn of Object.values(functions)) {
    const exchange = fn.output?.exchange;
    if (exchange === undefined || exchange === '' || exchanges[exchange] || BUILTIN_EXCHANGES[exchange]) continue;
    ctx.report(
      'WARREN_E_CONFIG_REFERENCE',
      `output to exchange "${exchange}", which is not declared`,
      ctx.pointer('functions', fn.name, 'output', 'exchange'),
      {
        hint: `declare it under exchanges:, e.g. \`${exchange}: { type: topic }\`, or use '' for the default exchange`,
      },
    );
  }
}
