/**
 * functional.ts `dropout`: the values of tf.dropout(x, rate, undefined, seed)
 * exactly (plain and recorded paths), gradient dy·mask/keep equal to tfjs's
 * own gradient of tf.dropout, on the cpu and wasm backends; a bool mask is all
 * it keeps for the backward pass.
 */
import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../runtime/tf.js';
import { selectBackend } from '../runtime/backend.js';
import { dropout } from './functional.js';
import { memoryProbe } from '../../test/memory-probe.js';

const seeded = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Read tensors made by f (inside a tidy), assert no leak. */
function read(f: () => Tensor[]): Float32Array[] {
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const data = out.map((t) => (t.dataSync() as Float32Array).slice());
  tf.dispose(out);
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

function expectBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const g = new Uint32Array(got.buffer);
  const w = new Uint32Array(want.buffer);
  const i = w.findIndex((v, k) => v !== g[k]);
  expect(i, i < 0 ? '' : `element ${i}: ${got[i]} vs ${want[i]}`).toBe(-1);
}

const cases: [number[], number, number][] = [
  [[1000], 0.1, 1],
  [[17, 33], 0.5, 2],
  [[3, 8, 21], 0.9, 3],
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`dropout on ${backend}`, () => {
    for (const [shape, rate, seed] of cases) {
      it(`[${shape}], rate ${rate}: values equal tf.dropout's (plain and under a gradient)`, async () => {
        await selectBackend(backend, { threads: 1 });
        const [want, plain] = read(() => {
          const x = seeded(shape, seed + 100);
          return [tf.dropout(x, rate, undefined, seed), dropout(x, rate, seed)];
        });
        expectBits(plain!, want!);
        // Under a gradient the custom op runs; its value is the same.
        let recorded: Float32Array | undefined;
        read(() => {
          const x = seeded(shape, seed + 100);
          const [g] = tf.grads((xi: Tensor) => {
            const y = dropout(xi, rate, seed);
            recorded = (y.dataSync() as Float32Array).slice();
            return tf.sum(y);
          })([x]);
          return [g!];
        });
        expectBits(recorded!, want!);
        // Some dropped, some kept (the seed is used).
        const zeros = want!.filter((v) => v === 0).length;
        expect(zeros).toBeGreaterThan(0);
        expect(zeros).toBeLessThan(want!.length);
      });

      it(`[${shape}], rate ${rate}: gradient is dy·mask/keep, tfjs's gradient of tf.dropout bit for bit`, async () => {
        await selectBackend(backend, { threads: 1 });
        const [got, tfjs, formula] = read(() => {
          const x = seeded(shape, seed + 200);
          const dy = seeded(shape, seed + 300);
          const [g] = tf.grads((xi: Tensor) => dropout(xi, rate, seed))([x], dy);
          const [t] = tf.grads((xi: Tensor) => tf.dropout(xi, rate, undefined, seed))([x], dy);
          const keep = 1 - rate;
          const mask = tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', seed), keep)); // 0/1, tf.dropout's draw
          return [g!, t!, tf.mul(dy, tf.div(mask, keep))];
        });
        expectBits(got!, tfjs!);
        expectBits(got!, formula!);
      });
    }

    it('rate 0 returns x itself; negative rates too', async () => {
      await selectBackend(backend, { threads: 1 });
      const x = seeded([4], 1);
      expect(dropout(x, 0, 5)).toBe(x);
      expect(dropout(x, -0.1, 5)).toBe(x);
      x.dispose();
    });
  });
}

describe('dropout memory', () => {
  it('keeps a bool mask (1 byte per element) for the backward pass, not two float tensors', async () => {
    await selectBackend('cpu');
    const held = (drop: (x: Tensor) => Tensor): number => {
      const { probe, seen } = memoryProbe();
      const x = seeded([64, 256], 7);
      const base = tf.memory().numBytes;
      tf.dispose(tf.grads((xi: Tensor) => tf.sum(probe(drop(xi))))([x]));
      x.dispose();
      return seen[0]!.numBytes - base;
    };
    const harness = held((x) => tf.neg(x)); // probe, sum and dy (Neg keeps nothing)
    const ours = held((x) => dropout(x, 0.3, 11)) - harness;
    const theirs = held((x) => tf.dropout(x, 0.3, undefined, 11)) - harness;
    const n = 64 * 256;
    console.log(`dropout [64, 256]: ${ours / n} vs ${theirs / n} bytes per element held for the backward pass (ours vs tf.dropout)`);
    expect(ours).toBe(n); // the bool mask
    expect(theirs).toBeGreaterThanOrEqual(8 * n);
  });
});
