/**
 * What is wrong with a message schema, each problem with the key path where it sits, so the error
 * points at `type: strin` itself (in queues.yaml or the schema file) rather than at `schema:`. Ajv
 * stops at the first unknown keyword of strict mode; its meta-schema check lists every wrong value.
 */
import Ajv, { type ErrorObject } from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { decodePointer } from './source';
import { closest } from './suggest';
import { ajvFor } from './validator';

export interface SchemaProblem {
  /** key path inside the schema: ['properties', 'id', 'type'] */
  path: string[];
  /** the path names a key (an unknown keyword), not a value */
  onKey: boolean;
  message: string;
  hint: string;
}

const MODULES = { Ajv, Ajv2020: Ajv2020 as unknown as typeof Ajv, addFormats };
const HINT = 'fix the JSON Schema; see https://json-schema.org/understanding-json-schema';
const KEYWORDS = [
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'const',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'contains',
  'minProperties',
  'maxProperties',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'dependentRequired',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  '$ref',
  '$defs',
  'definitions',
  '$schema',
  '$id',
  'title',
  'description',
  'default',
  'examples',
];

export function schemaProblems(schema: Record<string, unknown>): SchemaProblem[] {
  const ajv = ajvFor(MODULES, schema, { verbose: true });
  if (!ajv.validateSchema(schema)) return metaSchemaProblems(ajv.errors ?? []);
  try {
    ajv.compile(schema);
    return [];
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /unknown keyword: "([^"]+)"/.exec(message)?.[1];
    if (unknown === undefined) return [{ path: [], onKey: false, message: `the message schema does not compile: ${message}`, hint: HINT }];
    const guess = closest(unknown, KEYWORDS);
    return [
      {
        path: pathOfKey(schema, unknown) ?? [],
        onKey: true,
        message: `unknown JSON Schema keyword "${unknown}"`,
        hint: guess ? `did you mean \`${guess}\`?` : 'JSON Schema has no such keyword; remove it, or describe it under `description`',
      },
    ];
  }
}

/** One problem per spot: of `type: strin`'s enum, type and anyOf errors, the enum says what to write. */
function metaSchemaProblems(errors: readonly ErrorObject[]): SchemaProblem[] {
  const bySpot = new Map<string, ErrorObject>();
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const before = bySpot.get(e.instancePath);
    if (!before || (e.keyword === 'enum' && before.keyword !== 'enum')) bySpot.set(e.instancePath, e);
  }
  return [...bySpot].map(([pointer, e]) => {
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
    const expected = allowed ? `one of ${allowed.join(', ')}` : (e.message ?? 'something else').replace(/^must be /, '');
    const got = JSON.stringify(e.data) ?? 'nothing';
    return { path: decodePointer(pointer), onKey: false, message: `got ${got.length > 40 ? got.slice(0, 40) + '…' : got} (expected ${expected})`, hint: HINT };
  });
}

/** Where a keyword is written: the first (depth first) object holding that key. */
function pathOfKey(value: unknown, key: string, path: string[] = []): string[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (!Array.isArray(value) && Object.hasOwn(value, key)) return [...path, key];
  for (const [k, v] of Object.entries(value)) {
    const found = pathOfKey(v, key, [...path, k]);
    if (found) return found;
  }
  return undefined;
}
