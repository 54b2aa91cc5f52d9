/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors):
 * 8-byte little-endian header length N, N bytes of JSON, then the raw data.
 * The reader validates everything a hostile or truncated file could get wrong
 * before allocating: header bounds, dtypes, shapes, offsets inside the data
 * section, overlaps.
 */
import { readFileForParsing } from './read-file.js';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { DTYPE_BYTES, numel, type DType, type RawTensor, type TypedData } from './raw-tensor.js';

const ST_TO_DTYPE: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_TO_ST: Record<DType, string> = Object.fromEntries(Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Largest header we accept (the format's own limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsFile {
  path: string;
  metadata: Record<string, string>;
  /** Tensor names in file order. */
  names: string[];
  has(name: string): boolean;
  /** Shape and dtype without reading data. */
  info(name: string): { dtype: DType; shape: number[] };
  get(name: string): RawTensor;
  /** All tensors (decoded lazily per call). */
  entries(): Iterable<[string, RawTensor]>;
}

function viewAs(dtype: DType, buf: Buffer, start: number, n: number): TypedData {
  // Copy into a fresh, aligned buffer: the file buffer may not be aligned for the element type.
  const bytes = n * DTYPE_BYTES[dtype];
  const copy = new Uint8Array(bytes);
  copy.set(buf.subarray(start, start + bytes));
  const ab = copy.buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(ab);
    case 'float64': return new Float64Array(ab);
    case 'float16':
    case 'bfloat16': return new Uint16Array(ab);
    case 'int64': return new BigInt64Array(ab);
    case 'int32': return new Int32Array(ab);
    case 'int16': return new Int16Array(ab);
    case 'int8': return new Int8Array(ab);
    case 'uint8':
    case 'bool': return copy;
  }
}

/** Parse safetensors bytes. `path` is only used in error messages. */
export function parseSafetensors(buf: Buffer, path = '<buffer>'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new FileFormatError(path, `not a valid safetensors file: ${msg}`);
  };
  if (buf.byteLength < 8) fail(`file is ${buf.byteLength} bytes, shorter than the 8-byte header length`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER)) fail(`header length ${headerLen} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(headerLen);
  if (8 + n > buf.byteLength) fail(`header length ${n} runs past the end of the file (${buf.byteLength} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    fail(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const entries = new Map<string, { dtype: DType; shape: number[]; begin: number; end: number }>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`entry "${name}" is not an object`);
    const dtype = ST_TO_DTYPE[String(e.dtype)];
    if (!dtype) fail(`entry "${name}" has unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(ST_TO_DTYPE).join(', ')})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`entry "${name}" has an invalid shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`entry "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const shape = e.shape as number[];
    const expected = numel(shape) * DTYPE_BYTES[dtype!];
    if (end < begin) fail(`entry "${name}" has data_offsets [${begin}, ${end}] with end before begin`);
    if (end - begin !== expected) fail(`entry "${name}": ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${end - begin}`);
    if (end > dataLen) fail(`entry "${name}" data_offsets end ${end} is past the data section (${dataLen} bytes; file truncated?)`);
    entries.set(name, { dtype: dtype!, shape, begin, end });
  }
  // Overlap check: sort by begin, require non-overlapping ranges.
  const sorted = [...entries.entries()].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]![1].begin < sorted[i - 1]![1].end) fail(`entries "${sorted[i - 1]![0]}" and "${sorted[i]![0]}" overlap`);
  }
  const names = [...entries.keys()];
  const lookup = (name: string) => {
    const e = entries.get(name);
    if (!e) throw new FileFormatError(path, `no tensor named "${name}"`);
    return e;
  };
  return {
    path,
    metadata,
    names,
    has: (name) => entries.has(name),
    info: (name) => {
      const e = lookup(name);
      return { dtype: e.dtype, shape: [...e.shape] };
    },
    get: (name) => {
      const e = lookup(name);
      return { dtype: e.dtype, shape: [...e.shape], data: viewAs(e.dtype, buf, dataStart + e.begin, numel(e.shape)) };
    },
    *entries() {
      for (const name of names) yield [name, (this as SafetensorsFile).get(name)] as [string, RawTensor];
    },
  };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileForParsing(path), path);
}

/** Serialise tensors (in the given order) and metadata to safetensors bytes. */
export function encodeSafetensors(tensors: Iterable<[string, RawTensor]>, metadata: Record<string, string> = {}): Buffer[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error('"__metadata__" is reserved in safetensors');
    const bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== bytes) throw new Error(`tensor "${name}": ${t.dtype} ${JSON.stringify(t.shape)} needs ${bytes} bytes, data has ${t.data.byteLength}`);
    header[name] = { dtype: DTYPE_TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] };
    blobs.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const jsonBuf = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(jsonBuf.byteLength));
  return [len, jsonBuf, ...blobs];
}

/** Write a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Iterable<[string, RawTensor]>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
