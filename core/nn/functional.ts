/** Small functional helpers with PyTorch semantics that tfjs-core lacks. */
import { tf, type Tensor } from '../runtime/tf.js';
import { recordingGradients } from './checkpoint.js';

/**
 * Inverted dropout, the values of tf.dropout(x, rate, undefined, seed)
 * (mask = floor(u + keep) / keep from the seeded uniform draw), as one
 * differentiable op that keeps only the mask (as bool, 1 byte per element) for
 * the backward pass instead of the scaled mask and its 0/1 source (two float
 * tensors of x's size). The gradient dy·mask/keep is computed as tfjs's.
 */
export function dropout(x: Tensor, rate: number, seed?: number): Tensor {
  if (rate <= 0) return x;
  const keep = 1 - rate;
  const mask01 = () => tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, 'float32', seed), keep));
  if (!recordingGradients()) return tf.tidy(() => tf.mul(x, tf.div(mask01(), keep)));
  const op = tf.customGrad(((xi: Tensor, save: tf.GradSaveFunc) => {
    const m = mask01();
    save([tf.cast(m, 'bool')]);
    return { value: tf.mul(xi, tf.div(m, keep)), gradFunc: (dy: Tensor, [mb]: Tensor[]) => tf.mul(dy, tf.div(tf.cast(mb!, 'float32'), keep)) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x);
}

/**
 * A new tensor sharing x's data but not connected to the gradient tape
 * (PyTorch's `.detach()`): no copy, and no gradient flows through it.
 */
export function detach(x: Tensor): Tensor {
  // The engine does not count references per data id; the backend does.
  tf.backend().incRef(x.dataId);
  return tf.engine().makeTensorFromDataId(x.dataId, x.shape, x.dtype);
}

export function quickGelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

/** GELU with the exact erf form (PyTorch's default approximate='none'). */
export function gelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** Mean binary cross-entropy with logits, the numerically stable form PyTorch uses. */
export function bceWithLogits(logits: Tensor, target: Tensor): Tensor {
  return tf.tidy(() => {
    // max(x, 0) - x*t + log(1 + exp(-|x|))
    const l = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, target)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.mean(l);
  });
}

/** L2-normalise along `axis` with PyTorch's F.normalize eps clamp. */
export function normalize(x: Tensor, axis: number, eps = 1e-12): Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', axis, true), eps)));
}
