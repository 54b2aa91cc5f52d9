import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { ROOT } from '../../test/fixtures.js';
import { PyDict, PyGlobal, PyObject, PySet, PyTuple, toPlain, unpickle, unpickleAt, type PyValue } from './pickle.js';

const REF = join(ROOT, 'test/reference/torch');

/** Bytes from latin-1 strings and byte arrays. */
const P = (...parts: (string | number[] | Uint8Array)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
const str = (s: string) => P('X', u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8'));

const fails = (buf: Uint8Array, re: RegExp, opts = {}) => {
  expect(() => unpickle(buf, { file: 'evil.pkl', ...opts })).toThrow(FileFormatError);
  expect(() => unpickle(buf, { file: 'evil.pkl', ...opts })).toThrow(re);
};

describe('unpickler: data', () => {
  for (const proto of [0, 2, 4, 5]) {
    it(`reads a protocol ${proto} pickle made by Python`, () => {
      const v = unpickle(readFileSync(join(REF, `data_p${proto}.pkl`)));
      expect(v).toBeInstanceOf(PyDict);
      const d = v as PyDict;
      const plain = toPlain(v) as Record<string, unknown>;
      expect(Number.isNaN(plain.nan)).toBe(true);
      delete plain.nan;
      expect(plain).toEqual({
        int: 7, neg: -300, big: 2n ** 64n + 1n, negbig: -(2n ** 70n), i32: 2 ** 31 - 1, float: 1.5,
        str: 'héllo ✓', bytes: new Uint8Array([0, 255, 97, 98]), empty_bytes: new Uint8Array(0),
        none: null, true: true, false: false, tuple: [1, 'a', [2.5]], list: [1, [2, [3]]], set: [1], frozenset: ['x'],
        od: { b: 1, a: 2 }, shared: [[1, 2], [1, 2]], intkeys: [[1, 'one'], [2, 'two']],
      });
      expect(d.get('tuple')).toBeInstanceOf(PyTuple);
      expect(d.get('set')).toBeInstanceOf(PySet);
      expect((d.get('frozenset') as PySet).frozen).toBe(true);
      expect((d.get('od') as PyDict).className).toBe('collections.OrderedDict');
      const shared = d.get('shared') as PyValue[][];
      expect(shared[0]).toBe(shared[1]); // memo keeps identity
      expect((d.get('intkeys') as PyDict).get(2)).toBe('two');
    });
  }

  it('handles hand-written opcodes: frames, memoize, longs, sets, DUP/POP, text ints', () => {
    const rest = P('\x8c\x01a\x94\x8a\x02\xff\x7f\x8a\x01\xff\x8a\x00\x87\x94(h\x00h\x01\x8f(K\x01K\x01\x90', '2', '0', 't.');
    const v = unpickle(P('\x80\x04\x95', u64(BigInt(rest.length)), rest)) as PyTuple;
    expect(v).toBeInstanceOf(PyTuple);
    expect(toPlain(v)).toEqual(['a', [32767, -1, 0], [1]]);
    expect(unpickle(P('I01\n.'))).toBe(true);
    expect(unpickle(P('I-42\n.'))).toBe(-42);
    expect(unpickle(P('L123456789012345678901234567890L\n.'))).toBe(123456789012345678901234567890n);
    expect(unpickle(P('F-1.5e3\n.'))).toBe(-1500);
    expect(unpickle(P("S'a\\x41\\n'\n."))).toBe('aA\n');
    expect(unpickle(P('V\\u00e9t\\U0001f600\n.'))).toBe('ét😀');
    expect(unpickleAt(P('K\x07.K\x08.'), { offset: 3 })).toMatchObject({ value: 8, end: 6 });
  });

  it('allows globals and class prefixes that the caller adds', () => {
    const point = P('\x80\x02cgeom\nPoint\nK\x01K\x02\x86R.');
    fails(point, /refuses to load global "geom.Point"/);
    const v = unpickle(point, { globals: { 'geom.Point': { call: (args) => new PyTuple(args) } } });
    expect((v as PyTuple).items).toEqual([1, 2]);
    const mod = P('\x80\x02c__torch__.m\nNet\n)\x81}', str('w'), 'K\x03sb.');
    fails(mod, /refuses to load global "__torch__.m.Net"/);
    const o = unpickle(mod, { classPrefixes: ['__torch__.'] }) as PyObject;
    expect(o).toBeInstanceOf(PyObject);
    expect(o.className).toBe('__torch__.m.Net');
    expect((o.state as PyDict).get('w')).toBe(3);
    // dtype globals are values, not constructors
    expect(unpickle(P('\x80\x02ctorch\nfloat16\n.'))).toEqual(new PyGlobal('torch', 'float16'));
    fails(P('\x80\x02ctorch\nfloat16\n)R.'), /is a value, not a constructor/);
  });
});

describe('unpickler: hostile input', () => {
  it('refuses os.system, builtins.eval and friends, naming the global', () => {
    fails(P('\x80\x02cos\nsystem\n', str('rm -rf /'), '\x85R.'), /refuses to load global "os.system".*only data is read \(allowed: collections.OrderedDict/);
    fails(P('cos\nsystem\n(S\'ls\'\ntR.'), /"os.system"/); // protocol 0
    fails(P('\x80\x02c__builtin__\neval\n.'), /"builtins.eval"/);
    fails(P('\x80\x04\x8c\x08builtins\x8c\x04exec\x93.'), /"builtins.exec"/);
    fails(P('\x80\x02csubprocess\nPopen\n.'), /"subprocess.Popen"/);
    fails(P('\x80\x02cbuiltins\ngetattr\n.'), /"builtins.getattr"/);
    fails(P('(cos\nsystem\nS\'ls\'\no.'), /"os.system"/); // OBJ
    fails(P('(S\'ls\'\nios\nsystem\n.'), /"os.system"/); // INST
    fails(readFileSync(join(REF, 'evil_system.pkl')), /refuses to load global "posix.system"/);
    fails(readFileSync(join(REF, 'evil_eval_p4.pkl')), /refuses to load global "builtins.eval"/);
    // copyreg._reconstructor only builds allowed classes
    fails(P('\x80\x02ccopyreg\n_reconstructor\ncos\n_wrap_close\n.'), /"os._wrap_close"/);
  });

  it('fails cleanly on stack underflow, missing marks, memo misses and unknown opcodes', () => {
    fails(P('\x80\x02\x85.'), /stack underflow/);
    fails(P('\x80\x02t.'), /no MARK/);
    fails(P('\x80\x02.'), /stack underflow/);
    fails(P('\x80\x02h\x05.'), /memo key 5 was never stored/);
    fails(P('\x80\x02j', u32(99999), '.'), /memo key 99999/);
    fails(P('\x80\x02\xff.'), /unknown opcode 0xff/);
    fails(P('\x80\x07.'), /unsupported pickle protocol 7/);
    fails(P('\x80\x02K\x01'), /ends before the STOP opcode/);
    fails(P('\x80\x02(K\x01.'), /unclosed MARK/);
    fails(P('\x80\x02K\x01K\x02b.'), /cannot BUILD/);
    fails(P('\x80\x02K\x01K\x02a.'), /cannot append to a int/);
    fails(P('\x80\x02]K\x01s.'), /stack underflow|cannot set items/);
    fails(P('\x80\x02K\x01Q.'), /no persistent_load/);
    fails(P('\x80\x05\x97.'), /out-of-band buffers/);
    fails(P('\x80\x02\x82\x01.'), /extension-registry/);
    fails(P('I12x\n.'), /bad integer literal/);
    fails(P('Fnot-a-float\n.'), /bad float literal/);
    fails(P('S"unterminated\n.'), /not a quoted string/);
  });

  it('checks declared lengths against the data before allocating', () => {
    fails(P('\x80\x02X', u32(0xffffffff)), /declared length 4294967295 runs past the end/);
    fails(P('\x80\x04\x8e', u64(2n ** 60n), 'abc'), /declared length .* runs past the end/);
    fails(P('\x80\x04\x8d', u64(2n ** 63n)), /declared length/);
    fails(P('\x80\x04\x95', u64(2n ** 40n), 'K\x01.'), /declared length/);
    fails(P('\x80\x02T', [0xff, 0xff, 0xff, 0xff]), /negative length/);
    fails(P('\x80\x02\x8b', u32(0x7fffffff)), /larger than the 4096-byte limit/);
    fails(P('\x80\x02\x8a\x08\x01\x02'), /needs 8 bytes|runs past/);
    fails(P('\x80\x02G\x00\x00'), /needs 8 bytes but only 2 remain/);
    fails(P('\x80\x02cos'), /no terminating newline/);
  });

  it('parses a 100k-deep nesting bomb without recursion and walks it with a clear error', () => {
    const depth = 100_000;
    const bomb = P('\x80\x02', ']'.repeat(depth), 'a'.repeat(depth - 1), '.');
    const t0 = performance.now();
    const v = unpickle(bomb);
    expect(Array.isArray(v)).toBe(true);
    expect(() => toPlain(v, 'bomb.pkl')).toThrow(FileFormatError);
    expect(() => toPlain(v, 'bomb.pkl')).toThrow(/nests deeper than 500 levels/);
    const marks = P('\x80\x02', '('.repeat(depth), 'l'.repeat(depth), '.');
    expect(() => toPlain(unpickle(marks))).toThrow(/nests deeper/);
    // a self-referencing list (cycle) is also caught by the walk
    const cyc = unpickle(P('\x80\x02]q\x00h\x00a.'));
    expect(() => toPlain(cyc)).toThrow(/nests deeper/);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('bounds amplification through memo references', () => {
    // A 64 KB string encoded to bytes 20 000 times through memo references: ~1.3 GB if allowed.
    const reps = 20_000;
    const body = P('\x80\x02c_codecs\nencode\nq\x00', str('x'.repeat(65536)), 'q\x01', str('latin1'), 'q\x02', ']q\x03(', 'h\x00h\x01h\x02\x86R'.repeat(reps), 'e.');
    fails(body, /expands to far more data than its size/);
    // the same with a few references is fine
    const ok = P('\x80\x02c_codecs\nencode\nq\x00', str('x'.repeat(1000)), 'q\x01', str('latin1'), 'q\x02', ']q\x03(', 'h\x00h\x01h\x02\x86R'.repeat(3), 'e.');
    expect((unpickle(ok) as Uint8Array[]).map((b) => b.length)).toEqual([1000, 1000, 1000]);
  });
});
