/**
 * A small Python pickle writer: enough to produce files such as the REFER
 * `refs(unc).p` (a list of dicts of str / int / float / list), loadable with
 * Python's `pickle.load`.
 *
 * Value mapping (JS -> Python):
 *   null                      -> None
 *   boolean                   -> bool
 *   number, integral          -> int      (use `pyFloat(x)` to force a float such as 1.0)
 *   number, non-integral/NaN/±Inf -> float
 *   bigint                    -> int      (any size: LONG1 / LONG4 beyond 32 bits)
 *   string                    -> str
 *   Uint8Array                -> bytes    (as CPython pickles bytes at protocols < 3: `_codecs.encode(s, 'latin1')`)
 *   Array                     -> list
 *   PyTuple (`pyTuple([...])`) -> tuple
 *   Map                       -> dict with keys of any hashable value (insertion order)
 *   plain object              -> dict with str keys, in JS property order (note: JS lists
 *                                integer-like keys such as "2" first; use a Map to control order)
 *
 * Protocols 0 (text, as Python 2's default `pickle.dump`) and 2 (binary, the default here).
 * Memoization follows CPython: every list / dict / tuple / str is PUT into the memo; a
 * container met again (same JS object) and, with `memoizeStrings`, an equal string met again
 * are written as GET, so readers must implement the memo. Shared and recursive lists and
 * dicts therefore round-trip; a tuple must not be part of a reference cycle.
 *
 * `strings: 'py2'` writes ASCII strings as Python 2 byte strings (STRING / SHORT_BINSTRING /
 * BINSTRING), which is what a pickle written by Python 2 contains; Python 3 loads them as
 * `str` with the default `encoding='ASCII'`. Non-ASCII strings stay unicode, as in Python 2.
 */
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

/** A Python tuple. */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
/** A Python float that happens to be integral (1.0), which a plain JS number would write as int. */
export class PyFloat {
  constructor(readonly value: number) {}
}
export const pyTuple = (items: readonly PyValue[]): PyTuple => new PyTuple(items);
export const pyFloat = (value: number): PyFloat => new PyFloat(value);

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyTuple
  | PyFloat
  | readonly PyValue[]
  | ReadonlyMap<PyValue, PyValue>
  | { readonly [key: string]: PyValue };

export interface PickleWriteOptions {
  /** 0 (text) or 2 (binary). Default 2. */
  protocol?: 0 | 2;
  /** 'unicode' (Python 3 str, default) or 'py2' (ASCII strings as Python 2 byte strings). */
  strings?: 'unicode' | 'py2';
  /** Write an equal string met again as a memo GET (as CPython does for interned strings). Default true. */
  memoizeStrings?: boolean;
}

// Opcodes (pickletools names).
const MARK = 0x28; // (
const STOP = 0x2e; // .
const NONE = 0x4e; // N
const APPEND = 0x61; // a
const APPENDS = 0x65; // e
const SETITEM = 0x73; // s
const SETITEMS = 0x75; // u
const TUPLE = 0x74; // t
const LIST = 0x6c; // l
const DICT = 0x64; // d
const EMPTY_LIST = 0x5d; // ]
const EMPTY_DICT = 0x7d; // }
const EMPTY_TUPLE = 0x29; // )
const REDUCE = 0x52; // R
const GLOBAL = 0x63; // c
const PROTO = 0x80;
const NEWTRUE = 0x88;
const NEWFALSE = 0x89;
const TUPLE1 = 0x85;
const TUPLE2 = 0x86;
const TUPLE3 = 0x87;
const BININT = 0x4a; // J
const BININT1 = 0x4b; // K
const BININT2 = 0x4d; // M
const LONG1 = 0x8a;
const LONG4 = 0x8b;
const BINFLOAT = 0x47; // G
const BINUNICODE = 0x58; // X
const SHORT_BINSTRING = 0x55; // U
const BINSTRING = 0x54; // T
const BINPUT = 0x71; // q
const LONG_BINPUT = 0x72; // r
const BINGET = 0x68; // h
const LONG_BINGET = 0x6a; // j

const BATCH = 1000; // CPython's batch size for APPENDS / SETITEMS

class ByteSink {
  private buf = new Uint8Array(1 << 12);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i) & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setInt32(this.length, v, true);
    this.length += 4;
  }
  u16(v: number): void {
    this.ensure(2);
    new DataView(this.buf.buffer).setUint16(this.length, v, true);
    this.length += 2;
  }
  f64be(v: number): void {
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.length, v, false);
    this.length += 8;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

/** Little-endian two's complement bytes of `v`, minimal length (CPython's encode_long); 0 -> empty. */
function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  // Emit bytes until the remaining value is all sign bits and the last byte's top bit agrees.
  for (;;) {
    const b = Number(x & 0xffn);
    out.push(b);
    x >>= 8n;
    if ((x === 0n && (b & 0x80) === 0) || (x === -1n && (b & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out);
}

/** Python's repr() of a float, as protocol 0 writes it (`float(s)` must give the value back). */
function floatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return '-0.0'; // only via pyFloat(-0): a plain -0 is the int 0
  const s = String(v); // shortest round-trip digits, like Python's repr
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Python 2 repr() of an ASCII byte string (protocol 0 STRING argument). */
function py2StringRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (ch === q || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + q;
}

/** Python's raw-unicode-escape codec with pickle's extra escapes (protocol 0 UNICODE argument). */
function rawUnicodeEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x5c) out += '\\u005c';
    else if (cp === 0x0a) out += '\\u000a';
    else if (cp === 0x0d) out += '\\u000d'; // CPython >= 3.8 escapes \r too; harmless before
    else if (cp === 0x00) out += '\\u0000';
    else if (cp === 0x1a) out += '\\u001a'; // as CPython, for Windows text files
    else if (cp < 0x100) out += String.fromCharCode(cp);
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out; // every char < 0x100: written as latin-1 bytes
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'object' && v !== null) return `an object of class ${v.constructor?.name ?? '(none)'}`;
  return typeof v;
}

class Pickler {
  private readonly out = new ByteSink();
  private readonly bin: boolean;
  private readonly py2: boolean;
  private readonly memoStrings: boolean;
  private readonly memoObj = new Map<object, number>();
  private readonly memoStr = new Map<string, number>();
  /** Strings forced to unicode (bytes payloads): kept apart so a py2 byte string is never reused for them. */
  private readonly memoUnicode = new Map<string, number>();
  private nextMemo = 0;
  /** Tuples being written (a tuple cannot contain itself). */
  private readonly inTuple = new Set<object>();

  constructor(opts: PickleWriteOptions) {
    const protocol = opts.protocol ?? 2;
    if (protocol !== 0 && protocol !== 2) throw new ConfigError(`pickle protocol must be 0 or 2, got ${String(protocol)}`);
    this.bin = protocol === 2;
    this.py2 = (opts.strings ?? 'unicode') === 'py2';
    this.memoStrings = opts.memoizeStrings ?? true;
  }

  dump(v: PyValue): Uint8Array {
    if (this.bin) {
      this.out.byte(PROTO);
      this.out.byte(2);
    }
    this.save(v, '$');
    this.out.byte(STOP);
    return this.out.result();
  }

  private put(): number {
    const idx = this.nextMemo++;
    if (this.bin) {
      if (idx < 256) {
        this.out.byte(BINPUT);
        this.out.byte(idx);
      } else {
        this.out.byte(LONG_BINPUT);
        this.out.u32(idx);
      }
    } else {
      this.out.ascii(`p${idx}\n`);
    }
    return idx;
  }

  private get(idx: number): void {
    if (this.bin) {
      if (idx < 256) {
        this.out.byte(BINGET);
        this.out.byte(idx);
      } else {
        this.out.byte(LONG_BINGET);
        this.out.u32(idx);
      }
    } else {
      this.out.ascii(`g${idx}\n`);
    }
  }

  private save(v: PyValue, path: string): void {
    if (v === null) return this.out.byte(NONE);
    switch (typeof v) {
      case 'boolean':
        if (this.bin) this.out.byte(v ? NEWTRUE : NEWFALSE);
        else this.out.ascii(v ? 'I01\n' : 'I00\n');
        return;
      case 'number':
        if (Number.isInteger(v)) return this.saveInt(BigInt(v));
        return this.saveFloat(v);
      case 'bigint':
        return this.saveInt(v);
      case 'string':
        return this.saveStr(v);
      case 'object':
        break;
      default:
        throw new ConfigError(`cannot pickle ${describe(v)} at ${path}`);
    }
    if (v instanceof PyFloat) return this.saveFloat(v.value);
    if (v instanceof Uint8Array) return this.saveBytes(v);
    const seen = this.memoObj.get(v);
    if (seen !== undefined) return this.get(seen);
    if (v instanceof PyTuple) return this.saveTuple(v, path);
    if (Array.isArray(v)) return this.saveList(v as readonly PyValue[], path);
    if (v instanceof Map) return this.saveDict(v as ReadonlyMap<PyValue, PyValue>, path);
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === Object.prototype || proto === null) {
      return this.saveDict(new Map(Object.entries(v as Record<string, PyValue>)), path, v);
    }
    throw new ConfigError(`cannot pickle ${describe(v)} at ${path}`);
  }

  private saveInt(v: bigint): void {
    const out = this.out;
    if (this.bin) {
      if (v >= 0n && v < 256n) {
        out.byte(BININT1);
        out.byte(Number(v));
      } else if (v >= 0n && v < 65536n) {
        out.byte(BININT2);
        out.u16(Number(v));
      } else if (v >= -0x80000000n && v <= 0x7fffffffn) {
        out.byte(BININT);
        out.i32(Number(v));
      } else {
        const b = encodeLong(v);
        if (b.length < 256) {
          out.byte(LONG1);
          out.byte(b.length);
        } else {
          out.byte(LONG4);
          out.u32(b.length);
        }
        out.bytes(b);
      }
    } else if (v >= -0x80000000n && v <= 0x7fffffffn) {
      out.ascii(`I${v}\n`);
    } else {
      out.ascii(`L${v}L\n`);
    }
  }

  private saveFloat(v: number): void {
    if (this.bin) {
      this.out.byte(BINFLOAT);
      this.out.f64be(v);
    } else {
      this.out.ascii(`F${floatRepr(v)}\n`);
    }
  }

  private saveStr(s: string, forceUnicode = false): void {
    const memo = forceUnicode ? this.memoUnicode : this.memoStr;
    if (this.memoStrings) {
      const seen = memo.get(s);
      if (seen !== undefined) return this.get(seen);
    }
    if (this.py2 && !forceUnicode && isAscii(s)) {
      if (this.bin) {
        if (s.length < 256) {
          this.out.byte(SHORT_BINSTRING);
          this.out.byte(s.length);
        } else {
          this.out.byte(BINSTRING);
          this.out.i32(s.length);
        }
        this.out.ascii(s);
      } else {
        this.out.ascii(`S${py2StringRepr(s)}\n`);
      }
    } else if (this.bin) {
      const b = utf8.encode(s);
      this.out.byte(BINUNICODE);
      this.out.u32(b.length);
      this.out.bytes(b);
    } else {
      this.out.ascii(`V${rawUnicodeEscape(s)}\n`);
    }
    const idx = this.put();
    if (this.memoStrings) memo.set(s, idx);
  }

  /** bytes, written as CPython does at protocols < 3: `_codecs.encode(latin1_str, 'latin1')`. */
  private saveBytes(b: Uint8Array): void {
    // Not memoized by identity: a bytes value is immutable, equal copies are fine.
    this.out.byte(GLOBAL);
    if (b.length === 0) {
      this.out.ascii('__builtin__\nbytes\n');
      if (this.bin) this.out.byte(EMPTY_TUPLE);
      else {
        this.out.byte(MARK);
        this.out.byte(TUPLE);
      }
      this.out.byte(REDUCE);
      return;
    }
    this.out.ascii('_codecs\nencode\n');
    let latin1 = '';
    for (const x of b) latin1 += String.fromCharCode(x);
    if (!this.bin) this.out.byte(MARK);
    // Always unicode (even in py2 mode): `_codecs.encode` of a byte string fails in Python 3.
    this.saveStr(latin1, true);
    this.saveStr('latin1', true);
    if (this.bin) this.out.byte(TUPLE2);
    else this.out.byte(TUPLE);
    this.out.byte(REDUCE);
  }

  private saveList(v: readonly PyValue[], path: string): void {
    if (this.bin) this.out.byte(EMPTY_LIST);
    else {
      this.out.byte(MARK);
      this.out.byte(LIST);
    }
    this.memoObj.set(v, this.put());
    if (!this.bin) {
      v.forEach((x, i) => {
        this.save(x, `${path}[${i}]`);
        this.out.byte(APPEND);
      });
      return;
    }
    for (let start = 0; start < v.length; start += BATCH) {
      const end = Math.min(v.length, start + BATCH);
      if (end - start === 1) {
        this.save(v[start]!, `${path}[${start}]`);
        this.out.byte(APPEND);
      } else {
        this.out.byte(MARK);
        for (let i = start; i < end; i++) this.save(v[i]!, `${path}[${i}]`);
        this.out.byte(APPENDS);
      }
    }
  }

  private saveDict(m: ReadonlyMap<PyValue, PyValue>, path: string, identity: object = m): void {
    if (this.bin) this.out.byte(EMPTY_DICT);
    else {
      this.out.byte(MARK);
      this.out.byte(DICT);
    }
    this.memoObj.set(identity, this.put());
    const entries = [...m.entries()];
    for (const [k] of entries) this.checkHashable(k, path);
    const keyPath = (k: PyValue): string => `${path}[${typeof k === 'string' ? JSON.stringify(k) : String(k)}]`;
    if (!this.bin) {
      for (const [k, x] of entries) {
        this.save(k, `${path}.<key>`);
        this.save(x, keyPath(k));
        this.out.byte(SETITEM);
      }
      return;
    }
    for (let start = 0; start < entries.length; start += BATCH) {
      const end = Math.min(entries.length, start + BATCH);
      if (end - start === 1) {
        const [k, x] = entries[start]!;
        this.save(k, `${path}.<key>`);
        this.save(x, keyPath(k));
        this.out.byte(SETITEM);
      } else {
        this.out.byte(MARK);
        for (let i = start; i < end; i++) {
          const [k, x] = entries[i]!;
          this.save(k, `${path}.<key>`);
          this.save(x, keyPath(k));
        }
        this.out.byte(SETITEMS);
      }
    }
  }

  private checkHashable(k: PyValue, path: string): void {
    if (k instanceof PyTuple) {
      k.items.forEach((x) => this.checkHashable(x, path));
      return;
    }
    if (k !== null && typeof k === 'object' && !(k instanceof PyFloat) && !(k instanceof Uint8Array)) {
      throw new ConfigError(`cannot pickle a dict key at ${path}: ${Array.isArray(k) ? 'a list' : 'a dict'} is unhashable in Python`);
    }
  }

  private saveTuple(t: PyTuple, path: string): void {
    if (this.inTuple.has(t)) throw new ConfigError(`cannot pickle ${path}: a tuple that is part of a reference cycle`);
    const n = t.items.length;
    if (n === 0) {
      if (this.bin) this.out.byte(EMPTY_TUPLE);
      else {
        this.out.byte(MARK);
        this.out.byte(TUPLE);
      }
      return; // CPython does not memoize the empty tuple
    }
    this.inTuple.add(t);
    try {
      if (this.bin && n <= 3) {
        t.items.forEach((x, i) => this.save(x, `${path}[${i}]`));
        this.out.byte([TUPLE1, TUPLE2, TUPLE3][n - 1]!);
      } else {
        this.out.byte(MARK);
        t.items.forEach((x, i) => this.save(x, `${path}[${i}]`));
        this.out.byte(TUPLE);
      }
    } finally {
      this.inTuple.delete(t);
    }
    this.memoObj.set(t, this.put());
  }
}

/** Serialize `value` as a pickle. */
export function encodePickle(value: PyValue, options: PickleWriteOptions = {}): Uint8Array {
  return new Pickler(options).dump(value);
}

/** Serialize `value` as a pickle and write it atomically to `path`. */
export function writePickle(path: string, value: PyValue, options: PickleWriteOptions = {}): void {
  writeFileAtomic(path, encodePickle(value, options));
}
