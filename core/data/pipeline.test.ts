import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteLevelTokenizer } from '../../plugins/backbones/clip/tokenizer/index.js';
import { annToMask, crisMaskPng } from '../../plugins/datasets/refcoco/coco-mask.js';
import type { ReferMaskRef } from '../../plugins/datasets/refcoco/refer.js';
import { SyntheticSource } from '../../plugins/datasets/synthetic/plugin.js';
import { ConfigError, DataError } from '../errors.js';
import { letterboxImage, letterboxMask } from '../vision/letterbox.js';
import { CLIP_MEAN, CLIP_STD, maskToFloat, normalizeImage } from '../vision/normalize.js';
import type { Batch, DatasetSource, PipelineOptions, RefRecord } from './contracts.js';
import { loadImageFile } from './decode.js';
import { RisLoader } from './pipeline.js';

const tokenizer = byteLevelTokenizer();
const tmp = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let synth: SyntheticSource;
beforeAll(async () => {
  synth = new SyntheticSource(join(tmp, 'synth'), { seed: 3, images: { train: 24, val: 8, testA: 4, testB: 4 }, minSide: 64, maxSide: 112 });
  await synth.prepare();
});

const S = 64;
const L = 12;
function opts(over: Partial<PipelineOptions> = {}): PipelineOptions {
  return { inputSize: S, wordLength: L, tokenizer, batchSize: 8, mode: 'train', seed: 11, skipBad: false, prefetch: 2, workers: 3, withOriginal: false, ...over };
}

function digest(b: Batch): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(b.image.buffer, b.image.byteOffset, b.image.byteLength));
  h.update(new Uint8Array(b.text.buffer, b.text.byteOffset, b.text.byteLength));
  h.update(new Uint8Array(b.mask.buffer, b.mask.byteOffset, b.mask.byteLength));
  h.update(b.meta.map((m) => m.id).join(','));
  return `${b.size}:${h.digest('hex').slice(0, 16)}`;
}

async function collect(it: AsyncIterable<Batch>, max = Infinity): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) {
    out.push(b);
    if (out.length >= max) break;
  }
  return out;
}

describe('RisLoader on the synthetic dataset', () => {
  it('batches have the contract shapes and value ranges', async () => {
    const loader = await RisLoader.create(synth, 'train', opts({ withOriginal: true }));
    const batches = await collect(loader.epoch(0));
    expect(batches.length).toBe(loader.batches);
    expect(loader.batches).toBe(Math.floor(loader.length / 8)); // drop_last in train, as the official loader
    const lo = Math.min(...CLIP_MEAN.map((m, c) => -m / CLIP_STD[c]!)) - 1e-6;
    const hi = Math.max(...CLIP_MEAN.map((m, c) => (1 - m) / CLIP_STD[c]!)) + 1e-6;
    for (const b of batches) {
      expect(b.size).toBe(8);
      expect(b.image.length).toBe(8 * S * S * 3);
      expect(b.text.length).toBe(8 * L);
      expect(b.mask.length).toBe(8 * S * S);
      expect(b.meta.length).toBe(8);
      expect(b.image.every((v) => v >= lo && v <= hi)).toBe(true);
      expect(b.mask.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(b.mask.some((v) => v === 1) && b.mask.some((v) => v > 0 && v < 1)).toBe(true);
      for (let i = 0; i < b.size; i++) {
        const row = b.text.subarray(i * L, (i + 1) * L);
        expect(row[0]).toBe(tokenizer.sotId);
        expect([...row]).toContain(tokenizer.eotId);
        const m = b.meta[i]!;
        expect(m.sentence).toBe(m.record.sentences[m.sentenceIndex]);
        expect(m.gt!.length).toBe(m.height * m.width);
        expect(m.inverse.length).toBe(6);
      }
    }
  });

  it('each sample is the official letterbox of its record (image cubic + CLIP norm, mask linear / 255, gt = mask != 0)', async () => {
    const loader = await RisLoader.create(synth, 'val', opts({ mode: 'val', withOriginal: true, batchSize: 3 }));
    const [b] = await collect(loader.epoch(0), 1);
    for (let i = 0; i < b!.size; i++) {
      const m = b!.meta[i]!;
      const img = await loadImageFile(m.record.imagePath);
      const lb = letterboxImage(img, S);
      expect(b!.image.subarray(i * S * S * 3, (i + 1) * S * S * 3)).toEqual(normalizeImage(lb.image));
      expect([...m.inverse]).toEqual([...lb.inverse]);
      const mr = m.record.maskRef as ReferMaskRef;
      const png = crisMaskPng(mr.segmentation, mr.height, mr.width);
      const target = maskToFloat(letterboxMask({ data: png, height: img.height, width: img.width, channels: 1 }, lb.forward, S).data);
      expect(b!.mask.subarray(i * S * S, (i + 1) * S * S)).toEqual(target);
      expect(m.gt).toEqual(annToMask(mr.segmentation, mr.height, mr.width));
      expect(m.sentenceIndex).toBe(0);
      expect(b!.text.subarray(i * L, (i + 1) * L)).toEqual(tokenizer.tokenize([m.sentence], L));
    }
  });

  it('is deterministic whatever the number of workers and the prefetch depth', async () => {
    const a = (await collect((await RisLoader.create(synth, 'train', opts({ workers: 1, prefetch: 0 }))).epoch(1))).map(digest);
    const b = (await collect((await RisLoader.create(synth, 'train', opts({ workers: 6, prefetch: 4 }))).epoch(1))).map(digest);
    expect(b).toEqual(a);
    const other = (await collect((await RisLoader.create(synth, 'train', opts())).epoch(2))).map(digest);
    expect(other).not.toEqual(a);
  });

  it('samples: train = records, val = records with sentence 0, test = every sentence', async () => {
    const records = synth.records('val');
    const sentences = records.reduce((a, r) => a + r.sentences.length, 0);
    const train = await RisLoader.create(synth, 'val', opts({ mode: 'train' }));
    const val = await RisLoader.create(synth, 'val', opts({ mode: 'val' }));
    const test = await RisLoader.create(synth, 'val', opts({ mode: 'test', batchSize: 5 }));
    expect(train.length).toBe(records.length);
    expect(val.length).toBe(records.length);
    expect(test.length).toBe(sentences);
    expect(test.batches).toBe(Math.ceil(sentences / 5));
    const tb = await collect(test.epoch(0));
    expect(tb.reduce((a, b) => a + b.size, 0)).toBe(sentences);
    expect(tb.flatMap((b) => b.meta.map((m) => m.id))).toEqual(records.flatMap((r) => r.sentences.map((_, s) => `${r.id}#${s}`)));
    const vb = await collect(val.epoch(0));
    expect(vb.flatMap((b) => b.meta.map((m) => m.id))).toEqual(records.map((r) => `${r.id}#0`));
    // sentences of one record in 'test' share one decode: identical image rows
    const first = tb[0]!;
    if (first.meta[1]?.record === first.meta[0]!.record) {
      expect(first.image.subarray(0, S * S * 3)).toEqual(first.image.subarray(S * S * 3, 2 * S * S * 3));
    }
    const limited = await RisLoader.create(synth, 'val', opts({ mode: 'val', limit: 3 }));
    expect(limited.length).toBe(3);
  });

  it('resuming at a batch index yields exactly the remaining batches', async () => {
    const loader = await RisLoader.create(synth, 'train', opts({ batchSize: 5 }));
    const full = (await collect(loader.epoch(3))).map(digest);
    expect(full.length).toBeGreaterThan(3);
    const resumed = (await collect(loader.epoch(3, { startBatch: 2 }))).map(digest);
    expect(resumed).toEqual(full.slice(2));
    // the cursor after batch k resumes at batch k + 1
    const it = loader.epoch(3)[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const cursor = loader.cursor;
    await it.return?.(undefined);
    const fresh = await RisLoader.create(synth, 'train', opts({ batchSize: 5 }));
    expect((await collect(fresh.epoch(3, { startBatch: 2, startSample: cursor }))).map(digest)).toEqual(full.slice(2));
    expect(await collect(loader.epoch(3, { startBatch: 99 }))).toEqual([]);
  });

  it('an early break stops the producer; the loader can iterate again', async () => {
    const loader = await RisLoader.create(synth, 'train', opts({ batchSize: 2, prefetch: 1 }));
    const one = await collect(loader.epoch(0), 1);
    expect(one.length).toBe(1);
    const again = await collect(loader.epoch(0), 2);
    expect(digest(again[0]!)).toBe(digest(one[0]!));
  });

  it('validates its options', async () => {
    await expect(RisLoader.create(synth, 'train', opts({ batchSize: 0 }))).rejects.toThrow(ConfigError);
    await expect(RisLoader.create(synth, 'train', opts({ workers: 0 }))).rejects.toThrow(/workers/);
    await expect(RisLoader.create(synth, 'nope', opts())).rejects.toThrow(/unknown split "nope"/);
  });
});

// ---- bad data --------------------------------------------------------------------------------

type Fault = 'truncated' | 'zero' | 'missing' | 'garbage' | 'resized' | 'blank' | 'duplicate' | 'invalid';

/** The synthetic val split with faults injected into chosen records (by index). */
class FaultySource implements DatasetSource {
  readonly name = 'faulty';
  private recs: RefRecord[] | undefined;
  constructor(
    private readonly inner: DatasetSource,
    private readonly faults: Record<number, Fault>,
    private readonly dir: string,
  ) {}
  splits(): string[] {
    return ['val'];
  }
  records(split: string): RefRecord[] {
    if (split !== 'val') throw new ConfigError(`unknown split "${split}"`);
    if (this.recs) return this.recs;
    const base = this.inner.records('val').map((r) => ({ ...r, sentences: [...r.sentences] }));
    for (const [k, fault] of Object.entries(this.faults)) {
      const i = Number(k);
      const r = base[i]!;
      const file = join(this.dir, `rec${i}.jpg`);
      if (fault === 'truncated') {
        const bytes = readFileSync(r.imagePath);
        writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
        r.imagePath = file;
      } else if (fault === 'zero') {
        writeFileSync(file, '');
        r.imagePath = file;
      } else if (fault === 'missing') r.imagePath = file;
      else if (fault === 'garbage') {
        writeFileSync(file, 'not a jpeg at all');
        r.imagePath = file;
      } else if (fault === 'resized') {
        copyFileSync(r.imagePath, `${file}.orig`);
        r.imagePath = file; // written in prepare()
      } else if (fault === 'blank') r.sentences[0] = '  \t ';
      else if (fault === 'duplicate') r.id = base[i - 1]!.id;
      else if (fault === 'invalid') r.invalid = { reason: 'bad-annotation', message: 'annotation 7 has no segmentation', file: '/data/instances.json' };
    }
    this.recs = base;
    return base;
  }
  async prepare(): Promise<void> {
    const recs = this.records('val');
    for (const [k, fault] of Object.entries(this.faults)) {
      if (fault !== 'resized') continue;
      const r = recs[Number(k)]!;
      await sharp(`${r.imagePath}.orig`).resize(50, 40, { fit: 'fill' }).jpeg().toFile(r.imagePath);
    }
  }
  loadImage(rec: RefRecord) {
    return this.inner.loadImage(rec);
  }
  loadMask(rec: RefRecord, h: number, w: number) {
    return this.inner.loadMask(rec, h, w);
  }
  loadMaskPng(rec: RefRecord, h: number, w: number) {
    return this.inner.loadMaskPng!(rec, h, w);
  }
  describe(): string {
    return 'faulty';
  }
}

let faultDir = 0;
function faulty(faults: Record<number, Fault>): FaultySource {
  const dir = join(tmp, `faults${faultDir++}`);
  mkdirSync(dir, { recursive: true });
  return new FaultySource(synth, faults, dir);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('bad data', () => {
  it('without skipBad: the first bad sample in order throws a DataError naming split, record and file, after the batches before it', async () => {
    const src = faulty({ 3: 'truncated', 5: 'missing' });
    const loader = await RisLoader.create(src, 'val', opts({ mode: 'val', batchSize: 2, workers: 4 }));
    const got: Batch[] = [];
    const e = await rejection(
      (async () => {
        for await (const b of loader.epoch(0)) got.push(b);
      })(),
    );
    expect(e).toBeInstanceOf(DataError);
    const rec = src.records('val')[3]!;
    expect(e.message).toContain(rec.id);
    expect(e.message).toContain('split "val"');
    expect(e.message).toContain(rec.imagePath);
    expect(e.message).toMatch(/cannot decode the image/);
    expect(got.length).toBe(1); // batch [0, 1]; batch [2, 3] fails at record 3
  });

  for (const [fault, reason, text] of [
    ['zero', 'empty-image', /empty \(0 bytes\)/],
    ['missing', 'unreadable-image', /not found/],
    ['garbage', 'unreadable-image', /cannot decode/],
    ['resized', 'mask-size', /decodes as 50×40/],
  ] as const) {
    it(`a ${fault} image: DataError without skipBad, counted as ${reason} with it`, async () => {
      const src = faulty({ 1: fault });
      await src.prepare();
      const strict = new RisLoader(src, 'val', opts({ mode: 'val', batchSize: 4 }));
      const e = await rejection(collect(strict.epoch(0)));
      expect(e).toBeInstanceOf(DataError);
      expect(e.message).toMatch(text);
      expect(e.message).toContain(src.records('val')[1]!.id);
      expect(e.message).toContain(src.records('val')[1]!.imagePath);
      const lenient = new RisLoader(src, 'val', opts({ mode: 'val', batchSize: 4, skipBad: true }));
      const batches = await collect(lenient.epoch(0));
      expect(lenient.skipped[reason]).toBe(1);
      expect(lenient.skippedSamples[0]!.id).toBe(`${src.records('val')[1]!.id}#0`);
      expect(batches.reduce((a, b) => a + b.size, 0)).toBe(lenient.length - 1);
    });
  }

  it('indexing-time problems (blank sentence, duplicate id, invalid record) fail the loader up front, listing them', async () => {
    const src = faulty({ 2: 'blank', 4: 'duplicate', 6: 'invalid' });
    const e = await rejection(RisLoader.create(src, 'val', opts({ mode: 'val' })));
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toMatch(/3 unusable samples/);
    expect(e.message).toMatch(/sentence 0: the sentence is empty/);
    expect(e.message).toMatch(/duplicate record id/);
    expect(e.message).toContain('/data/instances.json: annotation 7 has no segmentation');
    expect(e.message).toContain(src.records('val')[2]!.id);
  });

  it('with skipBad: batches stay full except the last, counts per reason, identical across workers and on resume', async () => {
    const faults: Record<number, Fault> = { 0: 'truncated', 2: 'blank', 3: 'zero', 4: 'duplicate', 6: 'invalid', 7: 'missing', 9: 'garbage' };
    const src = faulty(faults);
    await src.prepare();
    const run = async (workers: number, startBatch = 0) => {
      const loader = await RisLoader.create(src, 'val', opts({ mode: 'val', batchSize: 3, skipBad: true, workers }));
      const batches = await collect(loader.epoch(0, { startBatch }));
      return { loader, batches };
    };
    const { loader, batches } = await run(1);
    const n = loader.length - Object.keys(faults).length;
    expect(batches.reduce((a, b) => a + b.size, 0)).toBe(n);
    for (const b of batches.slice(0, -1)) expect(b.size).toBe(3);
    expect(loader.skipped).toMatchObject({ 'unreadable-image': 3, 'empty-image': 1, 'empty-sentence': 1, 'duplicate-id': 1, 'bad-annotation': 1 });
    expect(loader.describeSkipped()).toBe('skipped 7 samples (3 unreadable images, 1 zero-size image, 1 bad annotation, 1 empty sentence, 1 duplicate id)');
    const ids = new Set(batches.flatMap((b) => b.meta.map((m) => m.record.id)));
    for (const i of Object.keys(faults).map(Number)) if (faults[i] !== 'duplicate') expect(ids.has(src.records('val')[i]!.id)).toBe(false);
    const many = await run(5);
    expect(many.batches.map(digest)).toEqual(batches.map(digest));
    const resumed = await run(2, 2);
    expect(resumed.batches.map(digest)).toEqual(batches.slice(2).map(digest));
    expect(resumed.loader.describeSkipped()).toBe(loader.describeSkipped());
    // bad records are remembered: a second epoch gives the same batches and counts
    const again = await collect(loader.epoch(0));
    expect(again.map(digest)).toEqual(batches.map(digest));
    expect(loader.describeSkipped()).toBe('skipped 7 samples (3 unreadable images, 1 zero-size image, 1 bad annotation, 1 empty sentence, 1 duplicate id)');
  });

  it('a source bug (not a data error) is never skipped, and names the sample', async () => {
    const src = faulty({});
    const broken: DatasetSource = Object.assign(Object.create(src) as FaultySource, {
      loadMaskPng: async () => {
        throw new TypeError('boom');
      },
    });
    const loader = await RisLoader.create(broken, 'val', opts({ mode: 'val', skipBad: true }));
    const e = await rejection(collect(loader.epoch(0)));
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toMatch(/unexpected error while loading the mask: boom/);
    expect(e.message).toContain(src.records('val')[0]!.id);
  });
});
