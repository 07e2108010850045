/**
 * The CLI's bundle checks queues.yaml with ajv's standalone code generated at build time
 * (runtime/config/queues-standalone.mjs); the source compiles the schema at run time. Both must
 * answer every config alike, errors included: the same code is generated here and compared with the
 * compiled validator on the repository's own queues.yaml, on hand-written mistakes and on thousands
 * of generated values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { queuesValidator } from '../../runtime/config/queues-validator';
import { repoRoot } from '../testkit/project';

// Inside the repository, so the generated code's require of ajv's runtime helpers resolves.
const dir = join(repoRoot, 'node_modules', '.cache', `warren-queues-validator-${process.pid}`);
let standalone: ValidateFunction;

beforeAll(async () => {
  const { queuesValidatorSource } = (await import(pathToFileURL(join(repoRoot, 'runtime', 'config', 'queues-standalone.mjs')).href)) as {
    queuesValidatorSource(root: string): Promise<string>;
  };
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'queues-validator.mjs');
  await writeFile(file, await queuesValidatorSource(repoRoot));
  standalone = ((await import(pathToFileURL(file).href)) as { queuesValidator(): ValidateFunction }).queuesValidator();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function answer(validate: ValidateFunction, value: unknown): { valid: boolean; errors: unknown[] } {
  const valid = validate(value) as boolean;
  const errors = (validate.errors ?? []).map((e: ErrorObject & { parentSchema?: unknown }) => ({
    keyword: e.keyword,
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    params: e.params,
    message: e.message,
    schema: JSON.stringify(e.schema),
    parentSchema: JSON.stringify(e.parentSchema),
    data: JSON.stringify(e.data),
  }));
  return { valid, errors };
}

function same(value: unknown): void {
  expect(answer(standalone, value)).toEqual(answer(queuesValidator(), value));
}

describe("queues.yaml's validator, compiled at run time and generated at build time", () => {
  it('agree on the repository queues.yaml', async () => {
    const config = parse(await readFile(join(repoRoot, 'queues.yaml'), 'utf8')) as unknown;
    expect(answer(standalone, config).valid).toBe(true);
    same(config);
  });

  it('agree on hand-written mistakes, down to every error', () => {
    const mistakes: unknown[] = [
      { functions: { x: { replicas: 'two', prefetchh: 3 } }, queues: { q: { type: 'classicc' } } },
      { exchanges: { e: { type: 'fanotu' } }, bindings: [{ exchange: 'e' }, 'e[k] => q', 42] },
      { functions: { x: { batch: { size: 0, window: 'soon' }, rateLimit: '100/hour', retry: { attempts: -1, backoff: 'linear' } } } },
      { functions: { 'bad name!': {} }, extra: true },
      null,
      [],
      'functions',
    ];
    for (const m of mistakes) {
      expect(answer(standalone, m).valid).toBe(answer(queuesValidator(), m).valid);
      same(m);
    }
    expect(answer(standalone, mistakes[0]).errors.length).toBeGreaterThan(1);
  });

  it('agree on generated configs', () => {
    const section = fc.dictionary(fc.string({ maxLength: 8 }), fc.anything({ maxDepth: 3 }), { maxKeys: 4 });
    const config = fc.record(
      { functions: section, queues: section, exchanges: section, bindings: fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 3 }) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(config, fc.anything()), (value) => {
        same(value);
      }),
      { numRuns: 2000 },
    );
  });
});
