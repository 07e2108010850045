/**
 * Pure: the `functions:` section (already shape-checked) plus the handler files found in functions/
 * → one FunctionConfig per function, with defaults filled in and the queues functions need.
 */
import { relative, resolve } from 'node:path';
import { WarrenError } from '../errors';
import type { HandlerFile } from '../functions/discover';
import type { BuildContext } from './context';
import { closest } from './suggest';
import { reservedQueueName } from './topology-sections';
import { type SchemaFileResult } from './message-schema';
import { schemaProblems } from './schema-problems';
import { keyPathAt } from './rascal-json';
import { batchAndRate } from './batch-rate';
import { NOTHING_UNCHECKED, type Unchecked } from './set-aside';
import { DEFAULTS, type BackoffKind, type FunctionConfig, type QueueConfig, type SourceLocation } from './types';
import { formatDuration, parseDuration, parseMemoryMb, parseSize } from './units';
import { effectivePrefetch } from './prefetch';
import { MAX_BODY_BYTES, MAX_DURATION_MS, MAX_DURATION_TEXT, MAX_NAME_BYTES, MAX_RATE_HOLD_MS, nameBytes, shortName } from './limits';
import { deadQueueName, retryLadder, retryQueueName } from '../topology/names';
import { parseSchedule } from '../schedule/ticks';

type Obj = Record<string, unknown>;

export interface FunctionInputs {
  dir: string;
  handlers: readonly HandlerFile[];
  /** files of functions/ that look like handlers and are not read (`a.cjs`), with the name to give them */
  unread?: ReadonlyArray<{ file: string; name: string; rename: string }>;
  /** absolute paths named by `handler:` that exist */
  existingFiles: ReadonlySet<string>;
  /** schema files named by `schema:`, by absolute path, already read */
  schemaFiles: ReadonlyMap<string, SchemaFileResult>;
  declaredQueues: Readonly<Record<string, QueueConfig>>;
  /** what a shape error set aside (setAsideInvalid): not checked here, and no follow-on reported */
  unchecked?: Unchecked;
}

export interface BuiltFunctions {
  functions: Record<string, FunctionConfig>;
  /** functions whose handler file does not exist, each with the error reported for it (its FunctionConfig names the expected file) */
  missingHandlers: Map<string, WarrenError>;
  /** queues functions consume that no `queues:` entry declares */
  implicitQueues: Record<string, QueueConfig>;
}

export function buildFunctions(ctx: BuildContext, section: unknown, input: FunctionInputs): BuiltFunctions {
  const entries: Array<[string, Obj]> =
    section !== null && typeof section === 'object' ? Object.entries(section as Obj).map(([k, v]) => [k, (v ?? {}) as Obj]) : [];
  const unchecked = input.unchecked ?? NOTHING_UNCHECKED;
  const byName = new Map(input.handlers.map((h) => [h.name, h.file]));
  const claimed = new Set([...entries, ...unchecked.functions].map(([, e]) => (typeof e.handler === 'string' ? resolve(input.dir, e.handler) : '')));
  const listing = input.handlers.map((h) => relative(input.dir, h.file)).join(', ') || 'no handler files';

  const functions: Record<string, FunctionConfig> = {};
  const missingHandlers = new Map<string, WarrenError>();
  for (const [name, entry] of entries) {
    const pointer = ctx.pointer('functions', name);
    const file = handlerFile(ctx, name, entry, pointer, input, byName, listing);
    // handlerFile reported the missing file last
    if (file === undefined) missingHandlers.set(name, ctx.errors.at(-1)!);
    const expected = typeof entry.handler === 'string' ? resolve(input.dir, entry.handler) : resolve(input.dir, 'functions', `${name}.ts`);
    functions[name] = normalise(ctx, name, entry, pointer, input, file ?? expected, ctx.keyAt(pointer));
  }
  // an entry set aside for a shape error: its handler file is still looked for when nothing hides which it is
  for (const name of unchecked.handlerKnown)
    handlerFile(ctx, name, unchecked.functions.get(name) ?? {}, ctx.pointer('functions', name), input, byName, listing);
  // and its settings that have the right shape are checked now, not after the fix (the result is not used)
  for (const [name, entry] of unchecked.functions) {
    const sound = soundSettings(entry, (...keys) => unchecked.soundKey(name, ...keys));
    normalise(ctx, name, sound, ctx.pointer('functions', name), input, '', undefined);
  }
  // a handler file with no entry runs with the defaults, unless an entry already runs it through `handler:`
  for (const handler of input.handlers) {
    if (functions[handler.name] || claimed.has(handler.file) || unchecked.functions.has(handler.name)) continue;
    functions[handler.name] = normalise(ctx, handler.name, {}, '', input, handler.file, { file: handler.file, line: 1, column: 1 });
  }

  const implicitQueues: Record<string, QueueConfig> = {};
  const consumers = new Map<string, string>();
  // functions that name their queue come last, so a clash is reported at the `queue:` someone wrote
  const written = (fn: FunctionConfig): number => (ctx.valueAt(ctx.pointer('functions', fn.name, 'queue')) ? 1 : 0);
  for (const fn of Object.values(functions).sort((a, b) => written(a) - written(b))) {
    const pointer = ctx.pointer('functions', fn.name);
    const queuePointer = ctx.pointer('functions', fn.name, 'queue');
    const where = ctx.valueAt(queuePointer) ?? fn.at;
    const declared = input.declaredQueues[fn.queue];
    checkDerivedNames(ctx, fn, where);
    // a queue entry or another function set aside for a shape error may own this queue: checked once fixed
    if (!declared && unchecked.queue(fn.queue)) continue;
    const other = consumers.get(fn.queue);
    if (other !== undefined) {
      ctx.errors.push(
        conflict(
          where,
          `functions ${other} and ${fn.name} both consume queue "${fn.queue}"`,
          `functions.${fn.name}.queue`,
          'one queue feeds one function; give one of them its own queue (and bind both to the exchange for a fan-out)',
        ),
      );
    }
    consumers.set(fn.queue, fn.name);
    if (!declared && !implicitQueues[fn.queue]) {
      const reserved = reservedQueueName(fn.queue);
      // not written anywhere: the queue is named after the handler file
      const fix = ctx.valueAt(queuePointer) ? 'pick another name' : `rename ${relative(input.dir, fn.file)}, or give it another \`queue:\` in queues.yaml`;
      if (reserved) ctx.errors.push(conflict(where, `queue name "${fn.queue}" is reserved`, `functions.${fn.name}.queue`, `${reserved}; ${fix}`));
      implicitQueues[fn.queue] = { name: fn.queue, type: DEFAULTS.queueType, durable: true, arguments: {}, implicit: true, at: where };
    }
    if (fn.ordered && declared?.type === 'classic') {
      ctx.report('WARREN_E_CONFIG_CONFLICT', `ordered needs a quorum queue, and "${fn.queue}" is classic`, pointer + ctx.pointer('ordered'), {
        hint: `declare ${fn.queue} with \`type: quorum\` (delete and recreate it on the broker), or drop \`ordered: true\``,
      });
    }
  }
  return { functions, missingHandlers, implicitQueues };
}

/**
 * The settings of a function set aside for a shape error whose own values have the right shape (of
 * `retry:` and `batch:`, each sound key inside), less those judged against one that has not: a
 * maxDelay against a wrong delay, a schedule and its time zone when either is wrong. Reporting those
 * would only repeat the shape error.
 */
function soundSettings(entry: Obj, sound: (...keys: string[]) => boolean): Obj {
  const out: Obj = {};
  for (const [key, value] of Object.entries(entry)) {
    if (sound(key)) out[key] = value;
    else if ((key === 'retry' || key === 'batch') && value !== null && typeof value === 'object' && !Array.isArray(value))
      out[key] = Object.fromEntries(Object.entries(value as Obj).filter(([inner]) => sound(key, inner)));
  }
  const retry = out.retry as Obj | undefined;
  if (retry && (entry.retry as Obj).delay !== undefined && retry.delay === undefined) delete retry.maxDelay;
  // A sound schedule beside a broken timezone is still checked (in UTC); a sound timezone beside a
  // broken schedule is not, or it would read as a timezone without a schedule.
  if (entry.schedule !== undefined && out.schedule === undefined) delete out.timezone;
  return out;
}

function conflict(where: SourceLocation | undefined, message: string, key: string, hint: string): WarrenError {
  return new WarrenError('WARREN_E_CONFIG_CONFLICT', message, { ...where, key, hint });
}

/** What `handler:` may name: the files esbuild builds as a module (functions/ itself reads fewer, see discover.ts). */
const HANDLER_PATH = /\.[cm]?[jt]s$/;

function handlerFile(
  ctx: BuildContext,
  name: string,
  entry: Obj,
  pointer: string,
  input: FunctionInputs,
  byName: ReadonlyMap<string, string>,
  listing: string,
): string | undefined {
  if (typeof entry.handler === 'string') {
    const file = resolve(input.dir, entry.handler);
    if (!HANDLER_PATH.test(file)) {
      ctx.report('WARREN_E_CONFIG_TYPE', `handler ${entry.handler} is not a JavaScript or TypeScript file`, pointer + ctx.pointer('handler'), {
        expected: 'a .ts, .mts, .cts, .js, .mjs or .cjs file',
        hint: `name the handler's source file, relative to the project folder; functions/ holds: ${listing}`,
      });
      return undefined;
    }
    if (input.existingFiles.has(file)) return file;
    ctx.report('WARREN_E_HANDLER_MISSING', `handler file ${entry.handler} does not exist`, pointer + ctx.pointer('handler'), {
      hint: `the path is relative to the project folder; functions/ holds: ${listing}`,
    });
    return undefined;
  }
  const found = byName.get(name);
  if (found) return found;
  const guess = closest(name, [...byName.keys()]);
  const unread = input.unread?.find((u) => u.name === name);
  ctx.report('WARREN_E_HANDLER_MISSING', `no handler file for function "${name}"`, pointer, {
    onKey: true,
    hint: unread
      ? `functions/${unread.file} is not read: handler files end in .ts, .mts, .js or .mjs; rename it functions/${unread.rename}`
      : (guess ? `did you mean \`${guess}\`? ` : '') + `create functions/${name}.ts or set \`handler:\`; functions/ holds: ${listing}`,
  });
  return undefined;
}

function normalise(
  ctx: BuildContext,
  name: string,
  e: Obj,
  pointer: string,
  input: FunctionInputs,
  file: string,
  at: SourceLocation | undefined,
): FunctionConfig {
  const r = (e.retry ?? {}) as Obj;
  const at_ = (key: string) => pointer + ctx.pointer(key);
  const positive = (value: number | undefined, key: string, pointerOf: string): void => {
    if (value === 0) ctx.report('WARREN_E_CONFIG_TYPE', 'got 0', pointerOf, { expected: 'a duration > 0', hint: `e.g. \`${key}: 1s\`` });
  };

  const timeout = e.timeout === undefined ? DEFAULTS.timeoutMs : (parseDuration(e.timeout) ?? DEFAULTS.timeoutMs);
  positive(timeout, 'timeout', at_('timeout'));
  const delay = r.delay === undefined ? DEFAULTS.retry.delay : (parseDuration(r.delay) ?? DEFAULTS.retry.delay);
  positive(delay, 'delay', at_('retry') + ctx.pointer('delay'));
  let maxDelay = Math.max(DEFAULTS.retry.maxDelay, delay);
  if (r.maxDelay !== undefined) {
    maxDelay = parseDuration(r.maxDelay) ?? maxDelay;
    if (maxDelay < delay) {
      ctx.report('WARREN_E_CONFIG_CONFLICT', 'retry.maxDelay is shorter than retry.delay', at_('retry') + ctx.pointer('maxDelay'), {
        hint: 'maxDelay caps every wait, so it must be at least delay',
      });
    }
  }

  const fn: FunctionConfig = {
    name,
    file,
    queue: (e.queue as string | undefined) ?? name,
    replicas: (e.replicas as number | undefined) ?? DEFAULTS.replicas,
    prefetch: (e.prefetch as number | undefined) ?? DEFAULTS.prefetch,
    timeout,
    retry: {
      attempts: (r.attempts as number | undefined) ?? DEFAULTS.retry.attempts,
      backoff: (r.backoff as BackoffKind | undefined) ?? DEFAULTS.retry.backoff,
      delay,
      maxDelay,
    },
    redeliveryLimit: (e.redeliveryLimit as number | undefined) ?? DEFAULTS.redeliveryLimit,
    deadLetter: (e.deadLetter as boolean | undefined) ?? true,
    ordered: (e.ordered as boolean | undefined) ?? false,
    memoryMb: e.memory === undefined ? DEFAULTS.memoryMb : (parseMemoryMb(e.memory) ?? DEFAULTS.memoryMb),
    maxBodyBytes: e.maxBodySize === undefined ? DEFAULTS.maxBodyBytes : (parseSize(e.maxBodySize) ?? DEFAULTS.maxBodyBytes),
    at,
  };
  const atMost = (value: number, max: number, shown: string, key: string, pointerOf: string) => {
    if (value > max)
      ctx.report('WARREN_E_CONFIG_TYPE', `got ${shown}`, pointerOf, {
        expected: `at most ${key === 'maxBodySize' ? '128MiB' : MAX_DURATION_TEXT}`,
        hint: `e.g. \`${key}: ${key === 'maxBodySize' ? '16MiB' : '30s'}\``,
      });
  };
  atMost(fn.timeout, MAX_DURATION_MS, String(e.timeout), 'timeout', at_('timeout'));
  atMost(delay, MAX_DURATION_MS, String(r.delay), 'delay', at_('retry') + ctx.pointer('delay'));
  atMost(r.maxDelay === undefined ? 0 : maxDelay, MAX_DURATION_MS, String(r.maxDelay), 'maxDelay', at_('retry') + ctx.pointer('maxDelay'));
  atMost(fn.maxBodyBytes, MAX_BODY_BYTES, String(e.maxBodySize), 'maxBodySize', at_('maxBodySize'));
  if (fn.memoryMb < 16)
    // As written: 1KiB is rounded up to a whole MiB to run with, and "got 1MiB" was not what was written.
    ctx.report('WARREN_E_CONFIG_TYPE', `got ${typeof e.memory === 'string' ? e.memory.trim() : `${fn.memoryMb}MiB`}`, at_('memory'), {
      expected: 'at least 16MiB',
      hint: 'e.g. `memory: 256MiB`',
    });
  if (e.output !== undefined) {
    const o = e.output as Obj;
    fn.output = { exchange: String(o.exchange), routingKey: (o.routingKey as string | undefined) ?? '' };
  }
  Object.assign(fn, messageSchema(ctx, e.schema, at_('schema'), input), scheduleOf(ctx, e, pointer), batchAndRate(ctx, e, pointer));
  if (fn.rateLimit) {
    // The last of the messages the replicas hold waits this long for its turn (./prefetch.ts).
    const heldPerReplicaMs = (effectivePrefetch(fn).prefetch * fn.rateLimit.periodMs) / fn.rateLimit.count;
    const heldMs = fn.replicas * heldPerReplicaMs;
    if (heldMs > MAX_RATE_HOLD_MS) {
      const fewest = Math.max(1, Math.floor(MAX_RATE_HOLD_MS / heldPerReplicaMs));
      ctx.report(
        'WARREN_E_CONFIG_CONFLICT',
        `rateLimit ${String(e.rateLimit)} with ${fn.replicas} replicas keeps a message waiting unacked up to ${formatDuration(heldMs)} for its turn`,
        at_('rateLimit'),
        {
          hint: `RabbitMQ takes back what a consumer holds past its consumer_timeout (30 min by default); use at most ${fewest} replica${fewest === 1 ? '' : 's'} (more do not run faster at this rate), or a higher rate`,
        },
      );
    }
  }
  return fn;
}

/** `schedule` and `timezone`, checked by croner and Intl: a bad one names its line and how to fix it. */
function scheduleOf(ctx: BuildContext, e: Obj, pointer: string): Partial<FunctionConfig> {
  if (typeof e.timezone === 'string' && typeof e.schedule !== 'string') {
    ctx.report('WARREN_E_CONFIG_CONFLICT', 'timezone without schedule', pointer + ctx.pointer('timezone'), {
      onKey: true,
      hint: 'timezone applies to `schedule:`; add one or drop timezone',
    });
  }
  if (typeof e.schedule !== 'string') return {};
  const timezone = typeof e.timezone === 'string' ? e.timezone : 'UTC';
  const parsed = parseSchedule(e.schedule, timezone);
  if (!('error' in parsed)) return { schedule: e.schedule, timezone };
  const report = (problem: { error: string; on: 'schedule' | 'timezone' }): void => {
    const hint =
      problem.on === 'timezone'
        ? 'use an IANA name such as UTC, Europe/Paris or America/New_York (`timedatectl list-timezones` lists them)'
        : 'five fields `minute hour day-of-month month day-of-week` (`0 2 * * *`: 02:00 every day), six with seconds first (`*/10 * * * * *`), or a nickname such as `@daily`';
    ctx.report('WARREN_E_CONFIG_TYPE', problem.error, pointer + ctx.pointer(problem.on), { hint });
  };
  report(parsed);
  // a bad time zone hides nothing: the expression itself is still checked (in UTC)
  const inUtc = parsed.on === 'timezone' ? parseSchedule(e.schedule) : undefined;
  if (inUtc && 'error' in inUtc) report(inUtc);
  return {};
}

function messageSchema(ctx: BuildContext, value: unknown, pointer: string, input: FunctionInputs): Partial<FunctionConfig> {
  let schema: Obj;
  let schemaFile: string | undefined;
  if (typeof value === 'string') {
    schemaFile = resolve(input.dir, value);
    const read = input.schemaFiles.get(schemaFile);
    if (!read) return {};
    if ('error' in read) {
      // a missing file points at `schema:` in queues.yaml; a broken one at the spot in the file itself
      const where = read.error.details.line === undefined ? { ...ctx.valueAt(pointer), key: ctx.pathOf(pointer) } : { key: ctx.pathOf(pointer) };
      ctx.errors.push(new WarrenError(read.error.code, read.error.message, { ...read.error.details, ...where }));
      return {};
    }
    schema = read.schema;
  } else if (value !== null && typeof value === 'object') {
    schema = value as Obj;
  } else {
    return {};
  }
  const problems = schemaProblems(schema);
  if (problems.length === 0) return { schema, ...(schemaFile ? { schemaFile } : {}) };
  // each at the wrong keyword or value itself: in queues.yaml for an inline schema, else in its file
  const text = schemaFile ? (input.schemaFiles.get(schemaFile) as { text: string }).text : '';
  for (const { path, onKey, message, hint } of problems) {
    const inner = pointer + ctx.pointer(...path);
    if (!schemaFile) ctx.report('WARREN_E_SCHEMA_INVALID', message, ctx.valueAt(inner) ? inner : pointer, { hint, onKey });
    else {
      const where = { file: schemaFile, ...keyPathAt(text, path), key: path.join('.') || undefined };
      ctx.errors.push(new WarrenError('WARREN_E_SCHEMA_INVALID', `${message}, in the schema of ${ctx.pathOf(pointer) ?? 'a function'}`, { ...where, hint }));
    }
  }
  return {};
}

/**
 * The queue and the names Warren derives from it (`<queue>.dead`, `<queue>.retry.<delay>`) must each
 * fit RabbitMQ's 255 bytes, or the declaration fails at start as a confusing broker error.
 */
function checkDerivedNames(ctx: BuildContext, fn: FunctionConfig, where: SourceLocation | undefined): void {
  const derived = [fn.queue, ...(fn.deadLetter ? [deadQueueName(fn.queue)] : []), ...retryLadder(fn.retry).map((d) => retryQueueName(fn.queue, d))];
  const longest = derived.reduce((a, b) => (nameBytes(b) > nameBytes(a) ? b : a));
  if (nameBytes(longest) <= MAX_NAME_BYTES) return;
  const spare = MAX_NAME_BYTES - (nameBytes(longest) - nameBytes(fn.queue));
  ctx.errors.push(
    new WarrenError(
      'WARREN_E_CONFIG_TYPE',
      `queue name ${shortName(fn.queue)} of function ${shortName(fn.name)} is too long: ${longest === fn.queue ? 'RabbitMQ takes at most 255 bytes' : `Warren also declares ${shortName(longest)}, over RabbitMQ's 255 bytes`}`,
      {
        ...where,
        key: `functions.${fn.name.length > 40 ? fn.name.slice(0, 40) + '…' : fn.name}.queue`,
        expected: `a queue name of at most ${Math.max(spare, 0)} bytes`,
        hint: 'set a shorter `queue:` for this function (or rename its handler file)',
      },
    ),
  );
}
