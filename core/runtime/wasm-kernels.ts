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
 */
import * as tf from '@tensorflow/tfjs-core';

type Tensor = tf.Tensor;

interface WasmBackendLike {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

export const WASM_KERNELS_ADDED = ['Conv2DBackpropFilter', 'UnsortedSegmentSum'] as const;
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

/** dW[i, j, ci, co] = Σ_{b, oh, ow} xpad[b, oh·s + i·d, ow·s + j·d, ci] · dy[b, oh, ow, co] */
export function conv2dFilterGradient(x: Tensor, dy: Tensor, filterShape: [number, number, number, number], conv: tf.backend_util.Conv2DInfo): Tensor {
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
  if (sh === 1 && sw === 1 && dh === 1 && dw === 1) {
    // Unit stride: plain slices (StridedSlice is slow on cpu).
    const padBottom = Math.max(0, OH + kh - 1 - H - padInfo.top);
    const padRight = Math.max(0, OW + kw - 1 - W - padInfo.left);
    const xp = tf.pad(x, [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]]);
    const taps: Tensor[] = [];
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tf.matMul(tf.reshape(tf.slice(xp, [0, i, j, 0], [B, OH, OW, cin]), [N, cin]), dy2, true, false));
    return tf.reshape(tf.stack(taps), filterShape);
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
      taps.push(tf.matMul(tf.reshape(tap, [N, cin]), dy2, true, false));
    }
  }
  return tf.reshape(tf.stack(taps), filterShape);
}

let registered = false;

const conv2dBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
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
  return composite(b, () => conv2dFilterGradient(asTensor(b, x), asTensor(b, dy), filterShape, info));
};

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter });
  if (tf.getKernel('Conv2DBackpropFilter', 'cpu')) tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'cpu', kernelFunc: conv2dBackpropFilter });
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
