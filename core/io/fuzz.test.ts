/**
 * Property layer: random mutations and truncations of valid safetensors,
 * pickle, torch.save (zip and legacy) and TorchScript files either parse or
 * fail with a FileFormatError: no other exception, no hang, no absurd
 * allocation (declared lengths are checked against the buffer first).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { ROOT } from '../../test/fixtures.js';
import { parseCheckpoint } from './checkpoint.js';
import { PyDict, PyStorage, PyTensor, toPlain, unpickle } from './pickle.js';
import { holdsTensor, stateDictTensors, tensorData } from './torch.js';
import { parseZip } from './zip.js';
import { makeZip } from './zip-testing.js';

const REF = join(ROOT, 'test/reference/torch');
const ref = (f: string) => readFileSync(join(REF, f));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'word'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; len: number };

/** A position in [0, 1), uniform (unbiased: fast-check otherwise favours small values). */
const pos = fc.noBias(fc.nat(999_999)).map((n) => n / 1_000_000);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: pos, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('word' as const), at: pos, value: fc.constantFrom(0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: pos }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 16 }) }) },
);

/** Mutate near "interesting" regions too: the first and last 256 bytes hold headers and directories. */
function apply(src: Buffer, muts: Mutation[], focus: 'any' | 'head' | 'tail'): Buffer {
  let b = Buffer.from(src);
  for (const m of muts) {
    const span = focus === 'any' ? b.length : Math.min(256, b.length);
    const base = focus === 'tail' ? b.length - span : 0;
    const at = Math.min(b.length - 1, base + Math.floor(m.at * span));
    if (b.length === 0) break;
    switch (m.kind) {
      case 'flip': b[at]! ^= 1 << m.bit; break;
      case 'set': b[at] = m.value; break;
      case 'word': if (at + 4 <= b.length) b.writeUInt32LE(m.value, at); break;
      case 'truncate': b = b.subarray(0, at); break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]); break;
    }
  }
  return b;
}

/** Run `parse`; only success or FileFormatError are acceptable. Returns bytes produced on success. */
function survive(parse: () => number, input: Buffer): void {
  const t0 = performance.now();
  let produced = 0;
  try {
    produced = parse();
  } catch (e) {
    if (!(e instanceof FileFormatError)) {
      throw new Error(`non-FileFormatError ${(e as Error).name}: ${(e as Error).message}\ninput (${input.length} bytes): ${input.subarray(0, 64).toString('hex')}`, { cause: e });
    }
  }
  // Views may legitimately expand a storage (stride 0) up to 2^24 elements; beyond that is refused.
  expect(produced).toBeLessThanOrEqual(64 * input.length + 8 * 2 ** 24);
  expect(performance.now() - t0).toBeLessThan(2000);
}

const checkpointBytes = (buf: Buffer) => () => {
  const ck = parseCheckpoint(buf, 'fuzz.pth');
  let n = 0;
  for (const t of ck.tensors.values()) n += t.data.byteLength;
  JSON.stringify(ck.metadata, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  return n;
};

const property = (src: Buffer, run: (b: Buffer) => () => number, runs: number) =>
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.constantFrom<'any' | 'head' | 'tail'>('any', 'head', 'tail'), (muts, focus) => {
      const input = apply(src, muts, focus);
      survive(run(input), input);
    }),
    { numRuns: runs, seed: 20240501 },
  );

describe('fuzz: mutated files fail only with FileFormatError', () => {
  it('safetensors', () => property(ref('views.expected.safetensors'), checkpointBytes, 300));

  it('torch.save zip (protocol 2) and TorchScript', () => {
    property(ref('views.pth'), checkpointBytes, 250);
    property(ref('script.pt'), checkpointBytes, 150);
    property(ref('nested.pth'), checkpointBytes, 150);
  });

  it('torch.save and TorchScript archives with a mutated data.pkl (valid zip, so the pickle layer is reached)', () => {
    for (const [file, runs] of [['views.pth', 250], ['script.pt', 150], ['nested.pth', 150]] as const) {
      const z = parseZip(ref(file), file);
      const pkl = z.names.find((n) => n.endsWith('/data.pkl'))!;
      const src = z.read(pkl);
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom<'any' | 'head' | 'tail'>('any', 'head', 'tail'), (muts, focus) => {
          const mutated = apply(src, muts, focus);
          const input = makeZip(z.names.map((n) => ({ name: n, data: n === pkl ? mutated : z.read(n) })));
          survive(checkpointBytes(input), input);
        }),
        { numRuns: runs, seed: 99 },
      );
    }
  });

  it('torch.save legacy stream', () => property(ref('views_legacy.pth'), checkpointBytes, 250));

  it('raw pickles (protocols 0, 2, 4)', () => {
    const run = (b: Buffer) => () => {
      toPlain(unpickle(b, { file: 'fuzz.pkl' }), 'fuzz.pkl');
      return 0;
    };
    for (const p of ['data_p0.pkl', 'data_p2.pkl', 'data_p4.pkl']) property(ref(p), run, 150);
  });

  it('zip archives with deflate and ZIP64 records', () => {
    const src = makeZip(
      [
        { name: 'a/data.pkl', data: ref('data_p2.pkl') },
        { name: 'a/data/0', data: ref('data_p4.pkl'), method: 8 },
        { name: 'a/version', data: Buffer.from('3\n') },
      ],
      { zip64: true, align: 64 },
    );
    const run = (b: Buffer) => () => {
      const z = parseZip(b, 'fuzz.zip');
      let n = 0;
      for (const name of z.names) n += z.read(name).length;
      return n;
    };
    property(src, run, 300);
  });

  it('tensorData gathers any in-range view exactly like direct indexing, and refuses the rest', () => {
    const numel = 48;
    const values = Float64Array.from({ length: numel }, (_, i) => i * 1.25 - 7);
    const storages = {
      float64: new PyStorage('float64', '0', 'cpu', numel, () => new Uint8Array(values.buffer)),
      int16: new PyStorage('int16', '1', 'cpu', numel, () => new Uint8Array(Int16Array.from(values, (v) => Math.round(v * 4)).buffer)),
      uint8: new PyStorage('uint8', '2', 'cpu', numel, () => Uint8Array.from(values, (_, i) => i)),
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 0, max: 5 }), stride: fc.integer({ min: 0, max: 13 }) }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 50 }),
        fc.constantFrom<keyof typeof storages>('float64', 'int16', 'uint8'),
        (dims, offset, dt) => {
          const st = storages[dt];
          const shape = dims.map((d) => d.size);
          const stride = dims.map((d) => d.stride);
          const n = shape.reduce((a, b) => a * b, 1);
          const last = offset + dims.reduce((a, d) => a + (d.size - 1) * d.stride, 0);
          const t = new PyTensor(st, offset, shape, stride, false);
          if (n > 0 && last >= numel) {
            expect(() => tensorData(t, 'p')).toThrow(FileFormatError);
            return;
          }
          const got = tensorData(t, 'p');
          const src = Array.from(
            dt === 'float64' ? new Float64Array(st.bytes().buffer) : dt === 'int16' ? new Int16Array(st.bytes().buffer) : st.bytes(),
          );
          const want: number[] = [];
          const idx = new Array<number>(shape.length).fill(0);
          for (let k = 0; k < n; k++) {
            want.push(src[offset + idx.reduce((a, v, i) => a + v * stride[i]!, 0)]!);
            for (let a = shape.length - 1; a >= 0; a--) if (++idx[a]! < shape[a]!) break; else idx[a] = 0;
          }
          expect(got.shape).toEqual(shape);
          expect(Array.from(got.data as ArrayLike<number>)).toEqual(want);
        },
      ),
      { numRuns: 400, seed: 3 },
    );
  });

  it('shared references (memo GET, DUP) cannot expand a small pickle into a huge walk', () => {
    // Random well-formed programs that keep one value x on the stack and rebuild it from
    // shared references: `x = (x, x)` repeated n times is 2^n leaves in 2n bytes.
    const key = (k: string) => [0x58, k.length, 0, 0, 0, ...Buffer.from(k)]; // BINUNICODE
    const step = fc.constantFrom(
      [0x32, 0x86], // DUP TUPLE2: (x, x)
      [0x32, 0x32, 0x87], // DUP DUP TUPLE3: (x, x, x)
      [0x71, 0, 0x30, 0x5d, 0x68, 0, 0x61, 0x68, 0, 0x61], // [x, x] through the memo
      [0x71, 1, 0x30, 0x7d, ...key('a'), 0x68, 1, 0x73, ...key('b'), 0x68, 1, 0x73], // {a: x, b: x}
      [0x85], // (x,)
    );
    const leaf = fc.constantFrom([0x5d], [0x7d], [0x4e], key('w'));
    fc.assert(
      fc.property(leaf, fc.array(step, { minLength: 1, maxLength: 70, size: 'max' }), fc.constantFrom('', 'state_dict', 'epoch'), (first, steps, wrap) => {
        const body = Buffer.from([...first, ...steps.flat()]);
        const pkl = wrap ? Buffer.concat([Buffer.from([0x80, 0x02, 0x7d, ...key(wrap)]), body, Buffer.from([0x73, 0x2e])]) : Buffer.concat([Buffer.from([0x80, 0x02]), body, Buffer.from([0x2e])]);
        const t0 = performance.now();
        for (const walk of [
          () => toPlain(unpickle(pkl, { file: 'f.pkl' }), 'f.pkl'),
          () => {
            const v = unpickle(pkl, { file: 'f.pkl' });
            holdsTensor(v, 'f.pkl');
            if (v instanceof PyDict) stateDictTensors(v, 'f.pkl');
          },
          () => parseCheckpoint(makeZip([{ name: 'a/data.pkl', data: pkl }, { name: 'a/version', data: Buffer.from('3\n') }]), 'f.pth'),
        ]) {
          try {
            walk();
          } catch (e) {
            if (!(e instanceof FileFormatError)) throw new Error(`non-FileFormatError ${(e as Error).name}: ${(e as Error).message}\n${pkl.toString('hex')}`, { cause: e });
          }
        }
        expect(performance.now() - t0).toBeLessThan(3000);
      }),
      { numRuns: 80, seed: 11 },
    );
  });

  it('strings that are not UTF-8 fail with FileFormatError naming the offset, as Python\'s pickle.load fails', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        const pkl = Buffer.concat([Buffer.from([0x80, 0x02, 0x58]), len, b, Buffer.from([0x2e])]);
        const valid = (() => {
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(b);
            return true;
          } catch {
            return false;
          }
        })();
        if (valid) expect(unpickle(pkl, { file: 'f.pkl' })).toBe(b.toString('utf8'));
        else {
          try {
            const v = unpickle(pkl, { file: 'f.pkl' });
            // Only encoded surrogates (ED A0..BF xx) are let through, as 'surrogatepass' does.
            expect(b.includes(0xed)).toBe(true);
            expect(typeof v).toBe('string');
          } catch (e) {
            expect(e).toBeInstanceOf(FileFormatError);
            expect((e as Error).message).toMatch(/not valid UTF-8: byte 0x[0-9a-f]{2} at file offset \d+/);
          }
        }
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  it('random byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0x80, 0x50, 0x00, 0x7b), (bytes, first) => {
        const b = Buffer.from(bytes);
        if (b.length) b[0] = first;
        survive(checkpointBytes(b), b);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
