/**
 * PyTorch's `F.interpolate(x, size, mode='bicubic', align_corners)` on one
 * float32 map, bit-exact with the PyTorch 1.13 CPU build that made the parity
 * fixtures (x86-64, AVX2 kernels).
 *
 * That build compiles the kernel with fused multiply-adds, which moves results
 * by a few float32 ulps, so the arithmetic is spelled out here as measured
 * against it (one-hot probes and random maps, see upsample.test.ts):
 * - source position: scale = f32((in − 1)/(out − 1)) (align_corners) or
 *   f32(in/out); i0 = floor of the float32 position; the fraction t is the
 *   exact scale·dst (− 0.5) − i0 rounded once (a fused multiply-add);
 * - coefficients (A = −0.75): near taps ((1.25·x − 2.25)·x)·x + 1 with the
 *   first step fused; far taps (fma(fma(−0.75, x, 3.75), x, −6)·x) + 3;
 * - taps clamped to the border; each axis sums its 4 taps as
 *   fma(v₀, w₀, v₁·w₁), then fma(v₂, w₂, ·), fma(v₃, w₃, ·); rows are
 *   resampled along the width first, then combined along the height.
 * A plain float32 evaluation (core/nn/resize.ts) differs by ≤ 2e-6 on
 * probabilities; this one is identical on every fixture value.
 *
 * The evaluation protocol needs this on plain arrays (sigmoid of the
 * prediction up to the network input size) where a tfjs round trip would only
 * add float32 differences.
 */
import { DataError } from '../errors.js';
import type { Size } from './affine.js';

const f = Math.fround;

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** The next float32 above a finite float32 x. */
function nextUpF32(x: number): number {
  if (x === 0) return 1.401298464324817e-45;
  f32buf[0] = x;
  u32buf[0] = x > 0 ? u32buf[0]! + 1 : u32buf[0]! - 1;
  return f32buf[0]!;
}

/**
 * float32 fused multiply-add: a·b + c rounded once, for float32 a, b, c.
 * a·b is exact in float64; the float64 sum is corrected when it lands exactly
 * on a float32 tie so that the double rounding cannot differ from one rounding.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s || !Number.isFinite(s)) return r;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // exact: s + err = p + c
  if (err === 0) return r;
  const lo = r < s ? r : -nextUpF32(-r);
  const hi = r > s ? r : nextUpF32(r);
  if ((lo + hi) / 2 !== s) return r;
  return err > 0 ? hi : lo;
}

/** PyTorch's |x| ≤ 1 cubic kernel term, A = −0.75. */
function nearTap(x: number): number {
  return f(f(f(fmaF32(1.25, x, -2.25) * x) * x) + 1);
}

/** PyTorch's 1 < |x| < 2 cubic kernel term, A = −0.75. */
function farTap(x: number): number {
  return f(f(fmaF32(fmaF32(-0.75, x, 3.75), x, -6) * x) + 3);
}

export interface CubicTaps {
  /** 4 clamped source indices per output index. */
  idx: Int32Array;
  /** 4 float32 weights per output index. */
  w: Float32Array;
}

/** PyTorch's bicubic taps along one axis (see the file comment for the arithmetic). */
export function bicubicTaps(inSize: number, outSize: number, alignCorners: boolean): CubicTaps {
  const idx = new Int32Array(outSize * 4);
  const w = new Float32Array(outSize * 4);
  const scale = alignCorners ? (outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0) : f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    let i0: number;
    let t: number;
    if (alignCorners) {
      i0 = Math.floor(f(scale * o));
      t = fmaF32(scale, o, -i0);
    } else {
      const oc = f(o + 0.5);
      i0 = Math.floor(f(f(scale * oc) - 0.5));
      t = fmaF32(scale, oc, -(0.5 + i0));
    }
    const t1 = f(1 - t);
    const c = [farTap(f(t + 1)), nearTap(t), nearTap(t1), farTap(f(t1 + 1))];
    for (let k = 0; k < 4; k++) {
      idx[o * 4 + k] = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      w[o * 4 + k] = c[k]!;
    }
  }
  return { idx, w };
}

/**
 * Resize a row-major float32 map [in.height, in.width] to [out.height, out.width]
 * with PyTorch bicubic semantics (`align_corners` default true, as the
 * official evaluation uses).
 */
export function resizeBicubic(src: Float32Array, inSize: Size, outSize: Size, alignCorners = true): Float32Array {
  const { height: h, width: w } = inSize;
  const { height: H, width: W } = outSize;
  for (const [k, v] of [['input height', h], ['input width', w], ['output height', H], ['output width', W]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new DataError(`resizeBicubic: ${k} must be a positive integer, got ${v}`);
  }
  if (src.length !== h * w) throw new DataError(`resizeBicubic: a ${h}×${w} map needs ${h * w} values, got ${src.length}`);
  const ty = bicubicTaps(h, H, alignCorners);
  const tx = bicubicTaps(w, W, alignCorners);
  // Width pass for every source row, then the height pass; per output this is
  // exactly PyTorch's nested sum (rows outer, columns inner).
  const cols = new Float32Array(h * W);
  for (let r = 0; r < h; r++) {
    const row = r * w;
    for (let x = 0; x < W; x++) {
      const b = x * 4;
      let s = fmaF32(src[row + tx.idx[b]!]!, tx.w[b]!, f(src[row + tx.idx[b + 1]!]! * tx.w[b + 1]!));
      s = fmaF32(src[row + tx.idx[b + 2]!]!, tx.w[b + 2]!, s);
      cols[r * W + x] = fmaF32(src[row + tx.idx[b + 3]!]!, tx.w[b + 3]!, s);
    }
  }
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const b = y * 4;
    const r0 = ty.idx[b]! * W, r1 = ty.idx[b + 1]! * W, r2 = ty.idx[b + 2]! * W, r3 = ty.idx[b + 3]! * W;
    const w0 = ty.w[b]!, w1 = ty.w[b + 1]!, w2 = ty.w[b + 2]!, w3 = ty.w[b + 3]!;
    const o = y * W;
    for (let x = 0; x < W; x++) {
      let s = fmaF32(cols[r0 + x]!, w0, f(cols[r1 + x]! * w1));
      s = fmaF32(cols[r2 + x]!, w2, s);
      out[o + x] = fmaF32(cols[r3 + x]!, w3, s);
    }
  }
  return out;
}

const R_LN2 = f(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2U = f(0.693145751953125);
const L2L = f(1.428606765330187045e-6);
const EXP_POLY = [0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156, 0.166666671633720397949219, 0.5].map(f);

/**
 * expf as PyTorch's AVX2 CPU kernels compute it (SLEEF `expf_u10` with fused
 * multiply-adds): range reduction by round(x/ln2), a degree-6 polynomial,
 * scaling by 2^q in two halves; 0 below −104, +∞ above 100.
 */
export function expF32(x: number): number {
  const d = f(x);
  if (Number.isNaN(d)) return NaN;
  const q = roundHalfEvenInt(f(d * R_LN2));
  let s = fmaF32(q, -L2U, d);
  s = fmaF32(q, -L2L, s);
  let u = EXP_POLY[0]!;
  for (let i = 1; i < EXP_POLY.length; i++) u = fmaF32(u, s, EXP_POLY[i]!);
  u = f(1 + fmaF32(f(s * s), u, s));
  const q1 = q >> 1;
  u = f(f(u * 2 ** q1) * 2 ** (q - q1));
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  return u;
}

function roundHalfEvenInt(v: number): number {
  if (!Number.isFinite(v)) return v > 0 ? 2147483647 : -2147483648;
  const r = Math.round(v);
  return Math.min(Math.max(r - v === 0.5 && r % 2 !== 0 ? r - 1 : r, -2147483648), 2147483647);
}

/**
 * torch.sigmoid on a float32 CPU tensor: 1 / (1 + exp(−x)) in float32 with
 * PyTorch's vectorised exp (bit-exact with the fixtures; PyTorch's scalar
 * tail path and CUDA can differ by an ulp).
 */
export function sigmoid(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(1 / f(1 + expF32(-x[i]!)));
  return out;
}
