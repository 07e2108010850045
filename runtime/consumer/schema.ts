/**
 * The per-function message schema, compiled once per replica with the same ajv settings the config
 * loader checked it with (runtime/config/message-schema.ts).
 */
import { createMessageValidator } from '../config/message-schema';

export function compileMessageSchema(schema: Record<string, unknown>): (value: unknown) => string | null {
  const validate = createMessageValidator(schema);
  return (value) => (validate(value) ? null : (validate.errors ?? []).map((e) => `message${e.instancePath} ${e.message ?? 'is invalid'}`).join(', '));
}
