import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { defaultBias, defaultWeight } from '../init.js';

export type Pair = number | [number, number];
const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

/**
 * PyTorch Conv2d over NHWC tensors. Weight stored [kh, kw, in/groups, out]
 * (PyTorch [out, in/groups, kh, kw]). Zero padding, stride, dilation, groups.
 */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: Pair,
    opts: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean } = {},
  ) {
    super();
    this.kernel = pair(kernel);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    const groups = opts.groups ?? 1;
    if (inChannels % groups || outChannels % groups) throw new Error(`Conv2d: channels ${inChannels}->${outChannels} not divisible by groups ${groups}`);
    this.groups = groups;
    const [kh, kw] = this.kernel;
    const fanIn = (inChannels / groups) * kh * kw;
    this.weight = this.param('weight', () => tf.transpose(defaultWeight([outChannels, inChannels / groups, kh, kw], fanIn), [2, 3, 1, 0]), { perm: [2, 3, 1, 0] });
    if (opts.bias ?? true) this.bias = this.param('bias', defaultBias(outChannels, fanIn));
  }
  readonly groups: number;

  forward(x: Tensor): Tensor {
    return tf.tidy(() => conv2d(x, this.weight.value, this.bias?.value, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups }));
  }
}

/** Functional PyTorch-style conv: x NHWC, w [kh, kw, in/groups, out]. */
export function conv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | undefined,
  o: { stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; groups?: number } = {},
): Tensor {
  const [kh, kw, cinG, cout] = w.shape as [number, number, number, number];
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const dil = o.dilation ?? [1, 1];
  const groups = o.groups ?? 1;
  let y: Tensor;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && groups === 1) {
    // A 1x1 conv is a matmul over channels; cheaper than the conv kernels and their gradients.
    const [B, H, W] = x.shape as [number, number, number, number];
    y = tf.reshape(tf.matMul(tf.reshape(x, [B * H * W, cinG]), tf.reshape(w, [cinG, cout])), [B, H, W, cout]);
  } else {
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, ph], [pw, pw], [0, 0]];
    const x4 = x as tf.Tensor4D;
    // tfjs has no gradient for dilated convs: dilate the filter with zeros instead (exact, differentiable).
    const wd = dil[0] > 1 || dil[1] > 1 ? dilateFilter(w, dil) : w;
    const conv = (xi: tf.Tensor4D, wi: tf.Tensor4D) => tf.conv2d(xi, wi, [sh, sw], pad, 'NHWC');
    if (groups === 1) {
      y = conv(x4, wd as tf.Tensor4D);
    } else {
      const xs = tf.split(x4, groups, 3);
      const ws = tf.split(wd as tf.Tensor4D, groups, 3);
      y = tf.concat(xs.map((xi, g) => conv(xi as tf.Tensor4D, ws[g]! as tf.Tensor4D)), 3);
    }
  }
  return b ? tf.add(y, b) : y;
}

/** Insert (d-1) zero rows/columns between filter taps: [kh, kw, i, o] -> [(kh-1)dh+1, (kw-1)dw+1, i, o]. */
function dilateFilter(w: Tensor, [dh, dw]: [number, number]): Tensor {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const spread = tf.pad(tf.reshape(w, [kh, 1, kw, 1, ci, co]), [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(spread, [kh * dh, kw * dw, ci, co]), [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ci, co]);
}
