/**
 * The CRIS projector (official `Projector`): upsample the decoder map ×4 with
 * two conv_layers, then a per-sample dynamic k×k convolution whose kernel and
 * bias are predicted from the sentence feature. NHWC.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { Conv2d, conv2d } from '../../../core/nn/layers/conv2d.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { Sequential } from '../../../core/nn/layers/sequential.js';
import { interpolate, type ResizeMode } from '../../../core/nn/resize.js';
import { ConfigError } from '../../../core/errors.js';
import { ConstantCache, clearConstants, tapSumFilter, type HasConstants } from './constants.js';
import { convLayer } from './neck.js';

/**
 * Bilinear ×2 along `axis` with align_corners=False: out[2i] = ¼·x[i-1] + ¾·x[i],
 * out[2i+1] = ¾·x[i] + ¼·x[i+1], neighbours clamped at the border (PyTorch's
 * source index (dst + ½)/2 - ½ clamped at 0 and at n-1). Slices and lerps only:
 * no gather, so the gradient needs no scatter.
 */
function upsample2xAxis(x: Tensor, axis: 1 | 2): Tensor {
  const n = x.shape[axis]!;
  const shape = [...x.shape];
  const at = (start: number, size: number) => {
    const begin = [0, 0, 0, 0];
    const sz = [...shape];
    begin[axis] = start;
    sz[axis] = size;
    return tf.slice(x, begin, sz);
  };
  const prev = n > 1 ? tf.concat([at(0, 1), at(0, n - 1)], axis) : x;
  const next = n > 1 ? tf.concat([at(1, n - 1), at(n - 1, 1)], axis) : x;
  const x34 = tf.mul(x, 0.75);
  const even = tf.add(tf.mul(prev, 0.25), x34);
  const odd = tf.add(x34, tf.mul(next, 0.25));
  shape[axis] = 2 * n;
  // Interleave without a rank-5 tensor: concatenating along the next axis and
  // reshaping puts even/odd rows (or columns) alternately. The gradient is a
  // rank-4 split; stack (Unpack) and rank-5 splits are 100x slower on wasm.
  return tf.reshape(tf.concat([even, odd], axis + 1), shape);
}

/**
 * nn.Upsample(scale_factor) for NHWC (output floor(size·scale); PyTorch's default
 * align_corners=False). Bilinear ×2 (the projector's case) takes a gather-free path.
 */
export class Upsample extends Module {
  constructor(
    readonly scale: number,
    readonly mode: ResizeMode = 'bilinear',
    readonly alignCorners = false,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (this.scale === 2 && this.mode === 'bilinear' && !this.alignCorners) {
      return tf.tidy(() => upsample2xAxis(upsample2xAxis(x, 1), 2));
    }
    const [, H, W] = x.shape as [number, number, number, number];
    return interpolate(x, [Math.floor(H * this.scale), Math.floor(W * this.scale)], this.mode, this.alignCorners);
  }
}

export interface ProjectorOptions {
  /** Sentence feature width (official `word_dim`). */
  wordDim: number;
  /** Official `in_dim` = vis_dim / 2; the input map has 2·inDim channels. */
  inDim: number;
  kernelSize?: number;
}

/**
 * forward(x [B, H, W, 2·inDim], state [B, wordDim]) -> logits [B, 4H, 4W, 1].
 * Names: vis.{0 Upsample, 1 conv_layer, 2 Upsample, 3 conv_layer, 4 Conv2d 1x1}, txt.
 */
export class Projector extends Module implements HasConstants {
  readonly vis: Sequential;
  readonly txt: Linear;
  readonly inDim: number;
  readonly kernelSize: number;
  readonly constants = new ConstantCache();

  constructor(opts: ProjectorOptions) {
    super();
    const d = opts.inDim;
    const k = opts.kernelSize ?? 3;
    if (k % 2 !== 1) throw new ConfigError(`projector: kernel size ${k} must be odd`);
    this.inDim = d;
    this.kernelSize = k;
    this.vis = this.child(
      'vis',
      new Sequential(new Upsample(2), convLayer(2 * d, 2 * d, 3, 1), new Upsample(2), convLayer(2 * d, d, 3, 1), new Conv2d(d, d, 1)),
    );
    this.txt = this.child('txt', new Linear(opts.wordDim, d * k * k + 1));
  }

  /**
   * The official grouped conv of x [B, H, W, C] with per-sample weights [B, C, k, k]
   * (flattened row-major in `params[:, :-1]`) and bias `params[:, -1]`, zero padding k//2,
   * without grouped convs: per-pixel tap responses y = x · W [B, H·W, k²] in one batched
   * matmul, then one fixed one-hot k×k conv sums each tap at its offset.
   */
  dynamicConv(x: Tensor, params: Tensor): Tensor {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape as [number, number, number, number];
      const k = this.kernelSize;
      const kk = k * k;
      const weight = tf.reshape(tf.slice(params, [0, 0], [B, C * kk]), [B, C, kk]);
      const bias = tf.reshape(tf.slice(params, [0, C * kk], [B, 1]), [B, 1, 1, 1]);
      const taps = tf.reshape(tf.matMul(tf.reshape(x, [B, H * W, C]), weight), [B, H, W, kk]);
      const filter = this.constants.get(`taps:${k}`, () => tf.tensor4d(tapSumFilter(k), [k, k, kk, 1]));
      const p = (k - 1) / 2;
      return tf.add(conv2d(taps, filter, undefined, { padding: [p, p] }), bias);
    });
  }

  forward(x: Tensor, state: Tensor): Tensor {
    return tf.tidy(() => this.dynamicConv(this.vis.forward(x), this.txt.forward(state)));
  }

  override dispose(): void {
    super.dispose();
    clearConstants(this);
  }
}
