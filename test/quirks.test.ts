/**
 * The official code's quirks are reproduced by default and each flaw has an
 * option for the corrected behaviour: with `maskPadding` (LIM, GST, Bridger)
 * the prediction no longer depends on how much padding follows the sentence;
 * with GST `promptNorm: 'sample'` it no longer depends on the other samples
 * of the batch.
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
import { inlineConfig, type JsonObject } from '../core/config/load.js';
import { validateConfig } from '../core/config/validate.js';
import { buildModel } from '../core/model/build.js';
import { Rng } from '../core/nn/rng.js';
import { tinyConfig } from './tiny.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const dataRoot = join(mkdtempSync(join(tmpdir(), 'zoo-quirks-')), 'synth');

function model(wordLength: number, mask: boolean, promptNorm: 'batch' | 'sample' = 'batch') {
  const doc = tinyConfig({
    dataRoot,
    backend: 'cpu',
    adapters: [
      { type: 'snf', flowLength: 2 },
      { type: 'lim', hidden: 8, maskPadding: mask },
      { type: 'bridger', dModel: 16, nhead: 2, interval: 2, maskPadding: mask },
      { type: 'gst', embedDim: 48, depth: 2, heads: 3, patchSize: 8, imageSize: 32, numQueries: 4, fusionMap: ['0->0', '1->1'], deepSupervision: [2], promptHidden: 8, maskPadding: mask, promptNorm },
    ],
  });
  (doc.input as JsonObject).wordLength = wordLength;
  const m = buildModel(validateConfig(inlineConfig(doc), registry), registry);
  m.eval();
  return m;
}

function inputs(L: number, B = 2) {
  const ids = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    ids[b * L] = 512;
    for (let l = 1; l <= 3 + b; l++) ids[b * L + l] = 100 + l + b;
    ids[b * L + 4 + b] = 513;
  }
  const r = new Rng(4);
  return { image: tf.tensor4d(r.fillNormal(B * 32 * 32 * 3), [B, 32, 32, 3]), text: tf.tensor2d(ids, [B, L], 'int32') };
}

function diff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('official quirks and their corrections', () => {
  it('maskPadding: the prediction does not depend on the amount of padding (and does without it)', async () => {
    await selectBackend('cpu');
    for (const mask of [false, true]) {
      const short = model(8, mask);
      const long = model(12, mask);
      const a = inputs(8);
      const b = inputs(12);
      const d = tf.tidy(() => diff(short.predict(a), long.predict(b)));
      if (mask) expect(d).toBeLessThan(1e-4);
      else expect(d).toBeGreaterThan(1e-3);
      short.dispose();
      long.dispose();
      tf.dispose([a.image, a.text, b.image, b.text]);
    }
  });

  it("promptNorm 'sample': a sample's GST global prior (top-down signal) does not depend on its batch ('batch', the official quirk, does)", async () => {
    await selectBackend('cpu');
    for (const norm of ['batch', 'sample'] as const) {
      const m = model(8, false, norm);
      const both = inputs(8);
      const alone = { image: tf.slice(both.image, [0, 0, 0, 0], [1, 32, 32, 3]), text: tf.slice(both.text, [0, 0], [1, 8]) };
      // GST's top-down signal (from the global prior) for sample 0, in its batch and alone.
      const side = (x: { image: tf.Tensor; text: tf.Tensor }, name = 'side.td.0') => {
        const r = m.forward(x, { capture: true });
        const t = r.ctx.captures!.get(name)!.clone();
        r.ctx.disposeCaptures();
        return t;
      };
      const d = tf.tidy(() => diff(tf.slice(side(both), [0, 0, 0], [1, -1, -1]), side(alone)));
      if (norm === 'sample') expect(d).toBeLessThan(1e-5);
      else expect(d).toBeGreaterThan(1e-4);
      m.dispose();
      tf.dispose([both.image, both.text, alone.image, alone.text]);
    }
  });
});
