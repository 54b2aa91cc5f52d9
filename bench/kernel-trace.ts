/**
 * Kernel interception for benchmarks: every kernel registered for a backend is
 * wrapped (its registered config's kernelFunc replaced in place, restored by
 * `uninstall`), so a traced region yields, per kernel name, the calls, the
 * time and the FLOPs, plus the peak of tfjs's allocated bytes.
 *
 * Depth: composite kernels (wasm-kernels.ts) run ordinary ops, which reach the
 * registry again. Only top-level calls (depth 0) count towards FLOPs and the
 * per-kernel time (their time includes what they run inside); nested calls are
 * kept apart (`nested`) for the breakdown of a composite. The Identity kernels
 * that the engine runs to save tensors for the backward pass (after the
 * kernel returned) are top-level calls.
 *
 * FLOP rules (`kernelFlops`): one multiply-add = 2 FLOPs.
 * - BatchMatMul, _FusedMatMul: 2·M·N·K per batch entry (+ bias/activation as
 *   elementwise).
 * - Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter, and the
 *   depthwise family: 2 · (output-side elements) · kh·kw·cin (per group for
 *   depthwise), i.e. the same count as the forward conv they belong to.
 * - Elementwise arithmetic and activations: 1 FLOP per output element
 *   (transcendentals included, counted as 1); Softmax 5 per element (max,
 *   sub, exp, sum, div); reductions (Sum, Mean, Max, Min, Prod, ArgMax...)
 *   1 per input element.
 * - Data movement (Reshape, Transpose, Slice, Concat, Pad, Gather, Identity,
 *   Cast, Tile, Split, Pack/Unpack, Reverse...): 0.
 * The matmul/conv part is exact; the elementwise part is an estimate (a few %
 * of the total for the models here), reported separately.
 */
import * as tf from '@tensorflow/tfjs-core';
import { recomputation } from '../core/nn/checkpoint.js';

export interface KernelStat {
  calls: number;
  ms: number;
  flops: number;
  /** FLOPs of matmul/conv kernels (a subset of `flops`). */
  denseFlops: number;
  /** Bytes of new outputs (aliases of existing data not counted). */
  bytes: number;
}

export interface TraceResult {
  /** Top-level kernels by name. */
  kernels: Record<string, KernelStat>;
  /** Kernels run inside composite kernels, by name. */
  nested: Record<string, KernelStat>;
  /** Sums over top-level kernels. */
  calls: number;
  kernelMs: number;
  flops: number;
  denseFlops: number;
  /** Part of `flops` spent recomputing forwards (activation checkpointing, core/nn/checkpoint.ts): not model FLOPs. */
  recomputeFlops: number;
  recomputeMs: number;
  /** Peak of tf.memory().numBytes seen at kernel boundaries (bytes). */
  peakBytes: number;
  /** Top-level kernels with shapes, when `detail` was on. */
  detail?: Record<string, KernelStat>;
  /** With `track`: the data each kernel (by shape key) created, to see what is still alive later (`liveBytes`). */
  created?: Map<object, { key: string; bytes: number }>;
}

/** Bytes still alive (by kernel and shapes) of what a traced region with `track` created. */
export function liveBytes(t: TraceResult): Map<string, { bytes: number; n: number }> {
  const out = new Map<string, { bytes: number; n: number }>();
  const st = tf.engine().state;
  for (const [id, c] of t.created ?? []) {
    if (!st.tensorInfo.has(id)) continue;
    const e = out.get(c.key) ?? { bytes: 0, n: 0 };
    e.bytes += c.bytes;
    e.n++;
    out.set(c.key, e);
  }
  return out;
}

const sizeOf = (s: readonly number[]) => s.reduce((a, c) => a * c, 1);

const ZERO = new Set([
  'Reshape', 'Transpose', 'Slice', 'StridedSlice', 'Concat', 'Pad', 'PadV2', 'MirrorPad', 'GatherV2', 'GatherNd', 'Identity', 'Cast', 'Tile',
  'SplitV', 'Pack', 'Unpack', 'Reverse', 'Fill', 'ZerosLike', 'OnesLike', 'Range', 'ExpandDims', 'Squeeze', 'BroadcastTo', 'OneHot', 'ScatterNd',
  'ResizeNearestNeighbor', 'ResizeNearestNeighborGrad', 'RandomUniform', 'RandomStandardNormal', 'Multinomial', 'DepthToSpace', 'SpaceToBatchND',
  'BatchToSpaceND', 'TensorScatterUpdate', 'Complex', 'Real', 'Imag', 'LinSpace',
]);
const REDUCE = new Set(['Sum', 'Mean', 'Max', 'Min', 'Prod', 'All', 'Any', 'ArgMax', 'ArgMin', 'UnsortedSegmentSum', 'Cumsum', 'Cumprod', 'MaxPool', 'AvgPool', 'MaxPoolGrad', 'AvgPoolGrad']);

function filterOf(inputs: tf.NamedTensorInfoMap): number[] | undefined {
  return inputs.filter?.shape as number[] | undefined;
}

/** FLOPs of one kernel call: [total, dense part]. */
export function kernelFlops(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap | undefined, outputs: tf.TensorInfo[]): [number, number] {
  const outElems = outputs.reduce((a, o) => a + sizeOf(o.shape), 0);
  switch (name) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = inputs.a!.shape;
      const transposeA = Boolean(attrs?.transposeA);
      const K = transposeA ? a[a.length - 2]! : a[a.length - 1]!;
      const dense = 2 * outElems * K;
      const extra = name === '_FusedMatMul' ? outElems * ((inputs.bias ? 1 : 0) + (attrs?.activation && attrs.activation !== 'linear' ? 1 : 0)) : 0;
      return [dense + extra, dense];
    }
    case 'Conv2D':
    case 'FusedConv2D': {
      const f = filterOf(inputs)!; // [kh, kw, cin, cout]
      const dense = 2 * outElems * f[0]! * f[1]! * f[2]!;
      const extra = name === 'FusedConv2D' ? outElems * ((inputs.bias ? 1 : 0) + (attrs?.activation && attrs.activation !== 'linear' ? 1 : 0)) : 0;
      return [dense + extra, dense];
    }
    case 'Conv2DBackpropInput': {
      const f = filterOf(inputs)!;
      const dense = 2 * sizeOf(inputs.dy!.shape) * f[0]! * f[1]! * f[2]!;
      return [dense, dense];
    }
    case 'Conv2DBackpropFilter': {
      const f = attrs!.filterShape as number[];
      const dense = 2 * sizeOf(inputs.dy!.shape) * f[0]! * f[1]! * f[2]!;
      return [dense, dense];
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const f = filterOf(inputs)!; // [kh, kw, cin, mult]
      const dense = 2 * outElems * f[0]! * f[1]!;
      return [dense, dense];
    }
    case 'DepthwiseConv2dNativeBackpropInput': {
      const f = filterOf(inputs)!;
      const dense = 2 * sizeOf(inputs.dy!.shape) * f[0]! * f[1]!;
      return [dense, dense];
    }
    case 'DepthwiseConv2dNativeBackpropFilter': {
      const f = attrs!.filterShape as number[];
      const dense = 2 * sizeOf(inputs.dy!.shape) * f[0]! * f[1]!;
      return [dense, dense];
    }
    case 'Softmax':
    case 'LogSoftmax':
      return [5 * outElems, 0];
  }
  if (ZERO.has(name)) return [0, 0];
  if (REDUCE.has(name)) {
    const first = Object.values(inputs)[0];
    return [first ? sizeOf(first.shape) : 0, 0];
  }
  return [outElems, 0];
}

interface Installed {
  backend: string;
  originals: Map<string, tf.KernelFunc>;
}

let installed: Installed | undefined;
let active: { res: TraceResult; detail: boolean; track: boolean; after?: (name: string) => void } | undefined;
let depth = 0;

function add(map: Record<string, KernelStat>, key: string, ms: number, f: [number, number], bytes: number): void {
  const s = (map[key] ??= { calls: 0, ms: 0, flops: 0, denseFlops: 0, bytes: 0 });
  s.calls++;
  s.ms += ms;
  s.flops += f[0];
  s.denseFlops += f[1];
  s.bytes += bytes;
}

function shapeKey(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap | undefined): string {
  const ins = Object.entries(inputs)
    .filter(([, t]) => t)
    .map(([k, t]) => `${k}[${t!.shape.join(',')}]`)
    .join(' ');
  const at: string[] = [];
  if (attrs?.transposeA) at.push('tA');
  if (attrs?.transposeB) at.push('tB');
  if (attrs?.perm) at.push(`perm=${(attrs.perm as number[]).join('')}`);
  if (attrs?.axis !== undefined && typeof attrs.axis !== 'object') at.push(`axis=${attrs.axis}`);
  return `${name} ${ins}${at.length ? ' ' + at.join(' ') : ''}`;
}

/** Wrap every kernel registered for `backend` (idempotent; one backend at a time). */
export function installTrace(backend: string): void {
  if (installed?.backend === backend) return;
  uninstallTrace();
  const originals = new Map<string, tf.KernelFunc>();
  for (const k of tf.getKernelsForBackend(backend)) {
    const orig = k.kernelFunc;
    const name = k.kernelName;
    originals.set(name, orig);
    (k as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      if (!active) return orig(args);
      const d = depth++;
      const t0 = performance.now();
      let out: tf.TensorInfo | tf.TensorInfo[];
      try {
        out = orig(args);
      } finally {
        depth--;
      }
      const ms = performance.now() - t0;
      const a = active;
      if (a) {
        const outs = Array.isArray(out) ? out : [out];
        const f = kernelFlops(name, args.inputs, args.attrs, outs);
        // The engine registers the outputs only after we return: count the bytes of
        // those with new data (not aliases of a tracked tensor).
        const st = tf.engine().state;
        let added = 0;
        for (const o of outs) {
          if (st.tensorInfo.has(o.dataId)) continue;
          const b = sizeOf(o.shape) * (o.dtype === 'bool' ? 1 : 4);
          added += b;
          if (a.track) (a.res.created ??= new Map()).set(o.dataId, { key: (d ? 'nested:' : '') + shapeKey(name, args.inputs, args.attrs), bytes: b });
        }
        if (d === 0) {
          add(a.res.kernels, name, ms, f, added);
          a.res.calls++;
          a.res.kernelMs += ms;
          a.res.flops += f[0];
          a.res.denseFlops += f[1];
          if (recomputation.depth > 0) {
            a.res.recomputeFlops += f[0];
            a.res.recomputeMs += ms;
          }
          if (a.detail) add((a.res.detail ??= {}), shapeKey(name, args.inputs, args.attrs), ms, f, added);
        } else add(a.res.nested, name, ms, f, added);
        if (st.numBytes + added > a.res.peakBytes) a.res.peakBytes = st.numBytes + added;
        a.after?.(name);
      }
      return out;
    };
  }
  installed = { backend, originals };
}

export function uninstallTrace(): void {
  if (!installed) return;
  for (const k of tf.getKernelsForBackend(installed.backend)) {
    const orig = installed.originals.get(k.kernelName);
    if (orig) (k as { kernelFunc: tf.KernelFunc }).kernelFunc = orig;
  }
  installed = undefined;
}

/** Run `f` with the trace on (installTrace first); returns its result and the trace. */
export function traced<T>(f: () => T, opts: { detail?: boolean; track?: boolean; after?: (kernel: string) => void } = {}): { value: T; trace: TraceResult } {
  if (!installed) throw new Error('traced: call installTrace(backend) first');
  const res: TraceResult = { kernels: {}, nested: {}, calls: 0, kernelMs: 0, flops: 0, denseFlops: 0, recomputeFlops: 0, recomputeMs: 0, peakBytes: tf.engine().state.numBytes };
  const prev = active;
  active = { res, detail: opts.detail ?? false, track: opts.track ?? false, after: opts.after };
  try {
    return { value: f(), trace: res };
  } finally {
    active = prev;
  }
}

/** The `n` most expensive entries of a trace (top-level kernels, nested ones, or by shape). */
export function topKernels(t: TraceResult, n = 20, from: 'kernels' | 'nested' | 'detail' = 'kernels'): [string, KernelStat][] {
  return Object.entries(t[from] ?? {})
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, n);
}
