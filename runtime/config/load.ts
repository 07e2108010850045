/**
 * loadConfig: the project folder → a validated, normalised, frozen WarrenConfig. Reads queues.yaml,
 * rascal.json, functions/ and schema files; never touches the network. Every problem it can find is
 * collected and thrown together as one WarrenErrors, so `warren check` lists them all at once: a YAML
 * syntax error stops the reading of queues.yaml, a shape error only sets its own entry aside.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { WarrenError, WarrenErrors } from '../errors';
import { scanHandlers, unreadHandler, type HandlerFile } from '../functions/discover';
import { BUILTIN_EXCHANGES, buildBindings, buildExchanges, buildQueues, sharedNameWarnings, unknownAmqExchangeHint } from './topology-sections';
import { BuildContext } from './context';
import { resolveConnection } from './connection';
import { deepFreeze } from './freeze';
import { buildFunctions } from './functions';
import type { Env } from './interpolate';
import { readSchemaFile, type SchemaFileResult } from './message-schema';
import { checkManagedArguments } from './managed-arguments';
import { closest } from './suggest';
import { keyPathAt, parseRascalJson, unknownRascalKeys } from './rascal-json';
import { checkShape } from './shape';
import { outputLoops } from './output-loops';
import { bareDurations, bareDurationWarning } from './bare-durations';
import { DEFAULT_CONSUMER_TIMEOUT_MS } from './limits';
import { formatDuration } from './units';
import { setAsideInvalid, type Unchecked } from './set-aside';
import { projectFolderProblem } from './project-folder';
import { parseYamlSource } from './source';
import { fromEnvironment } from './env-origin';
import { readConfigText } from './read-text';
import type { FunctionConfig, WarrenConfig } from './types';

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

function inOrder(errors: WarrenError[]): WarrenError[] {
  return withoutEchoes(errors).sort(byPosition);
}

/**
 * An unset `${VAR}` reads as "" (a malformed one as its text) and the value's own check then fails at
 * the same spot, or at the same key on that line: the reference is the one problem to report there.
 */
function withoutEchoes(errors: WarrenError[]): WarrenError[] {
  const at = (e: WarrenError) => `${e.details.file}:${e.details.line}:${e.details.column}`;
  const keyed = (e: WarrenError) => `${e.details.file}:${e.details.line}:${e.details.key}`;
  const references = errors.filter((e) => e.code === 'WARREN_E_CONFIG_ENV' && e.details.line !== undefined);
  const spots = new Set([...references.map(at), ...references.filter((e) => e.details.key !== undefined).map(keyed)]);
  return errors.filter((e) => e.code === 'WARREN_E_CONFIG_ENV' || !(spots.has(at(e)) || spots.has(keyed(e))));
}

export async function loadConfig(opts: LoadOptions): Promise<WarrenConfig> {
  const { project, errors } = await readProject(opts);
  if (!project || errors.length > 0) throw new WarrenErrors(errors);
  return project.config;
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
export async function loadProject(opts: LoadOptions): Promise<LoadedProject & { warnings: readonly string[] }> {
  const { project, errors, warnings } = await readProject(opts);
  if (!project) throw new WarrenErrors(errors);
  return { ...project, warnings };
}

export interface ProjectRead {
  /** the project, unless a problem other than a missing handler file was found */
  project?: LoadedProject;
  /** every problem found, in file order (the missing handler files included) */
  errors: WarrenError[];
  /**
   * The handler files that exist, by function name, as far as the config could be read: what `check`
   * and a refused `start` still build, so handler errors are listed beside config errors.
   */
  handlers: HandlerFile[];
  /** what is not wrong but probably not meant: a file of functions/ that looks like a handler and is not read */
  warnings: string[];
  /**
   * With problems, what could still be read: the broker's URL (when the connection settings are
   * sound) and the functions whose entries are. The dead-letter tools and `publish` go on with it: a
   * half-edited queues.yaml must not lock a person out of the dead letters of a running runtime.
   */
  partial?: { url: string; vhost: string; functions: Readonly<Record<string, FunctionConfig>> };
}

/** Reads and checks the whole project; never throws for a problem of the project (it is in `errors`). */
export async function readProject(opts: LoadOptions): Promise<ProjectRead> {
  const dir = resolve(opts.dir);
  const yamlFile = join(dir, 'queues.yaml');
  const rascalFile = join(dir, 'rascal.json');
  const functionsDir = join(dir, 'functions');
  // once queues.yaml is parsed: a problem at a value `${VAR}` gave names the variable
  let told = (errors: WarrenError[]): WarrenError[] => errors;
  const refused = (errors: WarrenError[], handlers: HandlerFile[] = [], warnings: string[] = []): ProjectRead => ({
    errors: inOrder(told(errors)),
    handlers,
    warnings,
  });

  const notAFolder = await projectFolderProblem(dir);
  if (notAFolder) return refused([notAFolder]);

  const [yamlRead, rascalRead, scanned] = await Promise.all([readConfigText(yamlFile), readConfigText(rascalFile), scanHandlers(functionsDir)]);
  const tooLarge = [yamlRead, rascalRead].filter((read): read is WarrenError => read instanceof WarrenError);
  if (tooLarge.length > 0) return refused([...tooLarge, ...scanned.errors], scanned.handlers);
  const yamlText = yamlRead as string | undefined;
  const rascalText = rascalRead as string | undefined;
  const errors: WarrenError[] = [...scanned.errors];
  const unread = scanned.unread.map((file) => ({ file, ...unreadHandler(file)! }));
  const warnings = unread.map((u) => `functions/${u.file} is not read: handler files end in .ts, .mts, .js or .mjs (rename it functions/${u.rename})`);
  if (yamlText === undefined) warnings.push(...(await misnamedConfig(dir)));
  if (yamlText === undefined && scanned.handlers.length === 0 && scanned.errors.length === 0) {
    // a lone `a.cjs` is said by the hint, and not again as a warning
    const [unreadFile, ...more] = warnings;
    return refused(
      [
        new WarrenError('WARREN_E_CONFIG_MISSING', `no queues.yaml and no handler files in ${dir}`, {
          file: yamlFile,
          hint: unreadFile ?? 'add a handler such as functions/hello.ts (queues.yaml is optional), or pass the right folder with --dir',
        }),
      ],
      [],
      more,
    );
  }

  const source = parseYamlSource(yamlFile, yamlText ?? '', opts.env);
  told = (all) => fromEnvironment(all, yamlFile, source.at);
  errors.push(...source.errors);
  const rascalJson = rascalText === undefined ? { value: {}, errors: [] } : parseRascalJson(rascalFile, rascalText, opts.env);
  errors.push(...rascalJson.errors);
  const connection = resolveConnection(rascalJson.value, opts.env);
  if (connection.problem) {
    const fromEnv = connection.source === 'AMQP_URL';
    errors.push(
      new WarrenError('WARREN_E_CONFIG_TYPE', connection.problem, {
        ...(fromEnv ? {} : { file: rascalFile, ...keyPathAt(rascalText ?? '', connection.sourceKeys ?? []) }),
        key: fromEnv ? 'AMQP_URL' : connection.source.replace(/^rascal\.json /, ''),
        expected: connection.problemKind === 'two-vhosts' ? 'one vhost for Warren' : 'a URL like amqp://user:password@host:5672/vhost',
        hint:
          connection.problemKind === 'two-vhosts'
            ? 'keep one connection (the nodes of a cluster go in one "connections": [...] list), or set AMQP_URL to the one Warren runs in'
            : fromEnv
              ? "set AMQP_URL to amqp:// or amqps:// URLs (a cluster's nodes separated by commas, one vhost), or unset it to use rascal.json"
              : 'write "url": "amqp://user:password@host:5672/vhost", or hostname, port, user, password and vhost; a cluster\'s nodes go in "connections": [...], one vhost',
      }),
    );
  }
  for (const shape of connection.shapeProblems ?? []) {
    const key = shape.keys.join('.');
    const got = JSON.stringify(shape.got) ?? String(shape.got);
    errors.push(
      new WarrenError('WARREN_E_CONFIG_TYPE', `got ${got.length > 40 ? got.slice(0, 40) + '…' : got}`, {
        file: rascalFile,
        ...keyPathAt(rascalText ?? '', shape.keys),
        key,
        expected: shape.expected,
        hint: 'a connection is a URL string, or { "url": … }, or { "hostname", "port", "user", "password", "vhost", "options": {…}, "socketOptions": {…} }, as rascal reads it; AMQP_URL, when set, replaces the URL',
      }),
    );
  }
  const unreadable = connection.problem !== undefined || (connection.shapeProblems?.length ?? 0) > 0;
  const partial = (functions: Readonly<Record<string, FunctionConfig>>): Pick<ProjectRead, 'partial'> =>
    unreadable ? {} : { partial: { url: connection.url, vhost: connection.vhost, functions } };
  if (source.errors.some((e) => e.code === 'WARREN_E_CONFIG_SYNTAX')) return { ...refused(errors, scanned.handlers, warnings), ...partial({}) };

  // With shape errors, the checks below still run on every entry whose shape is valid (set-aside.ts).
  const shape = checkShape(yamlFile, source.value, source.at);
  errors.push(...shape.errors);
  const { value: raw, unchecked } = setAsideInvalid(source.value, shape.invalid);
  if (raw === undefined) return { ...refused(errors, scanned.handlers, warnings), ...partial({}) };

  const rawFunctions = unchecked.allFunctions ? {} : ((raw.functions ?? {}) as Record<string, Obj | null>);
  const existingFiles = new Set<string>();
  const schemaFiles = new Map<string, SchemaFileResult>();
  await Promise.all(
    [...Object.values(rawFunctions), ...unchecked.functions.values()].map(async (entry) => {
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
  // functions/ without a readable functions: section: which file runs with which settings is unknown
  const { functions, missingHandlers, implicitQueues } = unchecked.allFunctions
    ? { functions: {}, missingHandlers: new Map<string, WarrenError>(), implicitQueues: {} }
    : buildFunctions(ctx, raw.functions, { dir, handlers: scanned.handlers, unread, existingFiles, schemaFiles, declaredQueues, unchecked });
  const queues = { ...declaredQueues, ...implicitQueues };
  const bindings = buildBindings(ctx, raw.bindings, exchanges, queues, unchecked);
  checkOutputs(ctx, functions, exchanges, unchecked);
  checkManagedArguments(ctx, declaredQueues, functions);
  errors.push(...ctx.errors);

  // Every handler file that exists, once: the functions built above, and the files of functions/ the
  // config could not say anything about (set aside, or everything after a YAML syntax error).
  const missing = new Set(missingHandlers.values());
  const handlers = Object.values(functions)
    .filter((fn) => !missingHandlers.has(fn.name))
    .map((fn) => ({ name: fn.name, file: fn.file }));
  const built = new Set(handlers.map((h) => h.file));
  handlers.push(...scanned.handlers.filter((h) => !built.has(h.file)));
  // Said beside the errors too: `timeout: 30` is a problem of its own, not one to find after the others.
  for (const bare of bareDurations(rawFunctions)) warnings.push(`${keyPlace(ctx, ['functions', bare.fn, ...bare.key])} ${bareDurationWarning(bare)}`);
  for (const fn of Object.values(functions))
    if (fn.timeout > DEFAULT_CONSUMER_TIMEOUT_MS) warnings.push(`${keyPlace(ctx, ['functions', fn.name, 'timeout'])} ${pastConsumerTimeout(fn.timeout)}`);
  for (const shared of sharedNameWarnings(raw.bindings, exchanges, queues))
    warnings.push(`${keyPlace(ctx, ['bindings', shared.index], 'value')} ${shared.text}`);
  warnings.push(...unreachableInternal(ctx, exchanges, bindings));
  warnings.push(...misspeltQueues(ctx, functions, queues, bindings));
  warnings.push(...outputsToNoQueue(ctx, functions, queues));
  if (rascalText !== undefined) warnings.push(...unknownRascalKeys(rascalFile, rascalText, rascalJson.value));
  if (errors.some((e) => !missing.has(e))) return { ...refused(errors, handlers, warnings), ...partial(functions) };

  const config = deepFreeze({ dir, url: connection.url, vhost: connection.vhost, rascal: connection.rascal, exchanges, queues, bindings, functions });
  // in their place of old, after the unread files and before the rest
  warnings.splice(unread.length, 0, ...outputLoops(config, (fn) => outputKeyAt(ctx, fn)));
  return { project: { config, missingHandlers }, errors: inOrder(told(errors)), handlers, warnings };
}

/** A handler `timeout` past RabbitMQ's default consumer_timeout: what the broker does then, and the two ways out. */
function pastConsumerTimeout(ms: number): string {
  return (
    `${formatDuration(ms)} is past RabbitMQ's default consumer_timeout (30m): a handler still running then has its message taken back by the broker, ` +
    `with every other message its replica holds, each counted a delivery; raise consumer_timeout on the broker ` +
    `(rabbitmq.conf: \`consumer_timeout = ${ms + 60_000}\`), or keep timeout at 30m or less`
  );
}

/**
 * Without a queues.yaml, a file beside it that was meant to be it (`queues.yml`, `Queues.yaml`):
 * its settings would be dropped without a word, every function running with the defaults.
 */
async function misnamedConfig(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((name) => name !== 'queues.yaml' && /^queues?\.(ya?ml)$/i.test(name))
    .map((name) => `${name} is not read: Warren reads queues.yaml (rename it queues.yaml); until then every function runs with the defaults`);
}

/** `queues.yaml:12:5 functions.orders.output:`, where a warning about a function's output points. */
function outputKeyAt(ctx: BuildContext, fn: string): string {
  return keyPlace(ctx, ['functions', fn, 'output']);
}

/** An internal exchange no exchange is bound to: no message can reach it. */
function unreachableInternal(ctx: BuildContext, exchanges: WarrenConfig['exchanges'], bindings: WarrenConfig['bindings']): string[] {
  return Object.values(exchanges)
    .filter((x) => x.internal && !bindings.some((b) => b.toExchange && b.queue === x.name))
    .map(
      (x) =>
        `${keyPlace(ctx, ['exchanges', x.name])} exchange ${x.name} is internal and no exchange is bound to it, so no message can reach it` +
        `\n  hint: bind one to it, e.g. { exchange: …, toExchange: ${x.name} }, or drop \`internal: true\``,
    );
}

/**
 * An output through the default exchange goes to the queue its routing key names. One this project
 * does not declare may exist on the broker (another app's), so a warning, not an error: without it,
 * every result is acked and dropped as unroutable.
 */
function outputsToNoQueue(ctx: BuildContext, functions: WarrenConfig['functions'], queues: WarrenConfig['queues']): string[] {
  return Object.values(functions)
    .filter((fn) => fn.output?.exchange === '' && !queues[fn.output.routingKey])
    .map((fn) => {
      const key = fn.output!.routingKey;
      const meant = key === '' ? undefined : closest(key, Object.keys(queues));
      return key === ''
        ? `${outputKeyAt(ctx, fn.name)} output to the default exchange with no routingKey: the default exchange routes by queue name, so every result would be dropped; set routingKey to the queue that should get the results`
        : `${outputKeyAt(ctx, fn.name)} output to the default exchange with routingKey ${key}, a queue this project does not declare: unless it exists on the broker, every result is dropped as unroutable; ${meant ? `did you mean ${meant}?` : `declare it under queues:`}`;
    });
}

/**
 * A function's `queue:` that is declared nowhere, bound by nothing and one typo from a declared queue:
 * most likely that queue, misspelt. Warren would declare a new empty queue and leave the other filling.
 */
function misspeltQueues(ctx: BuildContext, functions: WarrenConfig['functions'], queues: WarrenConfig['queues'], bindings: WarrenConfig['bindings']): string[] {
  const declared = Object.values(queues)
    .filter((q) => !q.implicit)
    .map((q) => q.name);
  return Object.values(functions)
    .filter((fn) => fn.queue !== fn.name && queues[fn.queue]?.implicit && !bindings.some((b) => !b.toExchange && b.queue === fn.queue))
    .flatMap((fn) => {
      const meant = closest(fn.queue, declared);
      if (meant === undefined) return [];
      return [
        `${keyPlace(ctx, ['functions', fn.name, 'queue'])} queue ${fn.queue} is not under queues: and no binding leads to it, so Warren declares it empty and it gets only messages sent to it by name; did you mean ${meant}?`,
      ];
    });
}

/**
 * `queues.yaml:12:5 functions.orders.timeout:`, where a warning about a key points; `value`: at the
 * value instead (a list item, `queues.yaml:9:5 bindings[0]:`).
 */
function keyPlace(ctx: BuildContext, segments: Array<string | number>, on: 'key' | 'value' = 'key'): string {
  const pointer = ctx.pointer(...segments);
  const at = on === 'key' ? ctx.keyAt(pointer) : ctx.valueAt(pointer);
  return `${basename(ctx.file)}${at ? `:${at.line}:${at.column}` : ''} ${ctx.pathOf(pointer) ?? segments.join('.')}:`;
}

function checkOutputs(ctx: BuildContext, functions: WarrenConfig['functions'], exchanges: WarrenConfig['exchanges'], unchecked: Unchecked): void {
  for (const fn of Object.values(functions)) {
    const exchange = fn.output?.exchange;
    if (exchange !== undefined && exchanges[exchange]?.internal) {
      ctx.report('WARREN_E_CONFIG_CONFLICT', `output to exchange "${exchange}", which is internal`, ctx.pointer('functions', fn.name, 'output', 'exchange'), {
        hint: `RabbitMQ refuses a publish to an internal exchange: send the output to an exchange bound to it (toExchange: ${exchange}), or drop \`internal: true\``,
      });
      continue;
    }
    if (exchange === undefined || exchange === '' || exchanges[exchange] || BUILTIN_EXCHANGES[exchange] || unchecked.exchange(exchange)) continue;
    const amq = unknownAmqExchangeHint(exchange, Object.keys(exchanges));
    if (amq) {
      ctx.report(
        'WARREN_E_CONFIG_REFERENCE',
        `output to exchange "${exchange}", which RabbitMQ does not predeclare`,
        ctx.pointer('functions', fn.name, 'output', 'exchange'),
        { hint: amq },
      );
      continue;
    }
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
