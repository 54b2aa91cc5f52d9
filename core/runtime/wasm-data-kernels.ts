/**
 * Data-movement kernels of the wasm backend, replaced (registered for 'wasm'
 * by registerWasmKernels) where tfjs-backend-wasm 4.22's own are slow:
 *
 * - Identity: tfjs copies the tensor; here it aliases the input's data (one
 *   more reference), as the wasm Reshape kernel and the cpu backend's Identity
 *   already do. The engine runs Identity for every tensor it saves for the
 *   backward pass (engine.saveTensorsForBackwardMode clones), so a training
 *   step copied every saved activation once more (and held both copies until
 *   the backward pass: the ViT-B/16 step did not fit the 4 GiB wasm heap).
 *   Safe because no tensor's memory is written after its kernel returned:
 *   kernels write only their own fresh outputs, Variable.assign swaps the
 *   data id, the host-memory Adam step assigns new tensors (optimizers.ts),
 *   and aliasing is already what Reshape/ExpandDims/Squeeze do on this
 *   backend, so anything writing a tensor in place would already be broken.
 * - Slice, SplitV, Unpack: tfjs's read the whole input out of the heap
 *   (backend.readSync = a full copy) for every slice, then copy one innermost
 *   row at a time (a subarray per row of e.g. 32 floats); SplitV and Unpack
 *   slice once per part, so they copied the input once per part. Here: views
 *   of the heap, the contiguous trailing dimensions merged into one chunk per
 *   copy.
 * - Transpose: adjacent axes that stay adjacent are merged first (rank 5-6
 *   permutations become rank <= 4 ones, which the C++ kernel has fast paths
 *   for); what is still above rank 4 is done here.
 * - Sum, Mean over leading/middle axes of a float32 tensor ([R, C] over R,
 *   [K, R, C] over R: bias gradients, batch statistics): tfjs transposes the
 *   input to make the axes innermost, then reduces; here one pass in place,
 *   accumulating in float32 in the same order (r ascending), so the values are
 *   the same.
 *
 * Every replacement falls back to the original kernel for what it does not
 * handle (strings, complex).
 */
import * as tf from '@tensorflow/tfjs-core';

type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The parts of tfjs's BackendWasm the replacement kernels use (also wasm-kernels.ts). */
export interface WasmBackendLike {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): TypedArray;
}

export const sizeOf = (s: readonly number[]) => s.reduce((a, c) => a * c, 1);
const numeric = (d: tf.DataType) => d === 'float32' || d === 'int32' || d === 'bool';

/** Copies shorter than this go element by element (a subarray + set costs ~0.1 µs). */
const SHORT = 48;

/**
 * Copy the box `begin`/`size` of `x` (shape `shape`) into `out` (dense),
 * starting at `outOffset`. Trailing full dimensions are merged into one chunk.
 */
export function copyBox(x: TypedArray, shape: readonly number[], begin: readonly number[], size: readonly number[], out: TypedArray, outOffset = 0): void {
  const rank = shape.length;
  // d: innermost axis not taken whole; everything after it is one contiguous block.
  let d = rank - 1;
  let inner = 1;
  while (d >= 0 && begin[d] === 0 && size[d] === shape[d]) {
    inner *= shape[d]!;
    d--;
  }
  if (d < 0) {
    out.set(x.subarray(0, inner), outOffset);
    return;
  }
  const chunk = size[d]! * inner;
  // Strides of x.
  const strides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  let base = begin[d]! * inner;
  for (let i = 0; i < d; i++) base += begin[i]! * strides[i]!;
  let chunks = 1;
  for (let i = 0; i < d; i++) chunks *= size[i]!;
  const idx = new Array<number>(d).fill(0);
  let src = base;
  let dst = outOffset;
  for (let c = 0; c < chunks; c++) {
    if (chunk >= SHORT) out.set(x.subarray(src, src + chunk), dst);
    else for (let k = 0; k < chunk; k++) out[dst + k] = x[src + k]!;
    dst += chunk;
    // Advance the odometer over axes 0..d-1.
    for (let i = d - 1; i >= 0; i--) {
      idx[i]!++;
      src += strides[i]!;
      if (idx[i]! < size[i]!) break;
      src -= idx[i]! * strides[i]!;
      idx[i] = 0;
    }
  }
}

function sliceOut(backend: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[], outShape = size): tf.TensorInfo {
  const out = backend.makeOutput(outShape, x.dtype);
  if (sizeOf(size) === 0) return out;
  // Views after the allocation: it may have grown (and so replaced) the heap buffer.
  copyBox(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

function identityKernel(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (!numeric(x.dtype)) return original.kernelFunc(args);
      (args.backend as unknown as WasmBackendLike).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}

function sliceKernel(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (!numeric(x.dtype)) return original.kernelFunc(args);
      const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
      const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
      return sliceOut(args.backend as unknown as WasmBackendLike, x, b, s);
    },
  };
}

function splitVKernel(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (!numeric(x.dtype)) return original.kernelFunc(args);
      const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
      const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
      const be = args.backend as unknown as WasmBackendLike;
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((n) => {
        const size = [...x.shape];
        size[ax] = n;
        const out = sliceOut(be, x, [...begin], size);
        begin[ax]! += n;
        return out;
      });
    },
  };
}

function unpackKernel(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { value } = args.inputs as { value: tf.TensorInfo };
      if (!numeric(value.dtype)) return original.kernelFunc(args);
      const { axis } = args.attrs as unknown as { axis: number };
      const ax = axis < 0 ? axis + value.shape.length : axis;
      const outShape = value.shape.filter((_, i) => i !== ax);
      const be = args.backend as unknown as WasmBackendLike;
      const parts: tf.TensorInfo[] = [];
      for (let i = 0; i < value.shape[ax]!; i++) {
        const begin = new Array<number>(value.shape.length).fill(0);
        begin[ax] = i;
        const size = [...value.shape];
        size[ax] = 1;
        parts.push(sliceOut(be, value, begin, size, outShape));
      }
      return parts;
    },
  };
}

/**
 * The same permutation on fewer axes: size-1 axes dropped, runs of axes that
 * stay adjacent merged. Returns the reduced input shape and permutation.
 */
export function simplifyPermutation(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const keep = shape.map((n) => n !== 1);
  // Output order of the kept input axes.
  const order = perm.filter((p) => keep[p]);
  // Group consecutive runs p, p+1, ... in `order`.
  const groups: number[][] = [];
  for (const p of order) {
    const g = groups[groups.length - 1];
    if (g && p > g[g.length - 1]! && keepNextAdjacent(keep, g[g.length - 1]!, p)) g.push(p);
    else groups.push([p]);
  }
  // Groups in input order give the reduced input shape.
  const byInput = [...groups].sort((a, b) => a[0]! - b[0]!);
  const newShape = byInput.map((g) => g.reduce((a, p) => a * shape[p]!, 1));
  const newPerm = groups.map((g) => byInput.indexOf(g));
  return { shape: newShape, perm: newPerm };
}

/** Axes a < b are adjacent among the kept axes (only size-1 axes between them). */
function keepNextAdjacent(keep: boolean[], a: number, b: number): boolean {
  for (let i = a + 1; i < b; i++) if (keep[i]) return false;
  return true;
}

/** Dense transpose of any rank on typed arrays (output-order odometer). */
export function transposeInto(x: TypedArray, shape: readonly number[], perm: readonly number[], out: TypedArray): void {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const step = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const last = rank - 1;
  const n = outShape[last]!;
  const st = step[last]!;
  const idx = new Array<number>(rank).fill(0);
  const total = sizeOf(shape);
  let src = 0;
  for (let o = 0; o < total; o += n) {
    for (let k = 0; k < n; k++) out[o + k] = x[src + k * st]!;
    for (let i = last - 1; i >= 0; i--) {
      idx[i]!++;
      src += step[i]!;
      if (idx[i]! < outShape[i]!) break;
      src -= idx[i]! * step[i]!;
      idx[i] = 0;
    }
  }
}

function transposeKernel(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { perm } = args.attrs as unknown as { perm: number[] };
      if (!numeric(x.dtype)) return original.kernelFunc(args);
      const outShape = perm.map((p) => x.shape[p]!);
      const r = simplifyPermutation(x.shape, perm);
      const be = args.backend as unknown as WasmBackendLike;
      if (r.perm.every((p, i) => p === i)) {
        // A no-op permutation (up to size-1 axes): a copy, as tfjs does.
        const out = be.makeOutput(outShape, x.dtype);
        be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(x));
        return out;
      }
      if (r.perm.length <= 4) {
        const out = original.kernelFunc({ ...args, inputs: { x: { dataId: x.dataId, shape: r.shape, dtype: x.dtype } }, attrs: { ...args.attrs, perm: r.perm } }) as tf.TensorInfo;
        return { dataId: out.dataId, shape: outShape, dtype: out.dtype };
      }
      const out = be.makeOutput(outShape, x.dtype);
      transposeInto(be.typedArrayFromHeap(x), r.shape, r.perm, be.typedArrayFromHeap(out));
      return out;
    },
  };
}

/**
 * Reduce `axes` of `shape` if they form one run with something kept after it:
 * returns [K, R, C] (K outer kept, R reduced, C inner kept), else undefined.
 */
export function outerReduction(shape: readonly number[], axes: readonly number[]): [number, number, number] | undefined {
  const set = new Set(axes);
  if (!set.size) return undefined;
  const lo = Math.min(...set);
  const hi = Math.max(...set);
  if (hi - lo + 1 !== set.size || hi === shape.length - 1) return undefined;
  const K = sizeOf(shape.slice(0, lo));
  const R = sizeOf(shape.slice(lo, hi + 1));
  const C = sizeOf(shape.slice(hi + 1));
  if (C === 1) return undefined; // innermost after all: tfjs's kernel reduces that directly
  return [K, R, C];
}

function reduceOuterKernel(original: tf.KernelConfig, mean: boolean): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      if (x.dtype !== 'float32' || sizeOf(x.shape) === 0) return original.kernelFunc(args);
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const krc = outerReduction(x.shape, axes);
      if (!krc) return original.kernelFunc(args);
      const [K, R, C] = krc;
      const outShape = keepDims ? x.shape.map((n, i) => (axes.includes(i) ? 1 : n)) : x.shape.filter((_, i) => !axes.includes(i));
      const be = args.backend as unknown as WasmBackendLike;
      const out = be.makeOutput(outShape, 'float32');
      const xv = be.typedArrayFromHeap(x) as Float32Array;
      const ov = be.typedArrayFromHeap(out) as Float32Array;
      ov.fill(0);
      for (let k = 0; k < K; k++) {
        const o = k * C;
        for (let r = 0; r < R; r++) {
          const b = (k * R + r) * C;
          for (let c = 0; c < C; c++) ov[o + c]! += xv[b + c]!;
        }
      }
      if (mean) for (let i = 0; i < ov.length; i++) ov[i] = ov[i]! / R;
      return out;
    },
  };
}

export const WASM_DATA_KERNELS = ['Identity', 'Slice', 'SplitV', 'Unpack', 'Transpose', 'Sum', 'Mean'] as const;

/** Replace the wasm kernels listed in WASM_DATA_KERNELS (call once). */
export function registerWasmDataKernels(): void {
  const wraps: Record<(typeof WASM_DATA_KERNELS)[number], (k: tf.KernelConfig) => tf.KernelConfig> = {
    Identity: identityKernel,
    Slice: sliceKernel,
    SplitV: splitVKernel,
    Unpack: unpackKernel,
    Transpose: transposeKernel,
    Sum: (k) => reduceOuterKernel(k, false),
    Mean: (k) => reduceOuterKernel(k, true),
  };
  for (const name of WASM_DATA_KERNELS) {
    const k = tf.getKernel(name, 'wasm');
    if (!k) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(wraps[name](k));
  }
}
