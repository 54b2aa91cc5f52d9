/**
 * adapter/__NAME__: a low-rank (LoRA-style) update added in parallel to a
 * residual branch of chosen blocks, y' = y + (alpha / rank) · up(down(x)), where
 * x is the branch input after LayerNorm and y the branch output. `up` starts at
 * zero, so the adapted model starts equal to the frozen one.
 *
 * Scaffolded by `zoo new adapter __NAME__`: the manifest and the options (one
 * TypeBox source for the JSON Schema and the TypeScript type) live here, the
 * module and the hook handlers in __NAME__.ts. See README.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { create__PASCAL__ } from './__NAME__.js';

export const Options = Type.Object(
  {
    tower: Type.Union([Type.Literal('vision'), Type.Literal('text')], { default: 'vision', description: 'Tower whose blocks are adapted.' }),
    branch: Type.Union([Type.Literal('attn'), Type.Literal('mlp')], {
      default: 'attn',
      description: 'Residual branch whose output gets the update (hook point `<tower>.block.<i>.branch.<branch>`).',
    }),
    blocks: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { description: 'Blocks to adapt (0-based); default all blocks of the tower.' })),
    rank: Type.Integer({ minimum: 1, default: 4, description: 'Rank r of the update (width of `down`).' }),
    alpha: Type.Number({ exclusiveMinimum: 0, default: 8, description: 'The update is scaled by alpha / rank (LoRA convention).' }),
  },
  { additionalProperties: false },
);
export type Options = Static<typeof Options>;

export default definePlugin({
  kind: 'adapter',
  name: '__NAME__',
  description: 'Low-rank update on the attention or MLP branch of chosen blocks, zero-initialised (scaffolded)',
  schema: Options,
  create: create__PASCAL__,
});
