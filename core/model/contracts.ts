/**
 * What each model-part plugin produces. The core composes these without
 * knowing any particular model: a backbone (with hook points), adapters and
 * side networks that attach to hook points and mount their own modules, a
 * head that turns backbone features into mask logits, and a loss.
 */
import type { Tensor } from '../runtime/tf.js';
import type { Module } from '../nn/module.js';
import type { ForwardContext, ModelInputs } from './context.js';
import type { HookPointSpec, Hooks } from './hooks.js';
import type { RecomputePolicy } from '../nn/checkpoint.js';

/** A tokenizer as the data pipeline needs it. */
export interface TextTokenizer {
  readonly vocabSize: number;
  /** [n, contextLength] ids, SOT/EOT included, zero padded, truncated with EOT. */
  tokenize(texts: readonly string[], contextLength: number): Int32Array;
  describe(): string;
  /** Whether a sentence is empty after the tokenizer's text cleaning (datasets reject those). */
  isBlank?(text: string): boolean;
}

/** Shapes the backbone publishes so heads and adapters size themselves (like detectron2's output_shape). */
export interface BackboneSpec {
  inputSize: number;
  wordLength: number;
  /** Towers present: a LIM-like adapter needs both. */
  towers: readonly ('vision' | 'text')[];
  visionWidth: number;
  visionLayers: number;
  textWidth: number;
  textLayers: number;
  /** Joint embedding width (sentence state, last stage feature). */
  embedDim: number;
  /** Patch grid [h, w] at the input size. */
  grid: [number, number];
  patchSize: number;
  /** Channels of each stage feature in `BackboneFeatures.visStages`. */
  stageChannels: number[];
  /** Module path of block i of a tower, relative to the model root (for adapters that mount inside blocks). */
  blockPath(tower: 'vision' | 'text', i: number): string;
  hookPoints: readonly HookPointSpec[];
}

export interface BackboneFeatures {
  /** Stage features NHWC, last = projected final features. */
  visStages: Tensor[];
  /** Word features [B, L, textWidth]. */
  words: Tensor;
  /** Sentence feature [B, embedDim]. */
  state: Tensor;
  /** [B, L] bool, true at padding (id 0). */
  padMask: Tensor;
}

export interface Backbone {
  module: Module;
  spec: BackboneSpec;
  forward(inputs: ModelInputs, hooks: Hooks, ctx: ForwardContext): BackboneFeatures;
  /** Whether a backbone parameter stays trainable under the PET freeze rule. */
  trainableUnderPet(name: string): boolean;
  /** Optimiser group of a backbone parameter (official: backbone-side vs the rest). */
  lrGroup(name: string): LrGroup;
  tokenizer(): TextTokenizer;
  /** Load pretrained weights given in the options, if any; returns a one-line report. */
  loadPretrained?(): string | undefined;
}

export type LrGroup = 'backbone' | 'head';

export interface BuildContext {
  /** Config location of the node being built, for error messages (e.g. `model.adapters[1]`). */
  where: string;
  input: { size: number; wordLength: number };
  seed: number;
  /** False when only shapes are needed (`zoo params`): pretrained files are not read; presets give the dims. */
  loadWeights?: boolean;
  /** Activation recomputation in training (config `runtime.recompute`; see core/nn/checkpoint.ts). */
  recompute?: RecomputePolicy;
}

export interface PartContext extends BuildContext {
  backbone: BackboneSpec;
}

export interface AdapterContext extends PartContext {
  /** Hook points published by the backbone and the head. */
  hooks: Hooks;
}

/** An adapter or side network. */
export interface Adapter {
  /** Modules to add to the model, at dotted paths (`intertwiner`, `backbone.visual.transformer.resblocks.3.flow`). */
  mounts: [path: string, module: Module][];
  /** Hook points it needs; checked before anything is attached. */
  requires: string[];
  /** Register handlers (after all checks passed). */
  attach(hooks: Hooks): void;
  /** Optimiser group of its parameters. */
  lrGroup: LrGroup;
}

export interface Head {
  /** Modules mounted at the model root (e.g. `neck`, `decoder`, `proj`). */
  mounts: [path: string, module: Module][];
  hookPoints: readonly HookPointSpec[];
  /** Mask logits NHWC [B, h, w, 1]. */
  forward(features: BackboneFeatures, inputs: ModelInputs, hooks: Hooks, ctx: ForwardContext): Tensor;
}

export interface Loss {
  /** Scalar loss of logits NHWC [B, h, w, 1] against the mask NHWC [B, S, S, 1] in {0, 1}. */
  compute(logits: Tensor, mask: Tensor): Tensor;
}
