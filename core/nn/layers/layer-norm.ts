import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';

/** Normalise the last axis: (x - mean) / sqrt(var + eps) · weight + bias (biased variance). */
export function layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), axis, true);
    let y = tf.mul(xc, tf.rsqrt(tf.add(variance, eps)));
    if (weight) y = tf.mul(y, weight);
    if (bias) y = tf.add(y, bias);
    return y;
  });
}

export class LayerNorm extends Module {
  readonly weight?: Parameter;
  readonly bias?: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    opts: { affine?: boolean } = {},
  ) {
    super();
    if (opts.affine ?? true) {
      this.weight = this.param('weight', tf.ones([dim]));
      this.bias = this.param('bias', tf.zeros([dim]));
    }
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight?.value, this.bias?.value, this.eps);
  }
}

/**
 * Channel-wise LayerNorm of an image (detectron2's LayerNorm for [B, C, H, W]:
 * mean and biased variance over C per pixel). Our images are NHWC, so this is a
 * LayerNorm over the last axis; it keeps its own name because checkpoints do.
 */
export class LayerNorm2d extends LayerNorm {
  constructor(channels: number, eps = 1e-6) {
    super(channels, eps);
  }
}
