/**
 * Every model family builds from a config and trains: BarLeRIa, No Global,
 * ETRIS, ETRIS+SNF, full fine-tuning, decoder-only and the example
 * bottleneck adapter (tiny dims); the real ViT-B/16 paper configs build and run
 * forward and backward (at a reduced input size); official checkpoints load
 * with a report.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../core/runtime/tf.js';
import { selectBackend } from '../core/runtime/backend.js';
import { Registry } from '../core/registry/registry.js';
import { CORE_PLUGINS } from '../core/plugins.js';
import { PLUGINS } from '../plugins/index.js';
import { inlineConfig, loadConfig, type JsonObject } from '../core/config/load.js';
import { applyOverrides } from '../core/config/overrides.js';
import { validateConfig } from '../core/config/validate.js';
import { buildModel, loadModelCheckpoint } from '../core/model/build.js';
import type { SegmentationModel } from '../core/model/model.js';
import { createAdam } from '../core/train/optimizers.js';
import { optimizerStep } from '../core/train/step.js';
import { Rng } from '../core/nn/rng.js';
import { tinyConfig } from './tiny.js';
import { FIXTURES, ROOT } from './fixtures.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const dataRoot = join(mkdtempSync(join(tmpdir(), 'zoo-models-')), 'synth');

function tinyModel(adapters: JsonObject[], freeze: JsonObject = { backbone: 'pet' }): SegmentationModel {
  const doc = tinyConfig({ dataRoot, backend: 'wasm', adapters });
  (doc.model as JsonObject).freeze = freeze;
  return buildModel(validateConfig(inlineConfig(doc), registry), registry);
}

function batch(S: number, L: number, B = 4) {
  const r = new Rng(7);
  const ids = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    ids[b * L] = 512;
    for (let l = 1; l < 5 + b; l++) ids[b * L + l] = 97 + r.int(26);
    ids[b * L + 5 + b] = 513;
  }
  // Each sample's mask: a square whose position the text "says" (so the head has something to learn).
  const mask = new Float32Array(B * S * S);
  for (let b = 0; b < B; b++) for (let y = 0; y < S / 2; y++) for (let x = 0; x < S / 2; x++) mask[b * S * S + (y + (b % 2) * (S / 2)) * S + x + ((b >> 1) % 2) * (S / 2)] = 1;
  return { image: tf.tensor4d(r.fillNormal(B * S * S * 3), [B, S, S, 3]), text: tf.tensor2d(ids, [B, L], 'int32'), mask: tf.tensor4d(mask, [B, S, S, 1]) };
}

function trainSteps(model: SegmentationModel, steps: number, lr = 3e-3): number[] {
  const g = model.parameterGroups();
  const opt = createAdam({ lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [
    { name: 'backbone', params: g.backbone, lrMultiplier: 1 },
    { name: 'head', params: g.head, lrMultiplier: 1 },
  ]);
  const b = batch(32, 8);
  model.train();
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(optimizerStep(model, opt, [b], lr).loss);
  opt.dispose();
  tf.dispose([b.image, b.text, b.mask]);
  return losses;
}

const families: Record<string, { adapters: JsonObject[]; freeze?: JsonObject }> = {
  barleria: { adapters: tinyConfig({ dataRoot }).model ? ((tinyConfig({ dataRoot }).model as JsonObject).adapters as JsonObject[]) : [] },
  noglobal: { adapters: [{ type: 'snf', flowLength: 2 }, { type: 'lim', hidden: 8 }] },
  etris: { adapters: [{ type: 'bridger', dModel: 16, nhead: 2, interval: 1 }] },
  'etris-snf': { adapters: [{ type: 'snf', flowLength: 2 }, { type: 'bridger', dModel: 16, nhead: 2, interval: 1 }] },
  'full-finetune': { adapters: [], freeze: { backbone: 'trainable' } },
  'decoder-only': { adapters: [], freeze: { backbone: 'frozen' } },
  bottleneck: { adapters: [{ type: 'bottleneck', hidden: 4 }] },
};

describe('model families (tiny dims, wasm)', () => {
  for (const [name, f] of Object.entries(families)) {
    it(`${name}: builds from its config and the loss decreases over a few steps`, async () => {
      await selectBackend('wasm');
      const model = tinyModel(f.adapters, f.freeze);
      const before = tf.memory().numTensors;
      const losses = trainSteps(model, 8);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[7]!, losses.map((l) => l.toFixed(3)).join(' ')).toBeLessThan(losses[0]!);
      model.dispose();
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
    });
  }

  it('the bottleneck example adapter starts equal to the frozen model and only it (and the head) train', async () => {
    await selectBackend('wasm');
    const plain = tinyModel([], { backbone: 'frozen' });
    const adapted = tinyModel([{ type: 'bottleneck', hidden: 4 }], { backbone: 'frozen' });
    const b = batch(32, 8);
    plain.eval();
    adapted.eval();
    const same = tf.tidy(() => tf.max(tf.abs(tf.sub(plain.predict(b), adapted.predict(b)))).dataSync()[0]!);
    expect(same).toBe(0);
    const snapshot = new Map([...adapted.namedParameters()].map(([n, p]) => [n, Float32Array.from(p.variable.dataSync() as Float32Array)]));
    trainSteps(adapted, 2);
    const moved = [...adapted.namedParameters()].filter(([n, p]) => (p.variable.dataSync() as Float32Array).some((v, i) => v !== snapshot.get(n)![i])).map(([n]) => n);
    expect(moved.some((n) => n.startsWith('bottleneck_vision'))).toBe(true);
    expect(moved.filter((n) => n.startsWith('backbone.'))).toEqual([]);
    expect(moved.every((n) => /^(bottleneck_vision|neck|decoder|proj)\./.test(n))).toBe(true);
    tf.dispose([b.image, b.text, b.mask]);
    plain.dispose();
    adapted.dispose();
  });
});

describe('paper configs at ViT-B/16 dims', () => {
  for (const m of ['barleria', 'etris']) {
    it(`configs/refcoco/${m}-vit-b16.json builds (preset dims, no weights) and runs forward + backward on wasm at 64 px`, async () => {
      await selectBackend('wasm');
      const loaded = loadConfig(join(ROOT, `configs/refcoco/${m}-vit-b16.json`));
      applyOverrides(loaded, ['input.size=64', 'model.adapters.2.imageSize=64'].slice(0, m === 'barleria' ? 2 : 1), registry);
      const v = validateConfig(loaded, registry);
      const model = buildModel(v, registry, { skipPretrained: true });
      expect(model.backbone.spec.visionWidth).toBe(768);
      expect(model.backbone.spec.textWidth).toBe(512);
      const trainable = model.trainableParameters().reduce((a, [, p]) => a + p.size, 0);
      expect(trainable).toBeGreaterThan(1e6);
      const L = v.config.input.wordLength;
      const r = new Rng(1);
      const ids = new Int32Array(L);
      ids[0] = 49406;
      ids[1] = 320;
      ids[2] = 49407;
      const image = tf.tensor4d(r.fillNormal(64 * 64 * 3), [1, 64, 64, 3]);
      const text = tf.tensor2d(ids, [1, L], 'int32');
      const mask = tf.tensor4d(new Float32Array(64 * 64).fill(0).map((_, i) => (i % 64 < 32 ? 1 : 0)), [1, 64, 64, 1]);
      model.train();
      const params = model.trainableParameters();
      const { value, grads } = tf.variableGrads(() => model.loss({ image, text }, mask).total as tf.Scalar, params.map(([, p]) => p.variable));
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      expect(Object.keys(grads).length).toBe(params.length);
      tf.dispose([value, image, text, mask]);
      tf.dispose(grads);
      model.dispose();
    }, 180_000);
  }
});

describe('official checkpoints', () => {
  it('a torch.save training checkpoint with a DDP `module.` prefix loads by official names, with a report', async () => {
    await selectBackend('cpu');
    const doc = tinyConfig({ dataRoot });
    const fx = JSON.parse((await import('../core/io/safetensors.js')).readSafetensors(join(FIXTURES, 'parity/clip_tiny.safetensors')).metadata.config!) as { dims: Record<string, number> };
    const d = fx.dims;
    Object.assign((doc.model as JsonObject).backbone as JsonObject, { visionWidth: d.vision_width, visionLayers: d.vision_layers, visionHeads: 2, patchSize: d.patch, textWidth: d.text_width, textLayers: d.text_layers, textHeads: 2, vocabSize: d.vocab, contextLength: d.context_length, embedDim: d.embed_dim, pretrainedGrid: d.orig_grid, stageLayers: [4, 8] });
    doc.input = { size: d.orig_grid! * d.patch!, wordLength: 8 };
    (doc.model as JsonObject).adapters = [];
    ((doc.model as JsonObject).head as JsonObject).visDim = d.text_width!;
    ((doc.model as JsonObject).head as JsonObject).fpnOut = [64, d.text_width!, 256];
    const model = buildModel(validateConfig(inlineConfig(doc), registry), registry);
    const report = loadModelCheckpoint(model, join(FIXTURES, 'clip_tiny.ckpt.pth'));
    // The file holds only the non-block CLIP entries (see shared/fixtures/README.md).
    expect(report).toMatch(/loaded .*clip_tiny\.ckpt\.pth: \d+ loaded, \d+ missing, 0 unexpected, 0 with the wrong shape/);
    expect(report).toMatch(/missing: .*resblocks/);
    model.dispose();
  });
});
