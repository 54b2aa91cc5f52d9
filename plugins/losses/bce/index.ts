/**
 * loss/bce: the official loss. The mask is resized to the prediction size
 * with PyTorch 'nearest' (source index floor(dst·in/out)), then binary
 * cross-entropy with logits, averaged over all elements.
 */
import { Type, type Static } from '@sinclair/typebox';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { interpolate } from '../../../core/nn/resize.js';
import { bceWithLogits } from '../../../core/nn/functional.js';
import type { Loss } from '../../../core/model/contracts.js';

export const BceOptions = Type.Object(
  {
    posWeight: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'Weight of positive pixels (1 = official).' }),
  },
  { additionalProperties: false },
);
export type BceOptions = Static<typeof BceOptions>;

/** Mask NHWC [B, S, S, 1] resized like the official `F.interpolate(mask, pred.shape[-2:], mode='nearest')`. */
export function resizeMaskNearest(mask: Tensor, size: [number, number]): Tensor {
  return interpolate(mask, size, 'nearest');
}

export function createBce(o: BceOptions): Loss {
  return {
    compute(logits, mask) {
      return tf.tidy(() => {
        const target = resizeMaskNearest(mask, [logits.shape[1]!, logits.shape[2]!]);
        if (o.posWeight === 1) return bceWithLogits(logits, target);
        // PyTorch pos_weight: -(pw·t·log σ(x) + (1-t)·log(1-σ(x))) = (1-t)·x + (1 + (pw-1)·t)·softplus(-x).
        // (tf.logSigmoid's custom gradient reads a tensor this tidy has released: wasm threw.)
        const weight = tf.add(1, tf.mul(target, o.posWeight - 1));
        return tf.mean(tf.add(tf.mul(tf.sub(1, target), logits), tf.mul(weight, tf.softplus(tf.neg(logits)))));
      });
    },
  };
}

export default definePlugin({
  kind: 'loss',
  name: 'bce',
  description: 'Binary cross-entropy with logits against the mask resized (nearest) to the prediction size (official)',
  schema: BceOptions,
  create: createBce,
});
