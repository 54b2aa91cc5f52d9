import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RisLoader } from '../../../core/data/pipeline.js';
import { byteLevelTokenizer } from '../../backbones/clip/tokenizer/index.js';
import { ReferSource } from '../refcoco/refer.js';
import syntheticPlugin, { DEFAULT_SYNTHETIC_ROOT, SyntheticSource, openSynthetic } from './plugin.js';

const tmp = mkdtempSync(join(tmpdir(), 'synthetic-plugin-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const small = { seed: 5, images: { train: 6, val: 3, testA: 2, testB: 2 }, minSide: 64, maxSide: 80 };

describe('dataset/synthetic plugin', () => {
  it('manifest: kind, name, defaults; root defaults to <repository>/.cache/synthref', () => {
    expect(syntheticPlugin.kind).toBe('dataset');
    expect(syntheticPlugin.name).toBe('synthetic');
    const props = (syntheticPlugin.schema as unknown as { properties: Record<string, { default?: unknown }> }).properties;
    expect(props.seed!.default).toBe(0);
    expect(props.images!.default).toEqual({ train: 400, val: 60, testA: 40, testB: 40 });
    expect(DEFAULT_SYNTHETIC_ROOT).toBe(resolve(import.meta.dirname, '..', '..', '..', '.cache', 'synthref'));
    expect(openSynthetic({}, { where: 'data.dataset', baseDir: tmp }).root).toBe(DEFAULT_SYNTHETIC_ROOT);
  });

  it('create is lazy: prepare() generates, then the REFER reader serves the records', async () => {
    const src = syntheticPlugin.create({ root: 'gen', ...small } as never, { where: 'data.dataset', baseDir: tmp });
    expect(src).toBeInstanceOf(SyntheticSource);
    expect(src.root).toBe(join(tmp, 'gen'));
    expect(() => src.records('train')).toThrow(/not generated yet: await source.prepare\(\)/);
    expect(src.describe()).toMatch(/not generated yet/);
    const loader = await RisLoader.create(src, 'val', {
      inputSize: 32,
      wordLength: 8,
      tokenizer: byteLevelTokenizer(),
      batchSize: 4,
      mode: 'test',
      seed: 0,
      skipBad: false,
      prefetch: 1,
      workers: 2,
      withOriginal: true,
    });
    expect(src.generation?.generated).toBe(true);
    const sentences = src.generation!.manifest.counts.sentences.val;
    expect(loader.length).toBe(sentences);
    let n = 0;
    for await (const b of loader.epoch(0)) n += b.size;
    expect(n).toBe(sentences);
    expect(src.describe()).toMatch(/REFER layout.*synthetic, seed 5/);
    // a second source over the same files needs no prepare(), and reads the same records
    const again = openSynthetic({ root: join(tmp, 'gen'), ...small }, { where: 'x', baseDir: '/' });
    expect(again.records('val').map((r) => r.id)).toEqual(src.records('val').map((r) => r.id));
    await again.prepare();
    expect(again.generation?.generated).toBe(false);
    // the same reader class as real RefCOCO data
    expect((src as unknown as { reader: unknown }).reader).toBeInstanceOf(ReferSource);
  });
});
