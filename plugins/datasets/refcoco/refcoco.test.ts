import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadSampleError } from '../../../core/data/bad-sample.js';
import type { Batch, PipelineOptions } from '../../../core/data/contracts.js';
import { RisLoader } from '../../../core/data/pipeline.js';
import { ConfigError, DataError } from '../../../core/errors.js';
import { byteLevelTokenizer } from '../../backbones/clip/tokenizer/index.js';
import { annToMask } from './coco-mask.js';
import refcocoPlugin, { CrisLayoutSource, OFFICIAL_SPLIT_SIZES, ReferSource, detectLayout, openRefcoco, refcocoDataset, referSplitMatches } from './index.js';
import { SAMPLE_ANNS, SAMPLE_SPLIT_SIZES, fileName, writeCrisSample, writeReferSample } from './test-sample.js';

const tmp = mkdtempSync(join(tmpdir(), 'refcoco-test-'));
const referRoot = join(tmp, 'refer');
const referPy2Root = join(tmp, 'refer-py2');
const crisRoot = join(tmp, 'cris');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await writeReferSample(referRoot);
  await writeReferSample(referPy2Root, { protocol: 0, strings: 'py2' });
  await writeCrisSample(crisRoot);
});

const ctx = (warnings: string[] = []) => ({ where: 'data.dataset', baseDir: tmp, warn: (m: string) => warnings.push(m) });
const tokenizer = byteLevelTokenizer();
const opts = (over: Partial<PipelineOptions> = {}): PipelineOptions => ({
  inputSize: 32,
  wordLength: 10,
  tokenizer,
  batchSize: 2,
  mode: 'val',
  seed: 0,
  skipBad: true,
  prefetch: 1,
  workers: 2,
  withOriginal: true,
  ...over,
});

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}
const digest = (b: Batch): string =>
  createHash('sha256')
    .update(new Uint8Array(b.image.buffer))
    .update(new Uint8Array(b.mask.buffer))
    .update(new Uint8Array(b.text.buffer))
    .update(b.meta.map((m) => `${m.id}:${m.sentence}:${m.gt?.join('')}`).join('|'))
    .digest('hex');

describe('names and official sizes', () => {
  it('has the official split sizes', () => {
    expect(OFFICIAL_SPLIT_SIZES).toEqual({
      refcoco: { train: 42404, val: 3811, testA: 1975, testB: 1810 },
      'refcoco+': { train: 42278, val: 3805, testA: 1975, testB: 1798 },
      refcocog_u: { train: 42226, val: 2573, test: 5023 },
      refcocog_g: { train: 44822, val: 5000 },
    });
  });

  it('REFER split matching: testA/testB by letter (testAB in both), test by substring, others exact', () => {
    expect(referSplitMatches('testA', 'testAB')).toBe(true);
    expect(referSplitMatches('testB', 'testAB')).toBe(true);
    expect(referSplitMatches('testA', 'testB')).toBe(false);
    expect(referSplitMatches('test', 'testA')).toBe(true);
    expect(referSplitMatches('train', 'train')).toBe(true);
    expect(referSplitMatches('val', 'train')).toBe(false);
  });

  it('unknown dataset names are ConfigErrors with the known ones and the nearest', () => {
    expect(() => refcocoDataset('refcoc')).toThrow(/unknown RefCOCO dataset "refcoc"; known: refcoco, refcoco\+, refcocog_u, refcocog_g\. Did you mean "refcoco"\?/);
    expect(() => refcocoDataset('refcocog')).toThrow(/"refcocog_u" \(umd: train\/val\/test\) or "refcocog_g"/);
    expect(() => refcocoDataset('refcocog')).toThrow(ConfigError);
  });
});

describe('REFER layout', () => {
  const open = (root = referRoot, warnings: string[] = []) => openRefcoco({ root: relative(tmp, root), dataset: 'refcoco', layout: 'auto', exifOrientation: true, checkOfficialSizes: true }, ctx(warnings));

  it('is detected, and counts referred objects as REFER getRefIds does', () => {
    const warnings: string[] = [];
    const src = open(referRoot, warnings);
    expect(src.layout).toBe('refer');
    expect(src).toBeInstanceOf(ReferSource);
    expect(src.splits()).toEqual(['train', 'val', 'testA', 'testB']);
    for (const [split, n] of Object.entries(SAMPLE_SPLIT_SIZES)) expect(src.records(split).length, split).toBe(n);
    // the sample is not the real dataset: one warning per split, nothing thrown
    expect(warnings.length).toBe(4);
    expect(warnings[0]).toMatch(/refcoco split "train" has 2 referred objects; the official count is 42404/);
    expect(src.describe()).toMatch(/train 2, val 2, testA 2, testB 2 refs/);
  });

  it('records: ids, stripped sentences in order, shared images, categories, invalid refs', () => {
    const src = open();
    const train = src.records('train');
    expect(train.map((r) => r.id)).toEqual(['refcoco/train/ref0', 'refcoco/train/ref1']);
    expect(train[0]!.sentences).toEqual(['the left blob', 'left thing', 'person on the left']);
    expect(train[0]!.imagePath).toBe(train[1]!.imagePath);
    expect(train[0]!.imagePath).toBe(join(referRoot, 'images', 'train2014', fileName(1001)));
    expect([train[0]!.category, train[1]!.category]).toEqual(['person', 'car']);
    expect([train[0]!.refId, train[0]!.annId, train[0]!.imageId]).toEqual([0, 11, 1001]);
    const testA = src.records('testA');
    expect(testA.map((r) => r.id)).toEqual(['refcoco/testA/ref3', 'refcoco/testA/ref5']);
    expect(testA[1]!.invalid).toMatchObject({ reason: 'bad-annotation', message: expect.stringMatching(/annotation 41 of ref 5 has no segmentation/) });
    const val = src.records('val');
    expect(val[1]!.invalid!.message).toMatch(/annotation 999 of ref 6 is not in instances.json/);
    expect(val[1]!.invalid!.file).toBe(join(referRoot, 'refcoco', 'instances.json'));
  });

  it('a Python-2 protocol-0 pickle gives the same records', () => {
    const a = open().records('val');
    const b = open(referPy2Root).records('val');
    expect(b.map((r) => [r.id, r.sentences, r.category])).toEqual(a.map((r) => [r.id, r.sentences, r.category]));
  });

  it('masks: loadMask is the union of the parts, loadMaskPng the official PNG (254 where parts overlap)', async () => {
    const src = open();
    const rec = src.records('train')[0]!;
    const img = await src.loadImage(rec);
    expect([img.height, img.width]).toEqual([30, 40]);
    const union = await src.loadMask(rec, 30, 40);
    const png = await src.loadMaskPng(rec, 30, 40);
    expect(union).toEqual(annToMask(SAMPLE_ANNS[11]![2] as number[][], 30, 40));
    const values = new Set(png);
    expect([...values].sort((a, b) => a - b)).toEqual([0, 254, 255]);
    for (let i = 0; i < png.length; i++) expect(png[i] !== 0).toBe(union[i] === 1);
    // the crowd annotation (uncompressed RLE)
    const crowd = src.records('val')[0]!;
    const m = await src.loadMask(crowd, 24, 32);
    expect(m.reduce((a, v) => a + v, 0)).toBe(14 * 19);
    expect(new Set(await src.loadMaskPng(crowd, 24, 32))).toEqual(new Set([0, 255]));
  });

  it('a mask of the wrong size is a BadSampleError naming the image', async () => {
    const src = open();
    const rec = src.records('train')[0]!;
    const e = await src.loadMask(rec, 40, 30).catch((x: unknown) => x as BadSampleError);
    expect(e).toBeInstanceOf(BadSampleError);
    expect((e as BadSampleError).reason).toBe('mask-size');
    expect((e as BadSampleError).message).toContain(rec.imagePath);
  });

  it('through the pipeline: bad refs throw up front without skipBad, are skipped and counted with it', async () => {
    const src = open();
    const strict = await RisLoader.create(src, 'val', opts({ skipBad: false })).catch((e: unknown) => e as Error);
    expect(strict).toBeInstanceOf(DataError);
    expect((strict as Error).message).toMatch(/record refcoco\/val\/ref6: .*instances\.json: annotation 999 of ref 6 is not in instances\.json "annotations"/);
    const loader = await RisLoader.create(src, 'testB', opts());
    const batches = await collect(loader.epoch(0));
    expect(batches.flatMap((b) => b.meta.map((m) => m.id))).toEqual(['refcoco/testB/ref4#0']);
    expect(loader.describeSkipped()).toBe('skipped 1 sample (1 bad annotation)');
    const test = await RisLoader.create(src, 'train', opts({ mode: 'test' }));
    expect(test.length).toBe(4);
    expect((await collect(test.epoch(0))).flatMap((b) => b.meta.map((m) => m.sentence))).toEqual(['the left blob', 'left thing', 'person on the left', 'top right car']);
  });

  it('unknown splits are ConfigErrors with the known ones and the nearest', () => {
    const src = open();
    expect(() => src.records('tesA')).toThrow(ConfigError);
    expect(() => src.records('tesA')).toThrow(/unknown split "tesA"; refcoco has train, val, testA, testB\. Did you mean "testA"\?/);
    expect(() => src.records('test')).toThrow(/refcoco has train, val, testA, testB/);
  });
});

describe('CRIS layout', () => {
  const open = (layout: 'auto' | 'cris' = 'auto') => openRefcoco({ root: crisRoot, dataset: 'refcoco', layout, exifOrientation: true, checkOfficialSizes: false }, ctx());

  it('is detected and read: segment ids, sentences, categories from cat, mask PNGs', async () => {
    const src = open();
    expect(src.layout).toBe('cris');
    expect(src).toBeInstanceOf(CrisLayoutSource);
    expect(src.splits()).toEqual(['train', 'val', 'testA', 'testB']);
    const train = src.records('train');
    expect(train.map((r) => [r.id, r.refId, r.imageId, r.category])).toEqual([
      ['refcoco/train/ref0', 0, 1001, 'person'],
      ['refcoco/train/ref1', 1, 1001, 'car'],
    ]);
    expect(train[0]!.sentences).toEqual(['the left blob', 'left thing', 'person on the left']);
    const png = await src.loadMaskPng!(train[0]!, 30, 40);
    expect([...new Set(png)].sort((a, b) => a - b)).toEqual([0, 254, 255]);
    expect(await src.loadMask(train[0]!, 30, 40)).toEqual(annToMask(SAMPLE_ANNS[11]![2] as number[][], 30, 40));
  });

  it('gives the same batches as the REFER layout of the same data', async () => {
    const cris = open();
    const refer = openRefcoco({ root: referRoot, dataset: 'refcoco', layout: 'refer', exifOrientation: true, checkOfficialSizes: false }, ctx());
    for (const [split, mode] of [
      ['train', 'train'],
      ['val', 'val'],
      ['testA', 'test'],
    ] as const) {
      const o = opts({ mode, dropLast: false });
      const a = (await collect((await RisLoader.create(cris, split, o)).epoch(1))).map(digest);
      const b = (await collect((await RisLoader.create(refer, split, o)).epoch(1))).map(digest);
      expect(a.length, split).toBeGreaterThan(0);
      expect(a, split).toEqual(b);
    }
  });

  it('a missing or mis-sized mask PNG is a bad sample naming the PNG', async () => {
    const root = join(tmp, 'cris-broken');
    await writeCrisSample(root);
    rmSync(join(root, 'masks', 'refcoco', '0.png'));
    writeFileSync(join(root, 'masks', 'refcoco', '1.png'), await sharp(Buffer.alloc(12), { raw: { width: 4, height: 3, channels: 1 } }).png().toBuffer());
    const src = openRefcoco({ root, dataset: 'refcoco', layout: 'cris', exifOrientation: true, checkOfficialSizes: false }, ctx());
    const strict = await RisLoader.create(src, 'train', opts({ skipBad: false }));
    const e = await collect(strict.epoch(0)).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toContain(join(root, 'masks', 'refcoco', '0.png'));
    expect((e as Error).message).toContain('refcoco/train/ref0');
    const lenient = await RisLoader.create(src, 'train', opts());
    expect(await collect(lenient.epoch(0))).toEqual([]);
    expect(lenient.describeSkipped()).toBe('skipped 2 samples (1 unreadable mask, 1 mask of the wrong size)');
  });
});

describe('layout detection and the plugin', () => {
  it('neither layout: a ConfigError listing what was looked for', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    const e = (() => {
      try {
        detectLayout(empty, 'refcocog_u');
      } catch (x) {
        return x as Error;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain(join(empty, 'refcocog', 'refs(umd).p'));
    expect(e.message).toContain(join(empty, 'refcocog', 'instances.json'));
    expect(e.message).toContain(join(empty, 'anns', 'refcocog_u', '<split>.json'));
    expect(() => detectLayout(referRoot, 'refcoco', 'cris')).toThrow(/layout "cris" for refcoco needs/);
    expect(() => detectLayout(join(tmp, 'nowhere'), 'refcoco')).toThrow(/is not a directory/);
  });

  it('missing images folder: ConfigError listing the candidates', () => {
    const root = join(tmp, 'noimages');
    mkdirSync(join(root, 'refcoco'), { recursive: true });
    writeFileSync(join(root, 'refcoco', 'refs(unc).p'), '');
    writeFileSync(join(root, 'refcoco', 'instances.json'), '{}');
    expect(() => openRefcoco({ root, dataset: 'refcoco', layout: 'auto', exifOrientation: true, checkOfficialSizes: true }, ctx())).toThrow(/no COCO train2014 image folder found; looked for .*images\/train2014/);
  });

  it('the manifest: kind, name, schema defaults, relative roots resolved against baseDir', () => {
    expect(refcocoPlugin.kind).toBe('dataset');
    expect(refcocoPlugin.name).toBe('refcoco');
    const props = (refcocoPlugin.schema as unknown as { properties: Record<string, { default?: unknown }>; required: string[] }).properties;
    expect(props.dataset!.default).toBe('refcoco');
    expect(props.layout!.default).toBe('auto');
    expect((refcocoPlugin.schema as unknown as { required: string[] }).required).toContain('root');
    const src = refcocoPlugin.create({ root: 'refer', dataset: 'refcoco', layout: 'auto', exifOrientation: true, checkOfficialSizes: false }, { where: 'x', baseDir: tmp });
    expect(src.records('val').length).toBe(2);
  });
});
