/**
 * adapter/__NAME__ in a tiny model built from a config (CLIP backbone with
 * custom dims, this adapter, the CRIS head, BCE loss): it is registered, it
 * starts as the identity (the model's logits equal those of the model without
 * it), options are checked, and one Adam step trains its parameters.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { ConfigError } from '../../../core/errors.js';
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
const WORDS = 8;
const VOCAB = 64;

/** A run config with a tiny CLIP (2 + 2 blocks, width 32) and a tiny CRIS head. */
function config(adapters: JsonObject[]): JsonObject {
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
        patchSize: 8,
        textWidth: 32,
        textLayers: 2,
        textHeads: 2,
        vocabSize: VOCAB,
        contextLength: WORDS,
        embedDim: 32,
        stageLayers: [1, 2],
      },
      adapters,
      head: { type: 'cris', visDim: 32, fpnOut: [16, 32, 64], numLayers: 1, numHeads: 2, dimFfn: 32, dropout: 0, neckHeads: 2 },
      loss: { type: 'bce' },
      freeze: { backbone: 'pet' },
    },
  };
}

const build = (adapters: JsonObject[]): SegmentationModel => buildModel(validateConfig(inlineConfig(config(adapters)), registry), registry, { skipPretrained: true });

/** Two images, sentences [SOT, w, w, w, EOT, 0...] (EOT = the largest id, as CLIP finds it by argmax) and square masks. */
function batch(): Batch {
  return tf.tidy(() => {
    const ids = new Int32Array(2 * WORDS);
    for (let b = 0; b < 2; b++) ids.set([VOCAB - 2, 3 + b, 7, 11 + b, VOCAB - 1], b * WORDS);
    const mask = new Float32Array(2 * SIZE * SIZE);
    for (let b = 0; b < 2; b++) for (let y = 8; y < 24; y++) for (let x = 4 + 8 * b; x < 20 + 8 * b; x++) mask[(b * SIZE + y) * SIZE + x] = 1;
    return {
      image: tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 1),
      text: tf.tensor2d(ids, [2, WORDS], 'int32'),
      mask: tf.tensor4d(mask, [2, SIZE, SIZE, 1]),
    };
  });
}

/** Parameters this adapter mounted, by name. */
function ownParameters(model: SegmentationModel) {
  return [...model.namedParameters()].filter(([n]) => model.owners.get(n)?.type === '__NAME__');
}

describe('adapter/__NAME__', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('is registered in plugins/index.ts', () => {
    expect(PLUGINS).toContain(plugin);
    expect(registry.get('adapter', '__NAME__')).toBe(plugin);
  });

  it('starts as the identity: same logits as the model without it', () => {
    const inputs = batch();
    const plain = build([]).eval();
    const adapted = build([{ type: '__NAME__' }]).eval();
    try {
      expect(ownParameters(adapted).length).toBeGreaterThan(0);
      const a = tf.tidy(() => plain.predict(inputs)).dataSync();
      const b = tf.tidy(() => adapted.predict(inputs)).dataSync();
      expect(b.length).toBe(a.length);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      expect(diff).toBeLessThan(1e-6);
    } finally {
      plain.dispose();
      adapted.dispose();
      tf.dispose([inputs.image, inputs.text, inputs.mask]);
    }
  });

  it('checks its options against the backbone', () => {
    expect(() => build([{ type: '__NAME__', blocks: [5] }])).toThrow(ConfigError);
    expect(() => build([{ type: '__NAME__', blocks: [5] }])).toThrow(/model\.adapters\[0\]\.blocks/);
  });

  it('trains: one Adam step changes its parameters, loss finite, no tensor leak', () => {
    const model = build([{ type: '__NAME__', branch: 'attn' }, { type: '__NAME__', branch: 'mlp', tower: 'text' }]).train();
    const groups = model.parameterGroups();
    const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [
      { name: 'backbone', params: groups.backbone, lrMultiplier: 1 },
      { name: 'head', params: groups.head, lrMultiplier: 1 },
    ]);
    const data = batch();
    try {
      const own = ownParameters(model);
      expect(own.every(([, p]) => p.requiresGrad)).toBe(true);
      const before = new Map(own.map(([n, p]) => [n, Float32Array.from(p.variable.dataSync() as Float32Array)]));
      const first = optimizerStep(model, adam, [data], 1e-3);
      expect(Number.isFinite(first.loss)).toBe(true);
      // `up` starts at zero, so the first step moves `up` (then `down` gets gradients too).
      const changed = own.filter(([n, p]) => {
        const now = p.variable.dataSync() as Float32Array;
        return now.some((v, i) => v !== before.get(n)![i]);
      });
      expect(changed.map(([n]) => n).filter((n) => n.endsWith('.up.weight')).length).toBe(own.filter(([n]) => n.endsWith('.up.weight')).length);
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
