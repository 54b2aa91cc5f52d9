/**
 * head/__NAME__: a minimal segmentation head over the last stage features:
 * 1x1 conv -> ReLU, gated per channel by the sentence state
 * (sigmoid(Linear(state))), 1x1 conv to one logit, bilinear upsampling.
 *
 * Scaffolded by `zoo new head __NAME__`: the manifest and the options (one
 * TypeBox source for the JSON Schema and the TypeScript type) live here, the
 * module and the factory in __NAME__.ts. See README.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { create__PASCAL__ } from './__NAME__.js';

export const Options = Type.Object(
  {
    hidden: Type.Integer({ minimum: 1, default: 64, description: 'Width of the projected, text-gated features (the `head.features` hook point).' }),
    upsample: Type.Integer({ minimum: 1, default: 4, description: 'The logits are upsampled (bilinear) by this factor from the last stage grid.' }),
  },
  { additionalProperties: false },
);
export type Options = Static<typeof Options>;

export default definePlugin({
  kind: 'head',
  name: '__NAME__',
  description: 'Minimal head: 1x1 conv over the last stage, gated by the sentence state, upsampled logits (scaffolded)',
  schema: Options,
  create: create__PASCAL__,
});
