/**
 * layerNorm's own gradient (layer-norm.ts) against tfjs autodiff of the plain
 * formula: identical values (same forward ops), gradients for x, weight and
 * bias within 1e-5 relative, with and without weight/bias, rank 2 and 3, on
 * the cpu and wasm backends; fewer bytes kept for the backward pass.
 */
import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../../runtime/tf.js';
import { selectBackend } from '../../runtime/backend.js';
import { layerNorm } from './layer-norm.js';
import { memoryProbe } from '../../../test/memory-probe.js';

/** The formula layerNorm had before its custom gradient, differentiated by tfjs. */
function plainLayerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), axis, true);
  let y = tf.mul(xc, tf.rsqrt(tf.add(variance, eps)));
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
}

type LN = typeof layerNorm;

const seeded = (shape: number[], seed: number, mean = 0, std = 1) => tf.randomNormal(shape, mean, std, 'float32', seed);

/** Value of ln and gradients of Σ r·ln(x, w, b) for x and the given w/b, read out; asserts no leak. */
function run(ln: LN, shape: number[], withW: boolean, withB: boolean, eps: number): { y: Float32Array; grads: Float32Array[] } {
  const before = tf.memory().numTensors;
  const C = shape[shape.length - 1]!;
  const out = tf.tidy(() => {
    const x = seeded(shape, 1, 2, 3);
    const w = seeded([C], 2, 1, 0.5);
    const b = seeded([C], 3);
    const r = seeded(shape, 4);
    const args = [x, ...(withW ? [w] : []), ...(withB ? [b] : [])];
    const f = (...a: Tensor[]) => {
      const [xi, wi, bi] = [a[0]!, withW ? a[1] : undefined, withB ? a[withW ? 2 : 1] : undefined];
      return tf.sum(tf.mul(ln(xi, wi, bi, eps), r));
    };
    const grads = tf.grads(f)(args);
    return [ln(x, withW ? w : undefined, withB ? b : undefined, eps), ...grads];
  });
  const data = out.map((t) => (t.dataSync() as Float32Array).slice());
  tf.dispose(out);
  expect(tf.memory().numTensors).toBe(before);
  return { y: data[0]!, grads: data.slice(1) };
}

function relErr(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let worst = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst / (scale || 1);
}

const shapes = [
  [7, 16],
  [2, 5, 24],
];
const affine: [boolean, boolean][] = [
  [true, true],
  [true, false],
  [false, true],
  [false, false],
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`layerNorm on ${backend}: custom gradient vs autodiff of the formula`, () => {
    for (const shape of shapes) {
      for (const [withW, withB] of affine) {
        it(`[${shape}], weight ${withW ? 'yes' : 'no'}, bias ${withB ? 'yes' : 'no'}`, async () => {
          await selectBackend(backend, { threads: 1 });
          const want = run(plainLayerNorm, shape, withW, withB, 1e-5);
          const got = run(layerNorm, shape, withW, withB, 1e-5);
          // Same forward ops: the same values, bit for bit.
          expect(Buffer.from(got.y.buffer).equals(Buffer.from(want.y.buffer))).toBe(true);
          expect(got.grads.length).toBe(1 + Number(withW) + Number(withB));
          got.grads.forEach((g, i) => expect(relErr(g, want.grads[i]!), `gradient ${i}`).toBeLessThanOrEqual(1e-5));
        });
      }
    }

    it('values outside a gradient equal the formula, bit for bit, and leak nothing', async () => {
      await selectBackend(backend, { threads: 1 });
      const before = tf.memory().numTensors;
      const [a, b] = tf.tidy(() => {
        const x = seeded([3, 4, 20], 5, -1, 2);
        const w = seeded([20], 6);
        const bb = seeded([20], 7);
        return [layerNorm(x, w, bb, 1e-6), plainLayerNorm(x, w, bb, 1e-6)];
      });
      expect(Buffer.from((a!.dataSync() as Float32Array).buffer).equals(Buffer.from((b!.dataSync() as Float32Array).buffer))).toBe(true);
      tf.dispose([a!, b!]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

describe('layerNorm memory', () => {
  it('keeps fewer bytes for the backward pass than autodiff of the formula', async () => {
    await selectBackend('cpu');
    const held = (ln: (x: Tensor, w: Tensor | undefined, b: Tensor | undefined, eps: number) => Tensor): number => {
      const { probe, seen } = memoryProbe();
      const x = seeded([16, 64, 32], 8);
      const w = seeded([32], 9);
      const b = seeded([32], 10);
      const base = tf.memory().numBytes;
      const { value, grads } = tf.engine().gradients(() => tf.sum(probe(ln(x, w, b, 1e-5))), [x, w, b], undefined, true);
      tf.dispose([value, ...grads.filter((g) => g)]);
      tf.dispose([x, w, b]);
      return seen[0]!.numBytes - base;
    };
    const harness = held((x) => tf.neg(x)); // what the probe, sum and dy hold (Neg keeps nothing)
    const plain = held(plainLayerNorm) - harness;
    const custom = held(layerNorm) - harness;
    const xBytes = 16 * 64 * 32 * 4;
    console.log(`layerNorm [16, 64, 32]: ${(plain / xBytes).toFixed(2)} vs ${(custom / xBytes).toFixed(2)} x-sized tensors held for the backward pass (autodiff vs custom)`);
    expect(custom).toBeLessThan(plain / 4);
    expect(custom).toBeLessThanOrEqual(1.1 * xBytes); // x̂, plus 1/σ per row and the weight
  });
});
