/**
 * OpenCV's `cv::warpAffine` (4.x, constant border), reproduced bit for bit for
 * float32 and uint8 images.
 *
 * What makes OpenCV's result what it is:
 * - The forward matrix is inverted in float64 (see `invertAffine`), then every
 *   destination pixel's source position is computed in fixed point: per row
 *   X₀ = round(1024·(N₀₁·y + N₀₂)) + 16, per column Δ = round(1024·N₀₀·x),
 *   X = (X₀ + Δ) >> 5, i.e. the position is snapped to 1/32 pixel
 *   (integer part X >> 5, fraction (X & 31)/32). Rounding is half-to-even.
 * - Interpolation weights come from 32×32 tables of 2-D kernels built in
 *   float32 (cubic with A = −0.75). uint8 images use the same tables scaled
 *   to 15-bit integers (with OpenCV's fix-up so each kernel sums to 32768)
 *   and integer accumulation; float images accumulate in float32.
 * - Taps outside the source take the border value, per tap (no clamping).
 *   The border value is cast to the pixel type first (uint8: rounded and
 *   saturated, so 122.77 becomes 123).
 * - The sum order differs between pixels whose whole kernel is inside the
 *   source and pixels near the border; both orders are kept here because
 *   they give different float32 roundings.
 */
import { DataError } from '../errors.js';
import { invertAffine, type Affine, type Size } from './affine.js';
import { checkImage, type ImageBuffer, type PixelData } from './image.js';

export type WarpInterpolation = 'nearest' | 'linear' | 'cubic';

export interface WarpAffineOptions {
  /** OpenCV INTER_NEAREST / INTER_LINEAR (the default, as in OpenCV) / INTER_CUBIC. */
  interpolation?: WarpInterpolation;
  /**
   * Constant border, OpenCV `Scalar` semantics: a number v means (v, 0, 0, 0),
   * so only channel 0 gets v; give one value per channel otherwise. Default 0.
   */
  borderValue?: number | readonly number[];
  /** `WARP_INVERSE_MAP`: `m` already maps destination to source. */
  inverseMap?: boolean;
}

const f = Math.fround;

const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const REMAP_COEF_BITS = 15;
const REMAP_COEF_SCALE = 1 << REMAP_COEF_BITS;

/** cvRound: nearest integer, ties to even (SSE cvtsd2si). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties toward +∞
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** saturate_cast<int>(double), clamped instead of the hardware's INT_MIN for out-of-range values. */
function toInt32(x: number): number {
  if (Number.isNaN(x)) return -2147483648;
  return Math.min(Math.max(roundHalfEven(x), -2147483648), 2147483647);
}

const toShort = (x: number) => Math.min(Math.max(x, -32768), 32767);

/** saturate_cast<uchar>(double): round half to even, clamp to [0, 255]. */
export function saturateU8(x: number): number {
  return Math.min(Math.max(roundHalfEven(x), 0), 255);
}

/** OpenCV's 1-D cubic kernel at fraction x (float32 steps, A = −0.75). */
function cubicKernel(x: number): [number, number, number, number] {
  const A = -0.75;
  const x1 = f(x + 1);
  const c0 = f(f(f(f(f(f(A * x1) - 5 * A) * x1) + 8 * A) * x1) - 4 * A);
  const c1 = f(f(f(f(f((A + 2) * x) - (A + 3)) * x) * x) + 1);
  const u = f(1 - x);
  const c2 = f(f(f(f(f((A + 2) * u) - (A + 3)) * u) * u) + 1);
  const c3 = f(f(f(1 - c0) - c1) - c2);
  return [c0, c1, c2, c3];
}

interface WeightTables {
  /** [1024][k·k] float32 kernels, index (fy·32 + fx)·k² + row·k + col. */
  float: Float32Array;
  /** The same in 15-bit fixed point. */
  fixed: Int32Array;
}

const tables: Partial<Record<'linear' | 'cubic', WeightTables>> = {};

/** OpenCV's initInterTab2D for INTER_LINEAR (k = 2) or INTER_CUBIC (k = 4). */
function weightTables(mode: 'linear' | 'cubic'): WeightTables {
  const cached = tables[mode];
  if (cached) return cached;
  const k = mode === 'linear' ? 2 : 4;
  const k2 = k * k;
  const oneD: number[][] = [];
  const scale = f(1 / INTER_TAB_SIZE);
  for (let i = 0; i < INTER_TAB_SIZE; i++) {
    const x = f(i * scale);
    oneD.push(mode === 'linear' ? [f(1 - x), x] : cubicKernel(x));
  }
  const n = INTER_TAB_SIZE * INTER_TAB_SIZE;
  const float = new Float32Array(n * k2);
  const fixed = new Int32Array(n * k2);
  for (let i = 0; i < INTER_TAB_SIZE; i++) {
    for (let j = 0; j < INTER_TAB_SIZE; j++) {
      const base = (i * INTER_TAB_SIZE + j) * k2;
      let isum = 0;
      for (let r = 0; r < k; r++) {
        const vy = oneD[i]![r]!;
        for (let c = 0; c < k; c++) {
          const v = f(vy * oneD[j]![c]!);
          float[base + r * k + c] = v;
          const iv = toShort(roundHalfEven(f(v * REMAP_COEF_SCALE)));
          fixed[base + r * k + c] = iv;
          isum += iv;
        }
      }
      if (isum !== REMAP_COEF_SCALE) {
        // OpenCV moves the rounding error onto the largest (or smallest) of
        // the taps at rows/cols k/2 .. k/2+1 of the kernel.
        const diff = isum - REMAP_COEF_SCALE;
        const h = k / 2;
        let mr = h, mc = h, Mr = h, Mc = h;
        for (let r = h; r < h + 2; r++) {
          for (let c = h; c < h + 2; c++) {
            const v = fixed[base + r * k + c]!;
            if (v < fixed[base + mr * k + mc]!) {
              mr = r;
              mc = c;
            } else if (v > fixed[base + Mr * k + Mc]!) {
              Mr = r;
              Mc = c;
            }
          }
        }
        if (diff < 0) fixed[base + Mr * k + Mc] -= diff;
        else fixed[base + mr * k + mc] -= diff;
      }
    }
  }
  const t = { float, fixed };
  tables[mode] = t;
  return t;
}

/** Per-channel border values as OpenCV's cval (cast to the pixel type). */
function borderValues(borderValue: number | readonly number[], channels: number, isU8: boolean): number[] {
  const scalar = typeof borderValue === 'number' ? [borderValue, 0, 0, 0] : [...borderValue, 0, 0, 0, 0].slice(0, 4);
  if (typeof borderValue !== 'number' && borderValue.length > 4) throw new DataError(`warpAffine: borderValue has ${borderValue.length} entries, OpenCV takes at most 4`);
  const out: number[] = [];
  for (let c = 0; c < channels; c++) {
    const v = scalar[c & 3]!;
    out.push(isU8 ? saturateU8(v) : f(v));
  }
  return out;
}

/**
 * `cv2.warpAffine(src, m, (width, height), flags, borderMode=BORDER_CONSTANT, borderValue)`.
 * `m` maps source to destination unless `inverseMap` is set. Returns a new
 * image of the source's type and channel count.
 */
export function warpAffine<D extends PixelData>(src: ImageBuffer<D>, m: Affine, dsize: Size, options: WarpAffineOptions = {}): ImageBuffer<D> {
  checkImage(src, 'warpAffine source');
  const { height: dh, width: dw } = dsize;
  if (!Number.isSafeInteger(dh) || !Number.isSafeInteger(dw) || dh <= 0 || dw <= 0) {
    throw new DataError(`warpAffine: destination size must be positive integers, got ${dw}×${dh} (width×height)`);
  }
  if (m.length !== 6 || m.some((v) => !Number.isFinite(v))) throw new DataError(`warpAffine: matrix must be 6 finite numbers, got ${JSON.stringify(m)}`);
  const mode = options.interpolation ?? 'linear';
  const isU8 = src.data instanceof Uint8Array;
  const cn = src.channels;
  const cval = borderValues(options.borderValue ?? 0, cn, isU8);
  const n = options.inverseMap ? m : invertAffine(m);

  const out = (isU8 ? new Uint8Array(dh * dw * cn) : new Float32Array(dh * dw * cn)) as D;
  const adelta = new Int32Array(dw);
  const bdelta = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    adelta[x] = toInt32(n[0] * x * AB_SCALE);
    bdelta[x] = toInt32(n[3] * x * AB_SCALE);
  }
  const roundDelta = mode === 'nearest' ? AB_SCALE / 2 : AB_SCALE / INTER_TAB_SIZE / 2;
  // Per destination row: integer source positions and 1/32 fractions.
  const sxRow = new Int32Array(dw);
  const syRow = new Int32Array(dw);
  const fracRow = new Int32Array(dw);
  const sample = mode === 'nearest' ? null : mode === 'linear' ? (isU8 ? linearU8 : linearF32) : isU8 ? cubicU8 : cubicF32;
  const wt = mode === 'nearest' ? null : isU8 ? weightTables(mode).fixed : weightTables(mode).float;
  const ctx: SampleContext = { src: src.data, h: src.height, w: src.width, cn, cval, out, wt: wt! };

  for (let y = 0; y < dh; y++) {
    const X0 = toInt32((n[1] * y + n[2]) * AB_SCALE) + roundDelta;
    const Y0 = toInt32((n[4] * y + n[5]) * AB_SCALE) + roundDelta;
    for (let x = 0; x < dw; x++) {
      const X = (X0 + adelta[x]!) | 0;
      const Y = (Y0 + bdelta[x]!) | 0;
      if (mode === 'nearest') {
        sxRow[x] = toShort(X >> AB_BITS);
        syRow[x] = toShort(Y >> AB_BITS);
      } else {
        const xs = X >> (AB_BITS - INTER_BITS);
        const ys = Y >> (AB_BITS - INTER_BITS);
        sxRow[x] = toShort(xs >> INTER_BITS);
        syRow[x] = toShort(ys >> INTER_BITS);
        fracRow[x] = (ys & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE + (xs & (INTER_TAB_SIZE - 1));
      }
    }
    const rowBase = y * dw * cn;
    if (sample === null) {
      for (let x = 0; x < dw; x++) {
        const sx = sxRow[x]!;
        const sy = syRow[x]!;
        const o = rowBase + x * cn;
        const inside = sx >= 0 && sx < src.width && sy >= 0 && sy < src.height;
        for (let c = 0; c < cn; c++) out[o + c] = inside ? src.data[(sy * src.width + sx) * cn + c]! : cval[c]!;
      }
    } else {
      for (let x = 0; x < dw; x++) sample(ctx, sxRow[x]!, syRow[x]!, fracRow[x]!, rowBase + x * cn);
    }
  }
  return { data: out, height: dh, width: dw, channels: cn };
}

interface SampleContext {
  src: PixelData;
  h: number;
  w: number;
  cn: number;
  cval: number[];
  out: PixelData;
  wt: Float32Array | Int32Array;
}

/** OpenCV's FixedPtCast<int, uchar, 15>: round the 15-bit fixed-point sum, saturate. */
const fixedToU8 = (sum: number) => Math.min(Math.max((sum + (1 << (REMAP_COEF_BITS - 1))) >> REMAP_COEF_BITS, 0), 255);

/** Bilinear, float32: v0·w0 + v1·w1 + v2·w2 + v3·w3 in float32 with border taps = cval. */
function linearF32(c: SampleContext, sx: number, sy: number, frac: number, o: number): void {
  const { src, h, w, cn, cval, out, wt } = c;
  if (sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0) {
    for (let k = 0; k < cn; k++) out[o + k] = cval[k]!;
    return;
  }
  const wb = frac * 4;
  const w0 = wt[wb]!, w1 = wt[wb + 1]!, w2 = wt[wb + 2]!, w3 = wt[wb + 3]!;
  const x0in = sx >= 0, x1in = sx + 1 < w, y0in = sy >= 0, y1in = sy + 1 < h;
  const r0 = sy * w, r1 = (sy + 1) * w;
  for (let k = 0; k < cn; k++) {
    const v0 = x0in && y0in ? src[(r0 + sx) * cn + k]! : cval[k]!;
    const v1 = x1in && y0in ? src[(r0 + sx + 1) * cn + k]! : cval[k]!;
    const v2 = x0in && y1in ? src[(r1 + sx) * cn + k]! : cval[k]!;
    const v3 = x1in && y1in ? src[(r1 + sx + 1) * cn + k]! : cval[k]!;
    out[o + k] = f(f(f(f(v0 * w0) + f(v1 * w1)) + f(v2 * w2)) + f(v3 * w3));
  }
}

/** Bilinear, uint8: integer sum with 15-bit weights (exact, so one formula serves interior and border). */
function linearU8(c: SampleContext, sx: number, sy: number, frac: number, o: number): void {
  const { src, h, w, cn, cval, out, wt } = c;
  if (sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0) {
    for (let k = 0; k < cn; k++) out[o + k] = cval[k]!;
    return;
  }
  const wb = frac * 4;
  const x0in = sx >= 0, x1in = sx + 1 < w, y0in = sy >= 0, y1in = sy + 1 < h;
  const r0 = sy * w, r1 = (sy + 1) * w;
  for (let k = 0; k < cn; k++) {
    const v0 = x0in && y0in ? src[(r0 + sx) * cn + k]! : cval[k]!;
    const v1 = x1in && y0in ? src[(r0 + sx + 1) * cn + k]! : cval[k]!;
    const v2 = x0in && y1in ? src[(r1 + sx) * cn + k]! : cval[k]!;
    const v3 = x1in && y1in ? src[(r1 + sx + 1) * cn + k]! : cval[k]!;
    out[o + k] = fixedToU8(v0 * wt[wb]! + v1 * wt[wb + 1]! + v2 * wt[wb + 2]! + v3 * wt[wb + 3]!);
  }
}

/** Column offsets (×cn) of the 4 cubic taps, −1 outside the source (BORDER_CONSTANT's borderInterpolate). */
function cubicTaps(s: number, len: number, mul: number, into: Int32Array): void {
  for (let i = 0; i < 4; i++) {
    const p = s + i;
    into[i] = p >= 0 && p < len ? p * mul : -1;
  }
}

const tapX = new Int32Array(4);
const tapY = new Int32Array(4);

/** Bicubic, float32 (OpenCV remapBicubic with Cast<float, float>). */
function cubicF32(c: SampleContext, sx0: number, sy0: number, frac: number, o: number): void {
  const { src, h, w, cn, cval, out, wt } = c;
  const sx = sx0 - 1;
  const sy = sy0 - 1;
  const wb = frac * 16;
  if (sx >= 0 && sx < w - 3 && sy >= 0 && sy < h - 3) {
    const rs = w * cn;
    for (let k = 0; k < cn; k++) {
      let p = (sy * w + sx) * cn + k;
      let sum = 0;
      for (let r = 0; r < 4; r++, p += rs) {
        const wr = wb + r * 4;
        const row = f(f(f(f(src[p]! * wt[wr]!) + f(src[p + cn]! * wt[wr + 1]!)) + f(src[p + 2 * cn]! * wt[wr + 2]!)) + f(src[p + 3 * cn]! * wt[wr + 3]!));
        sum = r === 0 ? row : f(sum + row);
      }
      out[o + k] = sum;
    }
    return;
  }
  if (sx >= w || sx + 4 <= 0 || sy >= h || sy + 4 <= 0) {
    for (let k = 0; k < cn; k++) out[o + k] = cval[k]!;
    return;
  }
  cubicTaps(sx, w, cn, tapX);
  cubicTaps(sy, h, 1, tapY);
  for (let k = 0; k < cn; k++) {
    const cv = cval[k]!;
    let sum = cv; // cv·ONE with ONE = 1
    for (let r = 0; r < 4; r++) {
      const yi = tapY[r]!;
      if (yi < 0) continue;
      const rowBase = yi * w * cn + k;
      for (let i = 0; i < 4; i++) {
        const xi = tapX[i]!;
        if (xi >= 0) sum = f(sum + f(f(src[rowBase + xi]! - cv) * wt[wb + r * 4 + i]!));
      }
    }
    out[o + k] = sum;
  }
}

/** Bicubic, uint8 (OpenCV remapBicubic with FixedPtCast<int, uchar, 15>, integer arithmetic). */
function cubicU8(c: SampleContext, sx0: number, sy0: number, frac: number, o: number): void {
  const { src, h, w, cn, cval, out, wt } = c;
  const sx = sx0 - 1;
  const sy = sy0 - 1;
  const wb = frac * 16;
  if (sx >= w || sx + 4 <= 0 || sy >= h || sy + 4 <= 0) {
    for (let k = 0; k < cn; k++) out[o + k] = cval[k]!;
    return;
  }
  // Integer sums are exact, so the interior formula (Σ S·w) and OpenCV's
  // border formula (cv·32768 + Σ (S − cv)·w over inside taps) are the same
  // number whenever every tap is inside; the border form covers both.
  cubicTaps(sx, w, cn, tapX);
  cubicTaps(sy, h, 1, tapY);
  for (let k = 0; k < cn; k++) {
    const cv = cval[k]!;
    let sum = cv * REMAP_COEF_SCALE;
    for (let r = 0; r < 4; r++) {
      const yi = tapY[r]!;
      if (yi < 0) continue;
      const rowBase = yi * w * cn + k;
      for (let i = 0; i < 4; i++) {
        const xi = tapX[i]!;
        if (xi >= 0) sum += (src[rowBase + xi]! - cv) * wt[wb + r * 4 + i]!;
      }
    }
    out[o + k] = fixedToU8(sum);
  }
}
