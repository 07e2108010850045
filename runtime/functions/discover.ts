/**
 * Finds the handler files of a project: every `.ts .mts .js .mjs` file directly in functions/.
 * The file name without its extension is the function name.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WarrenError, WarrenErrors } from '../errors';

export interface HandlerFile {
  name: string;
  /** absolute path */
  file: string;
}

export const HANDLER_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'] as const;

/** Code files that look like handlers and are not read as such: said, not silently skipped. */
const UNREAD_EXTENSIONS = ['.cjs', '.cts', '.jsx', '.tsx'] as const;

/** A file of functions/ that looks like a handler but is not one (`a.cjs`), with the name it would have. */
export function unreadHandler(fileName: string): { name: string; rename: string } | undefined {
  if (fileName.startsWith('_') || fileName.startsWith('.') || /\.d\.c?ts$/.test(fileName) || /\.(test|spec)\./.test(fileName)) return undefined;
  const ext = UNREAD_EXTENSIONS.find((e) => fileName.endsWith(e));
  if (!ext || fileName.length === ext.length) return undefined;
  const name = fileName.slice(0, -ext.length);
  return { name, rename: `${name}${ext === '.cts' || ext === '.tsx' ? '.ts' : '.js'}` };
}

/** The function name a file name stands for, or undefined when the file is not a handler. */
export function handlerName(fileName: string): string | undefined {
  if (fileName.startsWith('_') || fileName.startsWith('.')) return undefined;
  if (/\.d\.m?ts$/.test(fileName)) return undefined;
  if (/\.(test|spec)\./.test(fileName)) return undefined;
  const ext = HANDLER_EXTENSIONS.find((e) => fileName.endsWith(e));
  if (!ext) return undefined;
  const name = fileName.slice(0, -ext.length);
  return name === '' ? undefined : name;
}

/** What a handler file's name may not hold, and how to rename it; undefined when it is a sound name. */
function refusedName(name: string, fileName: string): { what: string; rename: string } | undefined {
  // A name is printed in logs and commands and becomes a queue name: no line breaks or other controls.
  if (/[\u0000-\u001f\u007f]/.test(name)) return { what: 'control characters', rename: '' };
  // esbuild reads a `*` in an entry point as a wildcard: the file could not be built as itself.
  if (name.includes('*')) return { what: '*', rename: ` without * (e.g. functions/${fileName.replaceAll('*', '-')})` };
  return undefined;
}

/** Pure: picks handlers among file names (sorted by name) and reports names taken by two files. */
export function selectHandlers(functionsDir: string, fileNames: readonly string[]): { handlers: HandlerFile[]; errors: WarrenError[] } {
  const byName = new Map<string, string[]>();
  const errors: WarrenError[] = [];
  for (const fileName of [...fileNames].sort()) {
    const name = handlerName(fileName);
    if (name === undefined) continue;
    const refused = refusedName(name, fileName);
    if (refused) {
      errors.push(
        new WarrenError('WARREN_E_CONFIG_TYPE', `handler file name ${JSON.stringify(fileName)} contains ${refused.what}`, {
          file: join(functionsDir, fileName),
          hint: `rename the file${refused.rename}: the file name is the function name (and its queue name)`,
        }),
      );
      continue;
    }
    byName.set(name, [...(byName.get(name) ?? []), fileName]);
  }
  const handlers: HandlerFile[] = [];
  for (const [name, files] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const first = files[0];
    if (files.length > 1 || first === undefined) {
      errors.push(
        new WarrenError('WARREN_E_CONFIG_CONFLICT', `function "${name}" has ${files.length} handler files: ${files.join(', ')}`, {
          file: join(functionsDir, files[0] ?? name),
          hint: `keep one of ${files.map((f) => `functions/${f}`).join(' and ')}; the file name is the function name`,
        }),
      );
      continue;
    }
    handlers.push({ name, file: join(functionsDir, first) });
  }
  return { handlers, errors };
}

/** Lists the handler files in functions/ and the names taken twice. A missing folder has no handlers. */
export async function scanHandlers(functionsDir: string): Promise<{ handlers: HandlerFile[]; errors: WarrenError[]; unread: string[] }> {
  let entries: string[];
  try {
    entries = await readdir(functionsDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { handlers: [], errors: [], unread: [] };
    throw err;
  }
  const files: string[] = [];
  const unread: string[] = [];
  for (const entry of entries.sort()) {
    const handler = handlerName(entry) !== undefined;
    if (!handler && !unreadHandler(entry)) continue;
    // stat (not lstat): a symlink to a file is a handler, a folder named `x.ts` is not
    const info = await stat(join(functionsDir, entry)).catch(() => undefined);
    if (info?.isFile()) (handler ? files : unread).push(entry);
  }
  return { ...selectHandlers(functionsDir, files), unread };
}

/** Lists the handler files in functions/; throws when two files claim one name. */
export async function discoverHandlers(functionsDir: string): Promise<HandlerFile[]> {
  const { handlers, errors } = await scanHandlers(functionsDir);
  if (errors.length === 1 && errors[0]) throw errors[0];
  if (errors.length > 1) throw new WarrenErrors(errors);
  return handlers;
}
