/**
 * The JSON Schema a function's messages must satisfy: read from a file when queues.yaml names one,
 * and compiled with ajv here so a broken schema is reported before anything starts. Replicas compile
 * it again in their thread (runtime/replica/schema.ts) through the same `compileWith`, so both agree
 * on what is valid.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parseDocument, LineCounter } from 'yaml';
import { WarrenError } from '../errors';
import { duplicateKeys, jsonParseError, lineColumn } from './rascal-json';
import { compileWith } from './validator';
import { readConfigText } from './read-text';

/** Compiles a message schema (draft-07 unless its `$schema` says 2020-12); throws ajv's error. */
export function createMessageValidator(schema: Record<string, unknown>): ValidateFunction {
  return compileWith({ Ajv, Ajv2020: Ajv2020 as unknown as typeof Ajv, addFormats }, schema);
}

export type SchemaFileResult = { schema: Record<string, unknown>; text: string } | { error: WarrenError };

/** Reads a .json/.yaml schema file; a missing or unparsable file is WARREN_E_SCHEMA_MISSING. */
export async function readSchemaFile(file: string, shownAs: string): Promise<SchemaFileResult> {
  let text: string | undefined | WarrenError;
  try {
    text = await readConfigText(file, 'WARREN_E_SCHEMA_MISSING');
  } catch {
    text = undefined;
  }
  if (text instanceof WarrenError) return { error: text };
  if (text === undefined) {
    return {
      error: new WarrenError('WARREN_E_SCHEMA_MISSING', `schema file ${shownAs} does not exist`, {
        file,
        hint: 'the path is relative to the project folder (the one holding queues.yaml)',
      }),
    };
  }
  if (file.endsWith('.json')) {
    const [twice] = duplicateKeys(file, text);
    if (twice) return { error: twice };
    try {
      return asSchema(file, text, JSON.parse(text));
    } catch (err) {
      const { message, offset } = jsonParseError(text, err);
      return {
        error: new WarrenError('WARREN_E_SCHEMA_MISSING', `schema file ${shownAs} does not parse: ${message}`, {
          file,
          ...lineColumn(text, offset),
          hint: 'a schema file is strict JSON (or use .yaml)',
        }),
      };
    }
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    return {
      error: new WarrenError('WARREN_E_SCHEMA_MISSING', `schema file ${shownAs} does not parse: ${first.message.split(/ at line \d+|\n/)[0]}`, {
        file,
        line,
        column: col,
        hint: 'check indentation, colons and quotes around this spot (or write the schema as JSON in a .json file)',
      }),
    };
  }
  try {
    // yaml's own guard against alias bombs (maxAliasCount, default 100): a ReferenceError past it
    return asSchema(file, text, doc.toJS({ maxAliasCount: 100 }));
  } catch (err) {
    return {
      error: new WarrenError('WARREN_E_SCHEMA_MISSING', `schema file ${shownAs} does not parse: ${(err as Error).message}`, {
        file,
        line: 1,
        column: 1,
        hint: 'use fewer YAML aliases (*name)',
      }),
    };
  }
}

function asSchema(file: string, text: string, value: unknown): SchemaFileResult {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { schema: value as Record<string, unknown>, text };
  return {
    error: new WarrenError('WARREN_E_SCHEMA_INVALID', 'a schema file must hold a JSON Schema object', {
      file,
      line: 1,
      column: 1,
      expected: 'an object such as { "type": "object", "required": ["id"] }',
    }),
  };
}
