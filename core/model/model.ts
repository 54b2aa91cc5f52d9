/**
 * A segmentation model composed from plugins: backbone + adapters/side
 * networks (attached to hook points) + head + loss. The root module holds the
 * backbone at `backbone`, the head's and adapters' modules at their mount
 * paths, so state-dict names are the official ones.
 */
import { tf, type Tensor } from '../runtime/tf.js';
import { Module, type Parameter } from '../nn/module.js';
import { ForwardContext, type ModelInputs } from './context.js';
import type { Hooks } from './hooks.js';
import type { Adapter, Backbone, Head, Loss, LrGroup } from './contracts.js';

export interface PartInfo {
  kind: 'backbone' | 'adapter' | 'side' | 'head';
  type: string;
  /** Config location, e.g. `model.adapters[1]`. */
  where: string;
  lrGroup: LrGroup | ((name: string) => LrGroup);
}

export interface ForwardResult {
  /** Mask logits NHWC [B, h, w, 1]. */
  logits: Tensor;
  ctx: ForwardContext;
}

export interface LossResult {
  total: Tensor;
  /** Main loss and each auxiliary loss by name. */
  parts: Map<string, Tensor>;
  logits: Tensor;
}

export class SegmentationModel extends Module {
  /** Owner of every parameter, by name. */
  readonly owners = new Map<string, PartInfo>();
  /** Mount path of every parameter that belongs to a head or adapter mount. */
  readonly mountOf = new Map<string, string>();

  constructor(
    readonly backbone: Backbone,
    readonly head: Head,
    readonly adapters: readonly { adapter: Adapter; info: PartInfo }[],
    readonly lossFn: Loss,
    readonly hooks: Hooks,
  ) {
    super();
  }

  /**
   * Run the model. Call inside tf.tidy (or dispose the logits and context
   * captures). Auxiliary losses reported by plugins are in `ctx`; use `loss()`
   * or `ctx.takeLosses()` to collect them.
   */
  forward(inputs: ModelInputs, opts: { capture?: boolean } = {}): ForwardResult {
    const ctx = new ForwardContext(inputs, this.training, opts);
    const features = this.backbone.forward(inputs, this.hooks, ctx);
    const logits = this.head.forward(features, inputs, this.hooks, ctx);
    return { logits, ctx };
  }

  /** Logits only (auxiliary losses dropped). Call inside tf.tidy. */
  predict(inputs: ModelInputs): Tensor {
    const { logits, ctx } = this.forward(inputs);
    ctx.takeLosses().forEach((t) => t.dispose());
    return logits;
  }

  /** Forward plus the loss: main loss against `mask` NHWC [B, S, S, 1] plus every auxiliary loss. */
  loss(inputs: ModelInputs, mask: Tensor, opts: { capture?: boolean } = {}): LossResult & { ctx: ForwardContext } {
    const { logits, ctx } = this.forward(inputs, opts);
    const main = this.lossFn.compute(logits, mask);
    const parts = new Map<string, Tensor>([['mask', main]]);
    let total = main;
    for (const [name, l] of ctx.takeLosses()) {
      parts.set(name, l);
      total = tf.add(total, l);
    }
    return { total, parts, logits, ctx };
  }

  /** Trainable parameters split into optimiser groups. */
  parameterGroups(): Record<LrGroup, [string, Parameter][]> {
    const groups: Record<LrGroup, [string, Parameter][]> = { backbone: [], head: [] };
    for (const [name, p] of this.namedParameters()) {
      if (!p.requiresGrad) continue;
      const info = this.owners.get(name);
      const g = !info ? 'head' : typeof info.lrGroup === 'function' ? info.lrGroup(name) : info.lrGroup;
      groups[g].push([name, p]);
    }
    return groups;
  }
}
