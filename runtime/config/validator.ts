/**
 * How a function's message schema is compiled: one place, used by the config loader (which checks
 * the schema compiles) and by each replica (which loads ajv only when its function has a schema).
 */
import type { default as AjvClass, ValidateFunction } from 'ajv';

export interface AjvModules {
  Ajv: typeof AjvClass;
  Ajv2020: typeof AjvClass;
  addFormats: (ajv: AjvClass) => unknown;
}

const DRAFT_2020 = /json-schema\.org\/draft\/2020-12\/schema/;
const OPTIONS = { allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false } as const;

/** The ajv a message schema is compiled with: draft-07 unless its `$schema` says 2020-12. */
export function ajvFor({ Ajv, Ajv2020, addFormats }: AjvModules, schema: Record<string, unknown>, options: { verbose?: boolean } = {}): AjvClass {
  const ajv = DRAFT_2020.test(String(schema.$schema ?? '')) ? new Ajv2020({ ...OPTIONS, ...options }) : new Ajv({ ...OPTIONS, ...options });
  addFormats(ajv);
  return ajv;
}

/** Compiles a message schema; throws ajv's error. */
export function compileWith(modules: AjvModules, schema: Record<string, unknown>): ValidateFunction {
  return ajvFor(modules, schema).compile(schema);
}
