/**
 * The validator of queues.yaml's shape (runtime/queues.schema.json), used by ./shape.ts.
 *
 * Here it is compiled by ajv on first use: what the tests and the type-checker see. The CLI's bundle
 * replaces this module with the same validator generated when Warren is built (ajv's standalone code,
 * runtime/build.mjs, with the options of ./queues-ajv.json): compiling the schema took about 140 ms of CPU at the
 * start of every command that reads queues.yaml, `warren start` included, before anything else could
 * run. test/unit/queues-validator.test.ts checks that both answer every config alike.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import queuesSchema from '../queues.schema.json';
import settings from './queues-ajv.json';

let compiled: ValidateFunction | undefined;

export function queuesValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ ...settings.options });
    // annotation only: the expected value in words (yaml-language-server shows it too)
    ajv.addKeyword({ keyword: settings.annotationKeyword, schemaType: 'string' });
    compiled = ajv.compile(queuesSchema);
  }
  return compiled;
}
