import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { recordingGradients } from '../checkpoint.js';

/**
 * Normalise the last axis: (x - mean) / sqrt(var + eps) · weight + bias (biased variance).
 *
 * One differentiable op with its own gradient: the forward computes exactly
 * the ops of the plain formula (same values), but keeps only x̂ and 1/σ for the
 * backward pass instead of the ~6 tensors of x's size autodiff keeps, and the
 * backward is the closed form
 *   g = dy·w,  dx = (g − mean(g) − x̂·mean(g·x̂)) / σ,  dw = Σ dy·x̂,  db = Σ dy.
 */
export function layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor {
  const C = x.shape[x.rank - 1]!;
  const axis = x.rank - 1;
  const forward = (xi: Tensor, w?: Tensor, b?: Tensor) => {
    const mean = tf.mean(xi, axis, true);
    const xc = tf.sub(xi, mean);
    const variance = tf.mean(tf.square(xc), axis, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(xc, rstd);
    let y = xhat;
    if (w) y = tf.mul(y, w);
    if (b) y = tf.add(y, b);
    return { y, xhat, rstd };
  };
  if (!recordingGradients()) return tf.tidy(() => forward(x, weight, bias).y);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xi, w, b] = [args[0] as Tensor, weight ? (args[1] as Tensor) : undefined, bias ? (args[weight ? 2 : 1] as Tensor) : undefined];
    const { y, xhat, rstd } = forward(xi, w, b);
    save(w ? [xhat, rstd, w] : [xhat, rstd]);
    return {
      value: y,
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
        const d = Array.isArray(dy) ? dy[0]! : dy;
        const [xh, rs, ws] = saved as [Tensor, Tensor, Tensor | undefined];
        const g = ws ? tf.mul(d, ws) : d;
        const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, axis, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), axis, true))), rs);
        const rows = (t: Tensor) => tf.sum(tf.reshape(t, [-1, C]), 0);
        const grads = [dx];
        if (weight) grads.push(rows(tf.mul(d, xh)));
        if (bias) grads.push(rows(d));
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(...inputs);
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
