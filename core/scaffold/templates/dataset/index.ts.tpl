/**
 * dataset/__NAME__: a DatasetSource (core/data/contracts.ts). As scaffolded it
 * serves a small generated set: each image is a noisy grey background with two
 * shapes of different colours, each record refers to one of them ("the red
 * square") and its mask is that shape. Replace the generator with your
 * annotation reader; the pipeline (letterbox, normalisation, tokenisation,
 * batching) is the same for every dataset.
 *
 * Scaffolded by `zoo new dataset __NAME__`: the manifest and the options (one
 * TypeBox source for the JSON Schema and the TypeScript type) live here, the
 * source in __NAME__.ts. See README.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { create__PASCAL__ } from './__NAME__.js';

export const Options = Type.Object(
  {
    images: Type.Integer({ minimum: 2, maximum: 10000, default: 16, description: 'Number of generated images (one referred object each).' }),
    size: Type.Integer({ minimum: 16, maximum: 4096, default: 64, description: 'Side of the generated images in pixels.' }),
    valFraction: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25, description: 'Share of the images in the val split (the rest is train).' }),
    seed: Type.Integer({ minimum: 0, default: 0, description: 'Seed of the generator.' }),
  },
  { additionalProperties: false },
);
export type Options = Static<typeof Options>;

export default definePlugin({
  kind: 'dataset',
  name: '__NAME__',
  description: 'Dataset source over a small generated set of shape images, sentences and masks (scaffolded)',
  schema: Options,
  create: create__PASCAL__,
});
