import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { planReload } from '../../runtime/plan-reload';
import { handler, load, project } from '../fixtures/config/project';

let dir: string;
beforeEach(async () => {
  dir = await project({});
});

/** The project as a reload finds it: the same folder, rewritten. */
async function configOf(yaml: string, functions: string[]) {
  await rm(join(dir, 'functions'), { recursive: true, force: true });
  await mkdir(join(dir, 'functions'));
  await writeFile(join(dir, 'queues.yaml'), yaml);
  for (const name of functions) await writeFile(join(dir, 'functions', `${name}.ts`), handler);
  return load(dir);
}

describe('planReload', () => {
  it('finds nothing to do when nothing changed', async () => {
    const old = await configOf('functions:\n  a: { replicas: 2 }\n', ['a', 'b']);
    const next = await configOf('functions:\n  a: { replicas: 2 }\n', ['a', 'b']);
    expect(planReload(old, next)).toEqual({ added: [], removed: [], changed: [], unchanged: ['a', 'b'], topologyChanged: false });
  });

  it('tells added, removed and changed functions apart', async () => {
    const old = await configOf('functions:\n  a: { replicas: 2 }\n', ['a', 'b']);
    const next = await configOf('functions:\n  a: { replicas: 3 }\n', ['a', 'c']);
    const plan = planReload(old, next);
    expect(plan).toMatchObject({ added: ['c'], removed: ['b'], changed: ['a'], unchanged: [] });
    expect(plan.topologyChanged).toBe(true);
  });

  it('ignores where a setting was written: a comment above it moves its line, not its meaning', async () => {
    const old = await configOf('functions:\n  a: { prefetch: 4 }\n', ['a']);
    const next = await configOf('# a comment\n\nfunctions:\n  a: { prefetch: 4 }\n', ['a']);
    expect(planReload(old, next)).toEqual({ added: [], removed: [], changed: [], unchanged: ['a'], topologyChanged: false });
  });

  it('sees a new exchange as a topology change that restarts no function', async () => {
    const old = await configOf('functions:\n  a: {}\n', ['a']);
    const next = await configOf('exchanges:\n  extra: { type: topic }\nfunctions:\n  a: {}\n', ['a']);
    expect(planReload(old, next)).toEqual({ added: [], removed: [], changed: [], unchanged: ['a'], topologyChanged: true });
  });

  it('puts every function of either side in exactly one list', async () => {
    const old = await configOf('functions:\n  a: { replicas: 1 }\n  b: { replicas: 1 }\n', ['a', 'b', 'd']);
    const next = await configOf('functions:\n  a: { replicas: 2 }\n  c: { replicas: 1 }\n', ['a', 'c', 'd']);
    const { added, removed, changed, unchanged } = planReload(old, next);
    const all = [...added, ...removed, ...changed, ...unchanged].sort();
    expect(all).toEqual(['a', 'b', 'c', 'd']);
  });
});
