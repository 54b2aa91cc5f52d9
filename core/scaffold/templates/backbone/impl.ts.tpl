/**
 * backbone/__NAME__: the modules, the tokenizer and the factory (options and
 * manifest: index.ts).
 *
 * A backbone publishes a `BackboneSpec` (shapes the head and adapters size
 * themselves from, and its hook points) and runs a forward that calls
 * `hooks.run(point, value, ctx)` at each point, in order, returning the
 * `BackboneFeatures` the head consumes. Adapters never edit this code.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { ConfigError } from '../../../core/errors.js';
import { Module, formatLoadReport } from '../../../core/nn/module.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { Embedding } from '../../../core/nn/layers/embedding.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { MLP } from '../../../core/nn/layers/mlp.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import { readCheckpoint } from '../../../core/io/checkpoint.js';
import type { ForwardContext } from '../../../core/model/context.js';
import type { HookPointSpec, Hooks } from '../../../core/model/hooks.js';
import type { Backbone, BackboneFeatures, BackboneSpec, BuildContext, TextTokenizer } from '../../../core/model/contracts.js';
import type { Options } from './index.js';

/** Value of the `vision.block.{i}.branch.*` hook points (as in CLIP): branch input after LayerNorm, branch output. */
export interface BranchValue {
  x: Tensor;
  y: Tensor;
}

/**
 * Words (runs of letters and digits, lower-cased) hashed (FNV-1a) into
 * `vocabSize - 3` buckets: ids 1..vocabSize-3; SOT = vocabSize-2 and EOT =
 * vocabSize-1 (the largest id, so the EOT position is the argmax as in CLIP).
 * No vocabulary file; collisions are the price.
 */
export class __PASCAL__Tokenizer implements TextTokenizer {
  readonly sot: number;
  readonly eot: number;
  constructor(readonly vocabSize: number) {
    if (vocabSize < 4) throw new ConfigError(`__NAME__ tokenizer: vocabSize ${vocabSize} leaves no word ids (needs >= 4)`);
    this.sot = vocabSize - 2;
    this.eot = vocabSize - 1;
  }

  encode(text: string): number[] {
    return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).map((w) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193) >>> 0;
      return 1 + (h % (this.vocabSize - 3));
    });
  }

  tokenize(texts: readonly string[], contextLength: number): Int32Array {
    if (!Number.isSafeInteger(contextLength) || contextLength < 2) throw new ConfigError(`__NAME__ tokenizer: context length ${contextLength} must be at least 2 (SOT and EOT)`);
    const out = new Int32Array(texts.length * contextLength);
    texts.forEach((text, i) => {
      const ids = [this.sot, ...this.encode(text), this.eot];
      if (ids.length > contextLength) ids.splice(contextLength - 1, ids.length, this.eot);
      out.set(ids, i * contextLength);
    });
    return out;
  }

  describe(): string {
    return `__NAME__ hashing word tokenizer (${this.vocabSize} ids: 0 padding, 1..${this.vocabSize - 3} word buckets, SOT ${this.sot}, EOT ${this.eot})`;
  }
}

/** Pre-norm residual block: x + mixer(norm1 x) (3x3 conv), then x + mlp(norm2 x). NHWC in and out. */
export class __PASCAL__Block extends Module {
  readonly norm1: LayerNorm;
  readonly mixer: Conv2d;
  readonly norm2: LayerNorm;
  readonly mlp: MLP;
  private readonly points: { attn: string; mlp: string };

  constructor(width: number, index: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(width));
    this.mixer = this.child('mixer', new Conv2d(width, width, 3, { padding: 1 }));
    this.norm2 = this.child('norm2', new LayerNorm(width));
    this.mlp = this.child('mlp', new MLP(width, 4 * width, width, 'gelu'));
    this.points = { attn: `vision.block.${index}.branch.attn`, mlp: `vision.block.${index}.branch.mlp` };
  }

  forward(x: Tensor, hooks: Hooks, ctx: ForwardContext): Tensor {
    const h1 = this.norm1.forward(x);
    let a = this.mixer.forward(h1);
    if (hooks.active(this.points.attn)) a = hooks.run<BranchValue>(this.points.attn, { x: h1, y: a }, ctx).y;
    const x1 = tf.add(x, a);
    const h2 = this.norm2.forward(x1);
    let m = this.mlp.forward(h2);
    if (hooks.active(this.points.mlp)) m = hooks.run<BranchValue>(this.points.mlp, { x: h2, y: m }, ctx).y;
    return tf.add(x1, m);
  }
}

/** Both encoders. Parameter names (the state dict): patch_embed, blocks.<i>.*, norm, proj, token_embedding, text_proj. */
export class __PASCAL__Encoder extends Module {
  readonly patch_embed: Conv2d;
  readonly blocks: ModuleList<__PASCAL__Block>;
  readonly norm: LayerNorm;
  readonly proj: Linear;
  readonly token_embedding: Embedding;
  readonly text_proj: Linear;

  constructor(o: Options) {
    super();
    this.patch_embed = this.child('patch_embed', new Conv2d(3, o.width, o.patchSize, { stride: o.patchSize }));
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: o.layers }, (_, i) => new __PASCAL__Block(o.width, i))));
    this.norm = this.child('norm', new LayerNorm(o.width));
    this.proj = this.child('proj', new Linear(o.width, o.embedDim));
    this.token_embedding = this.child('token_embedding', new Embedding(o.vocabSize, o.textWidth));
    this.text_proj = this.child('text_proj', new Linear(o.textWidth, o.embedDim));
  }

  /** Runs inside the model's tidy scope. image [B, S, S, 3], ids [B, L] int32 (0 = padding). */
  forward(image: Tensor, ids: Tensor, hooks: Hooks, ctx: ForwardContext): BackboneFeatures {
    let x = this.patch_embed.forward(hooks.run('image', image, ctx));
    const stages: Tensor[] = [];
    for (const block of this.blocks.items) {
      x = block.forward(x, hooks, ctx);
      stages.push(x);
    }
    stages.push(this.proj.forward(this.norm.forward(x)));
    const tokens = tf.cast(ids, 'int32');
    const padMask = tf.equal(tokens, 0);
    const words = hooks.run('text.words', this.token_embedding.forward(tokens), ctx);
    // Sentence state: mean of the word features over the non-padding positions, projected.
    const keep = tf.expandDims(tf.cast(tf.logicalNot(padMask), 'float32'), 2);
    const pooled = tf.div(tf.sum(tf.mul(words, keep), 1), tf.maximum(tf.sum(keep, 1), 1));
    const state = this.text_proj.forward(pooled);
    return hooks.run('outputs', { visStages: stages, words, state, padMask }, ctx);
  }

  hookPoints(): HookPointSpec[] {
    const blocks = this.blocks.items.map((_, i) => i);
    return [
      { name: 'image', value: 'Tensor [B, S, S, 3]', description: 'normalised input image, before the patch embedding' },
      { name: 'vision.block.{i}.branch.attn', value: 'BranchValue {x: input after norm1, y: token-mixer output}', description: 'token-mixing branch of block i (the role of attention); return {x, y\'}', indices: blocks },
      { name: 'vision.block.{i}.branch.mlp', value: 'BranchValue {x: input after norm2, y: MLP output}', description: 'MLP branch of block i; return {x, y\'}', indices: blocks },
      { name: 'text.words', value: 'Tensor [B, L, textWidth]', description: 'word embeddings before pooling (padding positions included); return a replacement' },
      { name: 'outputs', value: 'BackboneFeatures {visStages, words, state, padMask}', description: 'what the head receives' },
    ];
  }
}

export function create__PASCAL__(o: Options, ctx: BuildContext): Backbone {
  const grid = Math.floor(ctx.input.size / o.patchSize);
  if (grid < 1) throw new ConfigError(`${ctx.where}.patchSize: ${o.patchSize} is larger than input.size ${ctx.input.size}`);
  const model = new __PASCAL__Encoder(o);
  const tokenizer = new __PASCAL__Tokenizer(o.vocabSize);
  const spec: BackboneSpec = {
    inputSize: ctx.input.size,
    wordLength: ctx.input.wordLength,
    towers: ['vision', 'text'],
    visionWidth: o.width,
    visionLayers: o.layers,
    textWidth: o.textWidth,
    // The text encoder has no blocks: text-tower adapters find no block points.
    textLayers: 0,
    embedDim: o.embedDim,
    grid: [grid, grid],
    patchSize: o.patchSize,
    stageChannels: [...Array.from({ length: o.layers }, () => o.width), o.embedDim],
    blockPath: (tower, i) => {
      if (tower !== 'vision' || i >= o.layers) throw new ConfigError(`${ctx.where}: backbone __NAME__ has no ${tower} block ${i}`);
      return `backbone.blocks.${i}`;
    },
    hookPoints: model.hookPoints(),
  };
  return {
    module: model,
    spec,
    forward: (inputs, hooks, fctx) => model.forward(inputs.image, inputs.text, hooks, fctx),
    // Nothing here is pretrained, so the PET rule ("frozen but ...") keeps nothing trainable; CLIP keeps its positional embeddings.
    trainableUnderPet: () => false,
    lrGroup: () => 'backbone',
    tokenizer: () => tokenizer,
    loadPretrained: () => {
      if (!o.weights) return undefined;
      const ck = readCheckpoint(o.weights, { strip: ['module.', 'backbone.'] });
      return formatLoadReport(model.loadStateDict(ck.tensors, { strict: true }), `__NAME__ weights ${o.weights}`);
    },
  };
}
