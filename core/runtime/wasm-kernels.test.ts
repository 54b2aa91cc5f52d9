import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from './tf.js';
import { selectBackend } from './backend.js';
import { WASM_KERNELS_ADDED, WASM_KERNELS_WRAPPED } from './wasm-kernels.js';

function seeded(shape: number[], seed: number): Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/** Run f on a backend and read the results out (inputs are seeded, so identical on both). */
async function on(backend: 'cpu' | 'wasm', f: () => Tensor | Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend, { threads: 2 });
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = list.map((t) => t.dataSync() as Float32Array);
  const shapes = list.map((t) => t.shape);
  for (const t of list) t.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return Object.assign(data, { shapes });
}

function expectClose(got: Float32Array[], want: Float32Array[], rel = 1e-5): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.length).toBe(w.length);
    let scale = 0;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
    expect(worst / (scale || 1)).toBeLessThanOrEqual(rel);
  });
}

describe('wasm BatchMatMul wrapper (XNNPACK for transposed and batched products)', () => {
  it('is registered', () => {
    expect(WASM_KERNELS_WRAPPED).toContain('BatchMatMul');
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBeDefined();
  });

  const cases: [string, number[], number[]][] = [
    ['2-D', [37, 53], [53, 29]],
    ['batched', [3, 37, 53], [3, 53, 29]],
    ['batched a, shared b', [3, 37, 53], [53, 29]],
    ['shared a, batched b', [37, 53], [3, 53, 29]],
    ['a batch 1 broadcast', [1, 37, 53], [4, 53, 29]],
    ['rank 4', [2, 3, 37, 53], [2, 3, 53, 29]],
  ];
  for (const [name, sa, sb] of cases) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${name}, transposeA=${ta}, transposeB=${tb}: matches cpu`, async () => {
        const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!] : s);
        const f = () => tf.matMul(seeded(swap(sa, ta), 1), seeded(swap(sb, tb), 2), ta, tb);
        const want = await on('cpu', f);
        const got = await on('wasm', f);
        expect((got as unknown as { shapes: number[][] }).shapes).toEqual((want as unknown as { shapes: number[][] }).shapes);
        expectClose(got, want);
      });
    }
  }

  it('gradients of a batched, transposed product match cpu', async () => {
    const f = () => {
      const loss = (a: Tensor, b: Tensor) => tf.sum(tf.square(tf.matMul(a, b, false, true)));
      const { value, grads } = tf.valueAndGrads(loss)([seeded([4, 19, 24], 3), seeded([4, 31, 24], 4)]);
      return [value, ...grads];
    };
    expectClose(await on('wasm', f), await on('cpu', f));
  });

  it('reports mismatched inner dimensions', async () => {
    await selectBackend('wasm', { threads: 2 });
    expect(() => tf.tidy(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([2, 5, 6])))).toThrow(/inner/);
  });
});

describe('wasm conv gradients (Conv2DBackpropInput wrapper, Conv2DBackpropFilter composite)', () => {
  it('are registered', () => {
    expect(WASM_KERNELS_WRAPPED).toContain('Conv2DBackpropInput');
    expect(WASM_KERNELS_ADDED).toContain('Conv2DBackpropFilter');
  });

  type Pad = 'valid' | 'same' | [[0, 0], [number, number], [number, number], [0, 0]];
  type Shape4 = [number, number, number, number];
  const cases: [string, Shape4, Shape4, number, Pad][] = [
    ['3x3 same', [2, 9, 11, 5], [3, 3, 5, 7], 1, 'same'],
    ['3x3 valid', [2, 9, 11, 5], [3, 3, 5, 7], 1, 'valid'],
    ['2x2 same (uneven pad)', [1, 8, 7, 4], [2, 2, 4, 6], 1, 'same'],
    ['1x1', [2, 6, 6, 8], [1, 1, 8, 3], 1, 'valid'],
    ['3x3 explicit pads', [1, 7, 9, 3], [3, 3, 3, 4], 1, [[0, 0], [2, 0], [1, 2], [0, 0]]],
    ['patchify 4/4 valid', [2, 16, 12, 3], [4, 4, 3, 8], 4, 'valid'],
    ['patchify 4/4 valid, dropped tail', [1, 18, 14, 3], [4, 4, 3, 8], 4, 'valid'],
    ['patchify 4/4 same (padded tail)', [1, 15, 13, 3], [4, 4, 3, 8], 4, 'same'],
    ['3x3 stride 2 (tfjs kernel)', [1, 9, 10, 4], [3, 3, 4, 5], 2, 'same'],
  ];
  for (const [name, xs, fs, stride, pad] of cases) {
    it(`${name}: dx and dW match cpu`, async () => {
      const f = () => {
        const w = seeded(tf.conv2d(tf.zeros(xs) as tf.Tensor4D, tf.zeros(fs) as tf.Tensor4D, stride, pad).shape as number[], 7);
        const loss = (x: Tensor, k: Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, stride, pad), w));
        return tf.grads(loss)([seeded(xs, 5), seeded(fs, 6)]);
      };
      expectClose(await on('wasm', f), await on('cpu', f));
    });
  }

  it('conv2dTranspose (ConvTranspose2d forward) matches cpu, patchify and strided', async () => {
    for (const [xs, fs, s, outHW] of [
      [[2, 5, 6, 8], [2, 2, 3, 8], 2, [10, 12]],
      [[1, 4, 4, 6], [4, 4, 2, 6], 4, [16, 16]],
      [[1, 5, 5, 6], [3, 3, 2, 6], 2, [11, 11]],
    ] as [number[], number[], number, [number, number]][]) {
      const f = () => tf.conv2dTranspose(seeded(xs, 8) as tf.Tensor4D, seeded(fs, 9) as tf.Tensor4D, [xs[0]!, outHW[0], outHW[1], fs[2]!], s, 'valid');
      expectClose(await on('wasm', f), await on('cpu', f));
    }
  });
});
