/**
 * The validator of queues.yaml's shape (runtime/queues.schema.json), used by ./shape.ts.
 *
 * Here it is compiled by ajv on first use: what the tests and the type-checker see. The CLI's bundle
 * replaces this module with the same validator generated when Warren is built (ajv's standalone code,
 * runtime/build.mjs, from QUEUES_AJV_OPTIONS): compiling the schema took about 140 ms of CPU at the
 * start of every command that reads queues.yaml, `warren start` included, before anything else could
 * run. test/unit/queues-validator.test.ts checks that both answer every config alike.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import queuesSchema from '../queues.schema.json';

/** ajv's options for queues.yaml, here and in the build's standalone code alike */
export const QUEUES_AJV_OPTIONS = { allErrors: true, verbose: true, strict: true, strictTypes: false } as const;
/** annotation only: the expected value in words (yaml-language-server shows it too) */
export const ANNOTATION_KEYWORD = { keyword: 'errorMessage', schemaType: 'string' } as const;

let compiled: ValidateFunction | undefined;

export function queuesValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ ...QUEUES_AJV_OPTIONS });
    ajv.addKeyword({ ...ANNOTATION_KEYWORD });
    compiled = ajv.compile(queuesSchema);
  }
  return compiled;
}
