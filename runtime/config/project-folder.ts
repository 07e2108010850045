/** `--dir` names the project folder: one that does not exist, or a file, is said before anything else is read. */
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { WarrenError } from '../errors';

const HOLDS = 'the folder that holds queues.yaml and functions/';

/** Why `dir` (absolute) cannot be the project folder, or undefined when it is a folder. */
export async function projectFolderProblem(dir: string): Promise<WarrenError | undefined> {
  const found = await stat(dir).catch(() => undefined);
  if (found?.isDirectory()) return undefined;
  if (!found) return new WarrenError('WARREN_E_CONFIG_MISSING', `project folder ${dir} does not exist`, { hint: `pass ${HOLDS} with --dir` });
  // `--dir queues.yaml` or `--dir functions/a.ts`: the project is the folder around it
  const parent = dirname(dir);
  const project = basename(parent) === 'functions' ? dirname(parent) : parent;
  return new WarrenError('WARREN_E_CONFIG_MISSING', `project folder ${dir} is ${found.isFile() ? 'a file' : 'not a folder'}`, {
    hint: `--dir takes ${HOLDS}, not a file in it: --dir ${project}`,
  });
}
