/**
 * A Warren project as a user has one, in a temporary folder: `queues.yaml`, handler files under
 * `functions/` and, when given, `rascal.json`. Shared by test/ and bench/.
 */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDirFor } from '../../runtime/functions/build-dir';

/** The repository; bench/run.mjs sets WARREN_BENCH_ROOT because the bench runs as a bundle elsewhere. */
export const repoRoot = process.env.WARREN_BENCH_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
export const warrenBin = join(repoRoot, 'bin', 'warren.js');

export interface Project {
  dir: string;
  /** writes functions/<name>.ts */
  writeFunction(name: string, source: string): Promise<void>;
  /** writes any file of the project, making its folder */
  write(path: string, text: string): Promise<void>;
  remove(): Promise<void>;
}

/**
 * Handler sources may import the runtime as `warren` (resolved to this repository's runtime by the
 * build). `prefix` names the temporary folder (bench projects are `warren-bench-*`).
 */
export async function createProject(
  queuesYaml: string,
  functions: Record<string, string> = {},
  rascalJson?: object,
  prefix = 'warren-test-',
): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(dir, 'functions'));
  await writeFile(join(dir, 'queues.yaml'), queuesYaml);
  if (rascalJson) await writeFile(join(dir, 'rascal.json'), JSON.stringify(rascalJson, null, 2));
  const project: Project = {
    dir,
    writeFunction: (name, source) => writeFile(join(dir, 'functions', `${name}.ts`), source),
    async write(path, text) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    },
    // The runtime's build folder for this project too (it outlives a stop: runtime/functions/build-dir.ts).
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
      await rm(buildDirFor(dir, {}), { recursive: true, force: true });
    },
  };
  for (const [name, source] of Object.entries(functions)) await project.writeFunction(name, source);
  return project;
}
