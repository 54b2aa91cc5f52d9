/**
 * loss/bce with posWeight: PyTorch's `binary_cross_entropy_with_logits(pos_weight=...)`
 * computed directly in float64, and its gradient on both backends (the loss used to call
 * tf.logSigmoid, whose gradient read a tensor the loss's tidy had released: wasm threw).
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { createBce, softDiceLoss } from './index.js';

function reference(x: number[], t: number[], pw: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const p = 1 / (1 + Math.exp(-x[i]!));
    s += -(pw * t[i]! * Math.log(p) + (1 - t[i]!) * Math.log(1 - p));
  }
  return s / x.length;
}

describe('loss/bce posWeight', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`matches PyTorch's pos_weight formula and has a gradient (${backend})`, async () => {
      await selectBackend(backend, { threads: 1 });
      const xs = [-6, -2.5, -0.3, 0, 0.4, 1.7, 3, 9];
      const ts = [0, 1, 0, 1, 1, 0, 1, 0];
      // Same size as the prediction: the nearest resize is the identity.
      const x = tf.variable(tf.tensor4d(xs, [1, 2, 4, 1]));
      const t = tf.tensor4d(ts, [1, 2, 4, 1]);
      for (const pw of [1, 3]) {
        const before = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => createBce({ posWeight: pw, diceWeight: 0 }).compute(x, t) as tf.Scalar, [x]);
        expect(value.dataSync()[0]!).toBeCloseTo(reference(xs, ts, pw), 5);
        // d/dx: (σ(x)·(1 + (pw-1)·t) - pw·t) / n
        const g = grads[x.name]!.dataSync();
        xs.forEach((xi, i) => {
          const p = 1 / (1 + Math.exp(-xi));
          expect(g[i]!).toBeCloseTo((p * (1 + (pw - 1) * ts[i]!) - pw * ts[i]!) / xs.length, 5);
        });
        tf.dispose([value, ...Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(before);
      }
      tf.dispose([x, t]);
    });
  }
});

describe('loss/bce diceWeight', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`adds diceWeight x soft Dice (per sample, averaged) to the BCE, with its gradient (${backend})`, async () => {
      await selectBackend(backend, { threads: 1 });
      const xs = [-6, -2.5, -0.3, 0, 0.4, 1.7, 3, 9];
      const ts = [0, 1, 0, 1, 1, 0, 1, 0];
      const x = tf.variable(tf.tensor4d(xs, [2, 2, 2, 1]));
      const t = tf.tensor4d(ts, [2, 2, 2, 1]);
      const p = xs.map((v) => 1 / (1 + Math.exp(-v)));
      const dice = (k: number) => {
        let inter = 0;
        let tot = 0;
        for (let i = 4 * k; i < 4 * k + 4; i++) {
          inter += p[i]! * ts[i]!;
          tot += p[i]! + ts[i]!;
        }
        return 1 - (2 * inter + 1) / (tot + 1);
      };
      const diceRef = (dice(0) + dice(1)) / 2;
      expect(softDiceLoss(x, t).dataSync()[0]!).toBeCloseTo(diceRef, 5);
      const { value, grads } = tf.variableGrads(() => createBce({ posWeight: 3, diceWeight: 0.5 }).compute(x, t) as tf.Scalar, [x]);
      expect(value.dataSync()[0]!).toBeCloseTo(reference(xs, ts, 3) + 0.5 * diceRef, 5);
      // numerical gradient of the whole loss at one element
      const f = (v: number[]) => tf.tidy(() => createBce({ posWeight: 3, diceWeight: 0.5 }).compute(tf.tensor4d(v, [2, 2, 2, 1]), t).dataSync()[0]!);
      for (const i of [1, 4, 6]) {
        const h = 1e-2;
        const up = [...xs];
        const dn = [...xs];
        up[i]! += h;
        dn[i]! -= h;
        expect(grads[x.name]!.dataSync()[i]!).toBeCloseTo((f(up) - f(dn)) / (2 * h), 3);
      }
      tf.dispose([value, ...Object.values(grads), x, t]);
    });
  }
});
