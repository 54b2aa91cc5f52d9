/**
 * BarLeRIa's normalizing-flow shortcut: z = mu + exp(logsigma) ⊙ x, then
 * planar flows z <- z + scale ⊙ tanh(z·wᵀ + b). The log-det terms of the
 * official module are computed and discarded there, so they are not computed
 * here. Official names: affine_transform.{mu,logsigma},
 * transforms.{k}.{weight,bias,scale} (the official state dict also lists the
 * same tensors as log_jacobians.{k}.*; loaders ignore those aliases).
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module, type Parameter } from '../../../core/nn/module.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import { uniform } from '../../../core/nn/init.js';

export class AffineTransform extends Module {
  readonly mu: Parameter;
  readonly logsigma: Parameter;
  constructor(dim: number) {
    super();
    this.mu = this.param('mu', tf.zeros([dim]));
    this.logsigma = this.param('logsigma', tf.zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => tf.add(this.mu.value, tf.mul(tf.exp(this.logsigma.value), x)));
  }
}

export class PlanarFlow extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly scale: Parameter;
  constructor(
    readonly dim: number,
    initBound = 0.01,
  ) {
    super();
    // Official reset_parameters: U(-0.01, 0.01) for all three.
    this.weight = this.param('weight', () => uniform([1, dim], initBound));
    this.bias = this.param('bias', () => uniform([1], initBound));
    this.scale = this.param('scale', () => uniform([1, dim], initBound));
  }
  forward(z: Tensor): Tensor {
    return tf.tidy(() => {
      const [B, N, D] = z.shape as [number, number, number];
      // tanh argument: one scalar per token, z·wᵀ + b (weight [1, D] -> [D, 1]).
      const a = tf.add(tf.reshape(tf.matMul(tf.reshape(z, [B * N, D]), tf.reshape(this.weight.value, [D, 1])), [B, N, 1]), this.bias.value);
      return tf.add(z, tf.mul(this.scale.value, tf.tanh(a)));
    });
  }
}

export class NormalizingFlow extends Module {
  readonly affine_transform: AffineTransform;
  readonly transforms: ModuleList<PlanarFlow>;
  constructor(dim: number, flowLength: number, initBound = 0.01) {
    super();
    this.affine_transform = this.child('affine_transform', new AffineTransform(dim));
    this.transforms = this.child('transforms', new ModuleList(Array.from({ length: flowLength }, () => new PlanarFlow(dim, initBound))));
  }
  /** x [B, N, D] -> flow(x) [B, N, D] */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let z = this.affine_transform.forward(x);
      for (const t of this.transforms.items) z = t.forward(z);
      return z;
    });
  }
}
