/**
 * Contrastive image-text pretraining (CLIP's objective) of a dual-tower
 * backbone: image and caption embeddings, L2-normalised, scored by a learnable
 * temperature (`logit_scale`, clamped to ln 100 as OpenAI does), and the
 * symmetric cross-entropy of InfoNCE (image -> caption and caption -> image,
 * the matching pair on the diagonal, the rest of the batch as negatives).
 *
 * Model-agnostic: the backbone is any `Backbone` (core/model/contracts.ts).
 * The image embedding is the mean over the grid of its last vision stage
 * (for CLIP, `ln_post(patches) @ visual.proj`: the dense features a
 * segmentation head reads, so they are what the objective aligns with text);
 * the caption embedding is the backbone's sentence feature (CLIP: the EOT
 * token @ `text_projection`). The temperature is the backbone's parameter
 * named `logit_scale` when it has one (CLIP does), else the trainer's own.
 */
import { tf, type Tensor, type Variable } from '../runtime/tf.js';
import type { Parameter } from '../nn/module.js';
import { Rng } from '../nn/rng.js';
import { Hooks } from '../model/hooks.js';
import { ForwardContext } from '../model/context.js';
import type { Backbone } from '../model/contracts.js';
import { ConfigError } from '../errors.js';
import { createAdam, createAdamW, type Optimizer, type ParamGroup } from './optimizers.js';
import { clipByGlobalNorm } from './step.js';
import { warmupCosinePlugin, type Schedule } from './schedules.js';

/** OpenAI CLIP's initial temperature, ln(1 / 0.07), and its ceiling ln(100). */
export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);
export const MAX_LOGIT_SCALE = Math.log(100);

/**
 * Symmetric InfoNCE. `image`, `text`: [B, E] (not normalised); `logScale`: scalar (log of the
 * temperature's inverse). Returns the mean of the two cross-entropies and the scaled
 * similarity logits [B, B] (row i: image i against every caption).
 */
export function clipContrastiveLoss(image: Tensor, text: Tensor, logScale: Tensor): { loss: Tensor; logits: Tensor } {
  return tf.tidy(() => {
    const B = image.shape[0]!;
    if (text.shape[0] !== B) throw new ConfigError(`contrastive loss: ${B} images but ${text.shape[0]} captions`);
    const ni = l2normalize(image);
    const nt = l2normalize(text);
    const logits = tf.mul(tf.matMul(ni, nt, false, true), tf.exp(logScale));
    const eye = tf.oneHot(tf.range(0, B, 1, 'int32'), B);
    const ce = (l: Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l, 1), eye), 1)));
    const loss = tf.mul(tf.add(ce(logits), ce(tf.transpose(logits))), 0.5);
    return { loss, logits };
  });
}

function l2normalize(x: Tensor): Tensor {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12)));
}

/** Top-1 retrieval accuracy of a square similarity matrix (row-major [n, n], the match on the diagonal), both ways. */
export function retrievalTop1(sim: Float32Array | Float64Array | number[], n: number): { imageToText: number; textToImage: number } {
  let i2t = 0;
  let t2i = 0;
  for (let i = 0; i < n; i++) {
    let bestRow = 0;
    let bestCol = 0;
    for (let j = 1; j < n; j++) {
      if (sim[i * n + j]! > sim[i * n + bestRow]!) bestRow = j;
      if (sim[j * n + i]! > sim[bestCol * n + i]!) bestCol = j;
    }
    if (bestRow === i) i2t++;
    if (bestCol === i) t2i++;
  }
  return { imageToText: n ? i2t / n : 0, textToImage: n ? t2i / n : 0 };
}

/**
 * Image and caption embeddings of a batch: [B, E] each, and the last vision stage
 * [B, h, w, E] they pool. Call inside a tidy scope.
 */
export function embedPair(backbone: Backbone, hooks: Hooks, image: Tensor, ids: Tensor, training: boolean): { image: Tensor; text: Tensor; grid: Tensor } {
  const ctx = new ForwardContext({ image, text: ids }, training);
  const f = backbone.forward({ image, text: ids }, hooks, ctx);
  const last = f.visStages[f.visStages.length - 1]!;
  return { image: tf.mean(last, [1, 2]), text: f.state, grid: last };
}

/**
 * Sentence embeddings [n, E] of token rows alone. The towers of a joint-walk backbone run
 * independently, so the vision side gets one blank image (its output is discarded).
 */
export function embedTexts(backbone: Backbone, hooks: Hooks, ids: Tensor, inputSize: number, training: boolean): Tensor {
  const image = tf.zeros([1, inputSize, inputSize, 3]);
  const ctx = new ForwardContext({ image, text: ids }, training);
  return backbone.forward({ image, text: ids }, hooks, ctx).state;
}

/**
 * Cross-entropy against soft targets: each row's target is uniform over its positives
 * (`pos[i][j]` = 1), so phrases that equally describe a region are not negatives.
 */
export function softTargetCrossEntropy(logits: Tensor, pos: Tensor): Tensor {
  return tf.tidy(() => {
    const count = tf.sum(pos, 1, true);
    const target = tf.div(pos, tf.maximum(count, 1));
    // Rows without a positive take no part (mean over the others).
    const rows = tf.cast(tf.greater(tf.reshape(count, [-1]), 0), 'float32');
    return tf.div(tf.neg(tf.sum(tf.sum(tf.mul(tf.logSoftmax(logits, 1), target), 1))), tf.maximum(tf.sum(rows), 1));
  });
}

/** One region of an image (an object) with phrases describing it, for region-phrase contrast. */
export interface Region {
  /** Weights over the cells of the last vision stage (row-major h·w), summing to 1: where the region lies. */
  weights: Float32Array;
  /** Labels the region satisfies; a phrase is a positive for it when the phrase's label is one of them. */
  labels: readonly string[];
  /** Phrases describing it, one drawn per step: token ids (`regionContext` long) and the phrase's label. */
  phrases: readonly { ids: Int32Array; label: string }[];
}

/** Candidate phrases for held-out region classification (e.g. every size-colour-shape). */
export interface PhraseSet {
  ids: Int32Array[];
  labels: string[];
}

/** One image with its captions (already letterboxed and normalised, HWC float32). */
export interface CaptionedImage {
  pixels: Float32Array;
  /** Objects with phrases, for the region-phrase term (optional). */
  regions?: Region[];
  /** Token ids of each caption, `contextLength` each (tokenised, padded). */
  captions: Int32Array[];
  /** The caption strings (for reports). */
  texts: string[];
}

export interface ContrastiveTrainOptions {
  inputSize: number;
  contextLength: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Decoupled weight decay of matrices and embeddings (biases, norms, the temperature: none). */
  weightDecay: number;
  warmupSteps: number;
  gradClipNorm: number;
  seed: number;
  /** Evaluate retrieval on the held-out set every this many epochs (0: only at the end). */
  evalEvery?: number;
  /**
   * Region-phrase contrast (grounding): each object's features, pooled from the last stage
   * with its `weights`, against the phrases drawn for the batch's objects (soft targets: every
   * phrase whose label the object has is a positive), both directions, added with `weight`.
   */
  region?: {
    weight: number;
    contextLength: number;
    maxPerImage: number;
    /**
     * The phrases every region is scored against at each step (e.g. every size-colour-shape
     * phrase with words drawn afresh), instead of the phrases drawn for the batch's regions:
     * a fixed, complete set of hard negatives (same colour, other shape...).
     */
    candidates?: (rng: Rng) => PhraseSet;
  };
  /** Held-out region classification: each held-out region against each named set of phrases (top-1 label in its labels). */
  regionCandidates?: Record<string, PhraseSet>;
  log?: (line: string) => void;
  /** Called after every step (progress display). */
  onStep?: (s: { step: number; totalSteps: number; epoch: number; loss: number; accuracy: number; regionAccuracy?: number; logitScale: number; lr: number }) => void;
  onEpoch?: (e: EpochSummary) => void;
}

export interface EpochSummary {
  epoch: number;
  step: number;
  loss: number;
  /** In-batch top-1 (both directions averaged) over the epoch. */
  accuracy: number;
  /** In-batch region -> phrase top-1 (a positive ranked first) over the epoch, with the region term. */
  regionAccuracy?: number;
  logitScale: number;
  seconds: number;
  heldOut?: RetrievalReport;
}

export interface RetrievalReport {
  n: number;
  imageToText: number;
  textToImage: number;
  /** Held-out regions classified among each set of `regionCandidates` (when given): top-1 label in the region's labels. */
  regions?: Record<string, { n: number; top1: number; candidates: number }>;
}

export interface ContrastiveResult {
  epochs: EpochSummary[];
  steps: number;
  seconds: number;
  final: EpochSummary;
  heldOut?: RetrievalReport;
  /** Samples per second of training (steps only). */
  samplesPerSec: number;
}

const isNoDecay = (name: string, p: Parameter) => p.variable.rank < 2 || /(^|\.)(ln_[^.]*|ln_pre|ln_post|ln_final)\./.test(name) || name.endsWith('.bias') || name === 'logit_scale' || name.endsWith('class_embedding');

function toBatch(items: readonly CaptionedImage[], pick: (i: number) => number, o: { inputSize: number; contextLength: number }): { image: Tensor; ids: Tensor } {
  const S = o.inputSize;
  const px = new Float32Array(items.length * S * S * 3);
  const ids = new Int32Array(items.length * o.contextLength);
  items.forEach((it, i) => {
    px.set(it.pixels, i * S * S * 3);
    ids.set(it.captions[pick(i)]!, i * o.contextLength);
  });
  return { image: tf.tensor4d(px, [items.length, S, S, 3]), ids: tf.tensor2d(ids, [items.length, o.contextLength], 'int32') };
}

/** Region features [n, E]: for each (image b, weights w) the w-weighted sum of grid cells of image b. */
function poolRegions(grid: Tensor, batchRegions: readonly (readonly Float32Array[])[]): Tensor {
  const [B, h, w, E] = grid.shape as [number, number, number, number];
  const P = h * w;
  const R = Math.max(1, ...batchRegions.map((r) => r.length));
  const wm = new Float32Array(B * R * P);
  const rows: number[] = [];
  batchRegions.forEach((regs, b) =>
    regs.forEach((wt, k) => {
      if (wt.length !== P) throw new ConfigError(`region weights have ${wt.length} cells but the last vision stage has ${h}x${w}`);
      wm.set(wt, (b * R + k) * P);
      rows.push(b * R + k);
    }),
  );
  const pooled = tf.matMul(tf.tensor3d(wm, [B, R, P]), tf.reshape(grid, [B, P, E]));
  return tf.gather(tf.reshape(pooled, [B * R, E]), tf.tensor1d(rows, 'int32'));
}

/** Retrieval top-1 over `items` (each image against the first caption of every item); regions against `candidates`. */
export function evaluateRetrieval(backbone: Backbone, items: readonly CaptionedImage[], o: { inputSize: number; contextLength: number; batchSize?: number; regionCandidates?: Record<string, PhraseSet> }): RetrievalReport {
  const hooks = new Hooks();
  hooks.declare(backbone.spec.hookPoints);
  const wasTraining = backbone.module.training;
  backbone.module.eval();
  const bs = o.batchSize ?? 64;
  const imgs: Tensor[] = [];
  const txts: Tensor[] = [];
  const regs: Tensor[] = [];
  const regLabels: (readonly string[])[] = [];
  const sets = Object.entries(o.regionCandidates ?? {}).filter(([, c]) => c.ids.length);
  const phraseEmbs: Tensor[] = [];
  const phraseEmb = sets.length ? true : undefined;
  try {
    for (const [, cands] of sets) {
      const L = cands.ids[0]!.length;
      const ids = new Int32Array(cands.ids.length * L);
      cands.ids.forEach((r, i) => ids.set(r, i * L));
      phraseEmbs.push(tf.tidy(() => l2normalize(embedTexts(backbone, hooks, tf.tensor2d(ids, [cands.ids.length, L], 'int32'), o.inputSize, false))));
    }
    for (let s = 0; s < items.length; s += bs) {
      const chunk = items.slice(s, s + bs);
      const out = tf.tidy(() => {
        const b = toBatch(chunk, () => 0, o);
        const e = embedPair(backbone, hooks, b.image, b.ids, false);
        const r = phraseEmb && chunk.some((it) => it.regions?.length) ? l2normalize(poolRegions(e.grid, chunk.map((it) => (it.regions ?? []).map((x) => x.weights)))) : undefined;
        return { im: l2normalize(e.image), tx: l2normalize(e.text), r };
      });
      imgs.push(out.im);
      txts.push(out.tx);
      if (out.r) {
        regs.push(out.r);
        for (const it of chunk) for (const x of it.regions ?? []) regLabels.push(x.labels);
      }
    }
    const sim = tf.tidy(() => tf.matMul(tf.concat(imgs, 0), tf.concat(txts, 0), false, true).dataSync() as Float32Array);
    const r: RetrievalReport = { n: items.length, ...retrievalTop1(sim, items.length) };
    if (phraseEmb && regs.length) {
      r.regions = {};
      sets.forEach(([name, cands], k) => {
        const best = tf.tidy(() => tf.argMax(tf.matMul(tf.concat(regs, 0), phraseEmbs[k]!, false, true), 1).dataSync() as Int32Array);
        let hit = 0;
        best.forEach((j, i) => (hit += regLabels[i]!.includes(cands.labels[j]!) ? 1 : 0));
        r.regions![name] = { n: best.length, top1: best.length ? hit / best.length : 0, candidates: cands.ids.length };
      });
    }
    return r;
  } finally {
    tf.dispose([...imgs, ...txts, ...regs, ...phraseEmbs]);
    backbone.module.train(wasTraining);
  }
}

/** The region term's inputs for one batch: pooling weights per image, drawn phrases (deduplicated) or the given candidates, positives. */
function regionBatch(items: readonly CaptionedImage[], rng: Rng, maxPerImage: number, L: number, candidates?: PhraseSet): { weights: Float32Array[][]; ids: Int32Array; n: number; pos: Float32Array; nRegions: number } | undefined {
  const weights: Float32Array[][] = [];
  const labels: (readonly string[])[] = [];
  const phrases = new Map<string, { ids: Int32Array; label: string; index: number }>();
  for (const it of items) {
    const regs = it.regions ?? [];
    const chosen = regs.length > maxPerImage ? rng.shuffle([...regs]).slice(0, maxPerImage) : regs;
    weights.push(chosen.map((r) => r.weights));
    for (const r of chosen) {
      labels.push(r.labels);
      if (candidates || !r.phrases.length) continue;
      const p = r.phrases[rng.int(r.phrases.length)]!;
      const key = `${p.label}#${p.ids.join(',')}`;
      if (!phrases.has(key)) phrases.set(key, { ...p, index: phrases.size });
    }
  }
  if (!labels.length) return undefined;
  if (candidates) candidates.ids.forEach((ids, i) => phrases.set(String(i), { ids, label: candidates.labels[i]!, index: i }));
  const list = [...phrases.values()];
  const ids = new Int32Array(list.length * L);
  list.forEach((p) => ids.set(p.ids.subarray(0, L), p.index * L));
  const pos = new Float32Array(labels.length * list.length);
  labels.forEach((ls, i) => list.forEach((p) => (pos[i * list.length + p.index] = ls.includes(p.label) ? 1 : 0)));
  return { weights, ids, n: list.length, pos, nRegions: labels.length };
}

/**
 * Train `backbone` (all its parameters) with the contrastive objective on `train`; report
 * retrieval on `heldOut`. Each epoch visits every image once in a seeded random order with
 * one of its captions drawn at random; the last partial batch is dropped. Adam(W) with a
 * linear warm-up and cosine decay of the learning rate. With `region`, the region-phrase
 * term is added (see ContrastiveTrainOptions.region).
 */
export function trainContrastive(backbone: Backbone, train: readonly CaptionedImage[], heldOut: readonly CaptionedImage[], o: ContrastiveTrainOptions): ContrastiveResult {
  const log = o.log ?? (() => {});
  const B = o.batchSize;
  if (B < 2) throw new ConfigError(`contrastive pretraining: the batch size must be at least 2 (got ${B}): the other captions of the batch are the negatives`);
  const stepsPerEpoch = Math.floor(train.length / B);
  if (stepsPerEpoch < 1) throw new ConfigError(`contrastive pretraining: batch ${B} exceeds the ${train.length} training images`);
  const totalSteps = stepsPerEpoch * o.epochs;
  const module = backbone.module;
  module.train();
  const named = [...module.namedParameters()];
  for (const [, p] of named) p.requiresGrad = true;
  const own = named.find(([n]) => n === 'logit_scale');
  let ownScale: Variable | undefined;
  const logScale: Variable = own ? own[1].variable : (ownScale = tf.variable(tf.scalar(INITIAL_LOGIT_SCALE), true, 'contrastive_logit_scale'));
  const decay: ParamGroup = { name: 'decay', params: named.filter(([n, p]) => !isNoDecay(n, p)), lrMultiplier: 1 };
  const noDecay: ParamGroup = { name: 'no_decay', params: named.filter(([n, p]) => isNoDecay(n, p)), lrMultiplier: 1 };
  const betas: [number, number] = [0.9, 0.98];
  const optimizers: Optimizer[] = [createAdamW({ lr: o.lr, betas, eps: 1e-6, weightDecay: o.weightDecay }, [decay]), createAdam({ lr: o.lr, betas, eps: 1e-6, weightDecay: 0 }, [noDecay])];
  const scaleParam: [string, Parameter][] = ownScale ? [['logit_scale', { variable: ownScale } as unknown as Parameter]] : [];
  if (ownScale) optimizers.push(createAdam({ lr: o.lr, betas, eps: 1e-6, weightDecay: 0 }, [{ name: 'scale', params: scaleParam, lrMultiplier: 1 }]));
  const allParams = [...named, ...scaleParam];
  const vars = allParams.map(([, p]) => p.variable);
  const nameOf = new Map(allParams.map(([n, p]) => [p.variable.name, n]));
  const hooks = new Hooks();
  hooks.declare(backbone.spec.hookPoints);
  const rng = new Rng(o.seed ^ 0x5eed);
  const schedule = warmupCosinePlugin.create({ warmupSteps: o.warmupSteps, warmupFrom: 0.01, minFactor: 0 }, {}) as Schedule;
  const lrAt = (step: number) => o.lr * schedule.factor(step, 0, stepsPerEpoch, totalSteps);
  const region = o.region && o.region.weight > 0 ? o.region : undefined;
  const epochs: EpochSummary[] = [];
  const t0 = performance.now();
  let trainSeconds = 0;
  let step = 0;
  let heldOutReport: RetrievalReport | undefined;
  const evalOpts = { inputSize: o.inputSize, contextLength: o.contextLength, regionCandidates: o.regionCandidates };
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const e0 = performance.now();
      const order = rng.shuffle(Array.from({ length: train.length }, (_, i) => i));
      let lossSum = 0;
      let accSum = 0;
      let regAccSum = 0;
      let regSteps = 0;
      for (let k = 0; k < stepsPerEpoch; k++) {
        const s0 = performance.now();
        const items = order.slice(k * B, (k + 1) * B).map((i) => train[i]!);
        const picks = items.map((it) => rng.int(it.captions.length));
        const batch = toBatch(items, (i) => picks[i]!, o);
        const rb = region ? regionBatch(items, rng, region.maxPerImage, region.contextLength, region.candidates?.(rng)) : undefined;
        let acc = 0;
        let regAcc: number | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const e = embedPair(backbone, hooks, batch.image, batch.ids, true);
          const { loss, logits } = clipContrastiveLoss(e.image, e.text, logScale);
          acc = tf.tidy(() => {
            const target = tf.range(0, B, 1, 'int32');
            const a = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), target), 'float32'));
            const b = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 0), target), 'float32'));
            return (a.dataSync()[0]! + b.dataSync()[0]!) / 2;
          });
          if (!rb || !region) return loss as tf.Scalar;
          const regFeat = l2normalize(poolRegions(e.grid, rb.weights));
          const phr = l2normalize(embedTexts(backbone, hooks, tf.tensor2d(rb.ids, [rb.n, region.contextLength], 'int32'), o.inputSize, true));
          const rl = tf.mul(tf.matMul(regFeat, phr, false, true), tf.exp(logScale));
          const pos = tf.tensor2d(rb.pos, [rb.nRegions, rb.n]);
          const rloss = tf.mul(tf.add(softTargetCrossEntropy(rl, pos), softTargetCrossEntropy(tf.transpose(rl), tf.transpose(pos))), 0.5);
          regAcc = tf.tidy(() => {
            const best = tf.argMax(rl, 1);
            return tf.mean(tf.gather(tf.reshape(pos, [-1]), tf.add(tf.mul(tf.range(0, rb.nRegions, 1, 'int32'), tf.scalar(rb.n, 'int32')), tf.cast(best, 'int32')))).dataSync()[0]!;
          });
          return tf.add(loss, tf.mul(rloss, region.weight)) as tf.Scalar;
        }, vars);
        tf.dispose([batch.image, batch.ids]);
        const loss = value.dataSync()[0]!;
        value.dispose();
        const byName = new Map<string, Tensor>();
        for (const [vn, g] of Object.entries(grads)) byName.set(nameOf.get(vn)!, g);
        const clipped = clipByGlobalNorm(byName, o.gradClipNorm);
        const lr = lrAt(step);
        if (Number.isFinite(loss) && Number.isFinite(clipped.norm)) for (const opt of optimizers) opt.step(clipped.grads, lr);
        else log(`step ${step + 1}: non-finite loss ${loss} (gradient norm ${clipped.norm}); update skipped`);
        for (const g of clipped.grads.values()) g.dispose();
        // OpenAI clamps the temperature at 100.
        const ls = logScale.dataSync()[0]!;
        if (ls > MAX_LOGIT_SCALE) tf.tidy(() => logScale.assign(tf.scalar(MAX_LOGIT_SCALE)));
        step++;
        lossSum += loss;
        accSum += acc;
        if (regAcc !== undefined) {
          regAccSum += regAcc;
          regSteps++;
        }
        trainSeconds += (performance.now() - s0) / 1000;
        o.onStep?.({ step, totalSteps, epoch, loss, accuracy: acc, regionAccuracy: regAcc, logitScale: Math.min(ls, MAX_LOGIT_SCALE), lr });
      }
      const summary: EpochSummary = {
        epoch: epoch + 1,
        step,
        loss: lossSum / stepsPerEpoch,
        accuracy: accSum / stepsPerEpoch,
        ...(regSteps ? { regionAccuracy: regAccSum / regSteps } : {}),
        logitScale: logScale.dataSync()[0]!,
        seconds: (performance.now() - e0) / 1000,
      };
      const last = epoch === o.epochs - 1;
      if (heldOut.length > 1 && (last || (o.evalEvery && (epoch + 1) % o.evalEvery === 0))) {
        summary.heldOut = evaluateRetrieval(backbone, heldOut, evalOpts);
        if (last) heldOutReport = summary.heldOut;
      }
      epochs.push(summary);
      o.onEpoch?.(summary);
    }
  } finally {
    for (const opt of optimizers) opt.dispose();
    ownScale?.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { epochs, steps: step, seconds, final: epochs[epochs.length - 1]!, heldOut: heldOutReport, samplesPerSec: trainSeconds > 0 ? (step * B) / trainSeconds : 0 };
}
