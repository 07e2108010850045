// Build step (plain JavaScript, run by runtime/build.mjs before any TypeScript is built): the source
// of runtime/config/queues-validator.ts as the CLI's bundle has it, ajv's standalone code for
// queues.yaml's JSON Schema, generated with the options that module exports, so the two forms cannot
// drift apart. test/unit/queues-validator.test.ts compares both on every kind of config.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function queuesValidatorSource(root) {
  const { default: Ajv } = await import('ajv');
  const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
  const module = join(root, 'runtime', 'config', 'queues-validator.ts');
  const text = await readFile(module, 'utf8');
  const literal = (name) => {
    const found = new RegExp(`export const ${name} = (\\{[^\\n]*\\}) as const;`).exec(text);
    if (!found) throw new Error(`queues validator: ${name} not found in ${module}`);
    return Function(`return (${found[1]});`)();
  };
  const ajv = new Ajv({ ...literal('QUEUES_AJV_OPTIONS'), code: { source: true, esm: true } });
  ajv.addKeyword(literal('ANNOTATION_KEYWORD'));
  const schema = JSON.parse(await readFile(join(root, 'runtime', 'queues.schema.json'), 'utf8'));
  const code = standaloneCode(ajv, ajv.compile(schema));
  // The generated code requires ajv's small runtime helpers by name, from node_modules.
  return (
    "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n" +
    code.replace(/^"use strict";/, '') +
    '\nexport function queuesValidator() { return validate; }\n'
  );
}
