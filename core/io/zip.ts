/**
 * Read-only ZIP reader over an in-memory Buffer, enough for PyTorch archives
 * (torch.save >= 1.6 and TorchScript): central directory, ZIP64 extensions,
 * stored and deflated entries. PyTorch writes stored entries whose local
 * headers pad the data to 64-byte alignment and always adds ZIP64 end records.
 *
 * Everything a truncated or hostile file could get wrong is checked before it
 * is used: the end-of-central-directory search, entry counts against the
 * directory size, offsets and sizes against the file, local headers against
 * the central directory, overlapping entries, duplicate names, compression
 * ratios (before inflating) and CRC-32 (when an entry is first read).
 * Errors are `FileFormatError(file, ...)` naming the entry and the problem.
 */
import * as zlib from 'node:zlib';
import { readFileForParsing } from './read-file.js';
import { FileFormatError } from '../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** Deflate cannot compress better than about 1032:1; a larger declared ratio is a lie (or a bomb). */
const MAX_DEFLATE_RATIO = 1032;

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate (others are listed but cannot be read). */
  readonly method: number;
  readonly compressedSize: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  readonly crc32: number;
  /** Offset of the local file header. */
  readonly headerOffset: number;
  /** Offset of the (compressed) data in the archive. */
  readonly dataOffset: number;
}

export interface ZipOptions {
  /**
   * CRC-32 check when an entry is read: true (default) checks every entry,
   * false none, a number checks entries of at most that many bytes.
   */
  verifyCrc?: boolean | number;
  /** Refuse archives declaring more entries than this (default 1,000,000). */
  maxEntries?: number;
}

export interface ZipArchive {
  readonly path: string;
  /** Entry names in central-directory order. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Entry metadata; throws FileFormatError for an unknown name. */
  entry(name: string): ZipEntry;
  /**
   * Entry bytes. Stored entries are a view of the archive buffer (no copy;
   * do not write to it), deflated entries are inflated into a new Buffer.
   */
  read(name: string): Buffer;
}

// ---------------------------------------------------------------------------
// CRC-32 (IEEE): node:zlib's native crc32 where available (Node >= 20.15), a
// table-driven fallback otherwise.

let crcTable: Uint32Array | undefined;
function crc32Js(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const nativeCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 (IEEE 802.3, as in ZIP and PNG) of `data`. */
export function crc32(data: Uint8Array): number {
  return nativeCrc ? nativeCrc(data) >>> 0 : crc32Js(data);
}

// ---------------------------------------------------------------------------

/** True when `buf` starts like a ZIP archive (a local header or an empty archive's end record). */
export function looksLikeZip(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && ((buf[2] === 3 && buf[3] === 4) || (buf[2] === 5 && buf[3] === 6));
}

/** Parse the central directory of a ZIP archive held in `buf`. `path` is used in error messages. */
export function parseZip(buf: Buffer, path = '<buffer>', options: ZipOptions = {}): ZipArchive {
  const fail = (msg: string): never => {
    throw new FileFormatError(path, `not a valid zip archive: ${msg}`);
  };
  const size = buf.byteLength;
  const maxEntries = options.maxEntries ?? 1_000_000;
  const verify = options.verifyCrc ?? true;
  if (size < EOCD_SIZE) fail(`file is ${size} bytes, shorter than the ${EOCD_SIZE}-byte end-of-central-directory record`);
  if (!(buf.readUInt32LE(0) === SIG_LOCAL || buf.readUInt32LE(0) === SIG_EOCD)) {
    fail(`wrong magic ${buf.subarray(0, 4).toString('hex')} (expected 504b0304, "PK\\x03\\x04")`);
  }

  // End of central directory: the last record whose comment reaches exactly to EOF.
  let eocd = -1;
  const lowest = Math.max(0, size - EOCD_SIZE - 0xffff);
  for (let p = size - EOCD_SIZE; p >= lowest; p--) {
    if (buf[p] === 0x50 && buf.readUInt32LE(p) === SIG_EOCD && p + EOCD_SIZE + buf.readUInt16LE(p + 20) === size) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (file truncated?)');
  const disk = buf.readUInt16LE(eocd + 4);
  const cdDisk = buf.readUInt16LE(eocd + 6);
  let countDisk: number = buf.readUInt16LE(eocd + 8);
  let count: number = buf.readUInt16LE(eocd + 10);
  let cdSize: number = buf.readUInt32LE(eocd + 12);
  let cdOffset: number = buf.readUInt32LE(eocd + 16);
  let cdLimit = eocd; // the central directory must end before this offset

  // ZIP64 end record, located by the locator just before the classic record.
  const locator = eocd - 20;
  if (locator >= 0 && buf.readUInt32LE(locator) === SIG_ZIP64_LOCATOR) {
    const z64 = buf.readBigUInt64LE(locator + 8);
    if (z64 > BigInt(locator - 56)) fail(`ZIP64 end record offset ${z64} is past the locator at ${locator}`);
    const at = Number(z64);
    if (buf.readUInt32LE(at) !== SIG_ZIP64_EOCD) fail(`no ZIP64 end record at offset ${at}`);
    const big = (off: number, what: string): number => {
      const v = buf.readBigUInt64LE(at + off);
      if (v > BigInt(size)) fail(`ZIP64 ${what} ${v} exceeds the file size ${size}`);
      return Number(v);
    };
    countDisk = big(24, 'entry count');
    count = big(32, 'entry count');
    cdSize = big(40, 'central directory size');
    cdOffset = big(48, 'central directory offset');
    if (buf.readUInt32LE(at + 16) !== 0 || buf.readUInt32LE(at + 20) !== 0) fail('multi-disk archives are not supported');
    cdLimit = at;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('end record asks for ZIP64 values but has no ZIP64 locator (file truncated?)');
  }
  if (disk !== 0 || cdDisk !== 0 || countDisk !== count) fail('multi-disk archives are not supported');
  if (count > maxEntries) fail(`declares ${count} entries, more than the limit of ${maxEntries}`);
  if (cdOffset + cdSize > cdLimit) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end records at ${cdLimit} (file truncated?)`);
  if (count * CENTRAL_SIZE > cdSize) fail(`declares ${count} entries but the central directory is only ${cdSize} bytes`);

  const entries = new Map<string, ZipEntry>();
  const names: string[] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cdEnd) fail(`central directory entry ${i} at ${p} runs past the directory end ${cdEnd}`);
    if (buf.readUInt32LE(p) !== SIG_CENTRAL) fail(`central directory entry ${i} at offset ${p} has a wrong signature`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let csize: number = buf.readUInt32LE(p + 20);
    let usize: number = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let startDisk: number = buf.readUInt16LE(p + 34);
    let lho: number = buf.readUInt32LE(p + 42);
    const varEnd = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (varEnd > cdEnd) fail(`central directory entry ${i} at ${p} runs past the directory end ${cdEnd}`);
    const nameBytes = buf.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen);
    const name = nameBytes.toString(flags & 0x800 ? 'utf8' : 'latin1');
    const label = `entry "${name}"`;
    // ZIP64 extended information: the fields saturated in the fixed header, in this order.
    let e = p + CENTRAL_SIZE + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (e + 4 + len > extraEnd) fail(`${label}: extra field runs past its header`);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (what: string): number => {
          if (q + 8 > e + 4 + len) fail(`${label}: ZIP64 extra field is too short for the ${what}`);
          const v = buf.readBigUInt64LE(q);
          q += 8;
          if (v > BigInt(size) * BigInt(MAX_DEFLATE_RATIO)) fail(`${label}: ZIP64 ${what} ${v} is absurd for a ${size}-byte file`);
          return Number(v);
        };
        if (usize === 0xffffffff) usize = take('size');
        if (csize === 0xffffffff) csize = take('compressed size');
        if (lho === 0xffffffff) lho = take('header offset');
        if (startDisk === 0xffff) {
          if (q + 4 > e + 4 + len) fail(`${label}: ZIP64 extra field is too short for the disk number`);
          startDisk = buf.readUInt32LE(q);
        }
      }
      e += 4 + len;
    }
    if (startDisk !== 0) fail(`${label} is on disk ${startDisk}; multi-disk archives are not supported`);
    if (flags & 0x1) fail(`${label} is encrypted`);
    if (entries.has(name)) fail(`duplicate entry "${name}"`);
    if (name.length === 0) fail(`entry ${i} has an empty name`);
    if (lho + LOCAL_SIZE > cdOffset) fail(`${label}: local header offset ${lho} is past the central directory at ${cdOffset}`);
    if (buf.readUInt32LE(lho) !== SIG_LOCAL) fail(`${label}: no local header at offset ${lho}`);
    const lNameLen = buf.readUInt16LE(lho + 26);
    const lExtraLen = buf.readUInt16LE(lho + 28);
    const dataOffset = lho + LOCAL_SIZE + lNameLen + lExtraLen;
    if (lNameLen !== nameLen || !buf.subarray(lho + LOCAL_SIZE, lho + LOCAL_SIZE + lNameLen).equals(nameBytes)) {
      fail(`${label}: local header at ${lho} names a different entry`);
    }
    if (dataOffset + csize > cdOffset) fail(`${label}: data [${dataOffset}, ${dataOffset + csize}) runs past the central directory at ${cdOffset} (file truncated?)`);
    if (method === 0 && csize !== usize) fail(`${label} is stored but its sizes differ (${csize} vs ${usize})`);
    if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 1024) fail(`${label} declares ${usize} bytes from ${csize} compressed bytes, beyond what deflate can do`);
    entries.set(name, { name, method, compressedSize: csize, size: usize, crc32: crc, headerOffset: lho, dataOffset });
    names.push(name);
    p = varEnd;
  }

  // Entries may not overlap (each one's header + data is its own byte range).
  const sorted = [...entries.values()].sort((a, b) => a.headerOffset - b.headerOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.headerOffset < prev.dataOffset + prev.compressedSize) fail(`entries "${prev.name}" and "${cur.name}" overlap`);
  }

  const verified = new Set<string>();
  const lookup = (name: string): ZipEntry => {
    const e = entries.get(name);
    if (!e) throw new FileFormatError(path, `zip archive has no entry "${name}"`);
    return e;
  };
  return {
    path,
    names,
    has: (name) => entries.has(name),
    entry: lookup,
    read(name) {
      const e = lookup(name);
      const raw = buf.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
      let out: Buffer;
      if (e.method === 0) out = raw;
      else if (e.method === 8) {
        try {
          out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
        } catch (err) {
          throw new FileFormatError(path, `zip entry "${name}": cannot inflate (${(err as Error).message})`, { cause: err });
        }
        if (out.byteLength !== e.size) throw new FileFormatError(path, `zip entry "${name}" inflates to ${out.byteLength} bytes, but its header says ${e.size}`);
      } else {
        throw new FileFormatError(path, `zip entry "${name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
      }
      const check = verify === true || (typeof verify === 'number' && e.size <= verify);
      if (check && !verified.has(name)) {
        const c = crc32(out);
        if (c !== e.crc32) {
          throw new FileFormatError(path, `zip entry "${name}" is corrupt: CRC-32 ${c.toString(16).padStart(8, '0')} does not match the recorded ${e.crc32.toString(16).padStart(8, '0')}`);
        }
        verified.add(name);
      }
      return out;
    },
  };
}

/** Read a whole ZIP file into memory and parse its directory. */
export function readZip(path: string, options: ZipOptions = {}): ZipArchive {
  return parseZip(readFileForParsing(path), path, options);
}
