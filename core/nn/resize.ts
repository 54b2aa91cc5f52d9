/**
 * Image resizing with PyTorch's F.interpolate semantics, for NHWC tensors.
 * tfjs has bilinear and nearest kernels but no bicubic; bicubic is written here
 * as two separable weight matrices computed exactly as PyTorch computes its
 * taps (float32 coordinate arithmetic, A = -0.75, taps clamped to the border).
 */
import { tf, type Tensor } from '../runtime/tf.js';

export type ResizeMode = 'bilinear' | 'nearest' | 'bicubic';

const f = Math.fround;
const CUBIC_A = -0.75;

/** PyTorch's cubic convolution coefficients for fraction t, in float32 steps. */
export function cubicCoefficients(t: number, A = CUBIC_A): [number, number, number, number] {
  const c1 = (x: number) => f(f(f(f(f(A + 2) * x) - f(A + 3)) * x) * x + 1); // |x| <= 1
  const c2 = (x: number) => f(f(f(f(f(A * x) - f(5 * A)) * x) + f(8 * A)) * x - f(4 * A)); // 1 < |x| < 2
  const x1 = f(1 - t);
  return [c2(f(t + 1)), c1(t), c1(x1), c2(f(x1 + 1))];
}

/** PyTorch's source-coordinate scale for one axis. */
export function sourceScale(inSize: number, outSize: number, alignCorners: boolean): number {
  if (alignCorners) return outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0;
  return f(inSize / outSize);
}

/**
 * Dense [out, in] matrix M with out = M · in for 1-D bicubic resampling.
 * Rows sum to 1; taps beyond the border are clamped onto it (PyTorch semantics).
 */
export function bicubicMatrix(inSize: number, outSize: number, alignCorners: boolean): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = sourceScale(inSize, outSize, alignCorners);
  for (let o = 0; o < outSize; o++) {
    const src = alignCorners ? f(scale * o) : f(f(scale * f(o + 0.5)) - 0.5);
    const i0 = Math.floor(src);
    const t = f(src - i0);
    const w = cubicCoefficients(t);
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + idx] = f(m[o * inSize + idx]! + w[k]!);
    }
  }
  return m;
}

interface LinearTaps {
  i0: Int32Array;
  i1: Int32Array;
  /** Weight of i1; i0 gets 1 - lambda. */
  lambda: Float32Array;
}

/** PyTorch's linear-interpolation taps for one axis (source clamped at 0 without align_corners). */
export function linearTaps(inSize: number, outSize: number, alignCorners: boolean): LinearTaps {
  const scale = sourceScale(inSize, outSize, alignCorners);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const lambda = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = alignCorners ? f(scale * o) : Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    lambda[o] = f(src - a);
  }
  return { i0, i1, lambda };
}

function lerpAxis(x: Tensor, t: LinearTaps, axis: 1 | 2): Tensor {
  const n = t.i0.length;
  const shape = axis === 1 ? [1, n, 1, 1] : [1, 1, n, 1];
  const a = tf.gather(x, tf.tensor1d(t.i0, 'int32'), axis);
  const b = tf.gather(x, tf.tensor1d(t.i1, 'int32'), axis);
  const lam = tf.tensor(t.lambda, shape);
  return tf.add(tf.mul(a, tf.sub(1, lam)), tf.mul(b, lam));
}

/** PyTorch 'nearest' source index: floor(dst · in/out) in float32, clamped. */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = f(inSize / outSize);
  const idx = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) idx[o] = Math.min(Math.floor(f(o * scale)), inSize - 1);
  return idx;
}

/** Resize x [B, H, W, C] to [B, h, w, C]. */
export function interpolate(x: Tensor, size: [number, number], mode: ResizeMode, alignCorners = false): Tensor {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [h, w] = size;
  if (h === H && w === W) {
    // Identity resize: PyTorch returns the input values unchanged for every mode.
    return tf.clone(x);
  }
  return tf.tidy(() => {
    switch (mode) {
      case 'bilinear': {
        // Two gathers and a lerp per axis. tfjs's ResizeBilinear gradient ignores
        // half-pixel centres and fails on non-square inputs, so it is not used.
        const rows = linearTaps(H, h, alignCorners);
        const byRows = lerpAxis(x, rows, 1);
        return lerpAxis(byRows, linearTaps(W, w, alignCorners), 2);
      }
      case 'nearest': {
        const rows = tf.gather(x, tf.tensor1d(nearestIndices(H, h), 'int32'), 1);
        return tf.gather(rows, tf.tensor1d(nearestIndices(W, w), 'int32'), 2);
      }
      case 'bicubic': {
        const my = tf.tensor2d(bicubicMatrix(H, h, alignCorners), [h, H]);
        const mx = tf.tensor2d(bicubicMatrix(W, w, alignCorners), [w, W]);
        // Rows: [B, H, W·C] -> [B, h, W·C]
        const byRows = tf.matMul(tf.broadcastTo(my, [B, h, H]), tf.reshape(x, [B, H, W * C]));
        // Columns: [B·h, W, C] -> [B·h, w, C]
        const byCols = tf.matMul(tf.broadcastTo(mx, [B * h, w, W]), tf.reshape(byRows, [B * h, W, C]));
        return tf.reshape(byCols, [B, h, w, C]);
      }
    }
  });
}
