// Build step (plain JavaScript, run by runtime/build.mjs before any TypeScript is built): the source
// of runtime/config/queues-validator.ts as the CLI's bundle has it, ajv's standalone code for
// queues.yaml's JSON Schema, generated with the options both read from ./queues-ajv.json, so the two
// forms cannot drift apart. test/unit/queues-validator.test.ts compares both on every kind of config.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function queuesValidatorSource(root) {
  const { default: Ajv } = await import('ajv');
  const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
  const read = async (...path) => JSON.parse(await readFile(join(root, 'runtime', ...path), 'utf8'));
  const settings = await read('config', 'queues-ajv.json');
  const ajv = new Ajv({ ...settings.options, code: { source: true, esm: true } });
  ajv.addKeyword({ keyword: settings.annotationKeyword, schemaType: 'string' });
  const schema = await read('queues.schema.json');
  const code = standaloneCode(ajv, ajv.compile(schema));
  // The generated code requires ajv's small runtime helpers by name, from node_modules.
  return (
    "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n" +
    code.replace(/^"use strict";/, '') +
    '\nexport function queuesValidator() { return validate; }\n'
  );
}
