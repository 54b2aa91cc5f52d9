/**
 * Framework-free tensor data as read from or written to files. Loaders return
 * these; the Module system turns them into tfjs tensors.
 */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type TypedData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** Row-major element data. float16/bfloat16 hold raw bits in a Uint16Array; bool holds 0/1 in a Uint8Array. */
  data: TypedData;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** Number of NaN and ±Inf elements of a floating-point tensor (0 for integer and bool dtypes). */
export function countNonFinite(t: RawTensor): number {
  const d = t.data;
  let n = 0;
  if (t.dtype === 'float32' || t.dtype === 'float64') {
    const f = d as Float32Array | Float64Array;
    for (let i = 0; i < f.length; i++) {
      const v = f[i]!;
      if (v - v !== 0) n++;
    }
  } else if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const h = d as Uint16Array;
    const exp = t.dtype === 'float16' ? 0x7c00 : 0x7f80;
    for (let i = 0; i < h.length; i++) if ((h[i]! & exp) === exp) n++;
  }
  return n;
}

/** IEEE half-precision bits to a float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Float to IEEE half bits, round to nearest even. */
export function floatToHalf(v: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Convert any numeric raw tensor to float32 values (fp16/bf16 upcast exactly). */
export function toFloat32(t: RawTensor): Float32Array {
  const n = numel(t.shape);
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16': {
      const src = t.data as Uint16Array;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]!);
      return out;
    }
    case 'bfloat16': {
      const src = t.data as Uint16Array;
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = src[i]! << 16;
      return out;
    }
    case 'int64': {
      const src = t.data as BigInt64Array;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
      return out;
    }
    default:
      return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/** Convert integer raw tensors to int32 (int64 values must fit). */
export function toInt32(t: RawTensor): Int32Array {
  if (t.dtype === 'int32') return t.data as Int32Array;
  const n = numel(t.shape);
  const out = new Int32Array(n);
  if (t.dtype === 'int64') {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
  } else {
    const src = toFloat32(t);
    for (let i = 0; i < n; i++) out[i] = Math.round(src[i]!);
  }
  return out;
}
