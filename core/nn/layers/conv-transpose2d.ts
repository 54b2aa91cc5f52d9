import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { defaultBias, defaultWeight } from '../init.js';
import type { Pair } from './conv2d.js';

const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

/**
 * PyTorch ConvTranspose2d over NHWC tensors (groups = 1). Weight stored
 * [kh, kw, out, in] (PyTorch [in, out, kh, kw]). Output size
 * (H-1)·s - 2p + k + output_padding.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: Pair,
    opts: { stride?: Pair; padding?: Pair; outputPadding?: Pair; bias?: boolean } = {},
  ) {
    super();
    this.kernel = pair(kernel);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.outputPadding = pair(opts.outputPadding ?? 0);
    const [kh, kw] = this.kernel;
    // PyTorch computes fan_in from weight.size(1) * k*k = out * kh * kw for transposed convs.
    const fanIn = outChannels * kh * kw;
    this.weight = this.param('weight', () => tf.transpose(defaultWeight([inChannels, outChannels, kh, kw], fanIn), [2, 3, 1, 0]), { perm: [2, 3, 1, 0] });
    if (opts.bias ?? true) this.bias = this.param('bias', defaultBias(outChannels, fanIn));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [kh, kw, cout, cin] = this.weight.value.shape as [number, number, number, number];
      const [B, H, W] = x.shape as [number, number, number, number];
      const [sh, sw] = this.stride;
      let y: Tensor;
      if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
        y = tf.reshape(tf.matMul(tf.reshape(x, [B * H * W, cin]), tf.reshape(this.weight.value, [cout, cin]), false, true), [B, H, W, cout]);
      } else {
        const fullH = (H - 1) * sh + kh;
        const fullW = (W - 1) * sw + kw;
        y = tf.conv2dTranspose(x as tf.Tensor4D, this.weight.value as tf.Tensor4D, [B, fullH, fullW, cout], [sh, sw], 'valid');
      }
      const [ph, pw] = this.padding;
      const [oph, opw] = this.outputPadding;
      if (ph || pw || oph || opw) {
        const outH = (H - 1) * sh - 2 * ph + kh + oph;
        const outW = (W - 1) * sw - 2 * pw + kw + opw;
        const cur = y.shape as number[];
        // output_padding extends past the computed full size with zeros on the bottom/right.
        if (ph + outH > cur[1]! || pw + outW > cur[2]!) {
          y = tf.pad(y, [[0, 0], [0, Math.max(0, ph + outH - cur[1]!)], [0, Math.max(0, pw + outW - cur[2]!)], [0, 0]]);
        }
        y = tf.slice(y, [0, ph, pw, 0], [B, outH, outW, cout]);
      }
      return this.bias ? tf.add(y, this.bias.value) : y;
    });
  }
}
