/**
 * The replacement wasm data-movement kernels (wasm-data-kernels.ts) against
 * the cpu backend: bit-identical results for Slice, SplitV, Unpack, Transpose
 * (float32, int32, bool; random shapes up to rank 6), Sum/Mean over leading
 * and middle axes within 1e-6 of cpu and bit-identical to tfjs's own wasm
 * path (transpose the axes innermost, reduce there), and Identity aliasing
 * that survives disposing the source.
 */
import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from './tf.js';
import { selectBackend } from './backend.js';
import { Rng } from '../nn/rng.js';
import { WASM_DATA_KERNELS, copyBox, outerReduction, simplifyPermutation, transposeInto } from './wasm-data-kernels.js';

type DType = 'float32' | 'int32' | 'bool';
/** The Identity kernel itself (what engine clones and tf.clone run; tfjs-core has no tf.identity op). */
const identity = (x: Tensor): Tensor => tf.engine().runKernel('Identity', { x }) as Tensor;
const DTYPES: DType[] = ['float32', 'int32', 'bool'];

/** A seeded tensor of any of the three dtypes (the draws are made in JS: the same on every backend). */
function input(shape: number[], dtype: DType, seed: number): Tensor {
  return tf.tidy(() => {
    if (dtype === 'float32') return tf.randomNormal(shape, 0, 1, 'float32', seed);
    if (dtype === 'int32') return tf.randomUniform(shape, -1000, 1000, 'int32', seed);
    return tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed), 0.5);
  });
}

interface Result {
  shape: number[];
  dtype: string;
  bytes: Buffer;
}

/** Run each case on `backend` (inputs made there), read every output; asserts no leak. */
async function runAll(backend: 'cpu' | 'wasm', cases: (() => Tensor | Tensor[])[]): Promise<Result[][]> {
  await selectBackend(backend, { threads: 1 });
  return cases.map((f) => {
    const before = tf.memory().numTensors;
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const res = list.map((t) => {
      const d = t.dataSync() as Float32Array | Int32Array | Uint8Array;
      return { shape: t.shape, dtype: t.dtype, bytes: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
    });
    tf.dispose(list);
    expect(tf.memory().numTensors).toBe(before);
    return res;
  });
}

/** Cases on wasm equal the cpu backend's, byte for byte (shape and dtype too). */
async function expectSameAsCpu(names: string[], cases: (() => Tensor | Tensor[])[]): Promise<void> {
  const want = await runAll('cpu', cases);
  const got = await runAll('wasm', cases);
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.length, names[i]).toBe(w.length);
    w.forEach((wo, j) => {
      expect(g[j]!.shape, `${names[i]}: output ${j} shape`).toEqual(wo.shape);
      expect(g[j]!.dtype, `${names[i]}: output ${j} dtype`).toBe(wo.dtype);
      expect(g[j]!.bytes.equals(wo.bytes), `${names[i]}: output ${j} bytes`).toBe(true);
    });
  });
}

const rng = new Rng(20240611);
const randShape = (rank: number, max: number) => Array.from({ length: rank }, () => 1 + rng.int(max));
function randPerm(n: number): number[] {
  return rng.shuffle(Array.from({ length: n }, (_, i) => i));
}

describe('wasm data kernels: registration', () => {
  it('replace every listed wasm kernel (the replacements are closures named kernelFunc)', async () => {
    await selectBackend('wasm', { threads: 1 });
    for (const name of WASM_DATA_KERNELS) expect(tf.getKernel(name, 'wasm')?.kernelFunc.name, name).toBe('kernelFunc');
  });
});

describe('wasm Slice matches cpu', () => {
  it('random boxes, rank 1-6, begin offsets, short and long rows, three dtypes', async () => {
    const names: string[] = [];
    const cases: (() => Tensor)[] = [];
    let seed = 1;
    for (let rank = 1; rank <= 6; rank++) {
      for (let k = 0; k < 6; k++) {
        const shape = randShape(rank, rank <= 3 ? 9 : 4);
        if (k % 3 === 0) shape[rank - 1] = 64 + rng.int(40); // rows past the element-by-element threshold
        const begin = shape.map((n) => (rng.next() < 0.3 ? 0 : rng.int(n)));
        // Some axes whole (merged into the copied chunk), some -1 (to the end), others random.
        const size = shape.map((n, i) => {
          const u = rng.next();
          if (u < 0.25 && begin[i] === 0) return n;
          if (u < 0.45) return -1;
          return 1 + rng.int(n - begin[i]!);
        });
        for (const dtype of DTYPES) {
          const s = seed++;
          names.push(`slice ${dtype} [${shape}] begin [${begin}] size [${size}]`);
          cases.push(() => tf.slice(input(shape, dtype, s), begin, size));
        }
      }
    }
    // Whole tensor, a single element, an empty box, a begin given as a number.
    names.push('whole', 'one element', 'empty', 'scalar begin');
    cases.push(
      () => tf.slice(input([3, 4, 5], 'float32', 900), [0, 0, 0], [3, 4, 5]),
      () => tf.slice(input([3, 4, 5], 'int32', 901), [2, 3, 4], [1, 1, 1]),
      () => tf.slice(input([3, 4, 5], 'float32', 902), [1, 0, 2], [2, 0, 3]),
      () => tf.slice(input([6, 7], 'bool', 903), 2, 3),
    );
    await expectSameAsCpu(names, cases);
  });
});

describe('wasm SplitV matches cpu', () => {
  it('unequal parts on every axis, -1 sizes, equal counts, a zero-size part', async () => {
    const names: string[] = [];
    const cases: (() => Tensor[])[] = [];
    let seed = 100;
    const shape = [6, 5, 70];
    for (let axis = 0; axis < 3; axis++) {
      const n = shape[axis]!;
      const uneven = n === 5 ? [1, 3, 1] : n === 6 ? [2, 3, 1] : [13, 50, 7];
      for (const dtype of DTYPES) {
        const s = seed++;
        names.push(`split ${dtype} axis ${axis} [${uneven}]`, `split ${dtype} axis ${axis} with -1`, `split ${dtype} axis ${axis - 3} into equal parts`);
        cases.push(
          () => tf.split(input(shape, dtype, s), uneven, axis),
          () => tf.split(input(shape, dtype, s), [1, -1], axis),
          () => tf.split(input(shape, dtype, s), n === 5 ? 5 : 2, axis - 3),
        );
      }
    }
    names.push('rank 5, middle axis', 'zero-size part');
    cases.push(
      () => tf.split(input([2, 3, 7, 2, 3], 'float32', 150), [4, 1, 2], 2),
      () => tf.split(input([4, 6], 'float32', 151), [2, 0, 4], 1),
    );
    await expectSameAsCpu(names, cases);
  });
});

describe('wasm Unpack matches cpu', () => {
  it('unstack along axis 0, inner axes and the last axis (negative too), three dtypes', async () => {
    const names: string[] = [];
    const cases: (() => Tensor[])[] = [];
    let seed = 200;
    for (const shape of [
      [5, 3, 64],
      [2, 6, 1, 7],
      [3, 2, 2, 2, 5],
    ]) {
      for (let axis = -1; axis < shape.length; axis++) {
        for (const dtype of DTYPES) {
          const s = seed++;
          names.push(`unstack ${dtype} [${shape}] axis ${axis}`);
          cases.push(() => tf.unstack(input(shape, dtype, s), axis));
        }
      }
    }
    await expectSameAsCpu(names, cases);
  });
});

describe('wasm Transpose matches cpu', () => {
  it('simplifyPermutation merges adjacent runs and drops size-1 axes', () => {
    expect(simplifyPermutation([2, 3, 4, 5, 6], [0, 1, 4, 2, 3])).toEqual({ shape: [6, 20, 6], perm: [0, 2, 1] });
    expect(simplifyPermutation([2, 1, 3], [1, 0, 2])).toEqual({ shape: [6], perm: [0] }); // only a size-1 axis moves: a no-op
    expect(simplifyPermutation([2, 3, 2, 3, 2, 3], [5, 4, 3, 2, 1, 0])).toEqual({ shape: [2, 3, 2, 3, 2, 3], perm: [5, 4, 3, 2, 1, 0] });
    expect(simplifyPermutation([1, 1], [1, 0])).toEqual({ shape: [], perm: [] });
    // transposeInto on a plain 2-D case.
    const out = new Float32Array(6);
    transposeInto(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0], out);
    expect(Array.from(out)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('random permutations of rank 2-6 (merged to rank <= 4 or done in JS above), size-1 axes, three dtypes', async () => {
    const names: string[] = [];
    const cases: (() => Tensor)[] = [];
    let seed = 300;
    const paths = { noop: 0, native: 0, js: 0 };
    for (let rank = 2; rank <= 6; rank++) {
      for (let k = 0; k < 8; k++) {
        const shape = randShape(rank, rank <= 3 ? 12 : rank === 4 ? 6 : 4);
        const perm = randPerm(rank);
        const r = simplifyPermutation(shape, perm);
        paths[r.perm.every((p, i) => p === i) ? 'noop' : r.perm.length <= 4 ? 'native' : 'js']++;
        for (const dtype of DTYPES) {
          const s = seed++;
          names.push(`transpose ${dtype} [${shape}] perm [${perm}]`);
          cases.push(() => tf.transpose(input(shape, dtype, s), perm));
        }
      }
    }
    // Each path on purpose: rank 6 that cannot merge, rank 5 and 6 that merge to <= 4, a no-op up to size-1 axes, zero-size.
    const fixed: [number[], number[]][] = [
      [[2, 3, 2, 3, 2, 3], [5, 4, 3, 2, 1, 0]],
      [[3, 2, 4, 2, 3], [4, 2, 0, 3, 1]],
      [[2, 3, 4, 5, 6], [0, 1, 4, 2, 3]],
      [[2, 2, 3, 3, 4, 4], [4, 5, 0, 1, 2, 3]],
      [[4, 1, 5, 1], [1, 0, 3, 2]],
      [[2, 0, 3], [2, 0, 1]],
    ];
    for (const [shape, perm] of fixed) {
      for (const dtype of DTYPES) {
        const s = seed++;
        names.push(`transpose ${dtype} [${shape}] perm [${perm}]`);
        cases.push(() => tf.transpose(input(shape, dtype, s), perm));
      }
    }
    expect(paths.native).toBeGreaterThan(0);
    expect(paths.js).toBeGreaterThan(0);
    await expectSameAsCpu(names, cases);
  });
});

describe('wasm Sum/Mean over leading and middle axes', () => {
  it('outerReduction takes one run of axes with something kept after it', () => {
    expect(outerReduction([5, 7], [0])).toEqual([1, 5, 7]);
    expect(outerReduction([3, 5, 7], [1])).toEqual([3, 5, 7]);
    expect(outerReduction([2, 3, 4, 5], [1, 2])).toEqual([2, 12, 5]);
    expect(outerReduction([2, 3, 4, 5], [0, 1, 2])).toEqual([1, 24, 5]);
    expect(outerReduction([3, 5, 7], [2])).toBeUndefined(); // innermost: tfjs's kernel
    expect(outerReduction([3, 5, 7], [0, 2])).toBeUndefined(); // not one run
    expect(outerReduction([3, 5, 1], [1])).toBeUndefined(); // only size 1 after it
    expect(outerReduction([3, 5], [])).toBeUndefined();
  });

  const cases: [number[], number | number[], boolean][] = [
    [[300, 37], 0, false],
    [[4, 129, 33], 1, false],
    [[4, 129, 33], 1, true],
    [[2, 6, 7, 50], [1, 2], false],
    [[2, 6, 7, 50], [0, 1, 2], true],
    [[5, 9, 16], -2, false],
    [[64, 3, 1], 1, false], // C = 1: tfjs's kernel
    [[6, 8, 10], 2, false], // innermost: tfjs's kernel
    [[6, 8, 10], [0, 2], false], // two runs: tfjs's kernel
  ];

  for (const op of ['sum', 'mean'] as const) {
    it(`${op}: within 1e-6 of cpu, bit-identical to tfjs's transpose-then-reduce on wasm`, async () => {
      const red = (x: Tensor, axis: number | number[], keep: boolean) => (op === 'sum' ? tf.sum(x, axis, keep) : tf.mean(x, axis, keep));
      const mk = (shape: number[], i: number) => () => input(shape, 'float32', 400 + i);
      const fns = cases.map(([shape, axis, keep], i) => () => red(mk(shape, i)(), axis, keep));
      // Σ|x| over the same axes: the scale of float32 accumulation error.
      const absFns = cases.map(([shape, axis, keep], i) => () => red(tf.abs(mk(shape, i)()), axis, keep));
      // tfjs's own algorithm: axes moved innermost (a pure data move), then its kernel reduces there.
      const innermost = cases.map(([shape, axis, keep], i) => () => {
        const axes = tf.util.parseAxisParam(axis, shape);
        const perm = [...shape.keys()].filter((a) => !axes.includes(a)).concat(axes);
        const r = red(tf.transpose(mk(shape, i)(), perm), axes.map((_, j) => shape.length - axes.length + j), false);
        return keep ? tf.reshape(r, shape.map((n, a) => (axes.includes(a) ? 1 : n))) : r;
      });
      const want = await runAll('cpu', fns);
      const scale = await runAll('cpu', absFns);
      const got = await runAll('wasm', fns);
      const ref = await runAll('wasm', innermost);
      let worst = 0;
      cases.forEach(([shape, axis], i) => {
        const label = `${op} [${shape}] axis ${axis}`;
        const [w, g, s, r] = [want[i]![0]!, got[i]![0]!, scale[i]![0]!, ref[i]![0]!];
        expect(g.shape, label).toEqual(w.shape);
        expect(g.bytes.equals(r.bytes), `${label}: bit-identical to transpose + innermost reduce`).toBe(true);
        const [wf, gf, sf] = [w, g, s].map((t) => new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 4));
        for (let j = 0; j < wf!.length; j++) {
          const rel = Math.abs(gf![j]! - wf![j]!) / sf![j]!;
          worst = Math.max(worst, rel);
        }
      });
      console.log(`wasm ${op} vs cpu: worst |Δ| / Σ|x| = ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-6);
    });
  }

  it('int32 (left to tfjs kernels): sum matches cpu exactly, mean within 1e-6', async () => {
    const fns = [() => tf.sum(input([40, 7], 'int32', 500), 0), () => tf.mean(input([3, 40, 7], 'int32', 501), 1)];
    const [want, got] = [await runAll('cpu', fns), await runAll('wasm', fns)];
    expect(got[0]![0]!.dtype).toBe('int32');
    expect(got[0]![0]!.bytes.equals(want[0]![0]!.bytes)).toBe(true);
    const [g, w] = [got[1]![0]!, want[1]![0]!].map((r) => new Float32Array(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length / 4));
    g!.forEach((v, i) => expect(Math.abs(v - w![i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(w![i]!)));
  });
});

describe('wasm Identity aliases its input safely', () => {
  it('y = identity(x): no new buffer; disposing x leaves y intact; disposing y frees it', async () => {
    await selectBackend('wasm', { threads: 1 });
    const backend = tf.backend();
    for (const dtype of DTYPES) {
      const x = input([33, 17], dtype, 600);
      const want = Buffer.from((x.dataSync() as Uint8Array).slice().buffer);
      const ids = backend.numDataIds();
      const mem = tf.memory();
      const y = identity(x);
      expect(backend.numDataIds(), dtype).toBe(ids); // aliased, not copied
      x.dispose();
      expect(y.isDisposed).toBe(false);
      // Allocate and compute in between: nothing may reuse y's memory.
      tf.tidy(() => tf.add(input([33, 17], 'float32', 601), 1).dataSync());
      expect(Buffer.from((y.dataSync() as Uint8Array).slice().buffer).equals(want), dtype).toBe(true);
      y.dispose();
      expect(backend.numDataIds()).toBe(ids - 1);
      expect(tf.memory().numTensors).toBe(mem.numTensors - 1);
      expect(tf.memory().numBytes).toBe(mem.numBytes - x.size * (dtype === 'bool' ? 1 : 4));
    }
  });

  it('clone and saved-for-backward copies survive their source; Variable.assign does not reach an alias', async () => {
    await selectBackend('wasm', { threads: 1 });
    const before = tf.memory().numTensors;
    const x = input([8, 9], 'float32', 610);
    const want = (x.dataSync() as Float32Array).slice();
    const c = x.clone();
    const init = x.clone();
    const v = tf.variable(init, true, 'alias-test-v');
    const a = identity(v);
    x.dispose();
    init.dispose();
    const next = input([8, 9], 'float32', 611);
    v.assign(next);
    next.dispose();
    expect(Array.from(c.dataSync())).toEqual(Array.from(want));
    expect(Array.from(a.dataSync())).toEqual(Array.from(want));
    expect(Array.from(v.dataSync())).not.toEqual(Array.from(want));
    // Gradients through ops that save their inputs (engine clones = Identity) on wasm match cpu (elementwise products: exact on both).
    tf.dispose([c, v, a]);
    expect(tf.memory().numTensors).toBe(before);
    const f = () => tf.grads((p: Tensor, q: Tensor) => tf.sum(tf.mul(tf.mul(p, q), tf.sub(p, q))))([input([5, 6], 'float32', 612), input([5, 6], 'float32', 613)]);
    await expectSameAsCpu(['grads'], [f]);
  });
});

describe('copyBox', () => {
  it('copies a box with merged trailing axes into an offset of the output', () => {
    // x = 0..23 as [2, 3, 4]; box begin [1, 1, 0] size [1, 2, 4] = rows 16..23.
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = new Float32Array(10).fill(-1);
    copyBox(x, [2, 3, 4], [1, 1, 0], [1, 2, 4], out, 1);
    expect(Array.from(out)).toEqual([-1, 16, 17, 18, 19, 20, 21, 22, 23, -1]);
    const out2 = new Float32Array(4);
    copyBox(x, [2, 3, 4], [0, 2, 1], [2, 1, 2], out2);
    expect(Array.from(out2)).toEqual([9, 10, 21, 22]);
  });
});
