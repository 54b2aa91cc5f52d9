/**
 * head/__NAME__: the module and the factory (options and manifest: index.ts).
 *
 * A head receives the backbone's features (`visStages` NHWC, `words`,
 * `state`, `padMask`) and returns mask logits NHWC [B, h, w, 1]; the loss
 * resizes the mask to whatever h, w it returns. It mounts its modules at the
 * model root and may publish hook points of its own for adapters and side
 * networks.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { ConfigError } from '../../../core/errors.js';
import { Module } from '../../../core/nn/module.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { interpolate } from '../../../core/nn/resize.js';
import type { Head, PartContext } from '../../../core/model/contracts.js';
import type { Options } from './index.js';

/** The hook point this head publishes. */
export const FEATURES_POINT = 'head.features';

export class __PASCAL__Head extends Module {
  /** 1x1 conv: last stage channels -> hidden. */
  readonly proj: Conv2d;
  /** Sentence state -> per-channel gate. */
  readonly gate: Linear;
  /** 1x1 conv: hidden -> 1 logit. */
  readonly classifier: Conv2d;

  constructor(inChannels: number, stateDim: number, hidden: number) {
    super();
    this.proj = this.child('proj', new Conv2d(inChannels, hidden, 1));
    this.gate = this.child('gate', new Linear(stateDim, hidden));
    this.classifier = this.child('classifier', new Conv2d(hidden, 1, 1));
  }

  /** relu(proj(vis)) · sigmoid(gate(state)): vis [B, h, w, C], state [B, D] -> [B, h, w, hidden]. */
  features(vis: Tensor, state: Tensor): Tensor {
    return tf.tidy(() => {
      const [B] = vis.shape as [number];
      const g = tf.sigmoid(this.gate.forward(state));
      return tf.mul(tf.relu(this.proj.forward(vis)), tf.reshape(g, [B, 1, 1, -1]));
    });
  }

  /** classifier(f), resized (bilinear) to `size`: [B, h, w, hidden] -> [B, size[0], size[1], 1]. */
  logits(f: Tensor, size: [number, number]): Tensor {
    return tf.tidy(() => interpolate(this.classifier.forward(f), size, 'bilinear'));
  }
}

export function create__PASCAL__(o: Options, ctx: PartContext): Head {
  const bb = ctx.backbone;
  const inChannels = bb.stageChannels[bb.stageChannels.length - 1];
  if (!inChannels) throw new ConfigError(`${ctx.where}: the backbone publishes no stage features (stageChannels is empty)`);
  const head = new __PASCAL__Head(inChannels, bb.embedDim, o.hidden);
  return {
    // Parameters: head.proj.weight, head.gate.weight, head.classifier.weight, ...
    mounts: [['head', head]],
    hookPoints: [
      { name: FEATURES_POINT, value: `Tensor [B, h, w, ${o.hidden}]`, description: 'text-gated features before the 1x1 classifier (return a replacement; a side network adds here)', channels: o.hidden },
    ],
    forward(features, _inputs, hooks, fctx) {
      const vis = features.visStages[features.visStages.length - 1]!;
      const [, h, w] = vis.shape as [number, number, number, number];
      const f = hooks.run(FEATURES_POINT, head.features(vis, features.state), fctx);
      fctx.capture('head.features', f);
      return head.logits(f, [h * o.upsample, w * o.upsample]);
    },
  };
}
