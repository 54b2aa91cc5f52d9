/**
 * Which (record, sentence) pairs an epoch visits, in which order: a pure function of the
 * records, the mode, the seed and the epoch number (not of the batch size, the prefetch
 * depth or the number of concurrent decodes).
 *
 * - 'train': every record once, in a shuffled order (seeded by seed and epoch), with one
 *   sentence drawn per record per epoch (the official `np.random.choice(num_sents)`).
 * - 'val': every record once in dataset order with its first sentence (official `sents[0]`).
 * - 'test': every sentence of every record, records in dataset order and each record's
 *   sentences in annotation order (the official `inference()` loop).
 */
import { ConfigError } from '../errors.js';
import { Rng } from '../nn/rng.js';
import type { SamplingMode } from './contracts.js';

export interface SampleRef {
  /** Index into the split's records. */
  record: number;
  /** Index into the record's sentences. */
  sentence: number;
}

/** A 32-bit hash of (seed, a, b): independent seeds for independent streams. */
export function mixSeed(seed: number, a: number, b: number): number {
  let h = (seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export const SAMPLING_MODES: readonly SamplingMode[] = ['train', 'val', 'test'];

/**
 * The samples of one epoch. `sentenceCounts[i]` is the number of sentences of record i.
 * `limit` (> 0) keeps the first `limit` records in 'train' and 'val' (so a limited training
 * run shuffles a fixed subset) and the first `limit` samples in 'test'.
 */
export function epochSamples(sentenceCounts: readonly number[], mode: SamplingMode, seed: number, epoch: number, limit = 0): SampleRef[] {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ConfigError(`epoch must be a non-negative integer, got ${epoch}`);
  if (!Number.isSafeInteger(limit) || limit < 0) throw new ConfigError(`limit must be a non-negative integer, got ${limit}`);
  const nRecords = limit > 0 && mode !== 'test' ? Math.min(limit, sentenceCounts.length) : sentenceCounts.length;
  switch (mode) {
    case 'train': {
      // Sentence choices are drawn in record order, so they do not depend on the shuffle.
      const pick = new Rng(mixSeed(seed, epoch, 2));
      const sentence = Array.from({ length: nRecords }, (_, r) => pick.int(Math.max(1, sentenceCounts[r]!)));
      const order = new Rng(mixSeed(seed, epoch, 1)).shuffle(Array.from({ length: nRecords }, (_, r) => r));
      return order.map((r) => ({ record: r, sentence: sentence[r]! }));
    }
    case 'val':
      return Array.from({ length: nRecords }, (_, r) => ({ record: r, sentence: 0 }));
    case 'test': {
      const out: SampleRef[] = [];
      for (let r = 0; r < nRecords && (limit === 0 || out.length < limit); r++) {
        // A record without sentences still gets one (bad) sample, so that it is reported.
        const n = Math.max(1, sentenceCounts[r]!);
        for (let s = 0; s < n && (limit === 0 || out.length < limit); s++) out.push({ record: r, sentence: s });
      }
      return out;
    }
    default:
      throw new ConfigError(`unknown sampling mode ${JSON.stringify(mode)}; expected one of ${SAMPLING_MODES.join(', ')}`);
  }
}
