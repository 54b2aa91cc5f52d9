/**
 * dataset/__NAME__: it is registered, its options fill their defaults, and the
 * DatasetSource works: splits and records, images (HWC uint8 RGB) and masks
 * (0/1 at the image size, covering pixels of the referred colour), the same
 * data for the same seed, and DataErrors that name the problem.
 */
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../core/errors.js';
import { compileSchema } from '../../../core/config/validate.js';
import type { DatasetSource } from '../../../core/data/contracts.js';
import { PLUGINS } from '../../index.js';
import plugin, { type Options } from './index.js';

const ctx = { where: 'data.dataset', baseDir: '/data' };
/** Channels that dominate each colour of the generator. */
const STRONGEST: Record<string, number[]> = { red: [0], green: [1], blue: [2], yellow: [0, 1] };

/** Options as a config would give them (`{"type": "__NAME__", ...}`), with the schema's defaults filled in. */
function source(options: Partial<Options> = {}): DatasetSource {
  const o: Record<string, unknown> = { ...options };
  const check = compileSchema(plugin.schema);
  if (!check(o)) throw new Error(JSON.stringify(check.errors));
  return plugin.create(o as Options, ctx);
}

describe('dataset/__NAME__', () => {
  it('is registered in plugins/index.ts', () => {
    expect(PLUGINS).toContain(plugin);
    expect(plugin.kind).toBe('dataset');
  });

  it('has train and val records with unique ids and sentences', () => {
    const ds = source({ images: 8, valFraction: 0.25 });
    expect(ds.splits()).toEqual(['train', 'val']);
    const train = ds.records('train');
    const val = ds.records('val');
    expect([train.length, val.length]).toEqual([6, 2]);
    const all = [...train, ...val];
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
    for (const r of all) {
      expect(r.sentences.length).toBeGreaterThan(0);
      expect(r.sentences.every((s) => s.trim().length > 0)).toBe(true);
      expect(r.imagePath.startsWith('/')).toBe(true);
    }
    expect(ds.describe()).toContain('train 6');
  });

  it('loads images and masks that agree with the sentence', async () => {
    const ds = source({ size: 48 });
    for (const rec of ds.records('val')) {
      const img = await ds.loadImage(rec);
      expect([img.height, img.width, img.channels]).toEqual([48, 48, 3]);
      expect(img.data).toBeInstanceOf(Uint8Array);
      expect(img.data.length).toBe(48 * 48 * 3);
      const mask = await ds.loadMask(rec, img.height, img.width);
      expect(mask.length).toBe(48 * 48);
      expect(mask.every((v) => v === 0 || v === 1)).toBe(true);
      const area = mask.reduce((a, v) => a + v, 0);
      expect(area).toBeGreaterThan(10);
      // The masked pixels have the referred colour: its strongest channel dominates on average.
      const mean = [0, 0, 0];
      mask.forEach((v, i) => {
        if (v) for (let c = 0; c < 3; c++) mean[c]! += img.data[i * 3 + c]! / area;
      });
      const colour = rec.sentences[0]!.split(' ')[1]!;
      const strongest = STRONGEST[colour]!;
      for (const c of strongest) expect(mean[c]!).toBeGreaterThan(150);
    }
  });

  it('is deterministic for a seed', async () => {
    const a = source({ seed: 3 });
    const b = source({ seed: 3 });
    const c = source({ seed: 4 });
    const [ra, rb, rc] = [a, b, c].map((d) => d.records('train')[0]!);
    expect(rb!.sentences).toEqual(ra!.sentences);
    expect(Array.from((await b.loadImage(rb!)).data)).toEqual(Array.from((await a.loadImage(ra!)).data));
    expect(Array.from((await c.loadImage(rc!)).data)).not.toEqual(Array.from((await a.loadImage(ra!)).data));
  });

  it('reports bad requests as DataErrors naming the split or the record', async () => {
    const ds = source();
    expect(() => ds.records('test')).toThrow(DataError);
    expect(() => ds.records('test')).toThrow(/unknown split "test"; splits: train, val/);
    const rec = ds.records('train')[0]!;
    await expect(ds.loadMask(rec, 10, 10)).rejects.toThrow(new RegExp(rec.id));
    await expect(ds.loadImage({ ...rec, maskRef: undefined })).rejects.toThrow(DataError);
  });
});
