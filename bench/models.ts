/**
 * The benchmarked models, built from their configs with random weights (a
 * clean clone has no pretrained files; timings do not depend on the values),
 * and a synthetic batch of the right shapes.
 *
 * - `tiny`: configs/tiny/barleria-synthetic.json, the default model of
 *   `npm start`. Its CLIP dims come from assets/tiny-clip/clip.safetensors
 *   when that file exists (shapes only are read), else from the defaults of
 *   `zoo pretrain-clip` (the command that makes the file): same model.
 * - `vit-b16`: configs/refcoco/barleria-vit-b16.json (BarLeRIa, ViT-B/16 at
 *   416x416, 17 words), CLIP dims from the ViT-B/16 preset.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { tf, type Tensor } from '../core/runtime/tf.js';
import { Registry } from '../core/registry/registry.js';
import { CORE_PLUGINS } from '../core/plugins.js';
import { PLUGINS } from '../plugins/index.js';
import { loadConfig, type LoadedConfig } from '../core/config/load.js';
import { validateConfig, type ValidatedConfig } from '../core/config/validate.js';
import { buildModel } from '../core/model/build.js';
import type { SegmentationModel } from '../core/model/model.js';
import { createAdam, type Optimizer } from '../core/train/optimizers.js';
import type { Batch } from '../core/train/step.js';
import { PRETRAIN_DEFAULTS } from '../plugins/jobs/pretrain.js';
import { readClipWeights } from '../plugins/backbones/clip/weights.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type ModelKey = 'tiny' | 'vit-b16';

export const MODELS: Record<ModelKey, { config: string; label: string }> = {
  tiny: { config: 'configs/tiny/barleria-synthetic.json', label: 'BarLeRIa tiny (npm start default)' },
  'vit-b16': { config: 'configs/refcoco/barleria-vit-b16.json', label: 'BarLeRIa ViT-B/16 416x416' },
};

export interface BenchModel {
  key: ModelKey;
  config: string;
  v: ValidatedConfig;
  model: SegmentationModel;
  /** Where the CLIP dims came from. */
  dimsFrom: string;
  trainable: number;
  total: number;
}

/** CLIP dims of the tiny config: from the weights' header if present, else pretrain-clip's defaults. */
function tinyClipOverride(cfg: LoadedConfig): string {
  const bb = (cfg.doc.model as Record<string, Record<string, unknown>>).backbone!;
  const weights = resolve(ROOT, String(bb.weights));
  if (existsSync(weights)) {
    try {
      const dims = readClipWeights(weights).dims;
      Object.assign(bb, { preset: 'custom', ...dims });
      delete bb.weights;
      delete bb.vocab;
      return `CLIP dims of ${weights} (weights random)`;
    } catch {
      // unreadable (being written?): fall through to the defaults
    }
  }
  const d = PRETRAIN_DEFAULTS;
  Object.assign(bb, {
    preset: 'custom',
    visionWidth: d['vision-width'],
    visionLayers: d['vision-layers'],
    visionHeads: d['vision-heads'],
    patchSize: d.patch,
    pretrainedGrid: d.size / d.patch,
    textWidth: d['text-width'],
    textLayers: d['text-layers'],
    textHeads: d['text-heads'],
    vocabSize: d['vocab-size'],
    contextLength: d.context,
    embedDim: d['embed-dim'],
  });
  delete bb.weights;
  delete bb.vocab;
  return 'zoo pretrain-clip defaults (assets/tiny-clip/clip.safetensors not present)';
}

export function benchRegistry(): Registry {
  return new Registry([...CORE_PLUGINS, ...PLUGINS]);
}

/** Build a benchmarked model with random weights, train mode. */
export function buildBenchModel(key: ModelKey, registry = benchRegistry()): BenchModel {
  const config = MODELS[key].config;
  const cfg = loadConfig(resolve(ROOT, config));
  let dimsFrom = 'ViT-B/16 preset';
  if (key === 'tiny') dimsFrom = tinyClipOverride(cfg);
  const v = validateConfig(cfg, registry);
  const model = buildModel(v, registry, { skipPretrained: true, skipCheckpoint: true });
  model.train();
  const g = model.parameterGroups();
  const trainable = [...g.backbone, ...g.head].reduce((a, [, p]) => a + p.variable.size, 0);
  const total = [...model.namedParameters()].reduce((a, [, p]) => a + p.variable.size, 0);
  return { key, config, v, model, dimsFrom, trainable, total };
}

/** Adam as the runner makes it (two groups, the config's lr and betas). */
export function benchOptimizer(m: BenchModel): Optimizer {
  const g = m.model.parameterGroups();
  const o = m.v.config.train.optimizer as { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number };
  return createAdam({ lr: o.lr ?? 1e-4, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0 }, [
    { name: 'backbone', params: g.backbone, lrMultiplier: m.v.config.train.backboneLrMultiplier },
    { name: 'head', params: g.head, lrMultiplier: 1 },
  ]);
}

/** A seeded batch: normalised-looking image, a 7-token sentence (SOT ... EOT, then padding), a blob mask. */
export function syntheticBatch(m: BenchModel, batch: number, seed = 1): Batch {
  const S = m.v.config.input.size;
  const L = m.v.config.input.wordLength;
  const vocab = vocabOf(m);
  const ids = new Int32Array(batch * L);
  for (let b = 0; b < batch; b++) for (let l = 0; l < Math.min(L, 7); l++) ids[b * L + l] = l === 0 ? vocab - 2 : l === Math.min(L, 7) - 1 ? vocab - 1 : 1 + ((b * 31 + l * 7) % (vocab - 3));
  return tf.tidy(() => {
    const image: Tensor = tf.randomNormal([batch, S, S, 3], 0, 1, 'float32', seed);
    const text = tf.tensor2d(ids, [batch, L], 'int32');
    const yy = tf.reshape(tf.linspace(-1, 1, S), [1, S, 1, 1]);
    const xx = tf.reshape(tf.linspace(-1, 1, S), [1, 1, S, 1]);
    const r = tf.add(tf.square(tf.sub(yy, 0.2)), tf.square(tf.add(xx, 0.1)));
    const mask = tf.tile(tf.cast(tf.less(r, 0.3), 'float32'), [batch, 1, 1, 1]);
    return { image, text, mask };
  });
}

function vocabOf(m: BenchModel): number {
  for (const [n, p] of m.model.namedParameters()) if (n.endsWith('token_embedding.weight')) return p.variable.shape[0]!;
  return 49408;
}
