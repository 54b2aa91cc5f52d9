import { readFileSync, statSync } from 'node:fs';
import { FileFormatError } from '../errors.js';

/** Read a whole file for parsing, with one clear error for a missing path, a directory or an I/O failure. */
export function readFileForParsing(path: string): Buffer {
  try {
    if (!statSync(path).isFile()) throw new FileFormatError(path, 'is not a file');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}
