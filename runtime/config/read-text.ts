/**
 * Reads a config file (queues.yaml, rascal.json, a schema file) with a size limit: a config is a few
 * KiB, and a file of hundreds of MiB (a log written to the wrong name, a generated monster) would
 * otherwise be read, parsed and walked before anything could be said about it.
 */
import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { WarrenError, type ErrorCode } from '../errors';

export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The file's text; undefined when it does not exist; a WarrenError (line 1) when it is too large. */
export async function readConfigText(file: string, code: ErrorCode = 'WARREN_E_CONFIG_SYNTAX'): Promise<string | undefined | WarrenError> {
  let handle;
  try {
    // O_NONBLOCK: opening a named pipe no one writes to would wait forever (`warren check` hung); it is refused below.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' && (await danglingLink(file))) {
      return new WarrenError(code, `is a symbolic link to ${await readlink(file)}, which does not exist`, {
        file,
        hint: 'point the link at the file, or remove the link',
      });
    }
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
    if (errno === 'EACCES') return new WarrenError(code, 'cannot be read (permission denied)', { file, hint: 'make it readable by the user Warren runs as' });
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory())
      return new WarrenError(code, 'is a folder, not a file', { file, hint: `remove the folder or rename it; Warren reads ${basename(file)} as a file` });
    if (stats.isFIFO() || stats.isSocket())
      return new WarrenError(code, `is a ${stats.isFIFO() ? 'named pipe' : 'socket'}, not a file`, {
        file,
        hint: `write the configuration into a regular file named ${basename(file)}`,
      });
    const { size } = stats;
    if (size > MAX_CONFIG_BYTES) return tooLarge(file, size, code);
    // Read one byte past the limit: the size may have been wrong (a growing file, /dev/zero).
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_CONFIG_BYTES) return tooLarge(file, length, code);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

async function danglingLink(file: string): Promise<boolean> {
  return lstat(file).then(
    (s) => s.isSymbolicLink(),
    () => false,
  );
}

function tooLarge(file: string, size: number, code: ErrorCode): WarrenError {
  return new WarrenError(
    code,
    `file is ${size >= MAX_CONFIG_BYTES * 2 ? `${Math.round(size / MAX_CONFIG_BYTES)} MiB` : `${size} bytes`}, over the ${MAX_CONFIG_BYTES / 1024} KiB Warren reads`,
    {
      file,
      line: 1,
      column: 1,
      hint: 'is this the right file? A Warren config is a few KiB; split large JSON Schemas into files of their own',
    },
  );
}
