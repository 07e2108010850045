/**
 * Checks the shape of queues.yaml against runtime/queues.schema.json (the same file editors use)
 * and turns each ajv error into a WarrenError that points at the key or value.
 */
import type { ErrorObject } from 'ajv';
import { WarrenError } from '../errors';
import { queuesValidator } from './queues-validator';
import { decodePointer, pointerSegment, type Located } from './source';
import { closest } from './suggest';

type AjvError = ErrorObject & { parentSchema?: Record<string, unknown> };

/** Among the failed branches of an anyOf, keep the errors of the branch written for this kind of value. */
function pruneBranches(errors: AjvError[]): AjvError[] {
  const dropped = new Set<AjvError>();
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const union of unions) {
    if (dropped.has(union)) continue;
    const inside = errors.filter(
      (e) =>
        e !== union &&
        e.schemaPath.startsWith(union.schemaPath + '/') &&
        // schema paths repeat for every list item through a $ref: the instance must be inside too
        (e.instancePath === union.instancePath || e.instancePath.startsWith(union.instancePath + '/')),
    );
    const branches = new Map<string, AjvError[]>();
    for (const e of inside) {
      const index = e.schemaPath.slice(union.schemaPath.length + 1).split('/')[0] ?? '';
      branches.set(index, [...(branches.get(index) ?? []), e]);
    }
    const matching = [...branches.values()].find((list) => !list.some((e) => e.keyword === 'type' && e.instancePath === union.instancePath));
    for (const e of inside) if (!matching?.includes(e)) dropped.add(e);
    if (matching) dropped.add(union);
  }
  return errors.filter((e) => !dropped.has(e));
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  // JSON.stringify would print `null` for the 1e400 someone wrote
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number too large to hold';
  if (typeof value === 'object') return Array.isArray(value) ? (value.length === 0 ? 'an empty list' : 'a list') : 'a mapping';
  return JSON.stringify(value);
}

export interface ShapeResult {
  errors: WarrenError[];
  /**
   * JSON pointers of what breaks the schema: each wrong value, each unknown key, each bad key name.
   * The semantic checks set aside the entries these fall in (setAsideInvalid).
   */
  invalid: string[];
}

export function checkShape(file: string, value: unknown, at: ReadonlyMap<string, Located>): ShapeResult {
  const validate = queuesValidator();
  if (validate(value)) return { errors: [], invalid: [] };
  const all = (validate.errors ?? []) as AjvError[];
  const invalid = all.map((e) => {
    const { additionalProperty, propertyName } = e.params as { additionalProperty?: string; propertyName?: string };
    const child = additionalProperty ?? propertyName ?? e.propertyName;
    return child === undefined ? e.instancePath : e.instancePath + pointerSegment(child);
  });
  const errors = pruneBranches(all);
  const out: WarrenError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // a bad key name: its own error (below, with e.propertyName) says which
    if (e.keyword === 'propertyNames') continue;
    const where = at.get(e.instancePath);
    const path = where?.path ?? decodePointer(e.instancePath).join('.');
    const expectedWords = typeof e.parentSchema?.errorMessage === 'string' ? e.parentSchema.errorMessage : e.message;
    let error: WarrenError;
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const child = at.get(e.instancePath + '/' + extra.replace(/~/g, '~0').replace(/\//g, '~1'));
      const known = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      const guess = closest(extra, known);
      const keyPath = path === '' ? extra : `${path}.${extra}`;
      error = new WarrenError('WARREN_E_CONFIG_UNKNOWN_KEY', `unknown key "${extra}"`, {
        file,
        ...(child?.key ?? where?.value),
        key: keyPath,
        hint:
          (guess ? `did you mean \`${guess}\`? ` : '') +
          `known keys here: ${known.join(', ')}` +
          (path === '' ? '; a key of your own (for YAML anchors) starts with x-, e.g. `x-defaults: &defaults`' : ''),
      });
    } else if (e.propertyName !== undefined) {
      const keyAt = at.get(e.instancePath + pointerSegment(e.propertyName));
      error = new WarrenError('WARREN_E_CONFIG_TYPE', `an entry with an empty name`, {
        file,
        ...(keyAt?.key ?? where?.value),
        key: path || undefined,
        expected: 'a non-empty name',
        hint: 'write the name before the colon, e.g. `my_app: { type: classic }`',
      });
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      error = new WarrenError('WARREN_E_CONFIG_TYPE', `"${missing}" is missing`, {
        file,
        ...where?.value,
        key: path || undefined,
        expected: expectedWords,
        hint: `add \`${missing}: …\``,
      });
    } else {
      error = new WarrenError('WARREN_E_CONFIG_TYPE', `got ${shown(e.data)}`, {
        file,
        ...where?.value,
        key: path || undefined,
        expected: expectedWords,
        hint: hintFor(path, e),
      });
    }
    // one message per spot: `type` and `minimum` on one value say the same thing
    const id = `${error.code}|${error.details.key}|${error.details.line}|${error.details.column}|${error.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(error);
  }
  return { errors: out, invalid };
}

/** What to write instead: every shape error gets one (SPEC §2: file, line, key, expected, hint). */
function hintFor(path: string, e: AjvError): string {
  const last = path.split('.').pop() ?? '';
  const schema = e.parentSchema ?? {};
  const words = String(schema.errorMessage ?? '');
  if (path === '') return 'queues.yaml is a mapping of up to four keys, `exchanges:`, `queues:`, `bindings:` and `functions:` (see README.md, "queues.yaml")';
  if (Array.isArray(schema.enum)) return `write one of: ${schema.enum.join(', ')}`;
  if (/duration/.test(words)) return durationHint(last, e.data);
  if (last === 'memory') return 'e.g. `memory: 256MiB` or `memory: 1GiB`';
  if (schema.type === 'integer') {
    const example = `\`${last}: ${Number(schema.minimum ?? 0) + 1}\``;
    if (typeof e.data === 'number' && Number.isInteger(e.data)) return `e.g. ${example}`;
    // A quoted number: often a `${VAR}` quoted to keep a flow mapping `{ … }` parsing.
    if (typeof e.data === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(e.data))
      return `write a whole number without quotes, e.g. ${example}; a \${VAR} that gives it stays a number unquoted in block style (\`${last}: \${VAR}\` on its own line), not inside \`{ … }\``;
    return `write a whole number without quotes, e.g. ${example}`;
  }
  if (schema.type === 'boolean') return `write \`${last}: true\` or \`${last}: false\``;
  // a binding is a mapping or the shorthand, never a quoted number; none of its ends may be left empty
  if (/^bindings\[\d+\]$/.test(path)) return BINDING_HINT;
  if (e.keyword === 'minLength' && /^bindings\[\d+\]\.exchange$/.test(path)) return DEFAULT_EXCHANGE_HINT;
  if (e.keyword === 'minLength' && /^bindings\[\d+\]\.(queue|toExchange)$/.test(path))
    return `write the name of the ${last === 'queue' ? 'queue' : 'exchange'} to bind`;
  // A bare number is a rate without its period, not a string to quote.
  if (last === 'rateLimit' && typeof e.data === 'number') return `add the period: \`rateLimit: ${e.data}/s\` or \`rateLimit: ${e.data}/min\``;
  const takesString = schema.type === 'string' || (Array.isArray(schema.anyOf) && schema.anyOf.some((b: { type?: unknown }) => b.type === 'string'));
  if ((e.keyword === 'type' || e.keyword === 'anyOf') && takesString && (typeof e.data === 'number' || typeof e.data === 'boolean')) {
    return `quote it to make it a string: \`${last}: "${String(e.data)}"\``;
  }
  if (e.keyword === 'minLength' && last === 'schedule') return 'write a cron expression, e.g. `schedule: "0 2 * * *"`, or leave `schedule` out';
  if (e.keyword === 'minLength' && last === 'timezone') return 'write an IANA time zone, e.g. `timezone: Europe/Paris`, or leave `timezone` out (UTC)';
  if (e.keyword === 'minLength') return `write a name, or leave \`${last}\` out`;
  if (e.keyword === 'minItems') return `list at least one, or leave \`${last}\` out`;
  if (last === 'rateLimit') return 'e.g. `rateLimit: 100/s` or `rateLimit: 30/min`';
  if (last === 'schema') return 'name a .json, .yaml or .yml file relative to the project folder, or write the JSON Schema inline as a mapping';
  if (last === 'maxBodySize') return 'e.g. `maxBodySize: 1MiB` or `maxBodySize: 512KiB`';
  const example = /e\.g\. (.+)$/.exec(words)?.[1];
  if (example) return `e.g. ${example}`;
  return 'see README.md, "queues.yaml", for every key with an example';
}

const BINDING_HINT =
  'write rascal\'s shorthand with an arrow, "exchange[key1,key2] -> queue", or a mapping { exchange: …, queue: …, routingKey: … } ({ exchange: …, toExchange: …, routingKey: … } binds an exchange to an exchange)';

const DEFAULT_EXCHANGE_HINT =
  'the default exchange "" cannot be bound: every queue already receives what is published to "" with its own name as routing key; name a declared exchange, or one of amq.direct, amq.fanout, amq.topic, amq.headers and amq.match';

const UNIT_WORDS: Record<string, string> = {
  ms: 'ms',
  msec: 'ms',
  msecs: 'ms',
  millisecond: 'ms',
  milliseconds: 'ms',
  s: 's',
  sec: 's',
  secs: 's',
  second: 's',
  seconds: 's',
  m: 'm',
  min: 'm',
  mins: 'm',
  minute: 'm',
  minutes: 'm',
  h: 'h',
  hr: 'h',
  hrs: 'h',
  hour: 'h',
  hours: 'h',
  d: 'd',
  day: 'd',
  days: 'd',
};

/** `5 minutes` → write `5m`; otherwise an example. */
function durationHint(key: string, value: unknown): string {
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value) : null;
  const unit = match ? UNIT_WORDS[match[2]!.toLowerCase()] : undefined;
  if (match && unit) return `write \`${key}: ${match[1]}${unit}\` (units: ms, s, m, h, d)`;
  return `e.g. \`${key}: ${key === 'window' ? '200ms' : '30s'}\` (units: ms, s, m, h, d; a number is milliseconds)`;
}
