/**
 * adapter/__NAME__: the module and the factory (options and manifest: index.ts).
 *
 * The adapter never edits the backbone: it asks for hook points (`requires`,
 * checked before anything is attached), mounts its own module (`mounts`, so
 * its parameters are named, trained and checkpointed with the model) and
 * registers one handler per adapted block (`attach`).
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { ConfigError } from '../../../core/errors.js';
import { Module } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import type { Adapter, AdapterContext } from '../../../core/model/contracts.js';
import type { Options } from './index.js';

/** Value of the `<tower>.block.<i>.branch.<attn|mlp>` hook points: branch input after LayerNorm, branch output. */
export interface BranchValue {
  x: Tensor;
  y: Tensor;
}

/** up(down(x)) over the last axis: [..., W] -> [..., r] -> [..., W]. `up` is zero, so the update starts at zero. */
export class __PASCAL__Update extends Module {
  readonly down: Linear;
  readonly up: Linear;
  constructor(width: number, rank: number) {
    super();
    this.down = this.child('down', new Linear(width, rank, { bias: false }));
    this.up = this.child('up', new Linear(rank, width, { bias: false }));
    tf.tidy(() => this.up.weight.variable.assign(tf.zerosLike(this.up.weight.variable)));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.up.forward(this.down.forward(x)));
  }
}

export function create__PASCAL__(o: Options, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  if (!bb.towers.includes(o.tower)) throw new ConfigError(`${ctx.where}.tower: the backbone has no ${o.tower} tower (it has: ${bb.towers.join(', ')})`);
  const layers = o.tower === 'vision' ? bb.visionLayers : bb.textLayers;
  const width = o.tower === 'vision' ? bb.visionWidth : bb.textWidth;
  const blocks = o.blocks ?? Array.from({ length: layers }, (_, i) => i);
  for (const i of blocks) if (i >= layers) throw new ConfigError(`${ctx.where}.blocks: block ${i} is past the ${layers} ${o.tower} blocks (0-based)`);
  if (new Set(blocks).size !== blocks.length) throw new ConfigError(`${ctx.where}.blocks: ${JSON.stringify(blocks)} lists a block twice`);
  const points = blocks.map((i) => `${o.tower}.block.${i}.branch.${o.branch}`);
  // One update per adapted block, mounted at the model root: parameters `__SNAKE___<tower>_<branch>.<k>.{down,up}.weight`.
  const updates = new ModuleList(blocks.map(() => new __PASCAL__Update(width, o.rank)));
  const scale = o.alpha / o.rank;
  return {
    lrGroup: 'backbone',
    mounts: [[`__SNAKE___${o.tower}_${o.branch}`, updates]],
    requires: points,
    attach(hooks) {
      points.forEach((point, k) => {
        hooks.on<BranchValue>(point, ({ x, y }) => ({ x, y: tf.add(y, tf.mul(updates.at(k).forward(x), scale)) }), ctx.where);
      });
    },
  };
}
