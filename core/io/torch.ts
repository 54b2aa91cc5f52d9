/**
 * Data-only readers for PyTorch files, built on the safe unpickler (pickle.ts)
 * and the ZIP reader (zip.ts). Nothing in a file can run code here.
 *
 * - torch.save, PyTorch >= 1.6 (zip): `<archive>/data.pkl` holds the object;
 *   tensors are `_rebuild_tensor_v2(storage, offset, size, stride, ...)` whose
 *   storages are persistent ids ('storage', <torch.XStorage>, key, location,
 *   numel) naming the records `<archive>/data/<key>`. `<archive>/byteorder`
 *   ('little' when absent) gives the byte order.
 * - TorchScript (torch.jit.save, e.g. OpenAI CLIP's ViT-B-16.pt): the same
 *   layout plus `constants.pkl` and `code/`; data.pkl is a tree of
 *   `__torch__.*` module objects whose BUILD state holds parameters, buffers
 *   and submodules. `torchScriptTensors` names tensors as `state_dict()` does,
 *   using the `__parameters__`/`__buffers__` declarations in `code/` to skip
 *   plain tensor attributes.
 * - torch.save legacy format (PyTorch < 1.6, `_use_new_zipfile_serialization=False`):
 *   supported. A stream of pickles: magic number, protocol version 1001,
 *   sys_info, the object (persistent ids ('storage', type, key, location,
 *   numel, view_metadata)), the sorted storage keys, then for each key an int64
 *   element count followed by the raw little-endian data. The older tar-based
 *   format (PyTorch < 0.4) is not supported (see checkpoint.ts).
 *
 * Tensors stay lazy (`PyTensor` views) until `tensorData` copies one into a
 * contiguous RawTensor: non-contiguous and overlapping strides are gathered,
 * storages shared by several tensors are read once, float16/bfloat16 stay raw
 * bits and int64 stays a BigInt64Array.
 */
import { readFileForParsing } from './read-file.js';
import { FileFormatError } from '../errors.js';
import { DTYPE_BYTES, type DType, type RawTensor, type TypedData } from './raw-tensor.js';
import { looksLikeZip, parseZip, type ZipArchive } from './zip.js';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PyStorage,
  PyTensor,
  PyTuple,
  TORCH_STORAGE_DTYPES,
  pyTypeName,
  unpickleAt,
  walkLimit,
  WalkBudget,
  type CallContext,
  type PyValue,
  type SafeGlobal,
} from './pickle.js';

export type TorchFormat = 'torch.save' | 'torchscript';

export interface TorchFile {
  path: string;
  format: TorchFormat;
  /** True for the pre-1.6 (non-zip) torch.save format. */
  legacy: boolean;
  /** Top folder of the zip records ('' for the legacy format). */
  archiveName: string;
  /** The unpickled object (data.pkl); tensors are lazy PyTensor views. */
  root: PyValue;
  /** `<archive>/version` (zip formats). */
  version: string | undefined;
  byteorder: 'little' | 'big';
  /** The archive, for zip formats (TorchScript code lookups). */
  zip: ZipArchive | undefined;
}

export interface TorchOptions {
  /** Materialising a view larger than its storage (stride 0 / overlapping strides) is refused above this many elements (default 2^24). */
  maxExpandedElements?: number;
}

/** TorchScript's list/type helpers in data.pkl: data only, they return their argument. */
const TORCHSCRIPT_GLOBALS: ReadonlyMap<string, SafeGlobal> = new Map(
  ['build_intlist', 'build_tensorlist', 'build_doublelist', 'build_boollist', 'restore_type_tag'].map((n) => [
    `torch.jit._pickle.${n}`,
    { call: (args: PyValue[]) => args[0] ?? null } satisfies SafeGlobal,
  ]),
);

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function storageDtype(t: PyValue, ctx: CallContext): DType {
  if (t instanceof PyGlobal && (t.module === 'torch' || t.module === 'torch.cuda' || t.module === 'torch.storage')) {
    const d = TORCH_STORAGE_DTYPES[t.name];
    if (d) return d;
  }
  return ctx.fail(`unsupported storage type ${pyTypeName(t)}`);
}

function pidFields(pid: PyValue, ctx: CallContext, min: number): PyValue[] {
  if (!(pid instanceof PyTuple)) return ctx.fail(`persistent id is a ${pyTypeName(pid)}, not a tuple`);
  const f = pid.items;
  if (f[0] !== 'storage') {
    if (f[0] === 'module') return ctx.fail('the file holds a pickled nn.Module (torch.save(model)); only data (state dicts) can be read: re-save model.state_dict()');
    return ctx.fail(`unknown persistent id kind ${JSON.stringify(typeof f[0] === 'string' ? f[0] : pyTypeName(f[0]))}`);
  }
  if (f.length < min) ctx.fail(`storage persistent id has ${f.length} fields, expected ${min}`);
  return f;
}

const keyString = (v: PyValue, ctx: CallContext): string =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : ctx.fail(`storage key is a ${pyTypeName(v)}`);

const count = (v: PyValue, what: string, ctx: CallContext): number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : ctx.fail(`${what} must be a non-negative int, got ${pyTypeName(v)}`);

// ---------------------------------------------------------------------------
// Zip formats

function parseTorchZip(buf: Buffer, path: string): TorchFile {
  const zip = parseZip(buf, path);
  const pkls = zip.names.filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (pkls.length === 0) {
    const shown = zip.names.slice(0, 8).join(', ');
    throw new FileFormatError(path, `zip archive has no data.pkl: not a torch.save or TorchScript archive (entries: ${shown || 'none'}${zip.names.length > 8 ? ', ...' : ''})`);
  }
  if (pkls.length > 1) throw new FileFormatError(path, `zip archive has several data.pkl records (${pkls.join(', ')})`);
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  const torchscript = zip.has(`${prefix}constants.pkl`) || zip.names.some((n) => n.startsWith(`${prefix}code/`));
  const text = (name: string): string | undefined => (zip.has(prefix + name) ? zip.read(prefix + name).toString('utf8').trim() : undefined);
  const bo = text('byteorder') ?? 'little';
  if (bo !== 'little' && bo !== 'big') throw new FileFormatError(path, `byteorder record says "${bo.slice(0, 20)}", expected "little" or "big"`);
  const storages = new Map<string, PyStorage>();
  const persistentLoad = (pid: PyValue, ctx: CallContext): PyValue => {
    const f = pidFields(pid, ctx, 5);
    const dtype = storageDtype(f[1]!, ctx);
    const key = keyString(f[2]!, ctx);
    const location = typeof f[3] === 'string' ? f[3] : 'cpu';
    const n = count(f[4]!, 'storage size', ctx);
    const prev = storages.get(key);
    if (prev) {
      if (prev.dtype !== dtype) ctx.fail(`storage "${key}" is used as both ${prev.dtype} and ${dtype}`);
      return prev;
    }
    const record = `${prefix}data/${key}`;
    if (!zip.has(record)) ctx.fail(`storage record "${record}" is missing from the archive`);
    const bytes = n * DTYPE_BYTES[dtype];
    const have = zip.entry(record).size;
    if (have !== bytes) ctx.fail(`storage record "${record}" holds ${have} bytes, but ${n} ${dtype} elements need ${bytes}`);
    const s = new PyStorage(dtype, key, location, n, () => zip.read(record), bo);
    storages.set(key, s);
    return s;
  };
  const { value } = unpickleAt(zip.read(pkls[0]!), {
    file: path,
    label: pkls[0],
    persistentLoad,
    globals: torchscript ? TORCHSCRIPT_GLOBALS : undefined,
    classPrefixes: torchscript ? ['__torch__.'] : [],
  });
  return {
    path,
    format: torchscript ? 'torchscript' : 'torch.save',
    legacy: false,
    archiveName: prefix.replace(/\/$/, ''),
    root: value,
    version: text('version'),
    byteorder: bo,
    zip,
  };
}

// ---------------------------------------------------------------------------
// Legacy (pre-1.6) format

function parseTorchLegacy(buf: Buffer, path: string): TorchFile {
  const file = path;
  const label = '(legacy torch.save)';
  const bad = (msg: string): never => {
    throw new FileFormatError(path, `legacy torch.save format: ${msg}`);
  };
  let r = unpickleAt(buf, { file, label });
  if (r.value !== LEGACY_MAGIC) {
    throw new FileFormatError(path, 'is a pickle, but not a torch.save file (no torch magic number); only torch.save and TorchScript files are read');
  }
  r = unpickleAt(buf, { file, label, offset: r.end });
  if (r.value !== LEGACY_PROTOCOL) bad(`protocol version ${String(r.value)}, expected ${LEGACY_PROTOCOL}`);
  r = unpickleAt(buf, { file, label, offset: r.end });
  if (r.value instanceof PyDict && r.value.get('little_endian') === false) bad('saved on a big-endian machine; re-save it on a little-endian one');

  const storages = new Map<string, PyStorage>();
  const roots = new Map<string, { dtype: DType; numel: number }>();
  const dataOffsets = new Map<string, number>();
  const rootBytes = (key: string, dtype: DType, n: number): Uint8Array => {
    const at = dataOffsets.get(key);
    if (at === undefined) throw new FileFormatError(path, `legacy torch.save format: storage "${key}" has no data`);
    return buf.subarray(at, at + n * DTYPE_BYTES[dtype]);
  };
  const persistentLoad = (pid: PyValue, ctx: CallContext): PyValue => {
    const f = pidFields(pid, ctx, 6);
    const dtype = storageDtype(f[1]!, ctx);
    const key = keyString(f[2]!, ctx);
    const location = typeof f[3] === 'string' ? f[3] : 'cpu';
    const n = count(f[4]!, 'storage size', ctx);
    const root = roots.get(key);
    if (root && root.dtype !== dtype) ctx.fail(`storage "${key}" is used as both ${root.dtype} and ${dtype}`);
    if (!root) roots.set(key, { dtype, numel: n });
    const rootNumel = root?.numel ?? n;
    const view = f[5]!;
    if (view === null) {
      let s = storages.get(key);
      if (!s) storages.set(key, (s = new PyStorage(dtype, key, location, rootNumel, () => rootBytes(key, dtype, rootNumel))));
      return s;
    }
    if (!(view instanceof PyTuple) || view.items.length !== 3) return ctx.fail(`storage view metadata is a ${pyTypeName(view)}, expected (key, offset, size)`);
    const vkey = keyString(view.items[0]!, ctx);
    const off = count(view.items[1]!, 'view offset', ctx);
    const size = count(view.items[2]!, 'view size', ctx);
    if (off + size > rootNumel) ctx.fail(`storage view "${vkey}" [${off}, ${off + size}) is outside its ${rootNumel}-element storage "${key}"`);
    const id = `view:${vkey}`;
    let s = storages.get(id);
    if (!s) {
      const es = DTYPE_BYTES[dtype];
      s = new PyStorage(dtype, vkey, location, size, () => rootBytes(key, dtype, rootNumel).subarray(off * es, (off + size) * es));
      storages.set(id, s);
    }
    return s;
  };
  r = unpickleAt(buf, { file, label, offset: r.end, persistentLoad });
  const root = r.value;
  const keysR = unpickleAt(buf, { file, label, offset: r.end });
  const keys = keysR.value;
  if (!Array.isArray(keys)) return bad(`storage key list is a ${pyTypeName(keys)}`);
  let pos = keysR.end;
  for (const k of keys) {
    if (typeof k !== 'string' && typeof k !== 'number') bad(`storage key is a ${pyTypeName(k)}`);
    const key = String(k);
    const info = roots.get(key);
    if (!info) bad(`storage "${key}" has data but no tensor uses it`);
    if (pos + 8 > buf.length) bad(`storage "${key}" header at byte ${pos} is past the end of the file (truncated?)`);
    const n = buf.readBigInt64LE(pos);
    if (n !== BigInt(info!.numel)) bad(`storage "${key}" declares ${n} elements, the object expects ${info!.numel}`);
    const bytes = info!.numel * DTYPE_BYTES[info!.dtype];
    if (pos + 8 + bytes > buf.length) bad(`storage "${key}" data [${pos + 8}, ${pos + 8 + bytes}) runs past the end of the file (${buf.length} bytes; truncated?)`);
    dataOffsets.set(key, pos + 8);
    pos += 8 + bytes;
  }
  for (const key of roots.keys()) if (!dataOffsets.has(key)) bad(`storage "${key}" is used but has no data`);
  return { path, format: 'torch.save', legacy: true, archiveName: '', root, version: undefined, byteorder: 'little', zip: undefined };
}

// ---------------------------------------------------------------------------

/** Parse a torch.save (zip or legacy) or TorchScript file held in memory. `path` is used in messages. */
export function parseTorch(buf: Buffer, path = '<buffer>'): TorchFile {
  if (looksLikeZip(buf)) return parseTorchZip(buf, path);
  if (buf.length >= 2 && buf[0] === 0x80) return parseTorchLegacy(buf, path);
  throw new FileFormatError(path, `is not a PyTorch file: expected a zip archive or a pickle (first bytes ${buf.subarray(0, 8).toString('hex') || 'none: empty file'})`);
}

/** Read and parse a PyTorch file (torch.save or TorchScript). */
export function readTorch(path: string): TorchFile {
  return parseTorch(readFileForParsing(path), path);
}

// ---------------------------------------------------------------------------
// Materialising tensors

function typedView(dtype: DType, bytes: Uint8Array): TypedData {
  const ab = bytes.buffer;
  const o = bytes.byteOffset;
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'float32': return new Float32Array(ab, o, n);
    case 'float64': return new Float64Array(ab, o, n);
    case 'float16':
    case 'bfloat16': return new Uint16Array(ab, o, n);
    case 'int64': return new BigInt64Array(ab, o, n);
    case 'int32': return new Int32Array(ab, o, n);
    case 'int16': return new Int16Array(ab, o, n);
    case 'int8': return new Int8Array(ab, o, n);
    case 'uint8':
    case 'bool': return bytes;
  }
}

/** Element-sized unsigned words (8-byte elements as two 32-bit words), so bit patterns (NaN payloads) are copied exactly. */
function words(bytes: Uint8Array, es: number): Uint8Array | Uint16Array | Uint32Array {
  if (es === 1) return bytes;
  if (es === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/**
 * Copy a tensor's view of its storage into a new contiguous RawTensor
 * (`name` is used in error messages). Validates the view against the storage.
 */
export function tensorData(t: PyTensor, file: string, name = 'tensor', options: TorchOptions = {}): RawTensor {
  const fail = (msg: string): never => {
    throw new FileFormatError(file, `tensor "${name}": ${msg}`);
  };
  const { storage, shape, stride, offset } = t;
  const dtype = storage.dtype;
  const es = DTYPE_BYTES[dtype];
  if (shape.length !== stride.length) fail(`size has ${shape.length} dims but stride has ${stride.length}`);
  let n = 1;
  for (const d of shape) n *= d;
  if (!Number.isSafeInteger(n)) fail(`size [${shape.join(', ')}] is too large`);
  if (n === 0) return { dtype, shape: [...shape], data: typedView(dtype, new Uint8Array(0)) };
  let last = offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    fail(`view (offset ${offset}, size [${shape.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} of a ${storage.numel}-element storage`);
  }
  const maxExpand = options.maxExpandedElements ?? 1 << 24;
  if (n > storage.numel && n > maxExpand) fail(`view expands a ${storage.numel}-element storage to ${n} elements, more than the ${maxExpand} allowed`);
  const src = storage.bytes();
  if (src.byteLength !== storage.numel * es) fail(`storage holds ${src.byteLength} bytes, expected ${storage.numel * es}`);
  const out = new Uint8Array(n * es);
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i]!;
  }
  if (contiguous) out.set(src.subarray(offset * es, (offset + n) * es));
  else {
    // Gather with an odometer over the outer dims; the source is made element-aligned first.
    let region = src.subarray(offset * es, (last + 1) * es);
    if (region.byteOffset % es !== 0) region = new Uint8Array(region);
    const s = words(region, es);
    const d = words(out, es);
    const w = es === 8 ? 2 : 1;
    const nd = shape.length;
    const inner = shape[nd - 1]!;
    const st = stride[nd - 1]!;
    const idx = new Array<number>(nd).fill(0);
    let base = 0;
    let o = 0;
    for (let k = 0, outer = n / inner; k < outer; k++) {
      let p = base;
      if (w === 1) {
        for (let j = 0; j < inner; j++, p += st) d[o++] = s[p]!;
      } else {
        for (let j = 0; j < inner; j++, p += st) {
          d[o++] = s[2 * p]!;
          d[o++] = s[2 * p + 1]!;
        }
      }
      for (let a = nd - 2; a >= 0; a--) {
        base += stride[a]!;
        if (++idx[a]! < shape[a]!) break;
        base -= stride[a]! * shape[a]!;
        idx[a] = 0;
      }
    }
  }
  if (storage.byteorder === 'big' && es > 1) {
    for (let i = 0; i < out.length; i += es) out.subarray(i, i + es).reverse();
  }
  return { dtype, shape: [...shape], data: typedView(dtype, out) };
}

// ---------------------------------------------------------------------------
// Naming tensors

/** Dict keys usable in a dotted name. */
function keyName(k: PyValue): string | undefined {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  return undefined;
}

/** True when `v` is or (through dicts/lists/tuples) holds a tensor. Bounded depth. */
export function holdsTensor(v: PyValue, file: string, depth = 0, seen = new Set<object>()): boolean {
  walkLimit(file, depth);
  if (v instanceof PyTensor) return true;
  // A container met again (shared reference) holds no tensor, or the walk would have stopped.
  if (v !== null && typeof v === 'object') {
    if (seen.has(v)) return false;
    seen.add(v);
  }
  if (v instanceof PyDict) {
    for (const x of v.values()) if (holdsTensor(x, file, depth + 1, seen)) return true;
    return false;
  }
  if (Array.isArray(v) || v instanceof PyTuple) {
    for (const x of Array.isArray(v) ? v : v.items) if (holdsTensor(x, file, depth + 1, seen)) return true;
  }
  return false;
}

/**
 * Flatten a state dict: tensor values by key; nested dicts (OrderedDicts of
 * submodules) joined with '.'. Non-tensor values are skipped.
 */
export function stateDictTensors(value: PyValue, file: string, prefix = '', out = new Map<string, PyTensor>(), depth = 0, budget?: WalkBudget): Map<string, PyTensor> {
  if (!budget) {
    budget = new WalkBudget(file);
    budget.check(value);
  }
  walkLimit(file, depth);
  budget.visit();
  if (!(value instanceof PyDict)) throw new FileFormatError(file, `expected a state dict, found a ${pyTypeName(value)}`);
  for (const [k, v] of value) {
    const key = keyName(k);
    if (key === undefined) continue;
    const name = prefix + key;
    if (v instanceof PyTensor) {
      if (out.has(name)) throw new FileFormatError(file, `tensor name "${name}" occurs twice after flattening nested dicts`);
      out.set(name, v);
    } else if (v instanceof PyDict) stateDictTensors(v, file, `${name}.`, out, depth + 1, budget);
  }
  return out;
}

interface ClassDecl {
  isModule: boolean;
  parameters: string[] | undefined;
  buffers: string[] | undefined;
}

function parseDeclList(block: string, field: string): string[] | undefined {
  const m = new RegExp(`^\\s+${field}\\s*=\\s*\\[(.*)\\]\\s*$`, 'm').exec(block);
  if (!m) return undefined;
  return [...m[1]!.matchAll(/"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'/g)].map((x) => x[1] ?? x[2]!);
}

/** Look up a `__torch__.*` class in the archive's `code/` folder. */
function classDeclarations(tf: TorchFile): (qualname: string) => ClassDecl | undefined {
  const cache = new Map<string, ClassDecl | undefined>();
  const files = new Map<string, string | undefined>();
  const prefix = tf.archiveName ? `${tf.archiveName}/` : '';
  return (qualname) => {
    if (cache.has(qualname)) return cache.get(qualname);
    let decl: ClassDecl | undefined;
    const parts = qualname.split('.');
    const cls = parts.pop()!;
    const rec = `${prefix}code/${parts.join('/')}.py`;
    if (!files.has(rec)) files.set(rec, tf.zip?.has(rec) ? tf.zip.read(rec).toString('utf8') : undefined);
    const src = files.get(rec);
    if (src !== undefined) {
      const lines = src.split('\n');
      const head = lines.findIndex((l) => l.startsWith(`class ${cls}(`) || l.startsWith(`class ${cls}:`));
      if (head >= 0) {
        let end = head + 1;
        while (end < lines.length && (lines[end] === '' || /^\s/.test(lines[end]!))) end++;
        const block = lines.slice(head + 1, end).join('\n');
        const base = /^class [^(:]+\(([^)]*)\)/.exec(lines[head]!)?.[1]?.trim();
        decl = { isModule: base === 'Module', parameters: parseDeclList(block, '__parameters__'), buffers: parseDeclList(block, '__buffers__') };
      }
    }
    cache.set(qualname, decl);
    return decl;
  };
}

/**
 * Tensors of a TorchScript module tree, named as `module.state_dict()` names
 * them: per module its parameters, then its buffers, then its submodules
 * (dotted paths). Attributes that are not tensors, and tensor attributes that
 * the class's code does not declare as parameters or buffers, are skipped.
 */
export function torchScriptTensors(tf: TorchFile): Map<string, PyTensor> {
  const out = new Map<string, PyTensor>();
  if (!(tf.root instanceof PyObject)) throw new FileFormatError(tf.path, `TorchScript data.pkl holds a ${pyTypeName(tf.root)}, not a module`);
  const decl = classDeclarations(tf);
  const budget = new WalkBudget(tf.path);
  const walk = (obj: PyObject, prefix: string, depth: number): void => {
    walkLimit(tf.path, depth);
    budget.visit();
    const state = obj.state;
    if (!(state instanceof PyDict)) return;
    const d = decl(obj.className);
    const params: [string, PyTensor][] = [];
    const buffers: [string, PyTensor][] = [];
    const children: [string, PyObject][] = [];
    for (const [k, v] of state) {
      if (typeof k !== 'string') continue;
      if (v instanceof PyTensor) {
        if (!d || (!d.parameters && !d.buffers)) params.push([k, v]);
        else if (d.parameters?.includes(k)) params.push([k, v]);
        else if (d.buffers?.includes(k)) buffers.push([k, v]);
      } else if (v instanceof PyObject) {
        const cd = decl(v.className);
        if (!cd || cd.isModule) children.push([k, v]);
      }
    }
    for (const [k, v] of [...params, ...buffers]) out.set(prefix + k, v);
    for (const [k, v] of children) walk(v, `${prefix}${k}.`, depth + 1);
  };
  walk(tf.root, '', 0);
  return out;
}
