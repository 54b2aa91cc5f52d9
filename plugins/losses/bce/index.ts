/**
 * loss/bce: the official loss. The mask is resized to the prediction size
 * with PyTorch 'nearest' (source index floor(dst·in/out)), then binary
 * cross-entropy with logits, averaged over all elements. Optional (not official): a
 * positive-pixel weight, and a soft Dice term (1 - 2·Σσ(x)t / (Σσ(x) + Σt), per sample,
 * averaged) added with `diceWeight`, which scores the mask's overlap as IoU-like metrics do.
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
    diceWeight: Type.Number({ minimum: 0, default: 0, description: 'Weight of an added soft Dice loss, 1 - 2|P∩T|/(|P|+|T|) per sample with P = sigmoid(logits) (0 = official: BCE only).' }),
  },
  { additionalProperties: false },
);
export type BceOptions = Static<typeof BceOptions>;

/** Mask NHWC [B, S, S, 1] resized like the official `F.interpolate(mask, pred.shape[-2:], mode='nearest')`. */
export function resizeMaskNearest(mask: Tensor, size: [number, number]): Tensor {
  return interpolate(mask, size, 'nearest');
}

/** Soft Dice loss per sample, averaged: 1 - (2·Σ p·t + 1) / (Σ p + Σ t + 1), p = σ(logits). */
export function softDiceLoss(logits: Tensor, target: Tensor): Tensor {
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    const inter = tf.sum(tf.mul(p, target), [1, 2, 3]);
    const total = tf.add(tf.sum(p, [1, 2, 3]), tf.sum(target, [1, 2, 3]));
    return tf.sub(1, tf.mean(tf.div(tf.add(tf.mul(inter, 2), 1), tf.add(total, 1))));
  });
}

export function createBce(o: BceOptions): Loss {
  const diceWeight = o.diceWeight ?? 0;
  return {
    compute(logits, mask) {
      return tf.tidy(() => {
        const target = resizeMaskNearest(mask, [logits.shape[1]!, logits.shape[2]!]);
        const bce = weightedBce(logits, target, o.posWeight);
        return diceWeight > 0 ? tf.add(bce, tf.mul(softDiceLoss(logits, target), diceWeight)) : bce;
      });
    },
  };
}

function weightedBce(logits: Tensor, target: Tensor, posWeight: number): Tensor {
  if (posWeight === 1) return bceWithLogits(logits, target);
  // PyTorch pos_weight: -(pw·t·log σ(x) + (1-t)·log(1-σ(x))) = (1-t)·x + (1 + (pw-1)·t)·softplus(-x).
  // (tf.logSigmoid's custom gradient reads a tensor this tidy has released: wasm threw.)
  const weight = tf.add(1, tf.mul(target, posWeight - 1));
  return tf.mean(tf.add(tf.mul(tf.sub(1, target), logits), tf.mul(weight, tf.softplus(tf.neg(logits)))));
}

export default definePlugin({
  kind: 'loss',
  name: 'bce',
  description: 'Binary cross-entropy with logits against the mask resized (nearest) to the prediction size (official); optional positive weight and soft Dice term',
  schema: BceOptions,
  create: createBce,
});
