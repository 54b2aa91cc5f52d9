/**
 * OpenAI CLIP (ViT) with the official parameter names, run as a joint,
 * layer-by-layer walk of both towers that publishes hook points.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module, type Parameter } from '../../../core/nn/module.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { Embedding } from '../../../core/nn/layers/embedding.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { normal } from '../../../core/nn/init.js';
import { Checkpoint, shouldRecompute, type RecomputePolicy } from '../../../core/nn/checkpoint.js';
import type { Hooks, HookPointSpec } from '../../../core/model/hooks.js';
import type { ForwardContext } from '../../../core/model/context.js';
import type { BackboneFeatures } from '../../../core/model/contracts.js';
import { Transformer } from './blocks.js';
import type { ClipDims } from './presets.js';

/** The vision token sequence as adapters see it. */
export interface VisionStream {
  /** [B, N, Wv]: `prefix` tokens (class token, inserted prompts) then the grid's patches row-major. */
  tokens: Tensor;
  prefix: number;
  grid: [number, number];
  /** Optional [B, N] bool: tokens no other token may attend to (e.g. prompts of padded text positions). */
  keyPaddingMask?: Tensor;
}

export interface TextStream {
  /** [B, P + L, Wt]: `prefix` inserted tokens, then one per id. */
  tokens: Tensor;
  prefix: number;
  /** [B, L] int32 */
  ids: Tensor;
  /** [B, L] bool, true at padding */
  padMask: Tensor;
}

export interface JointState {
  vision: VisionStream;
  text: TextStream;
}

export class VisionTransformer extends Module {
  readonly conv1: Conv2d;
  readonly class_embedding: Parameter;
  readonly positional_embedding: Parameter;
  readonly ln_pre: LayerNorm;
  readonly transformer: Transformer;
  readonly ln_post: LayerNorm;
  readonly proj: Parameter;
  constructor(
    readonly dims: ClipDims,
    readonly grid: number,
  ) {
    super();
    const W = dims.visionWidth;
    const scale = W ** -0.5;
    this.conv1 = this.child('conv1', new Conv2d(3, W, dims.patchSize, { stride: dims.patchSize, bias: false }));
    this.class_embedding = this.param('class_embedding', () => normal([W], scale));
    this.positional_embedding = this.param('positional_embedding', () => normal([grid * grid + 1, W], scale));
    this.ln_pre = this.child('ln_pre', new LayerNorm(W));
    this.transformer = this.child('transformer', new Transformer(W, dims.visionLayers, dims.visionHeads, 'vision'));
    this.ln_post = this.child('ln_post', new LayerNorm(W));
    this.proj = this.param('proj', () => normal([W, dims.embedDim], scale));
  }

  /** Image NHWC -> [CLS, patches] tokens after ln_pre. */
  embed(image: Tensor): VisionStream {
    return tf.tidy(() => {
      const B = image.shape[0]!;
      const x = this.conv1.forward(image); // [B, gh, gw, W]
      const [gh, gw, W] = [x.shape[1]!, x.shape[2]!, x.shape[3]!];
      if (gh * gw + 1 !== this.positional_embedding.value.shape[0]) {
        throw new Error(`CLIP vision: the image gives a ${gh}x${gw} patch grid but the positional embedding has ${this.positional_embedding.value.shape[0]! - 1} grid positions; build the backbone for this input size`);
      }
      const cls = tf.broadcastTo(tf.reshape(this.class_embedding.value, [1, 1, W]), [B, 1, W]);
      const seq = tf.add(tf.concat([cls, tf.reshape(x, [B, gh * gw, W])], 1), this.positional_embedding.value);
      return { tokens: this.ln_pre.forward(seq), prefix: 1, grid: [gh, gw] as [number, number] };
    }) as unknown as VisionStream;
  }
}

function patchesOf(v: VisionStream): Tensor {
  const [B, N, W] = v.tokens.shape as [number, number, number];
  const [gh, gw] = v.grid;
  return tf.reshape(tf.slice(v.tokens, [0, v.prefix, 0], [B, N - v.prefix, W]), [B, gh, gw, W]);
}

export class ClipModel extends Module {
  readonly visual: VisionTransformer;
  readonly token_embedding: Embedding;
  readonly positional_embedding: Parameter;
  readonly transformer: Transformer;
  readonly ln_final: LayerNorm;
  readonly text_projection: Parameter;
  readonly logit_scale: Parameter;
  private causal?: { L: number; mask: Tensor };
  /** One per vision block (each finds the variables its block reads once). */
  private readonly checkpoints: Checkpoint[] = [];

  constructor(
    readonly dims: ClipDims,
    readonly grid: number,
    /** 0-based vision blocks after which stage features are taken (before the final projected stage). */
    readonly stageBlocks: readonly number[],
    /** Recompute vision blocks in the backward pass (config `runtime.recompute`). */
    readonly recompute: RecomputePolicy = 'auto',
  ) {
    super();
    this.visual = this.child('visual', new VisionTransformer(dims, grid));
    const Wt = dims.textWidth;
    this.token_embedding = this.child('token_embedding', new Embedding(dims.vocabSize, Wt));
    this.positional_embedding = this.param('positional_embedding', () => normal([dims.contextLength, Wt], 0.01));
    this.transformer = this.child('transformer', new Transformer(Wt, dims.textLayers, dims.textHeads, 'text'));
    this.ln_final = this.child('ln_final', new LayerNorm(Wt));
    this.text_projection = this.param('text_projection', () => normal([Wt, dims.embedDim], Wt ** -0.5));
    this.logit_scale = this.param('logit_scale', () => tf.scalar(Math.log(1 / 0.07)));
  }

  /** Additive causal mask [L, L] (-inf above the diagonal), cached per length. */
  causalMask(L: number): Tensor {
    if (this.causal?.L !== L) {
      this.causal?.mask.dispose();
      const m = new Float32Array(L * L);
      for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -Infinity;
      this.causal = { L, mask: tf.keep(tf.tensor2d(m, [L, L])) };
    }
    return this.causal.mask;
  }

  override dispose(): void {
    this.causal?.mask.dispose();
    this.causal = undefined;
    super.dispose();
  }

  embedText(ids: Tensor): TextStream {
    return tf.tidy(() => {
      const L = ids.shape[1]!;
      if (L > this.dims.contextLength) throw new Error(`CLIP text: ${L} tokens exceed the context length ${this.dims.contextLength}`);
      const tok = tf.add(this.token_embedding.forward(ids), tf.slice(this.positional_embedding.value, [0, 0], [L, this.dims.textWidth]));
      return { tokens: tok, prefix: 0, ids, padMask: tf.equal(ids, 0) };
    }) as unknown as TextStream;
  }

  /**
   * Whether vision blocks run checkpointed for tokens [B, N, W]: `on`, or
   * `auto` when the blocks would keep more than 1 GiB for the backward pass
   * (measured: ~80 tensors of the tokens' size per block, with SNF).
   */
  recomputes(tokens: Tensor): boolean {
    return shouldRecompute(this.recompute, tokens.size * 4 * 80 * this.visual.transformer.resblocks.length, 2 ** 30);
  }

  /** Vision block at which text block j runs when the towers differ in depth (aligned at the ends). */
  textBlockAt(visionStep: number): number[] {
    const Lv = this.dims.visionLayers;
    const Lt = this.dims.textLayers;
    const out: number[] = [];
    for (let j = 0; j < Lt; j++) if (Math.floor(((j + 1) * Lv) / Lt) - 1 === visionStep) out.push(j);
    return out;
  }

  /** The joint walk. Must run inside a tidy scope. */
  forward(image: Tensor, ids: Tensor, hooks: Hooks, ctx: ForwardContext): BackboneFeatures {
    const img = hooks.run('image', image, ctx);
    let state: JointState = { vision: this.visual.embed(img), text: this.embedText(tf.cast(ids, 'int32')) };
    state = hooks.run('embed', state, ctx);
    ctx.capture('vis_tokens.in', () => state.vision.tokens);
    ctx.capture('txt_tokens.in', () => state.text.tokens);
    const L = ids.shape[1]!;
    // Causal over the text stream as adapters left it (they may prepend tokens).
    const mask = this.causalMask(state.text.tokens.shape[1]!);
    const stages: Tensor[] = [];
    const vblocks = this.visual.transformer.resblocks;
    const tblocks = this.transformer.resblocks;
    const steps = Math.max(vblocks.length, tblocks.length);
    for (let i = 0; i < steps; i++) {
      let { vision, text } = state;
      if (i < vblocks.length) {
        const kpm = vision.keyPaddingMask;
        const block = (x: Tensor) => vblocks.at(i).forward(x, hooks, ctx, undefined, kpm);
        const tokens = this.recomputes(vision.tokens) ? (this.checkpoints[i] ??= new Checkpoint(`vision block ${i}`)).run(block, vision.tokens, [kpm]) : block(vision.tokens);
        vision = { ...vision, tokens };
      }
      const tj = vblocks.length ? this.textBlockAt(i) : i < tblocks.length ? [i] : [];
      for (const j of tj) text = { ...text, tokens: tblocks.at(j).forward(text.tokens, hooks, ctx, mask) };
      ctx.capture(`vis_tokens.${i}`, () => vision.tokens);
      if (tj.length) ctx.capture(`txt_tokens.${tj[tj.length - 1]}`, () => text.tokens);
      state = hooks.run(`block.${i}.after`, { vision, text }, ctx);
      if (this.stageBlocks.includes(i)) stages.push(patchesOf(state.vision));
    }
    const { vision, text } = state;
    const last = linearLast(this.visual.ln_post.forward(patchesOf(vision)), this.visual.proj.value);
    const [Bt, Nt, Wtt] = text.tokens.shape as [number, number, number];
    const words = this.ln_final.forward(text.prefix ? tf.slice(text.tokens, [0, text.prefix, 0], [Bt, Nt - text.prefix, Wtt]) : text.tokens);
    const [B, , Wt] = words.shape as [number, number, number];
    const eot = tf.argMax(text.ids, 1);
    const rows = tf.add(tf.mul(tf.range(0, B, 1, 'int32'), tf.scalar(L, 'int32')), tf.cast(eot, 'int32'));
    const sentence = tf.matMul(tf.gather(tf.reshape(words, [B * L, Wt]), rows), this.text_projection.value);
    return hooks.run('outputs', { visStages: [...stages, last], words, state: sentence, padMask: text.padMask }, ctx);
  }

  /** Hook points of the joint walk (see README.md). */
  hookPoints(): HookPointSpec[] {
    const v = Array.from({ length: this.dims.visionLayers }, (_, i) => i);
    const t = Array.from({ length: this.dims.textLayers }, (_, i) => i);
    const steps = Array.from({ length: Math.max(v.length, t.length) }, (_, i) => i);
    const pts: HookPointSpec[] = [
      { name: 'image', value: 'Tensor [B, S, S, 3]', description: 'normalised input image, before patch embedding' },
      { name: 'embed', value: 'JointState {vision: VisionStream, text: TextStream}', description: 'both sequences before the first block: vision after ln_pre ([CLS, patches], prefix 1), text after token + positional embedding' },
      { name: 'block.{i}.after', value: 'JointState', description: 'both streams after vision block i and the text block(s) aligned with it', indices: steps },
      { name: 'outputs', value: 'BackboneFeatures {visStages, words, state, padMask}', description: 'what the head receives' },
    ];
    for (const [tower, idx] of [['vision', v], ['text', t]] as const) {
      for (const kind of ['attn', 'mlp']) {
        pts.push({ name: `${tower}.block.{i}.shortcut.${kind}`, value: 'Tensor [B, N, W]', description: `identity shortcut of the ${kind} residual branch of ${tower} block i (return the replacement)`, indices: idx });
        pts.push({ name: `${tower}.block.{i}.branch.${kind}`, value: 'BranchValue {x: branch input after LayerNorm, y: branch output}', description: `output of the ${kind} branch of ${tower} block i (return {x, y'})`, indices: idx });
      }
    }
    return pts;
  }
}

function linearLast(x: Tensor, w: Tensor): Tensor {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  return tf.reshape(tf.matMul(tf.reshape(x, [B * H * W, C]), w), [B, H, W, w.shape[1]!]);
}

export { patchesOf };
