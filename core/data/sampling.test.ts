import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { epochSamples } from './sampling.js';

const counts = [3, 1, 2, 5, 1, 4, 2, 2, 3, 1];

describe('epochSamples', () => {
  it('train: every record once per epoch, one valid sentence each, seeded by seed and epoch', () => {
    const a = epochSamples(counts, 'train', 7, 0);
    expect(a.map((s) => s.record).sort((x, y) => x - y)).toEqual(counts.map((_, i) => i));
    for (const s of a) expect(s.sentence).toBeGreaterThanOrEqual(0), expect(s.sentence).toBeLessThan(counts[s.record]!);
    expect(epochSamples(counts, 'train', 7, 0)).toEqual(a);
    expect(epochSamples(counts, 'train', 7, 1)).not.toEqual(a);
    expect(epochSamples(counts, 'train', 8, 0)).not.toEqual(a);
  });

  it('train: sentence choices vary across epochs and cover every sentence', () => {
    const seen = counts.map(() => new Set<number>());
    for (let e = 0; e < 60; e++) for (const s of epochSamples(counts, 'train', 1, e)) seen[s.record]!.add(s.sentence);
    expect(seen.map((s) => s.size)).toEqual(counts);
  });

  it('train limit keeps a fixed subset of records, shuffled per epoch', () => {
    const e0 = epochSamples(counts, 'train', 3, 0, 4);
    const e1 = epochSamples(counts, 'train', 3, 1, 4);
    expect(e0.map((s) => s.record).sort()).toEqual([0, 1, 2, 3]);
    expect(e1.map((s) => s.record).sort()).toEqual([0, 1, 2, 3]);
  });

  it('val: first sentence of every record in order; test: every sentence', () => {
    expect(epochSamples(counts, 'val', 0, 5)).toEqual(counts.map((_, i) => ({ record: i, sentence: 0 })));
    const t = epochSamples(counts, 'test', 0, 0);
    expect(t.length).toBe(counts.reduce((a, b) => a + b, 0));
    expect(t.slice(0, 5)).toEqual([
      { record: 0, sentence: 0 },
      { record: 0, sentence: 1 },
      { record: 0, sentence: 2 },
      { record: 1, sentence: 0 },
      { record: 2, sentence: 0 },
    ]);
    expect(epochSamples(counts, 'test', 0, 0, 5)).toEqual(t.slice(0, 5));
    expect(epochSamples(counts, 'val', 0, 0, 3).length).toBe(3);
  });

  it('rejects bad epochs, limits and modes', () => {
    expect(() => epochSamples(counts, 'train', 0, -1)).toThrow(ConfigError);
    expect(() => epochSamples(counts, 'train', 0, 0, 1.5)).toThrow(ConfigError);
    expect(() => epochSamples(counts, 'bogus' as 'train', 0, 0)).toThrow(/unknown sampling mode/);
  });
});
