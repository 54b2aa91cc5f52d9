/**
 * Test helpers: a tiny but complete run config (custom CLIP, SNF + LIM + GST,
 * CRIS head) over a small generated synthetic dataset, so tests exercise the
 * real code paths in seconds.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { JsonObject } from '../core/config/load.js';
import { byteLevelTokenizer } from '../plugins/backbones/clip/tokenizer/byte-vocab.js';

/** A byte-level vocabulary file (514 ids) shared by tests. */
export function tinyVocab(): string {
  const dir = join(tmpdir(), 'barleria-zoo-test');
  mkdirSync(dir, { recursive: true });
  const p = join(dir, 'bytes-vocab.txt');
  if (!existsSync(p)) byteLevelTokenizer().save(p);
  return p;
}

export interface TinyOptions {
  dataRoot: string;
  backend?: 'cpu' | 'wasm';
  adapters?: JsonObject[];
  train?: JsonObject;
  inputSize?: number;
}

export function tinyConfig(o: TinyOptions): JsonObject {
  const S = o.inputSize ?? 32;
  return {
    input: { size: S, wordLength: 8 },
    runtime: { backend: o.backend ?? 'cpu', seed: 3 },
    model: {
      backbone: {
        type: 'clip',
        preset: 'custom',
        visionWidth: 32,
        visionLayers: 3,
        visionHeads: 2,
        patchSize: 8,
        textWidth: 32,
        textLayers: 3,
        textHeads: 2,
        vocabSize: 514,
        contextLength: 16,
        embedDim: 16,
        vocab: tinyVocab(),
        stageLayers: [1, 2],
      },
      adapters: o.adapters ?? [
        { type: 'snf', flowLength: 2 },
        { type: 'lim', hidden: 8 },
        { type: 'gst', embedDim: 16, depth: 2, heads: 2, patchSize: 8, imageSize: S, numQueries: 4, fusionMap: ['0->0', '1->1'], deepSupervision: [2], promptHidden: 8 },
      ],
      head: { type: 'cris', visDim: 32, fpnOut: [16, 32, 64], numLayers: 1, numHeads: 2, dimFfn: 32, dropout: 0.1, neckHeads: 2 },
    },
    data: {
      dataset: { type: 'synthetic', root: o.dataRoot, images: { train: 12, val: 4, testA: 2, testB: 2 }, minSide: 64, maxSide: 96 },
      prefetch: 2,
      workers: 2,
    },
    train: { epochs: 2, batchSize: 4, optimizer: { type: 'adam', lr: 0.001 }, checkpointEvery: 2, evalEvery: 0, ...(o.train ?? {}) },
    eval: { splits: ['val'], batchSize: 4, maxSamples: 4 },
  };
}
