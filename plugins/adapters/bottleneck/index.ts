/**
 * adapter/bottleneck: the example adapter of the hook-point contract (see
 * plugins/backbones/clip/README.md). A parallel bottleneck (AdaptFormer
 * style) on the MLP branch of chosen blocks: y' = y + s · up(relu(down(x))),
 * where x is the branch input after LayerNorm and y the MLP output. `up`
 * starts at zero, so the adapted model starts equal to the frozen one.
 */
import { Type, type Static } from '@sinclair/typebox';
import { tf } from '../../../core/runtime/tf.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import { Module } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import type { Adapter, AdapterContext } from '../../../core/model/contracts.js';
import type { Tensor } from '../../../core/runtime/tf.js';

export const BottleneckOptions = Type.Object(
  {
    tower: Type.Union([Type.Literal('vision'), Type.Literal('text')], { default: 'vision' }),
    blocks: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { description: 'Blocks to adapt (0-based); default all.' })),
    hidden: Type.Integer({ minimum: 1, default: 16, description: 'Bottleneck width.' }),
    scale: Type.Number({ default: 0.1, description: 'Output scale s.' }),
  },
  { additionalProperties: false },
);
export type BottleneckOptions = Static<typeof BottleneckOptions>;

export class Bottleneck extends Module {
  readonly down: Linear;
  readonly up: Linear;
  constructor(width: number, hidden: number) {
    super();
    this.down = this.child('down', new Linear(width, hidden));
    this.up = this.child('up', new Linear(hidden, width));
    tf.tidy(() => {
      this.up.weight.variable.assign(tf.zerosLike(this.up.weight.variable));
      this.up.bias!.variable.assign(tf.zerosLike(this.up.bias!.variable));
    });
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.up.forward(tf.relu(this.down.forward(x))));
  }
}

export function createBottleneck(o: BottleneckOptions, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  if (!bb.towers.includes(o.tower)) throw new ConfigError(`${ctx.where}.tower: the backbone has no ${o.tower} tower`);
  const layers = o.tower === 'vision' ? bb.visionLayers : bb.textLayers;
  const width = o.tower === 'vision' ? bb.visionWidth : bb.textWidth;
  const blocks = o.blocks ?? Array.from({ length: layers }, (_, i) => i);
  for (const i of blocks) if (i >= layers) throw new ConfigError(`${ctx.where}.blocks: ${i} is past the ${layers} ${o.tower} blocks`);
  const list = new ModuleList(blocks.map(() => new Bottleneck(width, o.hidden)));
  return {
    lrGroup: 'backbone',
    mounts: [[`bottleneck_${o.tower}`, list]],
    requires: blocks.map((i) => `${o.tower}.block.${i}.branch.mlp`),
    attach(hooks) {
      blocks.forEach((i, k) => {
        hooks.on<{ x: Tensor; y: Tensor }>(`${o.tower}.block.${i}.branch.mlp`, ({ x, y }) => ({ x, y: tf.add(y, tf.mul(list.at(k).forward(x), o.scale)) }), ctx.where);
      });
    },
  };
}

export default definePlugin({
  kind: 'adapter',
  name: 'bottleneck',
  description: 'Example adapter: parallel bottleneck on the MLP branch of CLIP blocks (AdaptFormer style)',
  schema: BottleneckOptions,
  create: createBottleneck,
});
