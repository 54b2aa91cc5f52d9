/**
 * head/__NAME__ in a tiny model built from a config (CLIP backbone with custom
 * dims, this head, BCE loss): it is registered, its logits have the promised
 * shape and depend on the sentence, its hook point works, and one Adam step
 * trains it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { Registry } from '../../../core/registry/registry.js';
import { CORE_PLUGINS } from '../../../core/plugins.js';
import { inlineConfig, type JsonObject } from '../../../core/config/load.js';
import { validateConfig } from '../../../core/config/validate.js';
import { buildModel } from '../../../core/model/build.js';
import type { SegmentationModel } from '../../../core/model/model.js';
import { createAdam } from '../../../core/train/optimizers.js';
import { optimizerStep, type Batch } from '../../../core/train/step.js';
import { PLUGINS } from '../../index.js';
import plugin from './index.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const SIZE = 32;
const PATCH = 8;
const WORDS = 8;
const VOCAB = 64;

/** A run config with a tiny CLIP (2 + 2 blocks, width 32, a 4x4 patch grid) and this head. */
function config(head: JsonObject): JsonObject {
  return {
    input: { size: SIZE, wordLength: WORDS },
    runtime: { backend: 'cpu', seed: 0 },
    model: {
      backbone: {
        type: 'clip',
        preset: 'custom',
        visionWidth: 32,
        visionLayers: 2,
        visionHeads: 2,
        patchSize: PATCH,
        textWidth: 32,
        textLayers: 2,
        textHeads: 2,
        vocabSize: VOCAB,
        contextLength: WORDS,
        embedDim: 32,
        stageLayers: [1, 2],
      },
      adapters: [],
      head,
      loss: { type: 'bce' },
      freeze: { backbone: 'pet' },
    },
  };
}

const build = (head: JsonObject = { type: '__NAME__' }): SegmentationModel => buildModel(validateConfig(inlineConfig(config(head)), registry), registry, { skipPretrained: true });

/** Two images, sentences [SOT, w, w, w, EOT, 0...] (`offset` changes the words) and square masks. */
function batch(offset = 0): Batch {
  return tf.tidy(() => {
    const ids = new Int32Array(2 * WORDS);
    for (let b = 0; b < 2; b++) ids.set([VOCAB - 2, 3 + b + offset, 7 + offset, 11 + b, VOCAB - 1], b * WORDS);
    const mask = new Float32Array(2 * SIZE * SIZE);
    for (let b = 0; b < 2; b++) for (let y = 8; y < 24; y++) for (let x = 4 + 8 * b; x < 20 + 8 * b; x++) mask[(b * SIZE + y) * SIZE + x] = 1;
    return {
      image: tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 1),
      text: tf.tensor2d(ids, [2, WORDS], 'int32'),
      mask: tf.tensor4d(mask, [2, SIZE, SIZE, 1]),
    };
  });
}

describe('head/__NAME__', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('is registered in plugins/index.ts', () => {
    expect(PLUGINS).toContain(plugin);
    expect(registry.get('head', '__NAME__')).toBe(plugin);
  });

  it('gives logits NHWC [B, grid·upsample, grid·upsample, 1] that depend on the sentence', () => {
    const model = build({ type: '__NAME__', upsample: 2 }).eval();
    const a = batch(0);
    const b = batch(5);
    try {
      const grid = SIZE / PATCH;
      const la = tf.tidy(() => model.predict(a));
      const lb = tf.tidy(() => model.predict({ image: a.image, text: b.text }));
      expect(la.shape).toEqual([2, grid * 2, grid * 2, 1]);
      const da = la.dataSync();
      const db = lb.dataSync();
      expect(da.every(Number.isFinite)).toBe(true);
      expect(da.some((v, i) => Math.abs(v - db[i]!) > 1e-6)).toBe(true);
      tf.dispose([la, lb]);
    } finally {
      model.dispose();
      tf.dispose([a.image, a.text, a.mask, b.image, b.text, b.mask]);
    }
  });

  it('publishes head.features: a handler that zeroes it leaves only the classifier bias', () => {
    const model = build().eval();
    const data = batch();
    try {
      const spec = model.hooks.declared().find((s) => s.name === 'head.features');
      expect(spec?.channels).toBe(64);
      model.hooks.on<tf.Tensor>('head.features', (f) => tf.zerosLike(f), 'test');
      const logits = tf.tidy(() => model.predict(data)).dataSync();
      const bias = [...model.namedParameters()].find(([n]) => n === 'head.classifier.bias')![1].variable.dataSync()[0]!;
      for (const v of logits) expect(v).toBeCloseTo(bias, 6);
    } finally {
      model.dispose();
      tf.dispose([data.image, data.text, data.mask]);
    }
  });

  it('trains: one Adam step changes its parameters, loss finite, no tensor leak', () => {
    const model = build().train();
    const groups = model.parameterGroups();
    const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [
      { name: 'backbone', params: groups.backbone, lrMultiplier: 1 },
      { name: 'head', params: groups.head, lrMultiplier: 1 },
    ]);
    const data = batch();
    try {
      const own = [...model.namedParameters()].filter(([n]) => model.owners.get(n)?.kind === 'head');
      expect(own.map(([n]) => n).sort()).toEqual(['head.classifier.bias', 'head.classifier.weight', 'head.gate.bias', 'head.gate.weight', 'head.proj.bias', 'head.proj.weight']);
      const before = new Map(own.map(([n, p]) => [n, Float32Array.from(p.variable.dataSync() as Float32Array)]));
      const first = optimizerStep(model, adam, [data], 1e-3);
      expect(Number.isFinite(first.loss)).toBe(true);
      for (const [n, p] of own) expect((p.variable.dataSync() as Float32Array).some((v, i) => v !== before.get(n)![i]), n).toBe(true);
      const tensors = tf.memory().numTensors;
      const second = optimizerStep(model, adam, [data], 1e-3);
      expect(Number.isFinite(second.loss)).toBe(true);
      expect(tf.memory().numTensors).toBe(tensors);
    } finally {
      adam.dispose();
      model.dispose();
      tf.dispose([data.image, data.text, data.mask]);
    }
  });
});
