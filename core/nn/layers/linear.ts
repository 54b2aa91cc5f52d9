import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { defaultBias, defaultWeight } from '../init.js';

/** y = x Wᵀ + b over the last axis. Weight stored [in, out] (PyTorch [out, in]). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', () => tf.transpose(defaultWeight([outFeatures, inFeatures], inFeatures)), { perm: [1, 0] });
    if (opts.bias ?? true) this.bias = this.param('bias', defaultBias(outFeatures, inFeatures));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => linear(x, this.weight.value, this.bias?.value));
  }
}

/** x [..., in] @ w [in, out] (+ b). */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const inF = x.shape[x.rank - 1]!;
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inF]);
  let y = tf.matMul(x2, w);
  if (b) y = tf.add(y, b);
  return x.rank === 2 ? y : tf.reshape(y, [...lead, w.shape[1]!]);
}
