import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { normal } from '../init.js';

/** Lookup table [num, dim]; ids int32 of any shape -> [...ids, dim]. */
export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(
    readonly num: number,
    readonly dim: number,
  ) {
    super();
    this.weight = this.param('weight', normal([num, dim], 1));
  }
  forward(ids: Tensor): Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(ids, [-1]);
      return tf.reshape(tf.gather(this.weight.value, tf.cast(flat, 'int32')), [...ids.shape, this.dim]);
    });
  }
}
