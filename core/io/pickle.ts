/**
 * A data-only unpickler (Python pickle protocols 0-5) for PyTorch files.
 *
 * It never runs code. GLOBAL / STACK_GLOBAL resolve only names on an explicit
 * allow-list, each backed by a small constructor written here in TypeScript
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2, storage types,
 * dtypes, set/frozenset, _codecs.encode, numpy scalars...). Callers may extend
 * the list and may allow class-name prefixes (TorchScript's `__torch__.`):
 * instances of those become plain `PyObject` records (class name, constructor
 * arguments, the state BUILD gives them). Anything else is refused with a
 * FileFormatError naming the global.
 *
 * Hostile input is handled without crashing the process: every read is bounds
 * checked before anything is allocated (declared lengths past the end fail
 * first), stack underflow, missing MARKs, memo misses and unknown opcodes are
 * errors, and the machine is iterative (no recursion), so a pickle of 100k
 * nested lists parses without a stack overflow. Constructors that copy data
 * (set(list), _codecs.encode(str)...) are charged against an allocation budget
 * proportional to the input size, so memo references cannot amplify a small
 * file into gigabytes. Consumers walking the result must bound their own
 * recursion (see `walkLimit`/`toPlain`): pickles may be deep or cyclic.
 */
import { FileFormatError } from '../errors.js';
import type { DType } from './raw-tensor.js';
import { firstInvalidUtf8 } from './utf8.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------
// Value model

/** A Python tuple (lists are plain JS arrays). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
  get length(): number {
    return this.items.length;
  }
}

/**
 * A Python dict (or OrderedDict). Keys that are str/int/float/bool/None compare
 * by value; tuple and other keys compare by identity. `attrs` is the state a
 * BUILD opcode gave the object (e.g. a state dict's `_metadata`).
 */
export class PyDict extends Map<PyValue, PyValue> {
  className = 'dict';
  attrs: PyValue | undefined;
}

/** A Python set or frozenset. */
export class PySet extends Set<PyValue> {
  frozen = false;
}

/** A reference to an allowed global (a dtype, a storage type, a class) used as a value. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An instance of an allowed class with no TypeScript constructor (TorchScript
 * `__torch__.*` modules, numpy arrays): class name, constructor arguments, and
 * the state BUILD set (for modules, a dict of attributes).
 */
export class PyObject {
  state: PyValue | undefined;
  /** Items SETITEMS/SETITEM stored into the object (dict subclasses). */
  dictItems: PyDict | undefined;
  /** Items APPEND/APPENDS stored into the object (list subclasses). */
  listItems: PyValue[] | undefined;
  constructor(
    readonly className: string,
    readonly args: PyValue[],
  ) {}
}

/** A typed storage (flat buffer) a tensor views; its bytes are loaded lazily. */
export class PyStorage {
  private cached: Uint8Array | undefined;
  constructor(
    readonly dtype: DType,
    /** Storage key (the zip record `data/<key>`, or the legacy-format key). */
    readonly key: string,
    /** Device the tensor was saved from ('cpu', 'cuda:0'); informational. */
    readonly location: string,
    /** Number of elements of `dtype`. */
    readonly numel: number,
    private readonly loader: () => Uint8Array,
    readonly byteorder: 'little' | 'big' = 'little',
  ) {}
  /** The raw bytes (loaded and checked on first use). */
  bytes(): Uint8Array {
    this.cached ??= this.loader();
    return this.cached;
  }
}

/** A tensor as pickled: a strided view of a storage. Materialise with `tensorData` (core/io/torch.ts). */
export class PyTensor {
  /** True when it was pickled as an nn.Parameter. */
  parameter = false;
  /** State set by BUILD or `_rebuild_parameter_with_state` (tensor subclasses); usually undefined. */
  attrs: PyValue | undefined;
  constructor(
    readonly storage: PyStorage,
    /** Offset into the storage, in elements. */
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    public requiresGrad: boolean,
  ) {}
  get dtype(): DType {
    return this.storage.dtype;
  }
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | PyStorage
  | PyTensor;

/** Python-ish type name of a value, for error messages. */
export function pyTypeName(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.className;
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyGlobal) return v.qualname;
  if (v instanceof PyObject) return v.className;
  if (v instanceof PyStorage) return 'storage';
  return 'tensor';
}

// ---------------------------------------------------------------------------
// Allow-list

/** What a constructor sees besides its arguments. */
export interface CallContext {
  readonly file: string;
  /** Throw a FileFormatError located at the current opcode. */
  fail(message: string): never;
  /** Account for `units` elements or bytes the constructor is about to copy (bounded by the input size). */
  charge(units: number): void;
  /** Instantiate a class the way NEWOBJ does (allowed class prefixes or constructors only). */
  instantiate(cls: PyValue, args: PyValue[]): PyValue;
}

/**
 * An allowed global. Without `call` it is a value only (a dtype, a storage
 * type); calling it (REDUCE/NEWOBJ) is an error.
 */
export interface SafeGlobal {
  call?(args: PyValue[], ctx: CallContext): PyValue;
}

/** PyTorch storage classes and their element types. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

const TORCH_DTYPE_NAMES = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int', 'int16', 'short', 'int8', 'uint8', 'bool',
  'complex64', 'complex128', 'cfloat', 'cdouble',
];

const asInt = (v: PyValue, what: string, ctx: CallContext): number => {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return ctx.fail(`${what} must be an int, got ${pyTypeName(v)}`);
};

/** A tuple/list of non-negative ints (a shape or stride). */
const asIntList = (v: PyValue, what: string, ctx: CallContext): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : ctx.fail(`${what} must be a tuple of ints, got ${pyTypeName(v)}`);
  ctx.charge(items.length);
  return items.map((d) => {
    const n = asInt(d, what, ctx);
    if (n < 0) ctx.fail(`${what} has a negative entry ${n}`);
    return n;
  });
};

const iterItems = (v: PyValue, what: string, ctx: CallContext): PyValue[] => {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof PySet) return [...v];
  if (v instanceof PyDict) return [...v.keys()];
  if (v instanceof Uint8Array) return [...v];
  if (typeof v === 'string') return [...v];
  return ctx.fail(`${what} needs an iterable, got ${pyTypeName(v)}`);
};

function encodeString(s: string, encoding: string, ctx: CallContext): Uint8Array {
  const enc = encoding.toLowerCase().replace(/_/g, '-');
  ctx.charge(s.length * (enc.startsWith('utf') ? 3 : 1));
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1' || enc === 'iso8859-1') {
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) ctx.fail(`_codecs.encode: character U+${s.charCodeAt(i).toString(16)} is not latin-1`);
    return new Uint8Array(Buffer.from(s, 'latin1'));
  }
  if (enc === 'utf-8' || enc === 'utf8') return new Uint8Array(Buffer.from(s, 'utf8'));
  if (enc === 'ascii') {
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) ctx.fail('_codecs.encode: non-ASCII character with the ascii codec');
    return new Uint8Array(Buffer.from(s, 'latin1'));
  }
  return ctx.fail(`_codecs.encode: unsupported encoding "${encoding}"`);
}

function makeOrderedDict(args: PyValue[], ctx: CallContext): PyDict {
  const d = new PyDict();
  d.className = 'collections.OrderedDict';
  if (args.length > 0 && args[0] !== null) {
    const src = args[0]!;
    if (src instanceof PyDict) {
      ctx.charge(src.size);
      for (const [k, v] of src) d.set(k, v);
    } else {
      const pairs = iterItems(src, 'OrderedDict()', ctx);
      ctx.charge(pairs.length);
      for (const p of pairs) {
        const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : ctx.fail(`OrderedDict() item is a ${pyTypeName(p)}, not a pair`);
        if (kv.length !== 2) ctx.fail(`OrderedDict() item has ${kv.length} elements, not 2`);
        d.set(kv[0]!, kv[1]!);
      }
    }
  }
  return d;
}

function makeSet(frozen: boolean) {
  return (args: PyValue[], ctx: CallContext): PySet => {
    const s = new PySet();
    s.frozen = frozen;
    if (args.length > 0) {
      const items = iterItems(args[0]!, frozen ? 'frozenset()' : 'set()', ctx);
      ctx.charge(items.length);
      for (const x of items) s.add(x);
    }
    return s;
  };
}

function makeBytes(args: PyValue[], ctx: CallContext): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  const src = args[0]!;
  if (typeof src === 'string') return encodeString(src, typeof args[1] === 'string' ? args[1] : 'utf-8', ctx);
  if (src instanceof Uint8Array) {
    ctx.charge(src.length);
    return new Uint8Array(src);
  }
  if (typeof src === 'number' && Number.isSafeInteger(src) && src >= 0) {
    ctx.charge(src);
    return new Uint8Array(src);
  }
  const items = iterItems(src, 'bytes()', ctx);
  ctx.charge(items.length);
  return Uint8Array.from(items, (x) => {
    const n = asInt(x, 'bytes() item', ctx);
    if (n < 0 || n > 255) ctx.fail(`bytes() item ${n} is not in range(256)`);
    return n;
  });
}

function rebuildTensor(args: PyValue[], ctx: CallContext, v2: boolean): PyTensor {
  if (args.length < 4) ctx.fail(`_rebuild_tensor${v2 ? '_v2' : ''} needs at least 4 arguments, got ${args.length}`);
  const storage = args[0]!;
  if (!(storage instanceof PyStorage)) return ctx.fail(`_rebuild_tensor expects a storage, got ${pyTypeName(storage)}`);
  const offset = asInt(args[1]!, 'storage offset', ctx);
  if (offset < 0) ctx.fail(`negative storage offset ${offset}`);
  const shape = asIntList(args[2]!, 'tensor size', ctx);
  const stride = asIntList(args[3]!, 'tensor stride', ctx);
  if (shape.length !== stride.length) ctx.fail(`tensor size has ${shape.length} dims but stride has ${stride.length}`);
  const requiresGrad = v2 && args.length > 4 ? args[4] === true : false;
  return new PyTensor(storage, offset, shape, stride, requiresGrad);
}

function rebuildParameter(args: PyValue[], ctx: CallContext, withState: boolean): PyTensor {
  const data = args[0];
  if (!(data instanceof PyTensor)) return ctx.fail(`_rebuild_parameter expects a tensor, got ${pyTypeName(data)}`);
  data.parameter = true;
  data.requiresGrad = args[1] === true;
  if (withState && args[3] !== undefined && args[3] !== null) data.attrs = args[3];
  return data;
}

function rebuildFromType(args: PyValue[], ctx: CallContext): PyValue {
  // _rebuild_from_type_v2(func, new_type, args, state): call func(*args) and attach state.
  const [func, newType, fargs, state] = args;
  if (!(func instanceof PyGlobal)) return ctx.fail(`_rebuild_from_type_v2 expects a function, got ${pyTypeName(func)}`);
  if (!(fargs instanceof PyTuple)) return ctx.fail(`_rebuild_from_type_v2 expects an argument tuple, got ${pyTypeName(fargs)}`);
  const out = ctx.instantiate(func, fargs.items);
  if (out instanceof PyTensor) {
    if (newType instanceof PyGlobal && newType.qualname === 'torch.nn.parameter.Parameter') out.parameter = true;
    if (state instanceof PyDict && state.size > 0) out.attrs = state;
  }
  return out;
}

const NUMPY_CODES: Record<string, { bytes: number; kind: 'f' | 'i' | 'u' | 'b' }> = {
  f2: { bytes: 2, kind: 'f' }, f4: { bytes: 4, kind: 'f' }, f8: { bytes: 8, kind: 'f' },
  i1: { bytes: 1, kind: 'i' }, i2: { bytes: 2, kind: 'i' }, i4: { bytes: 4, kind: 'i' }, i8: { bytes: 8, kind: 'i' },
  u1: { bytes: 1, kind: 'u' }, u2: { bytes: 2, kind: 'u' }, u4: { bytes: 4, kind: 'u' }, u8: { bytes: 8, kind: 'u' },
  b1: { bytes: 1, kind: 'b' },
};

/** numpy.core.multiarray.scalar(dtype, bytes): a numpy number as a plain number/bigint/bool. */
function numpyScalar(args: PyValue[], ctx: CallContext): PyValue {
  const [dt, raw] = args;
  if (!(dt instanceof PyObject) || dt.className !== 'numpy.dtype') return ctx.fail(`numpy scalar expects a numpy dtype, got ${pyTypeName(dt)}`);
  const code = typeof dt.args[0] === 'string' ? dt.args[0] : '';
  const info = NUMPY_CODES[code];
  if (!info) return ctx.fail(`numpy scalar of dtype "${code}" is not supported (numeric and bool only)`);
  const bytes = raw instanceof Uint8Array ? raw : typeof raw === 'string' ? Buffer.from(raw, 'latin1') : ctx.fail(`numpy scalar data must be bytes, got ${pyTypeName(raw)}`);
  if (bytes.length !== info.bytes) ctx.fail(`numpy scalar of dtype "${code}" needs ${info.bytes} bytes, got ${bytes.length}`);
  const st = dt.state instanceof PyTuple ? dt.state.items[1] : '<';
  const b = Buffer.from(bytes);
  if (st === '>' && info.bytes > 1) b.reverse();
  switch (info.kind) {
    case 'b': return b[0] !== 0;
    case 'f': return info.bytes === 2 ? halfBits(b.readUInt16LE(0)) : info.bytes === 4 ? b.readFloatLE(0) : b.readDoubleLE(0);
    case 'i': return info.bytes === 8 ? narrow(b.readBigInt64LE(0)) : b.readIntLE(0, info.bytes);
    case 'u': return info.bytes === 8 ? narrow(b.readBigUInt64LE(0)) : b.readUIntLE(0, info.bytes);
  }
}

function halfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function buildDefaultGlobals(): Map<string, SafeGlobal> {
  const g = new Map<string, SafeGlobal>();
  g.set('collections.OrderedDict', { call: makeOrderedDict });
  g.set('builtins.set', { call: makeSet(false) });
  g.set('builtins.frozenset', { call: makeSet(true) });
  g.set('builtins.bytes', { call: makeBytes });
  g.set('builtins.bytearray', { call: makeBytes });
  g.set('builtins.object', {});
  g.set('_codecs.encode', {
    call: (args, ctx) => {
      const [s, enc] = args;
      if (typeof s !== 'string') return ctx.fail(`_codecs.encode expects a str, got ${pyTypeName(s)}`);
      return encodeString(s, typeof enc === 'string' ? enc : 'utf-8', ctx);
    },
  });
  g.set('copyreg._reconstructor', {
    call: (args, ctx) => {
      const [cls, base, state] = args;
      if (!(base instanceof PyGlobal) || base.qualname !== 'builtins.object') ctx.fail('copyreg._reconstructor is only supported with base object');
      const obj = ctx.instantiate(cls ?? null, []);
      if (obj instanceof PyObject && state !== undefined && state !== null) obj.state = state;
      return obj;
    },
  });
  // torch
  g.set('torch._utils._rebuild_tensor', { call: (a, c) => rebuildTensor(a, c, false) });
  g.set('torch._utils._rebuild_tensor_v2', { call: (a, c) => rebuildTensor(a, c, true) });
  g.set('torch._utils._rebuild_parameter', { call: (a, c) => rebuildParameter(a, c, false) });
  g.set('torch._utils._rebuild_parameter_with_state', { call: (a, c) => rebuildParameter(a, c, true) });
  g.set('torch._tensor._rebuild_from_type_v2', { call: rebuildFromType });
  g.set('torch._tensor._rebuild_from_type', { call: rebuildFromType });
  for (const s of Object.keys(TORCH_STORAGE_DTYPES)) {
    g.set(`torch.${s}`, {});
    if (s !== 'UntypedStorage') g.set(`torch.cuda.${s}`, {});
  }
  g.set('torch.storage.UntypedStorage', {});
  for (const d of TORCH_DTYPE_NAMES) g.set(`torch.${d}`, {});
  g.set('torch.Tensor', {});
  g.set('torch.nn.parameter.Parameter', {});
  g.set('torch.Size', {
    call: (args, ctx) => new PyTuple(args.length ? asIntList(args[0]!, 'torch.Size', ctx) : []),
  });
  g.set('torch.device', {
    call: (args, ctx) => {
      const [type, index] = args;
      if (typeof type !== 'string') return ctx.fail(`torch.device expects a str, got ${pyTypeName(type)}`);
      return typeof index === 'number' ? `${type}:${index}` : type;
    },
  });
  // numpy (scalars in checkpoint metadata, e.g. a best score; arrays stay PyObject records)
  for (const m of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    g.set(`${m}.scalar`, { call: numpyScalar });
    g.set(`${m}._reconstruct`, { call: (args) => new PyObject('numpy.ndarray', args.slice(1)) });
  }
  g.set('numpy.dtype', { call: (args) => new PyObject('numpy.dtype', args) });
  g.set('numpy.ndarray', {});
  return g;
}

/** The built-in allow-list (qualified names). Extend it per call with `UnpickleOptions.globals`. */
export const DEFAULT_GLOBALS: ReadonlyMap<string, SafeGlobal> = buildDefaultGlobals();

/** Allowed names grouped by module ("torch._utils.{_rebuild_tensor, ...}"), storage types and dtypes summarised. */
function summariseAllowed(names: readonly string[]): string {
  const groups = new Map<string, string[]>();
  let values = false;
  for (const q of new Set(names)) {
    if (/^torch\.(cuda\.)?\w+Storage$|^torch\.[a-z0-9]+$/.test(q) && q !== 'torch.device') {
      values = true;
      continue;
    }
    const i = q.lastIndexOf('.');
    const mod = q.slice(0, i);
    groups.set(mod, [...(groups.get(mod) ?? []), q.slice(i + 1)]);
  }
  const parts = [...groups].map(([m, ns]) => (ns.length === 1 ? `${m}.${ns[0]}` : `${m}.{${ns.join(', ')}}`));
  if (values) parts.push('torch storage types and dtypes');
  return parts.join(', ');
}

/** Python 2 module names as protocol 0-2 pickles write them. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

// ---------------------------------------------------------------------------
// The machine

export interface UnpickleOptions {
  /** File name for error messages (FileFormatError.file). */
  file?: string;
  /** What is being unpickled inside the file (e.g. "data.pkl"), for error messages. */
  label?: string;
  /** Extra allowed globals by qualified name ("module.name"), on top of DEFAULT_GLOBALS. */
  globals?: ReadonlyMap<string, SafeGlobal> | Readonly<Record<string, SafeGlobal>>;
  /** Class-name prefixes whose instances become PyObject records (e.g. '__torch__.'). */
  classPrefixes?: readonly string[];
  /** Resolves PERSID/BINPERSID ids (torch storages). Without it, persistent ids are an error. */
  persistentLoad?: (pid: PyValue, ctx: CallContext) => PyValue;
  /** Byte offset to start at (several pickles in one stream). Default 0. */
  offset?: number;
  /** Largest LONG1/LONG4/text integer in bytes (default 4096). */
  maxIntBytes?: number;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just after the STOP opcode. */
  end: number;
  /** Highest protocol declared by PROTO (0 when none). */
  protocol: number;
}

const OPNAMES: Record<number, string> = {};
const op = (ch: string | number, name: string): number => {
  const code = typeof ch === 'string' ? ch.charCodeAt(0) : ch;
  OPNAMES[code] = name;
  return code;
};
const MARK = op('(', 'MARK');
const STOP = op('.', 'STOP');
const POP = op('0', 'POP');
const POP_MARK = op('1', 'POP_MARK');
const DUP = op('2', 'DUP');
const FLOAT = op('F', 'FLOAT');
const INT = op('I', 'INT');
const BININT = op('J', 'BININT');
const BININT1 = op('K', 'BININT1');
const LONG = op('L', 'LONG');
const BININT2 = op('M', 'BININT2');
const NONE = op('N', 'NONE');
const PERSID = op('P', 'PERSID');
const BINPERSID = op('Q', 'BINPERSID');
const REDUCE = op('R', 'REDUCE');
const STRING = op('S', 'STRING');
const BINSTRING = op('T', 'BINSTRING');
const SHORT_BINSTRING = op('U', 'SHORT_BINSTRING');
const UNICODE = op('V', 'UNICODE');
const BINUNICODE = op('X', 'BINUNICODE');
const APPEND = op('a', 'APPEND');
const BUILD = op('b', 'BUILD');
const GLOBAL = op('c', 'GLOBAL');
const DICT = op('d', 'DICT');
const EMPTY_DICT = op('}', 'EMPTY_DICT');
const APPENDS = op('e', 'APPENDS');
const GET = op('g', 'GET');
const BINGET = op('h', 'BINGET');
const INST = op('i', 'INST');
const LONG_BINGET = op('j', 'LONG_BINGET');
const LIST = op('l', 'LIST');
const EMPTY_LIST = op(']', 'EMPTY_LIST');
const OBJ = op('o', 'OBJ');
const PUT = op('p', 'PUT');
const BINPUT = op('q', 'BINPUT');
const LONG_BINPUT = op('r', 'LONG_BINPUT');
const SETITEM = op('s', 'SETITEM');
const TUPLE = op('t', 'TUPLE');
const EMPTY_TUPLE = op(')', 'EMPTY_TUPLE');
const SETITEMS = op('u', 'SETITEMS');
const BINFLOAT = op('G', 'BINFLOAT');
const PROTO = op(0x80, 'PROTO');
const NEWOBJ = op(0x81, 'NEWOBJ');
const EXT1 = op(0x82, 'EXT1');
const EXT2 = op(0x83, 'EXT2');
const EXT4 = op(0x84, 'EXT4');
const TUPLE1 = op(0x85, 'TUPLE1');
const TUPLE2 = op(0x86, 'TUPLE2');
const TUPLE3 = op(0x87, 'TUPLE3');
const NEWTRUE = op(0x88, 'NEWTRUE');
const NEWFALSE = op(0x89, 'NEWFALSE');
const LONG1 = op(0x8a, 'LONG1');
const LONG4 = op(0x8b, 'LONG4');
const BINBYTES = op('B', 'BINBYTES');
const SHORT_BINBYTES = op('C', 'SHORT_BINBYTES');
const SHORT_BINUNICODE = op(0x8c, 'SHORT_BINUNICODE');
const BINUNICODE8 = op(0x8d, 'BINUNICODE8');
const BINBYTES8 = op(0x8e, 'BINBYTES8');
const EMPTY_SET = op(0x8f, 'EMPTY_SET');
const ADDITEMS = op(0x90, 'ADDITEMS');
const FROZENSET = op(0x91, 'FROZENSET');
const NEWOBJ_EX = op(0x92, 'NEWOBJ_EX');
const STACK_GLOBAL = op(0x93, 'STACK_GLOBAL');
const MEMOIZE = op(0x94, 'MEMOIZE');
const FRAME = op(0x95, 'FRAME');
const BYTEARRAY8 = op(0x96, 'BYTEARRAY8');
const NEXT_BUFFER = op(0x97, 'NEXT_BUFFER');
const READONLY_BUFFER = op(0x98, 'READONLY_BUFFER');

/** Int from a bigint: a JS number when it is a safe integer. */
function narrow(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Little-endian two's-complement bytes (LONG1/LONG4) to an int. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  if (bytes.length <= 6) {
    let v = 0;
    for (let i = bytes.length - 1; i >= 0; i--) v = v * 256 + bytes[i]!;
    if (bytes[bytes.length - 1]! & 0x80) v -= 2 ** (8 * bytes.length);
    return v;
  }
  const hex = Buffer.from(bytes).reverse().toString('hex');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return narrow(v);
}

/** Python `repr` string literal body (protocol 0 STRING) to a latin-1 JS string. */
function unescapeString(s: string, fail: (m: string) => never): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    if (n === undefined) fail('STRING ends with a lone backslash');
    switch (n) {
      case '\\': out += '\\'; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x': {
        const h = s.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail(`bad \\x escape in STRING`);
        out += String.fromCharCode(parseInt(h, 16));
        i += 2;
        break;
      }
      default:
        if (n! >= '0' && n! <= '7') {
          let j = i;
          while (j < i + 3 && j < s.length && s[j]! >= '0' && s[j]! <= '7') j++;
          out += String.fromCharCode(parseInt(s.slice(i, j), 8) & 0xff);
          i = j - 1;
        } else out += `\\${n}`;
    }
  }
  return out;
}

/** raw-unicode-escape (protocol 0 UNICODE): only \uXXXX and \UXXXXXXXX are escapes. */
function rawUnicodeEscape(latin: string, fail: (m: string) => never): string {
  return latin.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_m, g: string) => {
    const cp = parseInt(g.slice(1), 16);
    if (cp > 0x10ffff) fail(`UNICODE escape \\${g} is out of range`);
    return String.fromCodePoint(cp);
  });
}

class Machine {
  private pos: number;
  private stack: PyValue[] = [];
  private marks: PyValue[][] = [];
  private memo = new Map<number, PyValue>();
  private readonly file: string;
  private readonly globals: ReadonlyMap<string, SafeGlobal>;
  private readonly extra: ReadonlyMap<string, SafeGlobal>;
  private readonly prefixes: readonly string[];
  private readonly maxInt: number;
  private opPos = 0;
  private opcode = 0;
  private budget: number;
  protocol = 0;
  readonly ctx: CallContext;

  constructor(
    private readonly buf: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.pos = opts.offset ?? 0;
    this.file = opts.file ?? '<pickle>';
    const extra = opts.globals;
    this.extra = extra instanceof Map ? extra : new Map(Object.entries((extra ?? {}) as Record<string, SafeGlobal>));
    this.globals = DEFAULT_GLOBALS;
    this.prefixes = opts.classPrefixes ?? [];
    this.maxInt = opts.maxIntBytes ?? 4096;
    this.budget = 16 * buf.length + (1 << 20);
    const self = this;
    this.ctx = {
      file: this.file,
      fail: (m) => self.fail(m),
      charge(units) {
        self.budget -= units;
        if (self.budget < 0) self.fail('the pickle expands to far more data than its size (a pickle bomb?)');
      },
      instantiate: (cls, args) => self.instantiate(cls, args),
    };
  }

  fail(msg: string): never {
    const name = this.opcode < 0 ? 'end of data' : OPNAMES[this.opcode] ?? `opcode 0x${this.opcode.toString(16).padStart(2, '0')}`;
    throw new FileFormatError(this.file, `bad pickle${this.opts.label ? ` ${this.opts.label}` : ''} at byte ${this.opPos} (${name}): ${msg}`);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail(`needs ${n} bytes but only ${this.buf.length - this.pos} remain (file truncated?)`);
  }
  private u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }
  private i32(): number {
    const v = this.u32();
    return v > 0x7fffffff ? v - 0x100000000 : v;
  }
  /** An 8-byte length, checked against the remaining input before it becomes a number. */
  private len64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi !== 0 || lo > this.buf.length - this.pos) this.fail(`declared length ${hi * 2 ** 32 + lo} runs past the end of the data (${this.buf.length - this.pos} bytes remain)`);
    return lo;
  }
  private bytes(n: number): Uint8Array {
    if (n < 0) this.fail(`negative length ${n}`);
    if (n > this.buf.length - this.pos) this.fail(`declared length ${n} runs past the end of the data (${this.buf.length - this.pos} bytes remain)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private line(): string {
    let e = this.pos;
    const b = this.buf;
    while (e < b.length && b[e] !== 0x0a) e++;
    if (e >= b.length) this.fail('line argument has no terminating newline (file truncated?)');
    const s = Buffer.from(b.buffer, b.byteOffset + this.pos, e - this.pos).toString('latin1');
    this.pos = e + 1;
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }
  /** UTF-8 as Python's pickle decodes it ('surrogatepass'): invalid bytes are an error, not U+FFFD. */
  private utf8(n: number): string {
    const b = this.bytes(n);
    let ascii = true;
    for (let i = 0; i < b.length && ascii; i++) ascii = b[i]! < 0x80;
    if (ascii) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
    try {
      return strictUtf8.decode(b);
    } catch {
      const at = firstInvalidUtf8(b, true);
      // Only encoded surrogates (which 'surrogatepass' accepts): decode them as replacement characters.
      if (at < 0) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
      return this.fail(`a string of ${n} bytes is not valid UTF-8: byte 0x${b[at]!.toString(16).padStart(2, '0')} at file offset ${this.pos - n + at} (Python's pickle.load fails on it too)`);
    }
  }
  private latin1(n: number): string {
    const b = this.bytes(n);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  }

  private push(v: PyValue): void {
    this.stack.push(v);
  }
  private pop(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop()!;
  }
  private top(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1]!;
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.marks.pop();
    if (prev === undefined) this.fail('no MARK on the stack');
    this.stack = prev;
    return items;
  }
  private memoGet(key: number): PyValue {
    const v = this.memo.get(key);
    if (v === undefined) this.fail(`memo key ${key} was never stored`);
    return v;
  }
  private memoPut(key: number): void {
    if (key < 0) this.fail(`negative memo key ${key}`);
    this.memo.set(key, this.top());
  }
  private bigInt(text: string): number | bigint {
    if (text.length > this.maxInt * 2.5) this.fail(`integer literal of ${text.length} digits is too large`);
    if (!/^[+-]?\d+$/.test(text)) this.fail(`bad integer literal "${text.slice(0, 40)}"`);
    return narrow(BigInt(text));
  }

  private resolveGlobal(module: string, name: string): PyGlobal {
    const mod = MODULE_ALIASES[module] ?? module;
    const q = `${mod}.${name}`;
    if (this.extra.has(q) || this.globals.has(q) || this.prefixes.some((p) => q.startsWith(p))) return new PyGlobal(mod, name);
    const pre = this.prefixes.length ? `; classes ${this.prefixes.map((p) => `${p}*`).join(', ')}` : '';
    return this.fail(`refuses to load global ${JSON.stringify(q.length > 120 ? `${q.slice(0, 120)}...` : q)}: only data is read (allowed: ${summariseAllowed([...this.globals.keys(), ...this.extra.keys()])}${pre})`);
  }

  private handler(g: PyGlobal): SafeGlobal | undefined {
    return this.extra.get(g.qualname) ?? this.globals.get(g.qualname);
  }

  private isClass(g: PyGlobal): boolean {
    return !this.handler(g) && this.prefixes.some((p) => g.qualname.startsWith(p));
  }

  instantiate(cls: PyValue, args: PyValue[]): PyValue {
    if (!(cls instanceof PyGlobal)) return this.fail(`cannot call a ${pyTypeName(cls)}`);
    if (this.isClass(cls)) return new PyObject(cls.qualname, args);
    const h = this.handler(cls);
    if (!h?.call) return this.fail(`global "${cls.qualname}" is a value, not a constructor`);
    return h.call(args, this.ctx);
  }

  private tupleArgs(v: PyValue, what: string): PyValue[] {
    if (v instanceof PyTuple) return v.items;
    return this.fail(`${what} arguments must be a tuple, got ${pyTypeName(v)}`);
  }

  private setItems(target: PyValue, items: PyValue[]): void {
    if (items.length % 2) this.fail(`odd number of items (${items.length}) for a dict`);
    let d: PyDict;
    if (target instanceof PyDict) d = target;
    else if (target instanceof PyObject) d = target.dictItems ??= new PyDict();
    else return this.fail(`cannot set items on a ${pyTypeName(target)}`);
    for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
  }

  private appendItems(target: PyValue, items: PyValue[]): void {
    let l: PyValue[];
    if (Array.isArray(target)) l = target;
    else if (target instanceof PyObject) l = target.listItems ??= [];
    else return this.fail(`cannot append to a ${pyTypeName(target)}`);
    for (const x of items) l.push(x);
  }

  private build(obj: PyValue, state: PyValue): void {
    if (obj instanceof PyObject) {
      if (obj.state instanceof PyDict && state instanceof PyDict) for (const [k, v] of state) obj.state.set(k, v);
      else obj.state = state;
    } else if (obj instanceof PyDict) obj.attrs = state;
    else if (obj instanceof PyTensor) obj.attrs = state;
    else this.fail(`cannot BUILD (set the state of) a ${pyTypeName(obj)}`);
  }

  private persistent(pid: PyValue): PyValue {
    const load = this.opts.persistentLoad;
    if (!load) return this.fail('persistent id found but no persistent_load is available (not a torch file?)');
    return load(pid, this.ctx);
  }

  run(): UnpickleResult {
    const b = this.buf;
    for (;;) {
      this.opPos = this.pos;
      if (this.pos >= b.length) {
        this.opcode = -1;
        this.fail('data ends before the STOP opcode (file truncated?)');
      }
      const code = b[this.pos++]!;
      this.opcode = code;
      switch (code) {
        case PROTO: {
          const v = this.u8();
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          this.protocol = v;
          break;
        }
        case FRAME:
          this.len64();
          break;
        case STOP: {
          if (this.marks.length) this.fail('STOP with an unclosed MARK');
          const value = this.pop();
          return { value, end: this.pos, protocol: this.protocol };
        }
        case MARK:
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case POP:
          if (this.stack.length === 0 && this.marks.length) this.popMark();
          else this.pop();
          break;
        case POP_MARK:
          this.popMark();
          break;
        case DUP:
          this.push(this.top());
          break;
        case NONE:
          this.push(null);
          break;
        case NEWTRUE:
          this.push(true);
          break;
        case NEWFALSE:
          this.push(false);
          break;
        case BININT:
          this.push(this.i32());
          break;
        case BININT1:
          this.push(this.u8());
          break;
        case BININT2:
          this.push(this.u16());
          break;
        case LONG1:
        case LONG4: {
          const n = code === LONG1 ? this.u8() : this.i32();
          if (n > this.maxInt) this.fail(`integer of ${n} bytes is larger than the ${this.maxInt}-byte limit`);
          this.push(decodeLong(this.bytes(n)));
          break;
        }
        case INT: {
          const s = this.line();
          if (s === '00') this.push(false);
          else if (s === '01') this.push(true);
          else this.push(this.bigInt(s));
          break;
        }
        case LONG: {
          const s = this.line();
          this.push(this.bigInt(s.endsWith('L') ? s.slice(0, -1) : s));
          break;
        }
        case FLOAT: {
          const s = this.line().trim();
          const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : this.fail(`bad float literal "${s.slice(0, 40)}"`);
          this.push(v);
          break;
        }
        case BINFLOAT: {
          this.need(8);
          this.push(Buffer.from(b.buffer, b.byteOffset + this.pos, 8).readDoubleBE(0));
          this.pos += 8;
          break;
        }
        case BINUNICODE:
          this.push(this.utf8(this.u32()));
          break;
        case SHORT_BINUNICODE:
          this.push(this.utf8(this.u8()));
          break;
        case BINUNICODE8:
          this.push(this.utf8(this.len64()));
          break;
        case UNICODE:
          this.push(rawUnicodeEscape(this.line(), (m) => this.fail(m)));
          break;
        case STRING: {
          const s = this.line();
          const q = s[0];
          if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) this.fail('STRING argument is not a quoted string');
          this.push(unescapeString(s.slice(1, -1), (m) => this.fail(m)));
          break;
        }
        // Python 2 byte strings are decoded as latin-1 (one char per byte, reversible).
        case BINSTRING:
          this.push(this.latin1(this.i32()));
          break;
        case SHORT_BINSTRING:
          this.push(this.latin1(this.u8()));
          break;
        case BINBYTES:
          this.push(new Uint8Array(this.bytes(this.u32())));
          break;
        case SHORT_BINBYTES:
          this.push(new Uint8Array(this.bytes(this.u8())));
          break;
        case BINBYTES8:
        case BYTEARRAY8:
          this.push(new Uint8Array(this.bytes(this.len64())));
          break;
        case NEXT_BUFFER:
          this.fail('out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported');
          break;
        case READONLY_BUFFER:
          this.top();
          break;
        case EMPTY_TUPLE:
          this.push(new PyTuple([]));
          break;
        case TUPLE1:
          this.push(new PyTuple([this.pop()]));
          break;
        case TUPLE2: {
          const y = this.pop();
          const x = this.pop();
          this.push(new PyTuple([x, y]));
          break;
        }
        case TUPLE3: {
          const z = this.pop();
          const y = this.pop();
          const x = this.pop();
          this.push(new PyTuple([x, y, z]));
          break;
        }
        case TUPLE:
          this.push(new PyTuple(this.popMark()));
          break;
        case EMPTY_LIST:
          this.push([]);
          break;
        case LIST:
          this.push(this.popMark());
          break;
        case EMPTY_DICT:
          this.push(new PyDict());
          break;
        case DICT: {
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case EMPTY_SET:
          this.push(new PySet());
          break;
        case FROZENSET: {
          const s = new PySet(this.popMark());
          s.frozen = true;
          this.push(s);
          break;
        }
        case ADDITEMS: {
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet)) this.fail(`cannot add items to a ${pyTypeName(s)}`);
          for (const x of items) (s as PySet).add(x);
          break;
        }
        case APPEND: {
          const v = this.pop();
          this.appendItems(this.top(), [v]);
          break;
        }
        case APPENDS: {
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case BINGET:
          this.push(this.memoGet(this.u8()));
          break;
        case LONG_BINGET:
          this.push(this.memoGet(this.u32()));
          break;
        case GET:
          this.push(this.memoGet(Number(this.bigInt(this.line()))));
          break;
        case BINPUT:
          this.memoPut(this.u8());
          break;
        case LONG_BINPUT:
          this.memoPut(this.u32());
          break;
        case PUT:
          this.memoPut(Number(this.bigInt(this.line())));
          break;
        case MEMOIZE:
          this.memoPut(this.memo.size);
          break;
        case GLOBAL: {
          const module = this.line();
          const name = this.line();
          this.push(this.resolveGlobal(module, name));
          break;
        }
        case STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.push(this.resolveGlobal(module as string, name as string));
          break;
        }
        case REDUCE: {
          const args = this.tupleArgs(this.pop(), 'REDUCE');
          const fn = this.pop();
          this.push(this.instantiate(fn, args));
          break;
        }
        case NEWOBJ: {
          const args = this.tupleArgs(this.pop(), 'NEWOBJ');
          const cls = this.pop();
          this.push(this.instantiate(cls, args));
          break;
        }
        case NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.tupleArgs(this.pop(), 'NEWOBJ_EX');
          const cls = this.pop();
          if (!(kwargs instanceof PyDict) || kwargs.size > 0) this.fail('NEWOBJ_EX with keyword arguments is not supported');
          this.push(this.instantiate(cls, args));
          break;
        }
        case INST: {
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.push(this.instantiate(this.resolveGlobal(module, name), args));
          break;
        }
        case OBJ: {
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.instantiate(items[0]!, items.slice(1)));
          break;
        }
        case BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case BINPERSID:
          this.push(this.persistent(this.pop()));
          break;
        case PERSID:
          this.push(this.persistent(this.line()));
          break;
        case EXT1:
        case EXT2:
        case EXT4:
          this.fail('extension-registry opcodes (EXT1/2/4) are not supported: they name code');
          break;
        default:
          this.fail(`unknown opcode 0x${code.toString(16).padStart(2, '0')}`);
      }
    }
  }
}

/** Unpickle one pickle starting at `options.offset` (default 0); also returns where it ended. */
export function unpickleAt(buf: Uint8Array, options: UnpickleOptions = {}): UnpickleResult {
  const m = new Machine(buf, options);
  try {
    return m.run();
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    // Any other error is a bug or an engine limit (e.g. out of memory): report it against the file.
    throw new FileFormatError(options.file ?? '<pickle>', `cannot unpickle: ${(e as Error).message}`, { cause: e });
  }
}

/** Unpickle `buf` (data only; see the module comment for what is allowed). */
export function unpickle(buf: Uint8Array, options: UnpickleOptions = {}): PyValue {
  return unpickleAt(buf, options).value;
}

// ---------------------------------------------------------------------------
// Walking results safely

/** Default depth limit for walking unpickled values (pickles may nest arbitrarily deep or be cyclic). */
export const MAX_DEPTH = 500;

/** Throws a FileFormatError when a walk goes deeper than `limit`. */
export function walkLimit(file: string, depth: number, limit = MAX_DEPTH): void {
  if (depth > limit) throw new FileFormatError(file, `data nests deeper than ${limit} levels (cyclic, or a pickle bomb?)`);
}

/** Default number of values one walk of an unpickled value may visit (see WalkBudget). */
export const MAX_WALK = 2_000_000;

/**
 * The values a walk has visited. The memo lets a pickle refer to one object many times,
 * so a few hundred bytes can describe a tree of 2^64 nodes (`x = (x, x)`, repeated): a
 * depth limit does not catch that, a visit budget does. Size it from the input when
 * legitimate data can be large (a real refs(unc).p has ~2M values in ~40 MB).
 */
export class WalkBudget {
  private used = 0;
  constructor(
    readonly file: string,
    readonly limit = MAX_WALK,
  ) {}
  visit(): void {
    if (++this.used > this.limit) this.refuse();
  }

  /**
   * Refuse `v` up front when walking it would visit more than the budget: its expanded
   * size is counted once per distinct object (linear in the pickle, not in the expansion).
   */
  check(v: PyValue): void {
    const sizes = new Map<object, number>();
    const size = (x: PyValue, depth: number): number => {
      walkLimit(this.file, depth);
      if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return 1;
      const known = sizes.get(x);
      if (known !== undefined) return known;
      let n = 1;
      const add = (c: PyValue) => {
        n = Math.min(n + size(c, depth + 1), this.limit + 1);
      };
      if (Array.isArray(x)) x.forEach(add);
      else if (x instanceof PyTuple) x.items.forEach(add);
      else if (x instanceof PySet) x.forEach(add);
      else if (x instanceof PyDict) for (const [k, c] of x) (add(k), add(c));
      else if (x instanceof PyObject && x.state !== undefined) add(x.state);
      sizes.set(x, n);
      if (n > this.limit - this.used) this.refuse();
      return n;
    };
    size(v, 0);
  }

  private refuse(): never {
    throw new FileFormatError(this.file, `data expands to more than ${this.limit} values through shared references (a pickle bomb?)`);
  }
}

/**
 * Convert a value to plain JSON-like data for metadata: dicts with string keys
 * become objects (others arrays of [key, value] pairs), tuples/lists/sets
 * arrays, bytes Uint8Array, tensors a short description ("tensor float32[2, 3]"),
 * numpy dtypes their code, other objects `{ __class__, state }`. Bounded depth and
 * bounded visits (`budget`: shared references are expanded, so a pickle bomb is refused).
 */
export function toPlain(v: PyValue, file = '<pickle>', depth = 0, budget?: WalkBudget): unknown {
  if (!budget) {
    budget = new WalkBudget(file);
    budget.check(v);
  }
  walkLimit(file, depth);
  budget.visit();
  const sub = (x: PyValue): unknown => toPlain(x, file, depth + 1, budget);
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(sub);
  if (v instanceof PyTuple) return v.items.map(sub);
  if (v instanceof PySet) return [...v].map(sub);
  if (v instanceof PyDict) {
    if ([...v.keys()].every((k) => typeof k === 'string')) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of v) o[k as string] = sub(x);
      return o;
    }
    return [...v].map(([k, x]) => [sub(k), sub(x)]);
  }
  if (v instanceof PyTensor) return `tensor ${v.dtype}[${v.shape.join(', ')}]`;
  if (v instanceof PyStorage) return `storage ${v.dtype}[${v.numel}]`;
  if (v instanceof PyGlobal) return v.qualname;
  if (v.className === 'numpy.dtype' && typeof v.args[0] === 'string') return `numpy.dtype(${v.args[0]})`;
  return { __class__: v.className, state: v.state === undefined ? undefined : sub(v.state) };
}
