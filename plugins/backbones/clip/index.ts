/**
 * backbone/clip: OpenAI CLIP ViT (both towers) as a joint, hook-publishing
 * walk. Default freezing is the PET rule: everything frozen except the
 * positional embeddings.
 */
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import type { Backbone, BackboneSpec, PartContext, BuildContext, TextTokenizer } from '../../../core/model/contracts.js';
import { formatLoadReport } from '../../../core/nn/module.js';
import { ClipModel } from './clip-model.js';
import { ClipOptionsSchema, type ClipOptions } from './options.js';
import { existsSync } from 'node:fs';
import { CLIP_PRESETS, OPENAI_CHECKSUMS, type ClipDims } from './presets.js';
import { readClipWeights, resizePositionalEmbedding, type ClipWeights } from './weights.js';
import { loadTokenizer } from './tokenizer/load.js';

export function dimsFromOptions(o: ClipOptions, where: string): ClipDims {
  if (o.preset !== 'custom') return { ...CLIP_PRESETS[o.preset]! };
  const need = (k: keyof ClipOptions) => {
    const v = o[k];
    if (typeof v !== 'number') throw new ConfigError(`${where}.${k}: required when preset is "custom"`);
    return v;
  };
  const vw = need('visionWidth');
  const tw = need('textWidth');
  return {
    visionWidth: vw,
    visionLayers: need('visionLayers'),
    visionHeads: o.visionHeads ?? Math.max(1, Math.floor(vw / 64)),
    patchSize: need('patchSize'),
    pretrainedGrid: o.pretrainedGrid ?? 7,
    textWidth: tw,
    textLayers: need('textLayers'),
    textHeads: o.textHeads ?? Math.max(1, Math.floor(tw / 64)),
    vocabSize: need('vocabSize'),
    contextLength: o.contextLength ?? 77,
    embedDim: need('embedDim'),
  };
}

export function createClipBackbone(options: ClipOptions, ctx: BuildContext | PartContext): Backbone & { model: ClipModel; dims: ClipDims } {
  if (options.weights && ctx.loadWeights !== false && !existsSync(options.weights)) {
    const known = Object.entries(OPENAI_CHECKSUMS).find(([, v]) => options.weights!.endsWith(v.file));
    throw new ConfigError(
      `${ctx.where}.weights: file not found: ${options.weights} (relative paths are resolved from ${process.cwd()})` +
        (known ? `. This is OpenAI's ${known[0]} (${known[1].file}, sha256 ${known[1].sha256}); see the README on bringing CLIP weights.` : ''),
    );
  }
  let weights: ClipWeights | undefined = options.weights && ctx.loadWeights !== false ? readClipWeights(options.weights) : undefined;
  const dims = weights ? weights.dims : dimsFromOptions(options, ctx.where);
  const grid = Math.floor(ctx.input.size / dims.patchSize);
  if (grid < 1) throw new ConfigError(`input.size ${ctx.input.size} is smaller than the patch size ${dims.patchSize}`);
  if (ctx.input.wordLength > dims.contextLength) throw new ConfigError(`input.wordLength ${ctx.input.wordLength} exceeds the CLIP context length ${dims.contextLength}`);
  for (const l of options.stageLayers) {
    if (l > dims.visionLayers) throw new ConfigError(`${ctx.where}.stageLayers: ${l} exceeds the ${dims.visionLayers} vision blocks`);
  }
  const model = new ClipModel(dims, grid, options.stageLayers.map((l) => l - 1), ctx.recompute ?? 'auto');
  const spec: BackboneSpec = {
    inputSize: ctx.input.size,
    wordLength: ctx.input.wordLength,
    towers: ['vision', 'text'],
    visionWidth: dims.visionWidth,
    visionLayers: dims.visionLayers,
    textWidth: dims.textWidth,
    textLayers: dims.textLayers,
    embedDim: dims.embedDim,
    grid: [grid, grid],
    patchSize: dims.patchSize,
    stageChannels: [...options.stageLayers.map(() => dims.visionWidth), dims.embedDim],
    blockPath: (tower, i) => (tower === 'vision' ? `backbone.visual.transformer.resblocks.${i}` : `backbone.transformer.resblocks.${i}`),
    hookPoints: model.hookPoints(),
  };
  let tokenizer: TextTokenizer | undefined;
  return {
    model,
    dims,
    module: model,
    spec,
    forward: (inputs, hooks, fctx) => model.forward(inputs.image, inputs.text, hooks, fctx),
    trainableUnderPet: (name) => name.includes('positional_embedding'),
    // Official build_segmenter: trainable backbone weights form group 0 except the positional embeddings.
    lrGroup: (name) => (name.includes('positional_embedding') ? 'head' : 'backbone'),
    tokenizer: () => {
      if (!options.vocab) throw new ConfigError(`${ctx.where}.vocab: set the tokenizer vocabulary (bpe_simple_vocab_16e6.txt.gz for OpenAI CLIP)`);
      const tok = (tokenizer ??= loadTokenizer(options.vocab));
      if (tok.vocabSize > dims.vocabSize) throw new ConfigError(`${ctx.where}.vocab: ${options.vocab} has ${tok.vocabSize} tokens but the model embeds only ${dims.vocabSize}`);
      return tok;
    },
    loadPretrained: () => {
      if (!options.weights || ctx.loadWeights === false) return undefined;
      weights ??= readClipWeights(options.weights);
      const tensors = new Map(weights.tensors);
      const pos = tensors.get('visual.positional_embedding');
      if (pos) tensors.set('visual.positional_embedding', resizePositionalEmbedding(pos, grid));
      const report = model.loadStateDict(tensors, { strict: true, ignore: ['input_resolution', 'context_length', 'vocab_size'] });
      weights = undefined; // free the file's buffers
      return formatLoadReport(report, `CLIP weights ${options.weights} (${dims.visionLayers}-layer ViT-${dims.patchSize}, width ${dims.visionWidth})`);
    },
  };
}

export default definePlugin({
  kind: 'backbone',
  name: 'clip',
  description: 'OpenAI CLIP ViT (vision + text towers) as a joint layer-by-layer walk with adapter hook points',
  schema: ClipOptionsSchema,
  create: (options: ClipOptions, ctx: PartContext | BuildContext) => createClipBackbone(options, ctx),
});
