import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { atomicWriteFault, errnoError, killNow } from './faults.js';

/**
 * Write a file so that readers see either the old content or the complete new
 * content, never a prefix: write to a temp file beside it, fsync, rename.
 * Errors (disk full, permission denied) name the path and leave the old file.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  // Test-only fault injection (ZOO_FAULT, see faults.ts); undefined when the variable is unset.
  const fault = atomicWriteFault(path);
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    if (fault === 'eacces') throw errnoError('EACCES', 'open', tmp);
    fd = openSync(tmp, 'w');
    const list = (Array.isArray(chunks) ? chunks : [chunks as Uint8Array | string]).map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c));
    // With a 'partial'/'enospc' fault, stop after half of the bytes.
    const total = list.reduce((a, b) => a + b.byteLength, 0);
    let budget = fault === 'partial' || fault === 'enospc' ? Math.floor(total / 2) : Infinity;
    for (const buf of list) {
      let off = 0;
      while (off < buf.byteLength && budget > 0) {
        const n = writeSync(fd, buf, off, Math.min(buf.byteLength - off, budget));
        off += n;
        budget -= n;
      }
    }
    if (fault === 'partial') killNow();
    if (fault === 'enospc') throw errnoError('ENOSPC', 'write', tmp);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (fault === 'written') killNow();
    renameSync(tmp, path);
    if (fault === 'renamed') killNow();
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
