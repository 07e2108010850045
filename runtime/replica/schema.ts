/**
 * The per-function message schema, compiled once per replica with the loader's settings
 * (runtime/config/validator.ts). ajv is imported here, on demand: a replica whose function has no
 * schema never loads it, which keeps thread start-up short.
 */
import { compileWith, type AjvModules } from '../config/validator';

export async function compileMessageSchema(schema: Record<string, unknown>): Promise<(value: unknown) => string | null> {
  const [ajv, ajv2020, formats] = await Promise.all([import('ajv'), import('ajv/dist/2020.js'), import('ajv-formats')]);
  const modules = { Ajv: ajv.default, Ajv2020: ajv2020.default, addFormats: formats.default } as unknown as AjvModules;
  const validate = compileWith(modules, schema);
  return (value) => (validate(value) ? null : (validate.errors ?? []).map((e) => `message${e.instancePath} ${e.message ?? 'is invalid'}`).join(', '));
}
