/**
 * backbone/__NAME__: a minimal backbone for the Backbone contract. Vision: a
 * patch embedding (strided conv) and MetaFormer-style blocks (a 3x3 conv
 * token mixer and an MLP, each a pre-norm residual branch), a stage
 * feature after each block, the last projected to the joint width. Text: a
 * bag of word embeddings from a built-in hashing tokenizer, masked-mean pooled
 * and projected to the sentence state.
 *
 * It publishes the branch hook points of the CLIP contract
 * (`vision.block.{i}.branch.{attn,mlp}`), so adapters written against CLIP's
 * branches attach to it unchanged. With the default two blocks it gives three
 * stage features, as the cris head expects.
 *
 * Scaffolded by `zoo new backbone __NAME__`: the manifest and the options (one
 * TypeBox source for the JSON Schema and the TypeScript type) live here, the
 * modules, the tokenizer and the factory in __NAME__.ts. See README.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { create__PASCAL__ } from './__NAME__.js';

export const Options = Type.Object(
  {
    width: Type.Integer({ minimum: 1, default: 64, description: 'Channels of the vision blocks (the stage features before the last).' }),
    layers: Type.Integer({ minimum: 1, default: 2, description: 'Vision blocks; a stage feature after each, plus the projected last stage (2 gives the 3 stages of the cris head).' }),
    patchSize: Type.Integer({ minimum: 1, default: 8, description: 'Patch size (stride of the patch embedding).' }),
    textWidth: Type.Integer({ minimum: 2, default: 64, description: 'Width of the word features.' }),
    embedDim: Type.Integer({ minimum: 1, default: 64, description: 'Joint width: channels of the last stage and of the sentence state.' }),
    vocabSize: Type.Integer({ minimum: 8, default: 4096, description: 'Ids of the hashing tokenizer: 0 padding, word buckets, then SOT and EOT.' }),
    weights: Type.Optional(Type.String({ description: 'Weights to load (safetensors or torch.save) with this module\'s parameter names; a `module.`/`backbone.` prefix is stripped.' })),
  },
  { additionalProperties: false },
);
export type Options = Static<typeof Options>;

export default definePlugin({
  kind: 'backbone',
  name: '__NAME__',
  description: 'Minimal backbone: conv patch encoder with MetaFormer blocks + bag-of-embeddings text encoder (scaffolded)',
  schema: Options,
  create: create__PASCAL__,
});
