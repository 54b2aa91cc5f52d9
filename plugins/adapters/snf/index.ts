/**
 * adapter/snf: BarLeRIa's shortcut with normalizing flow. Replaces the identity
 * shortcut of both residual branches of every chosen block with a flow, by
 * handling the backbone's `<tower>.block.<i>.shortcut.{attn,mlp}` hook points.
 * Flow modules are mounted inside the blocks (`<block>.flow`, `<block>.flow2`)
 * so parameter names are the official ones.
 */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import type { Adapter, AdapterContext } from '../../../core/model/contracts.js';
import type { Tensor } from '../../../core/runtime/tf.js';
import { NormalizingFlow } from './normalizing-flow.js';

export const SnfOptions = Type.Object(
  {
    towers: Type.Array(Type.Union([Type.Literal('vision'), Type.Literal('text')]), { default: ['vision', 'text'], minItems: 1, description: 'Towers whose blocks get flow shortcuts.' }),
    flowLength: Type.Integer({ minimum: 0, maximum: 64, default: 4, description: 'Planar flows after the affine transform (official flow_length).' }),
    blocks: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { description: 'Block indices (0-based); default all blocks of each tower.' })),
    initBound: Type.Number({ exclusiveMinimum: 0, default: 0.01, description: 'Planar flow parameters start U(-b, b) (official 0.01).' }),
  },
  { additionalProperties: false },
);
export type SnfOptions = Static<typeof SnfOptions>;

export function createSnf(o: SnfOptions, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  const plan: { tower: 'vision' | 'text'; i: number; flow: NormalizingFlow; flow2: NormalizingFlow }[] = [];
  for (const tower of new Set(o.towers)) {
    if (!bb.towers.includes(tower)) throw new ConfigError(`${ctx.where}.towers: the backbone has no ${tower} tower`);
    const layers = tower === 'vision' ? bb.visionLayers : bb.textLayers;
    const width = tower === 'vision' ? bb.visionWidth : bb.textWidth;
    const blocks = o.blocks ?? Array.from({ length: layers }, (_, i) => i);
    for (const i of blocks) {
      if (i >= layers) throw new ConfigError(`${ctx.where}.blocks: ${i} is past the ${layers} ${tower} blocks`);
      plan.push({ tower, i, flow: new NormalizingFlow(width, o.flowLength, o.initBound), flow2: new NormalizingFlow(width, o.flowLength, o.initBound) });
    }
  }
  return {
    lrGroup: 'backbone',
    mounts: plan.flatMap((p) => [
      [`${bb.blockPath(p.tower, p.i)}.flow`, p.flow],
      [`${bb.blockPath(p.tower, p.i)}.flow2`, p.flow2],
    ]),
    requires: plan.flatMap((p) => [`${p.tower}.block.${p.i}.shortcut.attn`, `${p.tower}.block.${p.i}.shortcut.mlp`]),
    attach(hooks) {
      for (const p of plan) {
        hooks.on<Tensor>(`${p.tower}.block.${p.i}.shortcut.attn`, (x) => p.flow.forward(x), ctx.where);
        hooks.on<Tensor>(`${p.tower}.block.${p.i}.shortcut.mlp`, (x) => p.flow2.forward(x), ctx.where);
      }
    },
  };
}

export default definePlugin({
  kind: 'adapter',
  name: 'snf',
  description: 'BarLeRIa SNF: normalizing-flow shortcuts (affine + planar flows) in every CLIP block',
  schema: SnfOptions,
  create: createSnf,
});
