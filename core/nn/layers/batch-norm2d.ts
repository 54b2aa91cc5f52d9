import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type BufferSlot, type Parameter } from '../module.js';

/**
 * PyTorch BatchNorm2d over NHWC tensors. Training: normalise with the batch
 * mean and biased variance, update running stats with momentum using the
 * unbiased variance. Eval: running stats.
 */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: BufferSlot;
  readonly runningVar: BufferSlot;
  readonly numBatchesTracked: BufferSlot;
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.param('weight', tf.ones([channels]));
    this.bias = this.param('bias', tf.zeros([channels]));
    this.runningMean = this.buffer('running_mean', tf.zeros([channels]));
    this.runningVar = this.buffer('running_var', tf.ones([channels]));
    this.numBatchesTracked = this.buffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  forward(x: Tensor): Tensor {
    if (!this.training) {
      return tf.tidy(() => {
        const scale = tf.mul(this.weight.value, tf.rsqrt(tf.add(this.runningVar.variable, this.eps)));
        const shift = tf.sub(this.bias.value, tf.mul(this.runningMean.variable, scale));
        return tf.add(tf.mul(x, scale), shift);
      });
    }
    return tf.tidy(() => {
      const axes = [0, 1, 2];
      const mean = tf.mean(x, axes);
      const xc = tf.sub(x, mean);
      const variance = tf.mean(tf.square(xc), axes);
      const y = tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, this.eps))), this.weight.value), this.bias.value);
      const n = x.size / this.channels;
      const m = this.momentum;
      const rm = tf.add(tf.mul(this.runningMean.variable, 1 - m), tf.mul(mean, m));
      const rv = tf.add(tf.mul(this.runningVar.variable, 1 - m), tf.mul(variance, (m * n) / Math.max(1, n - 1)));
      this.runningMean.variable.assign(rm);
      this.runningVar.variable.assign(rv);
      this.numBatchesTracked.variable.assign(tf.add(this.numBatchesTracked.variable, tf.scalar(1, 'int32')));
      return y;
    });
  }
}
