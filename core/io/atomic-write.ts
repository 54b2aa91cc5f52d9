import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { RuntimeFailure } from '../errors.js';

/**
 * Write a file so that readers see either the old content or the complete new
 * content, never a prefix: write to a temp file beside it, fsync, rename.
 * Errors (disk full, permission denied) name the path and leave the old file.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    fd = openSync(tmp, 'w');
    const list = Array.isArray(chunks) ? chunks : [chunks as Uint8Array | string];
    for (const c of list) {
      const buf = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.message;
    throw new RuntimeFailure(`cannot write ${path}: ${why}; the previous file (if any) is unchanged`, { cause: e });
  }
}
