/**
 * Kernels the tfjs wasm backend lacks but our models' gradients need
 * (registered for 'wasm'), and one the cpu backend has but too slowly
 * (Conv2DBackpropFilter: a scalar loop, ~16 s for one backward of the CRIS
 * head at tiny sizes; replaced on 'cpu' by the same composite). Composite kernels run ordinary tfjs ops (which
 * dispatch to the wasm backend; nested ops are not recorded on the tape) and
 * hand their result's data to the engine without a copy.
 *
 * Added (see WASM_KERNELS_ADDED):
 * - Conv2DBackpropFilter: the filter gradient of every strided/padded conv
 *   (patch embedding, 3x3 convs). Patchify convs (kernel == stride, no
 *   padding) use one matmul over patches; others accumulate one matmul per tap.
 * - UnsortedSegmentSum: the gradient of gather (embedding lookups, nearest
 *   resize), a direct scatter-add on the wasm heap.
 * Not needed by any op the project uses (grouped convs are split per group, no
 * depthwise conv is used): DepthwiseConv2dNativeBackprop*, Einsum, FFT, complex.
 *
 * Wrapped on 'wasm' (see WASM_KERNELS_WRAPPED): tfjs's kernel still runs the
 * cases it does on XNNPACK (SIMD, multi-threaded with the threaded build); the
 * others, which it runs as scalar single-threaded loops 10-30x slower, are
 * rewritten onto fast kernels.
 * - BatchMatMul: fast only unbatched without transposes. Every matmul of a
 *   backward pass (dA = dY·Bᵀ, dB = Aᵀ·dY), attention's batched Q·Kᵀ and P·V
 *   and [B, L, C] x [C, N] took the slow loop.
 * - Conv2DBackpropInput (dx of every conv, and ConvTranspose2d's forward):
 *   always the slow loop. Stride 1 becomes a conv2d of dy with the flipped
 *   filter; non-overlapping patches (kernel == stride) one matmul. Other
 *   strides stay with tfjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmDataKernels, sizeOf, type WasmBackendLike } from './wasm-data-kernels.js';

type Tensor = tf.Tensor;

export const WASM_KERNELS_ADDED = ['Conv2DBackpropFilter', 'UnsortedSegmentSum'] as const;
/** wasm kernels wrapped: the original still runs the cases it does fast. */
export const WASM_KERNELS_WRAPPED = ['BatchMatMul', 'Conv2DBackpropInput'] as const;
/** cpu kernels replaced by faster composites. */
export const CPU_KERNELS_REPLACED = ['Conv2DBackpropFilter'] as const;

/** Run `compute` with ops, then return its output as a TensorInfo the engine adopts. */
function composite(backend: WasmBackendLike, compute: () => Tensor): tf.TensorInfo {
  const out = tf.tidy(compute);
  backend.incRef(out.dataId);
  const info = { dataId: out.dataId, shape: [...out.shape], dtype: out.dtype };
  out.dispose();
  return info;
}

/** A tensor aliasing an input's data; the extra reference keeps the input alive when the alias is disposed. */
function asTensor(backend: WasmBackendLike, info: tf.TensorInfo): Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromDataId(info.dataId, info.shape, info.dtype);
}

/**
 * dW as one convolution, which XNNPACK runs without materialising any tap:
 * x with batch and channels swapped ([cin, H, W, B]) convolved (stride 1,
 * dilation = the conv's stride) by dy as the filter ([OH, OW, B, cout]) gives
 * [cin, kh, kw, cout]. Undilated convs only.
 */
export function conv2dFilterGradientViaConv(x: Tensor, dy: Tensor, filterShape: [number, number, number, number], conv: tf.backend_util.Conv2DInfo): Tensor {
  const [kh, kw] = filterShape;
  const [OH, OW] = [dy.shape[1]!, dy.shape[2]!];
  const { strideHeight: sh, strideWidth: sw, padInfo } = conv;
  let xs = x;
  const [H, W] = [x.shape[1]!, x.shape[2]!];
  // Rows/columns of the padded input that the conv reads: (O - 1)·s + k.
  let padBottom = (OH - 1) * sh + kh - H - padInfo.top;
  let padRight = (OW - 1) * sw + kw - W - padInfo.left;
  if (padBottom < 0 || padRight < 0) {
    xs = tf.slice(x, [0, 0, 0, 0], [x.shape[0]!, H + Math.min(0, padBottom), W + Math.min(0, padRight), x.shape[3]!]);
    padBottom = Math.max(0, padBottom);
    padRight = Math.max(0, padRight);
  }
  const xt = tf.transpose(xs, [3, 1, 2, 0]) as tf.Tensor4D;
  const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  const out = tf.conv2d(xt, f, 1, [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]], 'NHWC', [sh, sw]);
  return tf.transpose(out, [1, 2, 0, 3]);
}

/**
 * dW[i, j, ci, co] = Σ_{b, oh, ow} xpad[b, oh·s + i·d, ow·s + j·d, ci] · dy[b, oh, ow, co]
 * `viaConv` (wasm): use conv2dFilterGradientViaConv where it is faster than
 * one product per tap: strided convs (taps would be strided slices) and few
 * output channels (a tap product [cout, N]·[N, cin] is then bound by copying
 * the tap, not by arithmetic; measured crossover around cout = 128).
 */
export function conv2dFilterGradient(x: Tensor, dy: Tensor, filterShape: [number, number, number, number], conv: tf.backend_util.Conv2DInfo, viaConv = false): Tensor {
  const [kh, kw, cin, cout] = filterShape;
  const [B, OH, OW] = [dy.shape[0]!, dy.shape[1]!, dy.shape[2]!];
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = conv;
  const N = B * OH * OW;
  const dy2 = tf.reshape(dy, [N, cout]);
  const H = x.shape[1]!;
  const W = x.shape[2]!;
  if (kh === sh && kw === sw && dh === 1 && dw === 1 && padInfo.top === 0 && padInfo.left === 0 && OH * sh <= H && OW * sw <= W) {
    // Non-overlapping patches: one matmul [kh·kw·cin, N] x [N, cout].
    const xc = tf.slice(x, [0, 0, 0, 0], [B, OH * sh, OW * sw, cin]);
    const patches = tf.transpose(tf.reshape(xc, [B, OH, kh, OW, kw, cin]), [2, 4, 5, 0, 1, 3]);
    return tf.reshape(tf.matMul(tf.reshape(patches, [kh * kw * cin, N]), dy2), filterShape);
  }
  if (viaConv && dh === 1 && dw === 1 && (sh !== 1 || sw !== 1 || cout < 128)) return conv2dFilterGradientViaConv(x, dy, filterShape, conv);
  // Per tap, dWᵢⱼ = dyᵀ·tap ([cout, cin]; dy transposed once, not each tap per
  // product: on wasm a transposed operand costs a copy), transposed at the end.
  const dyT = tf.transpose(dy2);
  const fromTaps = (taps: Tensor[]) => tf.transpose(tf.reshape(tf.stack(taps), [kh, kw, cout, cin]), [0, 1, 3, 2]);
  if (sh === 1 && sw === 1 && dh === 1 && dw === 1) {
    // Unit stride: plain slices (StridedSlice is slow on cpu).
    const padBottom = Math.max(0, OH + kh - 1 - H - padInfo.top);
    const padRight = Math.max(0, OW + kw - 1 - W - padInfo.left);
    const xp = tf.pad(x, [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]]);
    const taps: Tensor[] = [];
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tf.matMul(dyT, tf.reshape(tf.slice(xp, [0, i, j, 0], [B, OH, OW, cin]), [N, cin])));
    return fromTaps(taps);
  }
  const needH = (OH - 1) * sh + (kh - 1) * dh + 1;
  const needW = (OW - 1) * sw + (kw - 1) * dw + 1;
  const padBottom = Math.max(0, needH - H - padInfo.top);
  const padRight = Math.max(0, needW - W - padInfo.left);
  const xp = tf.pad(x, [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]]);
  const taps: Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const begin = [0, i * dh, j * dw, 0];
      const end = [B, i * dh + (OH - 1) * sh + 1, j * dw + (OW - 1) * sw + 1, cin];
      const tap = tf.stridedSlice(xp, begin, end, [1, sh, sw, 1]);
      taps.push(tf.matMul(dyT, tf.reshape(tap, [N, cin])));
    }
  }
  return fromTaps(taps);
}

/**
 * a·b (with optional transposes and batch dims) built only from products the
 * wasm kernel runs on XNNPACK: 2-D, no transpose. Transposes are materialised
 * (one Transpose kernel each); when b has no batch, a's batch is folded into
 * its rows (one product); otherwise `batched` multiplies the contiguous
 * [batchA, M, K] and [batchB, K, N] entry by entry. Batch dims broadcast as
 * tfjs's wasm kernel does (each side 1 or the full batch).
 */
export function batchMatMulViaUnbatched(
  a: Tensor,
  b: Tensor,
  transposeA: boolean,
  transposeB: boolean,
  batched: (a3: Tensor, b3: Tensor, batch: number, M: number, K: number, N: number) => Tensor,
): Tensor {
  const [ra, rb] = [a.rank, b.rank];
  const [M, K] = transposeA ? [a.shape[ra - 1]!, a.shape[ra - 2]!] : [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [Kb, N] = transposeB ? [b.shape[rb - 1]!, b.shape[rb - 2]!] : [b.shape[rb - 2]!, b.shape[rb - 1]!];
  if (K !== Kb) throw new Error(`matMul: inner shapes ${K} and ${Kb} of [${a.shape}] and [${b.shape}] (transposeA=${transposeA}, transposeB=${transposeB}) must match`);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const [batchA, batchB] = [sizeOf(a.shape.slice(0, -2)), sizeOf(b.shape.slice(0, -2))];
  let a3 = tf.reshape(a, [batchA, a.shape[ra - 2]!, a.shape[ra - 1]!]);
  if (transposeA) a3 = tf.transpose(a3, [0, 2, 1]);
  let b3 = tf.reshape(b, [batchB, b.shape[rb - 2]!, b.shape[rb - 1]!]);
  if (transposeB) b3 = tf.transpose(b3, [0, 2, 1]);
  const out = batchB === 1 ? tf.matMul(tf.reshape(a3, [batchA * M, K]), tf.reshape(b3, [K, N])) : batched(a3, b3, Math.max(batchA, batchB), M, K, N);
  return tf.reshape(out, [...outBatch, M, N]);
}

/** The parts of tfjs's BackendWasm used to run XNNPACK products on views of tensors. */
interface WasmInternals {
  wasm: {
    cwrap(name: string, ret: string | null, args: string[]): (...a: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
}

const bmmCalls = new WeakMap<object, (...a: unknown[]) => void>();
const SHAPE_BYTES = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/**
 * out[i] = a[i]·b[i] for contiguous float32 [batchA, M, K] and [batchB, K, N]
 * (batchA, batchB each 1 or `batch`), one XNNPACK fully-connected product per
 * entry on views of the inputs and of the output: each view is a tensor id
 * registered with the C++ side at an offset inside the tensor's memory (the
 * module's register_tensor takes any offset), handed to the backend's own
 * BatchMatMul entry point (its XNNPACK path for unbatched, untransposed
 * operands), then unregistered (which also drops the XNNPACK operator cached
 * for it). No copy of any operand, no tensor per entry.
 */
export function batchedProductOnViews(backend: unknown, a: tf.TensorInfo, b: tf.TensorInfo, batch: number, M: number, K: number, N: number): tf.TensorInfo {
  const be = backend as WasmInternals & WasmBackendLike;
  let call = bmmCalls.get(be);
  if (!call) bmmCalls.set(be, (call = be.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number'])));
  const out = be.makeOutput([batch, M, N], 'float32');
  const offA = be.dataIdMap.get(a.dataId)!.memoryOffset;
  const offB = be.dataIdMap.get(b.dataId)!.memoryOffset;
  const offO = be.dataIdMap.get(out.dataId)!.memoryOffset;
  const [batchA, batchB] = [a.shape[0]!, b.shape[0]!];
  const sa = SHAPE_BYTES([1, M, K]);
  const sb = SHAPE_BYTES([1, K, N]);
  const t = be.wasm.tfjs;
  for (let i = 0; i < batch; i++) {
    const ia = be.dataIdNextNumber++;
    const ib = be.dataIdNextNumber++;
    const io = be.dataIdNextNumber++;
    t.registerTensor(ia, M * K, offA + (batchA === 1 ? 0 : i * M * K * 4));
    t.registerTensor(ib, K * N, offB + (batchB === 1 ? 0 : i * K * N * 4));
    t.registerTensor(io, M * N, offO + i * M * N * 4);
    try {
      call(ia, sa, 3, ib, sb, 3, 0, 0, io);
    } finally {
      t.disposeData(ia);
      t.disposeData(ib);
      t.disposeData(io);
    }
  }
  return out;
}

/** Threads of a wasm backend's build (1 for tfjs's single-threaded build). */
const threadCounts = new WeakMap<object, number>();
function threadsOf(backend: unknown): number {
  const b = backend as { wasm?: { _get_threads_count?: () => number } };
  let n = threadCounts.get(b as object);
  if (n === undefined) {
    try {
      n = b.wasm?._get_threads_count?.() ?? 1;
    } catch {
      n = 1;
    }
    threadCounts.set(b as object, n);
  }
  return n;
}

function wrapBatchMatMul(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    const [batchA, batchB] = [sizeOf(outerA), sizeOf(outerB)];
    const fast = !transposeA && !transposeB && batchA === 1 && batchB === 1;
    const batch = Math.max(batchA, batchB);
    // Broadcasts the wasm kernel itself handles: each side unbatched or the full batch.
    const simpleBroadcast = (batchA === 1 || batchA === batch) && (batchB === 1 || batchB === batch);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const [M, K] = transposeA ? [a.shape[ra - 1]!, a.shape[ra - 2]!] : [a.shape[ra - 2]!, a.shape[ra - 1]!];
    const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    // Batched products run one XNNPACK call per batch entry on views of the
    // operands (batchedProductOnViews, ~0.01 ms of overhead per entry
    // single-threaded: faster than tfjs's loop from the smallest attention up,
    // 3-4x at 77 tokens, measured). On the threaded build each XNNPACK call
    // also wakes the pool's threads, up to ~0.2-0.3 ms in a training step on a
    // 2-core machine (measured under load), so there tfjs's single-threaded
    // loop stays faster up to ~400k multiply-adds per product.
    const small = batchB > 1 && M * N * K < (threadsOf(args.backend) > 1 ? 400_000 : 0);
    if (fast || small || a.dtype !== 'float32' || b.dtype !== 'float32' || !simpleBroadcast || sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0) {
      return original.kernelFunc(args);
    }
    const be = args.backend as unknown as WasmBackendLike;
    return composite(be, () =>
      batchMatMulViaUnbatched(asTensor(be, a), asTensor(be, b), transposeA, transposeB, (a3, b3, n, m, k, nn) => tf.engine().makeTensorFromTensorInfo(batchedProductOnViews(be, a3, b3, n, m, k, nn))),
    );
  };
  return { ...original, kernelFunc };
}

/** Whether conv2dInputGradient handles this conv (else tfjs's kernel runs). */
function inputGradientSupported(c: tf.backend_util.Conv2DInfo): boolean {
  if (c.dilationHeight !== 1 || c.dilationWidth !== 1) return false;
  if (c.strideHeight === 1 && c.strideWidth === 1) {
    const { top, bottom, left, right } = c.padInfo;
    return top < c.filterHeight && bottom < c.filterHeight && left < c.filterWidth && right < c.filterWidth;
  }
  return c.filterHeight === c.strideHeight && c.filterWidth === c.strideWidth && c.padInfo.top === 0 && c.padInfo.left === 0;
}

/**
 * dx[b, y, x, ci] = Σ_{oy, ox, co} dy[b, oy, ox, co] · W[y + top − oy·sh, x + left − ox·sw, ci, co]
 * for the cases inputGradientSupported accepts.
 */
export function conv2dInputGradient(dy: Tensor, filter: Tensor, conv: tf.backend_util.Conv2DInfo): Tensor {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: cin, outHeight: OH, outWidth: OW, outChannels: cout, filterHeight: kh, filterWidth: kw, padInfo } = conv;
  if (conv.strideHeight === 1 && conv.strideWidth === 1) {
    // A full correlation of dy with the filter flipped in space, in/out channels swapped.
    const w = tf.reverse(tf.transpose(filter, [0, 1, 3, 2]), [0, 1]) as tf.Tensor4D;
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [kh - 1 - padInfo.top, kh - 1 - padInfo.bottom],
      [kw - 1 - padInfo.left, kw - 1 - padInfo.right],
      [0, 0],
    ];
    return tf.conv2d(dy as tf.Tensor4D, w, 1, pads);
  }
  // kernel == stride, no leading pad: dy pixel (oy, ox) feeds exactly the patch at (oy·kh, ox·kw).
  const patches = tf.matMul(tf.reshape(dy, [B * OH * OW, cout]), tf.reshape(filter, [kh * kw * cin, cout]), false, true);
  let img = tf.reshape(tf.transpose(tf.reshape(patches, [B, OH, OW, kh, kw, cin]), [0, 1, 3, 2, 4, 5]), [B, OH * kh, OW * kw, cin]);
  if (OH * kh > H || OW * kw > W) img = tf.slice(img, [0, 0, 0, 0], [B, Math.min(H, OH * kh), Math.min(W, OW * kw), cin]);
  if (OH * kh < H || OW * kw < W) img = tf.pad(img, [[0, 0], [0, Math.max(0, H - OH * kh)], [0, Math.max(0, W - OW * kw)], [0, 0]]);
  return img;
}

function wrapConv2DBackpropInput(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
    };
    if (dataFormat === 'NCHW' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return original.kernelFunc(args);
    const conv = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    if (!inputGradientSupported(conv) || sizeOf(dy.shape) === 0) return original.kernelFunc(args);
    const be = args.backend as unknown as WasmBackendLike;
    return composite(be, () => conv2dInputGradient(asTensor(be, dy), asTensor(be, filter), conv));
  };
  return { ...original, kernelFunc };
}

let registered = false;

const conv2dBackpropFilterKernel = (viaConv: boolean): tf.KernelFunc => ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (composite): only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const b = backend as unknown as WasmBackendLike;
  return composite(b, () => conv2dFilterGradient(asTensor(b, x), asTensor(b, dy), filterShape, info, viaConv));
};

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerWasmDataKernels();
  for (const [name, wrap] of [
    ['BatchMatMul', wrapBatchMatMul],
    ['Conv2DBackpropInput', wrapConv2DBackpropInput],
  ] as const) {
    const k = tf.getKernel(name, 'wasm');
    if (!k) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(wrap(k));
  }
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel(true) });
  if (tf.getKernel('Conv2DBackpropFilter', 'cpu')) tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'cpu', kernelFunc: conv2dBackpropFilterKernel(false) });
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackendLike;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const rows = segmentIds.shape.reduce((a, c) => a * c, 1);
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, c) => a * c, 1);
      const out = b.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
      const ov = b.typedArrayFromHeap(out);
      ov.fill(0);
      const xv = b.typedArrayFromHeap(x);
      const ids = b.typedArrayFromHeap(segmentIds);
      for (let r = 0; r < rows; r++) {
        const s = ids[r]!;
        if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped
        const o = s * inner;
        const xi = r * inner;
        for (let k = 0; k < inner; k++) ov[o + k] = ov[o + k]! + xv[xi + k]!;
      }
      return out;
    },
  });
}
