/** The per-function message schema, compiled once per replica. */
import { Ajv } from 'ajv';

export function compileMessageSchema(schema: Record<string, unknown>): (value: unknown) => string | null {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (value) => (validate(value) ? null : ajv.errorsText(validate.errors, { dataVar: 'message' }));
}
