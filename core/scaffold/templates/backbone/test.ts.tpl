/**
 * backbone/__NAME__ in a tiny model built from a config (this backbone, the
 * cris head, BCE loss): it is registered, its tokenizer follows the CLIP
 * conventions, its features have the shapes its spec promises, its hook points
 * are published, it loads its own weights, and one Adam step trains it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { Registry } from '../../../core/registry/registry.js';
import { CORE_PLUGINS } from '../../../core/plugins.js';
import { inlineConfig, type JsonObject } from '../../../core/config/load.js';
import { validateConfig } from '../../../core/config/validate.js';
import { buildModel } from '../../../core/model/build.js';
import { ForwardContext } from '../../../core/model/context.js';
import type { SegmentationModel } from '../../../core/model/model.js';
import { tensorToRaw } from '../../../core/nn/module.js';
import { writeSafetensors } from '../../../core/io/safetensors.js';
import { createAdam } from '../../../core/train/optimizers.js';
import { optimizerStep, type Batch } from '../../../core/train/step.js';
import { PLUGINS } from '../../index.js';
import plugin from './index.js';
import { __PASCAL__Tokenizer } from './__NAME__.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const SIZE = 32;
const PATCH = 8;
const WORDS = 8;

/** A run config with this backbone (width 32, 2 blocks, a 4x4 patch grid) and a tiny cris head sized to it. */
function config(backbone: JsonObject = {}, seed = 0): JsonObject {
  return {
    input: { size: SIZE, wordLength: WORDS },
    runtime: { backend: 'cpu', seed },
    model: {
      backbone: { type: '__NAME__', width: 32, layers: 2, patchSize: PATCH, textWidth: 32, embedDim: 32, vocabSize: 256, ...backbone },
      adapters: [],
      head: { type: 'cris', visDim: 32, fpnOut: [16, 32, 64], numLayers: 1, numHeads: 2, dimFfn: 32, dropout: 0, neckHeads: 2 },
      loss: { type: 'bce' },
      freeze: { backbone: 'trainable' },
    },
  };
}

const build = (backbone: JsonObject = {}, seed = 0): SegmentationModel => buildModel(validateConfig(inlineConfig(config(backbone, seed)), registry), registry);

/** Two images, two sentences through the backbone's own tokenizer, square masks. */
function batch(model: SegmentationModel): Batch {
  const ids = model.backbone.tokenizer().tokenize(['the red circle', 'a blue square on the left'], WORDS);
  return tf.tidy(() => {
    const mask = new Float32Array(2 * SIZE * SIZE);
    for (let b = 0; b < 2; b++) for (let y = 8; y < 24; y++) for (let x = 4 + 8 * b; x < 20 + 8 * b; x++) mask[(b * SIZE + y) * SIZE + x] = 1;
    return {
      image: tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 1),
      text: tf.tensor2d(ids, [2, WORDS], 'int32'),
      mask: tf.tensor4d(mask, [2, SIZE, SIZE, 1]),
    };
  });
}

describe('backbone/__NAME__', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('is registered in plugins/index.ts', () => {
    expect(PLUGINS).toContain(plugin);
    expect(registry.get('backbone', '__NAME__')).toBe(plugin);
  });

  it('tokenizes like CLIP: [SOT, words..., EOT, 0...], EOT the largest id, truncated with EOT', () => {
    const tok = new __PASCAL__Tokenizer(100);
    const ids = tok.tokenize(['The red circle', '', 'one two three four five six'], 6);
    const [the, red, circle] = tok.encode('the RED circle!');
    expect(Array.from(ids.subarray(0, 6))).toEqual([98, the, red, circle, 99, 0]);
    expect(Array.from(ids.subarray(6, 12))).toEqual([98, 99, 0, 0, 0, 0]);
    expect(ids[17]).toBe(99);
    expect(Array.from(ids).every((v) => v >= 0 && v < 100)).toBe(true);
  });

  it('gives the features its spec promises and publishes its hook points', () => {
    const model = build().eval();
    const data = batch(model);
    try {
      const spec = model.backbone.spec;
      expect(spec.stageChannels).toEqual([32, 32, 32]);
      expect(spec.grid).toEqual([SIZE / PATCH, SIZE / PATCH]);
      for (const p of ['image', 'vision.block.0.branch.attn', 'vision.block.1.branch.mlp', 'text.words', 'outputs']) expect(model.hooks.has(p), p).toBe(true);
      tf.tidy(() => {
        const f = model.backbone.forward(data, model.hooks, new ForwardContext(data, false));
        expect(f.visStages.map((s) => s.shape)).toEqual(spec.stageChannels.map((c) => [2, ...spec.grid, c]));
        expect(f.words.shape).toEqual([2, WORDS, spec.textWidth]);
        expect(f.state.shape).toEqual([2, spec.embedDim]);
        expect(f.padMask.shape).toEqual([2, WORDS]);
      });
    } finally {
      model.dispose();
      tf.dispose([data.image, data.text, data.mask]);
    }
  });

  it('loads its weights from a checkpoint (option `weights`)', () => {
    const dir = mkdtempSync(join(tmpdir(), '__NAME__-'));
    const a = build({}, 0);
    try {
      const file = join(dir, 'weights.safetensors');
      const state = a.backbone.module.stateDict();
      writeSafetensors(file, [...state].map(([n, t]) => [n, tensorToRaw(t)]));
      tf.dispose([...state.values()]);
      const b = build({ weights: file }, 1);
      const pa = a.backbone.module.namedParameters().next().value![1].variable.dataSync();
      const pb = b.backbone.module.namedParameters().next().value![1].variable.dataSync();
      expect(Array.from(pb)).toEqual(Array.from(pa));
      b.dispose();
    } finally {
      a.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trains with the cris head: one Adam step changes the backbone, loss finite, no tensor leak', () => {
    const model = build().train();
    const groups = model.parameterGroups();
    const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [
      { name: 'backbone', params: groups.backbone, lrMultiplier: 1 },
      { name: 'head', params: groups.head, lrMultiplier: 1 },
    ]);
    const data = batch(model);
    try {
      const own = [...model.namedParameters()].filter(([n]) => n.startsWith('backbone.'));
      expect(own.every(([, p]) => p.requiresGrad)).toBe(true);
      const before = new Map(own.map(([n, p]) => [n, Float32Array.from(p.variable.dataSync() as Float32Array)]));
      const first = optimizerStep(model, adam, [data], 1e-3);
      expect(Number.isFinite(first.loss)).toBe(true);
      for (const n of ['backbone.patch_embed.weight', 'backbone.blocks.0.mixer.weight', 'backbone.proj.weight', 'backbone.text_proj.weight']) {
        const p = own.find(([m]) => m === n)![1];
        expect((p.variable.dataSync() as Float32Array).some((v, i) => v !== before.get(n)![i]), n).toBe(true);
      }
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
