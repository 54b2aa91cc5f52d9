/**
 * Shape-dependent constants of the CRIS-style head (sine position encodings,
 * CoordConv coordinate planes, the tap-selection filter of the dynamic conv),
 * computed with PyTorch's float32 arithmetic and cached per shape so a forward
 * pass never rebuilds them.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import type { Module } from '../../../core/nn/module.js';

const f = Math.fround;
const LOG_10000 = Math.log(10000.0);

/** torch.linspace(start, end, steps) in float32 (the kernel fills both halves from its own end). */
export function linspace(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = f(f(end - start) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? f(start + f(step * i)) : f(end - f(step * (steps - i - 1)));
  return out;
}

/** exp(j · -(ln 10000 / d)) for j = 0, 2, 4, ... < d, as float32 (the official `div_term`). */
function divTerm(d: number): Float32Array {
  const s = f(-(LOG_10000 / d));
  const n = Math.ceil(d / 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(Math.exp(f(2 * i * s)));
  return out;
}

/**
 * The official decoder's `pos2d(C, H, W)` as row-major [H·W, C] (token n = row·W + col):
 * the first C/2 channels encode the column (sin at even, cos at odd channels),
 * the last C/2 the row, with frequencies exp(-j·ln(10000)/(C/2)).
 */
export function sinePositions2d(C: number, H: number, W: number): Float32Array {
  if (C % 4 !== 0) throw new RangeError(`pos2d: channels ${C} must be a multiple of 4`);
  const half = C / 2;
  const div = divTerm(half);
  const out = new Float32Array(H * W * C);
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      const base = (h * W + w) * C;
      for (let i = 0; i < div.length; i++) {
        const aw = f(w * div[i]!);
        const ah = f(h * div[i]!);
        out[base + 2 * i] = Math.sin(aw);
        out[base + 2 * i + 1] = Math.cos(aw);
        out[base + half + 2 * i] = Math.sin(ah);
        out[base + half + 2 * i + 1] = Math.cos(ah);
      }
    }
  }
  return out;
}

/** The official decoder's `pos1d(D, L)` as row-major [L, D]: sin at even, cos at odd channels. */
export function sinePositions1d(D: number, L: number): Float32Array {
  if (D % 2 !== 0) throw new RangeError(`pos1d: dim ${D} must be even`);
  const div = divTerm(D);
  const out = new Float32Array(L * D);
  for (let l = 0; l < L; l++) {
    for (let i = 0; i < div.length; i++) {
      const a = f(l * div[i]!);
      out[l * D + 2 * i] = Math.sin(a);
      out[l * D + 2 * i + 1] = Math.cos(a);
    }
  }
  return out;
}

/** CoordConv planes [H, W, 2]: channel 0 = x (column) linspace(-1, 1, W), channel 1 = y (row) linspace(-1, 1, H). */
export function coordinatePlanes(H: number, W: number): Float32Array {
  const xs = linspace(-1, 1, W);
  const ys = linspace(-1, 1, H);
  const out = new Float32Array(H * W * 2);
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      out[(h * W + w) * 2] = xs[w]!;
      out[(h * W + w) * 2 + 1] = ys[h]!;
    }
  }
  return out;
}

/**
 * One-hot conv filter [k, k, k², 1] with filter[i, j, i·k + j] = 1: convolving a
 * [B, H, W, k²] map of per-tap responses with it sums tap (i, j) shifted by (i, j).
 */
export function tapSumFilter(k: number): Float32Array {
  const kk = k * k;
  const out = new Float32Array(kk * kk);
  for (let t = 0; t < kk; t++) out[t * kk + t] = 1;
  return out;
}

/**
 * Tensors that depend only on shapes, kept across forwards. Keys include the
 * backend so a backend switch never mixes tensors of two backends.
 */
export class ConstantCache {
  private readonly map = new Map<string, Tensor>();

  get(key: string, make: () => Tensor): Tensor {
    const k = `${tf.getBackend()}:${key}`;
    const hit = this.map.get(k);
    if (hit && !hit.isDisposed) return hit;
    const t = tf.keep(tf.tidy(make));
    this.map.set(k, t);
    return t;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    for (const t of this.map.values()) t.dispose();
    this.map.clear();
  }
}

/** A module that caches shape constants. */
export interface HasConstants {
  readonly constants: ConstantCache;
}

function hasConstants(m: Module): m is Module & HasConstants {
  return (m as Partial<HasConstants>).constants instanceof ConstantCache;
}

/** Release the cached constants of `root` and every module below it. */
export function clearConstants(root: Module): void {
  for (const [, m] of root.namedModules()) if (hasConstants(m)) m.constants.clear();
}

/** Number of cached constant tensors in `root` and below. */
export function countConstants(root: Module): number {
  let n = 0;
  for (const [, m] of root.namedModules()) if (hasConstants(m)) n += m.constants.size;
  return n;
}
