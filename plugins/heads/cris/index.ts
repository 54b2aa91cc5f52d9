/** CRIS-style segmentation head (BarLeRIa / ETRIS): neck, decoder, projector with official parameter names. */
export { CrisHead, crisHeadOptionsFromConfig, padMaskFromIds, type CrisHeadOptions, type CrisHeadInputs, type CrisHeadExtra, type CrisHeadOutputs } from './cris-head.js';
export { Neck, CrossAttn, CoordConv, convLayer, deconvLayer, type NeckOptions, type Triple } from './neck.js';
export { TransformerDecoder, DecoderLayer, attend, type TransformerDecoderOptions, type DecoderLayerOptions } from './decoder.js';
export { Projector, Upsample, type ProjectorOptions } from './projector.js';
export { ConstantCache, clearConstants, countConstants, sinePositions1d, sinePositions2d, coordinatePlanes, linspace } from './constants.js';

import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import type { Head, PartContext } from '../../../core/model/contracts.js';
import type { Tensor } from '../../../core/runtime/tf.js';
import { CrisHead as Head_ } from './cris-head.js';

const Triple = (description: string, def?: [number, number, number]) =>
  Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], def ? { default: def, description } : { description });

export const CrisOptions = Type.Object(
  {
    visDim: Type.Integer({ minimum: 1, default: 512, description: 'Decoder width (official vis_dim); must equal fpnOut[1].' }),
    fpnIn: Type.Optional(Triple('Input channels of the three stages (official fpn_in); default: the backbone stage channels.')),
    fpnOut: Triple('Neck projection widths (official fpn_out; only [1] reaches the decoder).', [256, 512, 1024]),
    strides: Triple('Neck strides (official stride; [1, 1, 1] for ViT).', [1, 1, 1]),
    numLayers: Type.Integer({ minimum: 1, default: 3, description: 'Decoder layers (official num_layers).' }),
    numHeads: Type.Integer({ minimum: 1, default: 8, description: 'Decoder heads (official num_head).' }),
    dimFfn: Type.Integer({ minimum: 1, default: 512, description: 'Decoder FFN width (official dim_ffn).' }),
    dropout: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'Decoder dropout (official 0.1).' }),
    neckHeads: Type.Integer({ minimum: 1, default: 8, description: 'Heads of the neck sentence attention (official 8).' }),
    projKernel: Type.Integer({ minimum: 1, default: 3, description: 'Dynamic kernel size of the projector (official 3).' }),
  },
  { additionalProperties: false },
);
export type CrisPluginOptions = Static<typeof CrisOptions>;

export function createCrisHead(o: CrisPluginOptions, ctx: PartContext): Head & { head: Head_ } {
  const bb = ctx.backbone;
  if (bb.stageChannels.length !== 3) throw new ConfigError(`${ctx.where}: the CRIS neck fuses 3 stages; the backbone gives ${bb.stageChannels.length} (set its stageLayers to two layers)`);
  const fpnIn = (o.fpnIn ?? bb.stageChannels) as [number, number, number];
  if (fpnIn.some((c, i) => c !== bb.stageChannels[i])) throw new ConfigError(`${ctx.where}.fpnIn: ${JSON.stringify(fpnIn)} does not match the backbone stage channels ${JSON.stringify(bb.stageChannels)}`);
  const head = new Head_({
    visDim: o.visDim,
    wordDim: bb.embedDim,
    textWidth: bb.textWidth,
    fpnIn,
    fpnOut: o.fpnOut as [number, number, number],
    strides: o.strides as [number, number, number],
    numLayers: o.numLayers,
    numHeads: o.numHeads,
    dimFfn: o.dimFfn,
    dropout: o.dropout,
    neckHeads: o.neckHeads,
    projKernel: o.projKernel,
    seed: ctx.seed,
  });
  return {
    head,
    mounts: [
      ['neck', head.neck],
      ['decoder', head.decoder],
      ['proj', head.proj],
    ],
    hookPoints: [{ name: 'head.neck', value: 'Tensor [B, H, W, visDim]', description: 'neck output before the decoder (a side network adds its feature here)', channels: o.visDim }],
    forward(features, _inputs, hooks, fctx) {
      const [v0, v1, v2] = features.visStages;
      const out = head.forwardDetailed(
        { visStages: [v0!, v1!, v2!], words: features.words, state: features.state, padMask: features.padMask },
        { onNeckOut: (fq: Tensor) => hooks.run('head.neck', fq, fctx) },
      );
      fctx.capture('fq_neck', out.neck);
      fctx.capture('decoder_out', out.decoded);
      return out.logits;
    },
  };
}

export default definePlugin({
  kind: 'head',
  name: 'cris',
  description: 'CRIS-style head: text-gated neck, transformer decoder, dynamic-kernel projector (BarLeRIa / ETRIS)',
  schema: CrisOptions,
  create: createCrisHead,
});
