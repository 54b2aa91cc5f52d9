/**
 * Contrastive (CLIP) pretraining: the symmetric InfoNCE loss against a direct
 * double-precision computation, retrieval accuracy, and a tiny CLIP learning
 * to match 8 images to their captions without leaking tensors.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../runtime/tf.js';
import { selectBackend } from '../runtime/backend.js';
import { Rng } from '../nn/rng.js';
import { seedInit } from '../nn/init.js';
import { Registry } from '../registry/registry.js';
import { CORE_PLUGINS } from '../plugins.js';
import { PLUGINS } from '../../plugins/index.js';
import type { Backbone } from '../model/contracts.js';
import { byteLevelTokenizer } from '../../plugins/backbones/clip/tokenizer/byte-vocab.js';
import { tinyVocab } from '../../test/tiny.js';
import { clipContrastiveLoss, evaluateRetrieval, retrievalTop1, trainContrastive, INITIAL_LOGIT_SCALE, type CaptionedImage } from './contrastive.js';

/** CLIP's loss written out in float64: mean over both directions of -log softmax(diagonal). */
function referenceLoss(img: number[][], txt: number[][], scale: number): number {
  const norm = (v: number[]) => {
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    return v.map((x) => x / n);
  };
  const a = img.map(norm);
  const b = txt.map(norm);
  const B = a.length;
  const logits = a.map((ai) => b.map((bj) => scale * ai.reduce((s, x, k) => s + x * bj[k]!, 0)));
  const ce = (rows: number[][]) => rows.reduce((s, r, i) => s + (Math.log(r.reduce((t, x) => t + Math.exp(x), 0)) - r[i]!), 0) / B;
  const transposed = logits[0]!.map((_, j) => logits.map((r) => r[j]!));
  return (ce(logits) + ce(transposed)) / 2;
}

describe('clipContrastiveLoss', () => {
  it('equals the symmetric cross-entropy computed directly, and is small for aligned pairs', async () => {
    await selectBackend('cpu');
    const rng = new Rng(7);
    const B = 5;
    const E = 6;
    const img = Array.from({ length: B }, () => Array.from({ length: E }, () => rng.normal()));
    const txt = Array.from({ length: B }, () => Array.from({ length: E }, () => rng.normal()));
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => clipContrastiveLoss(tf.tensor2d(img), tf.tensor2d(txt), tf.scalar(Math.log(10))).loss.dataSync()[0]!);
    expect(got).toBeCloseTo(referenceLoss(img, txt, 10), 4);
    // Aligned pairs (text = image) at a high temperature: the loss goes to 0; swapped pairs: large.
    const aligned = tf.tidy(() => clipContrastiveLoss(tf.tensor2d(img), tf.tensor2d(img), tf.scalar(Math.log(100))).loss.dataSync()[0]!);
    expect(aligned).toBeLessThan(referenceLoss(img, txt, 100));
    expect(aligned).toBeCloseTo(referenceLoss(img, img, 100), 3);
    // Symmetric in its two arguments.
    const swapped = tf.tidy(() => clipContrastiveLoss(tf.tensor2d(txt), tf.tensor2d(img), tf.scalar(Math.log(10))).loss.dataSync()[0]!);
    expect(swapped).toBeCloseTo(got, 5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the temperature a gradient', async () => {
    await selectBackend('cpu');
    const s = tf.variable(tf.scalar(INITIAL_LOGIT_SCALE));
    const a = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const { grads } = tf.variableGrads(() => clipContrastiveLoss(a, a, s).loss as tf.Scalar, [s]);
    // Correct pairs: sharpening lowers the loss, so the gradient is negative.
    expect(grads[s.name]!.dataSync()[0]!).toBeLessThan(0);
    tf.dispose([s, a, ...Object.values(grads)]);
  });
});

describe('retrievalTop1', () => {
  it('counts rows and columns whose best match is the diagonal', () => {
    // Row 1's best column is 0 (image->text miss); column 0's best row is 1 (text->image miss).
    const sim = [0.5, 0.1, 0.0, 0.9, 0.8, 0.1, 0.0, 0.2, 0.7];
    expect(retrievalTop1(sim, 3)).toEqual({ imageToText: 2 / 3, textToImage: 2 / 3 });
  });
});

describe('trainContrastive', () => {
  it('teaches a tiny CLIP to match 8 images with their captions, without leaking tensors', async () => {
    await selectBackend('cpu');
    seedInit(1);
    const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
    const S = 16;
    const L = 8;
    const backbone = registry.get('backbone', 'clip').create(
      { preset: 'custom', visionWidth: 16, visionLayers: 1, visionHeads: 2, patchSize: 8, pretrainedGrid: 2, textWidth: 16, textLayers: 1, textHeads: 2, vocabSize: 514, contextLength: L, embedDim: 16, vocab: tinyVocab(), stageLayers: [1] },
      { where: 'test', input: { size: S, wordLength: L }, seed: 1, loadWeights: false },
    ) as Backbone;
    const tok = byteLevelTokenizer();
    // 8 images: one colour each (a flat image), captions naming the colour.
    const colours = ['red', 'green', 'blue', 'white', 'black', 'yellow', 'cyan', 'pink'];
    const rgb = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [-1, -1, -1], [1, 1, 0], [0, 1, 1], [1, 0.5, 0.5]];
    const items: CaptionedImage[] = colours.map((c, i) => ({
      pixels: Float32Array.from({ length: S * S * 3 }, (_, k) => rgb[i]![k % 3]!),
      captions: [tok.tokenize([c], L), tok.tokenize([`${c}!`], L)],
      texts: [c, `${c}!`],
    }));
    const chance = evaluateRetrieval(backbone, items, { inputSize: S, contextLength: L });
    const before = tf.memory().numTensors; // after the first forward (the causal mask is cached)
    const r = trainContrastive(backbone, items, items, { inputSize: S, contextLength: L, epochs: 60, batchSize: 8, lr: 0.01, weightDecay: 0, warmupSteps: 5, gradClipNorm: 1, seed: 2 });
    expect(r.steps).toBe(60);
    expect(r.epochs[r.epochs.length - 1]!.loss).toBeLessThan(r.epochs[0]!.loss * 0.5);
    expect(r.heldOut!.imageToText).toBeGreaterThanOrEqual(0.75);
    expect(r.heldOut!.textToImage).toBeGreaterThanOrEqual(0.75);
    expect(r.heldOut!.imageToText + r.heldOut!.textToImage).toBeGreaterThan(chance.imageToText + chance.textToImage);
    expect(tf.memory().numTensors).toBe(before);
    backbone.module.dispose();
  }, 60_000);
});
