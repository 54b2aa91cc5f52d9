/**
 * A minimal ZIP writer for tests of the reader (zip.ts): stored and deflated
 * entries, optional ZIP64 records everywhere (as PyTorch writes them) and
 * data alignment like torch's stored entries. Not for production use.
 */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from './zip.js';

export interface TestZipEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored (default), 8 deflate. */
  method?: 0 | 8;
}

export interface TestZipOptions {
  /** Write ZIP64 extra fields with saturated sizes/offsets and ZIP64 end records. */
  zip64?: boolean;
  /** Pad local headers so stored data starts at a multiple of this (torch uses 64). */
  align?: number;
  comment?: string;
}

export function makeZip(entries: readonly TestZipEntry[], opts: TestZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const z64 = opts.zip64 ?? false;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const body = method === 8 ? deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = crc32(e.data);
    let extra = Buffer.alloc(0);
    if (z64) {
      extra = Buffer.alloc(20);
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
    }
    if (opts.align) {
      const pad = (opts.align - ((offset + 30 + name.length + extra.length + 4) % opts.align)) % opts.align;
      const p = Buffer.alloc(4 + pad, 0x5a);
      p.writeUInt16LE(0x4246, 0); // 'FB', as torch writes
      p.writeUInt16LE(pad, 2);
      extra = Buffer.concat([extra, p]);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(z64 ? 45 : 20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(z64 ? 0xffffffff : body.length, 18);
    local.writeUInt32LE(z64 ? 0xffffffff : e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, body);

    const cdExtra = Buffer.alloc(z64 ? 28 : 0);
    if (z64) {
      cdExtra.writeUInt16LE(1, 0);
      cdExtra.writeUInt16LE(24, 2);
      cdExtra.writeBigUInt64LE(BigInt(e.data.length), 4);
      cdExtra.writeBigUInt64LE(BigInt(body.length), 12);
      cdExtra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(z64 ? 45 : 20, 4);
    cd.writeUInt16LE(z64 ? 45 : 20, 6);
    cd.writeUInt16LE(0x800, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(z64 ? 0xffffffff : body.length, 20);
    cd.writeUInt32LE(z64 ? 0xffffffff : e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(cdExtra.length, 30);
    cd.writeUInt32LE(z64 ? 0xffffffff : offset, 42);
    central.push(cd, name, cdExtra);
    offset += local.length + name.length + extra.length + body.length;
  }
  const cdBuf = Buffer.concat(central);
  const cdOffset = offset;
  const tail: Buffer[] = [];
  if (z64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cdBuf.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdBuf.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const comment = Buffer.from(opts.comment ?? '', 'utf8');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(z64 ? 0xffffffff : cdBuf.length, 12);
  eocd.writeUInt32LE(z64 ? 0xffffffff : cdOffset, 16);
  eocd.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...parts, cdBuf, ...tail, eocd, comment]);
}
