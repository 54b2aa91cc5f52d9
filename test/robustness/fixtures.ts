/**
 * Tiny, self-contained inputs for the robustness tests: a byte-level vocabulary, a tiny
 * custom-CLIP run config, a hand-written RefCOCO in the REFER layout (3 images, 6 refs)
 * and its CRIS-layout twin, images of every odd kind, valid and broken checkpoints, and
 * hostile pickles. Everything is generated into temp folders; nothing is committed.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { inlineConfig, type JsonObject } from '../../core/config/load.js';
import { validateConfig } from '../../core/config/validate.js';
import { encodePickle, type PyValue } from '../../core/io/pickle-writer.js';
import { encodeSafetensors } from '../../core/io/safetensors.js';
import type { RawTensor } from '../../core/io/raw-tensor.js';
import { makeZip } from '../../core/io/zip-testing.js';
import { buildModel } from '../../core/model/build.js';
import { CORE_PLUGINS } from '../../core/plugins.js';
import { Registry } from '../../core/registry/registry.js';
import { selectBackend } from '../../core/runtime/backend.js';
import { saveCheckpoint } from '../../core/train/checkpoint.js';
import { byteLevelTokenizer } from '../../plugins/backbones/clip/tokenizer/byte-vocab.js';
import { PLUGINS } from '../../plugins/index.js';
import { crisMaskPng } from '../../plugins/datasets/refcoco/coco-mask.js';
import { RisLoader } from '../../core/data/pipeline.js';
import type { SkipCounts } from '../../core/data/bad-sample.js';
import { openRefcoco, type RefcocoOptions } from '../../plugins/datasets/refcoco/index.js';

export const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);

/** A byte-level vocabulary (514 ids) in `dir`. */
export function writeVocab(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, 'bytes-vocab.txt');
  if (!existsSync(p)) byteLevelTokenizer().save(p);
  return p;
}

export interface TinyConfigOptions {
  vocab: string;
  /** A data root for `data.dataset` (refcoco, REFER layout), or a full dataset node. */
  data?: string | JsonObject;
  width?: number;
  adapters?: JsonObject[];
  train?: JsonObject;
  dataExtra?: JsonObject;
}

/** A tiny complete run config: custom CLIP (2+2 blocks, width 16), LIM, CRIS head, cpu. */
export function tinyConfig(o: TinyConfigOptions): JsonObject {
  const w = o.width ?? 16;
  const cfg: JsonObject = {
    input: { size: 32, wordLength: 8 },
    runtime: { backend: 'cpu', seed: 1 },
    model: {
      backbone: {
        type: 'clip',
        preset: 'custom',
        visionWidth: w,
        visionLayers: 2,
        visionHeads: 2,
        patchSize: 8,
        textWidth: w,
        textLayers: 2,
        textHeads: 2,
        vocabSize: 514,
        contextLength: 8,
        embedDim: 16,
        vocab: o.vocab,
        stageLayers: [1, 2],
      },
      adapters: o.adapters ?? [{ type: 'lim', hidden: 8 }],
      head: { type: 'cris', visDim: 16, fpnOut: [8, 16, 32], numLayers: 1, numHeads: 2, dimFfn: 16, dropout: 0.1, neckHeads: 2 },
    },
    train: { epochs: 1, batchSize: 2, maxSteps: 1, optimizer: { type: 'adam', lr: 0.001 }, ...(o.train ?? {}) },
    eval: { splits: ['val'], batchSize: 2, maxSamples: 2 },
  };
  if (o.data !== undefined) {
    const dataset = typeof o.data === 'string' ? { type: 'refcoco', root: o.data, dataset: 'refcoco', layout: 'refer', checkOfficialSizes: false } : o.data;
    cfg.data = { dataset, prefetch: 1, workers: 2, ...(o.dataExtra ?? {}) };
  }
  return cfg;
}

/** A valid checkpoint (as `zoo train` writes it, no optimiser state) of `cfg`'s model. */
export async function writeModelCheckpoint(path: string, cfg: JsonObject, mutate?: (tensors: [string, RawTensor][]) => void): Promise<void> {
  await selectBackend('cpu');
  const v = validateConfig(inlineConfig(cfg), registry);
  const model = buildModel(v, registry, { skipPretrained: true });
  try {
    if (!mutate) {
      saveCheckpoint(path, model, undefined, { step: 0, epoch: 0, stepInEpoch: 0, seed: 0, config: v.config });
      return;
    }
    // Same content as saveCheckpoint, with the tensors edited before writing.
    const { checkpointTensors, CHECKPOINT_FORMAT } = await import('../../core/train/checkpoint.js');
    const tensors = checkpointTensors(model);
    mutate(tensors);
    const meta = { step: 0, epoch: 0, stepInEpoch: 0, seed: 0, config: v.config, format: CHECKPOINT_FORMAT, optimizerStep: 0, savedAt: 'test' };
    writeFileSync(path, Buffer.concat(encodeSafetensors(tensors, { checkpoint: JSON.stringify(meta) })));
  } finally {
    model.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// Images

export async function jpeg(width: number, height: number, seed = 0): Promise<Buffer> {
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + seed * 11) % 251;
  return sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    let c = (crc ^ buf[n]!) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, c]);
}

/** A PNG whose header claims `width`×`height` RGB but whose data is a few bytes. */
export function pngWithHeader(width: number, height: number): Buffer {
  const ih = Buffer.alloc(13);
  ih.writeUInt32BE(width, 0);
  ih.writeUInt32BE(height, 4);
  ih[8] = 8;
  ih[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ih), pngChunk('IDAT', deflateSync(Buffer.alloc(64))), pngChunk('IEND', Buffer.alloc(0))]);
}

const solid = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 60, b: 20 } } });

/** Images that are odd but valid (decode to RGB) and ones that are broken. */
export async function imageKinds(w = 40, h = 30): Promise<Record<string, Buffer>> {
  const good = await jpeg(w, h);
  const png16 = await solid(w, h).toColourspace('rgb16').png().toBuffer();
  return {
    // accepted
    cmyk: await solid(w, h).toColourspace('cmyk').jpeg().toBuffer(),
    png16,
    gray: await solid(w, h).greyscale().png().toBuffer(),
    grayJpeg: await solid(w, h).greyscale().jpeg().toBuffer(),
    rgba: await sharp({ create: { width: w, height: h, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } }).png().toBuffer(),
    // refused
    truncatedJpeg: good.subarray(0, Math.floor(good.length / 2)),
    truncatedPng: png16.subarray(0, png16.length - 30),
    zeroSizePng: pngWithHeader(0, 0),
    empty: Buffer.alloc(0),
    text: Buffer.from('this is a text file, not a JPEG\n'),
    huge: pngWithHeader(100000, 100000),
  };
}

// ---------------------------------------------------------------------------------------
// A tiny RefCOCO (REFER layout) and its CRIS-layout twin

export interface ReferData {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; category_id: number; segmentation: unknown; iscrowd: number; area?: number; bbox?: number[] }[];
  categories: { id: number; name: string }[];
  refs: { ref_id: number; ann_id: number; image_id: number; split: string; category_id: number; sentences: { sent: string; raw: string; tokens: string[]; sent_id: number }[]; sent_ids: number[]; file_name: string }[];
}

const fname = (id: number) => `COCO_train2014_${String(id).padStart(12, '0')}.jpg`;

/** 4 images, 7 refs: train 2 on image 1 and 1 on image 4, val 2 (image 2), testA and testB (image 3). */
export function referData(): ReferData {
  const images = [
    { id: 1, file_name: fname(1), width: 40, height: 30 },
    { id: 2, file_name: fname(2), width: 36, height: 28 },
    { id: 3, file_name: fname(3), width: 32, height: 32 },
    { id: 4, file_name: fname(4), width: 30, height: 24 },
  ];
  const box = (x0: number, y0: number, x1: number, y1: number) => [[x0, y0, x1, y0, x1, y1, x0, y1]];
  const annotations = [
    { id: 11, image_id: 1, category_id: 1, segmentation: box(2, 2, 18, 20), iscrowd: 0 },
    { id: 12, image_id: 1, category_id: 3, segmentation: box(20, 5, 38, 25), iscrowd: 0 },
    { id: 21, image_id: 2, category_id: 1, segmentation: box(3, 3, 15, 20), iscrowd: 0 },
    { id: 22, image_id: 2, category_id: 3, segmentation: box(18, 4, 34, 26), iscrowd: 0 },
    { id: 31, image_id: 3, category_id: 1, segmentation: box(2, 2, 14, 28), iscrowd: 0 },
    { id: 32, image_id: 3, category_id: 3, segmentation: box(16, 2, 30, 28), iscrowd: 0 },
    { id: 41, image_id: 4, category_id: 1, segmentation: box(4, 4, 20, 20), iscrowd: 0 },
  ];
  let sid = 0;
  const ref = (ref_id: number, ann_id: number, image_id: number, split: string, category_id: number, sents: string[]) => {
    const sentences = sents.map((s) => ({ sent: s, raw: s, tokens: s.split(' '), sent_id: sid++ }));
    return { ref_id, ann_id, image_id, split, category_id, sentences, sent_ids: sentences.map((s) => s.sent_id), file_name: fname(image_id).replace('.jpg', `_${ann_id}.jpg`) };
  };
  const refs = [
    ref(0, 11, 1, 'train', 1, ['left person', 'the person on the left']),
    ref(1, 12, 1, 'train', 3, ['right car']),
    ref(2, 21, 2, 'val', 1, ['left man']),
    ref(3, 22, 2, 'val', 3, ['car on the right']),
    ref(4, 31, 3, 'testA', 1, ['left guy']),
    ref(5, 32, 3, 'testB', 3, ['right car']),
    ref(6, 41, 4, 'train', 1, ['the person']),
  ];
  return { images, annotations, categories: [{ id: 1, name: 'person' }, { id: 3, name: 'car' }], refs };
}

export interface WriteReferOptions {
  /** Edit the data before it is written. */
  edit?: (d: ReferData) => void;
  /** Replace image files (by image id) with these bytes. */
  imageBytes?: Record<number, Buffer>;
  /** Raw bytes for refs(unc).p / instances.json instead of the encoded data. */
  refsBytes?: Buffer;
  instancesBytes?: Buffer;
}

/** Write <root>/refcoco/{refs(unc).p, instances.json} and <root>/images/train2014/*.jpg. */
export async function writeRefer(root: string, o: WriteReferOptions = {}): Promise<ReferData> {
  const d = referData();
  o.edit?.(d);
  const dir = join(root, 'refcoco');
  const imgDir = join(root, 'images', 'train2014');
  mkdirSync(dir, { recursive: true });
  mkdirSync(imgDir, { recursive: true });
  writeFileSync(join(dir, 'refs(unc).p'), o.refsBytes ?? encodePickle(d.refs as unknown as PyValue));
  writeFileSync(join(dir, 'instances.json'), o.instancesBytes ?? JSON.stringify({ images: d.images, annotations: d.annotations, categories: d.categories }));
  for (const im of referData().images) {
    const bytes = o.imageBytes?.[im.id] ?? (await jpeg(im.width, im.height, im.id));
    writeFileSync(join(imgDir, im.file_name), bytes);
  }
  return d;
}

/** The CRIS layout of the same data: anns/refcoco/<split>.json and masks/refcoco/<ref>.png. */
export async function writeCris(root: string, o: { editEntries?: (split: string, entries: Record<string, unknown>[]) => void; maskBytes?: Record<number, Buffer> } = {}): Promise<void> {
  const d = referData();
  const imgDir = join(root, 'images', 'train2014');
  mkdirSync(imgDir, { recursive: true });
  mkdirSync(join(root, 'anns', 'refcoco'), { recursive: true });
  mkdirSync(join(root, 'masks', 'refcoco'), { recursive: true });
  for (const im of d.images) writeFileSync(join(imgDir, im.file_name), await jpeg(im.width, im.height, im.id));
  for (const split of ['train', 'val', 'testA', 'testB']) {
    const entries: Record<string, unknown>[] = d.refs
      .filter((r) => r.split === split)
      .map((r) => ({
        bbox: [0, 0, 1, 1],
        cat: r.category_id - 1,
        segment_id: r.ref_id,
        img_name: d.images.find((i) => i.id === r.image_id)!.file_name,
        sentences: r.sentences.map((s, idx) => ({ idx, sent_id: s.sent_id, sent: s.sent })),
        sentences_num: r.sentences.length,
      }));
    o.editEntries?.(split, entries);
    writeFileSync(join(root, 'anns', 'refcoco', `${split}.json`), JSON.stringify(entries));
  }
  for (const r of d.refs) {
    const im = d.images.find((i) => i.id === r.image_id)!;
    const ann = d.annotations.find((a) => a.id === r.ann_id)!;
    const png =
      o.maskBytes?.[r.ref_id] ??
      (await sharp(Buffer.from(crisMaskPng(ann.segmentation as number[][], im.height, im.width, 'mask')), { raw: { width: im.width, height: im.height, channels: 1 } }).png().toBuffer());
    writeFileSync(join(root, 'masks', 'refcoco', `${r.ref_id}.png`), png);
  }
}

export function copyInto(src: string, dst: string): string {
  mkdirSync(join(dst, '..'), { recursive: true });
  copyFileSync(src, dst);
  return dst;
}

// ---------------------------------------------------------------------------------------
// Hostile pickles and torch files (raw opcodes)

const op = (...bytes: number[]) => Buffer.from(bytes);
const binunicode = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return Buffer.concat([op(0x58), len, b]);
};
const PROTO2 = op(0x80, 0x02);
const STOP = op(0x2e);

/** `os.system('true')`: a GLOBAL that runs code. */
export function pickleForbiddenGlobal(): Buffer {
  return Buffer.concat([PROTO2, Buffer.from('cos\nsystem\n', 'latin1'), binunicode('true'), op(0x85), op(0x52), STOP]);
}

/** `{key: [[[...]]]}` nested `depth` lists deep (or a bare nested list without key). */
export function pickleDeepNesting(depth: number, key?: string): Buffer {
  const parts = [PROTO2];
  if (key) parts.push(op(0x7d), binunicode(key));
  parts.push(Buffer.alloc(depth, 0x5d)); // EMPTY_LIST x depth
  parts.push(Buffer.alloc(depth - 1, 0x61)); // APPEND x (depth-1)
  if (key) parts.push(op(0x73)); // SETITEM
  parts.push(STOP);
  return Buffer.concat(parts);
}

/** `x = []; x = (x, x)` `levels` times: a few bytes that describe 2^levels leaves through shared references. */
export function pickleSharedBomb(levels: number, key?: string): Buffer {
  const parts = [PROTO2];
  if (key) parts.push(op(0x7d), binunicode(key));
  parts.push(op(0x5d));
  for (let i = 0; i < levels; i++) parts.push(op(0x32, 0x86)); // DUP, TUPLE2
  if (key) parts.push(op(0x73));
  parts.push(STOP);
  return Buffer.concat(parts);
}

/** A list of one dict whose "sent" string holds invalid UTF-8 (BINUNICODE). */
export function pickleBadUtf8(): Buffer {
  return Buffer.concat([PROTO2, op(0x5d, 0x7d), binunicode('sent'), binunicode(Buffer.from([0x6c, 0x65, 0x66, 0x74, 0xff, 0xfe, 0x20])), op(0x73, 0x61), STOP]);
}

/** A torch.save zip archive holding `pkl` as its data.pkl. */
export function torchZip(pkl: Buffer): Buffer {
  return makeZip([
    { name: 'archive/data.pkl', data: pkl },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}

// ---------------------------------------------------------------------------------------
// The data pipeline over a tiny RefCOCO

/** Iterate one epoch of `split` of the RefCOCO data at `root` (REFER or CRIS layout) through RisLoader. */
export async function iterate(root: string, split: string, skipBad: boolean, o: { layout?: 'refer' | 'cris'; dataset?: string } = {}): Promise<{ batches: number[]; skipped: SkipCounts; describe: string }> {
  const options = { root, dataset: o.dataset ?? 'refcoco', layout: o.layout ?? 'refer', checkOfficialSizes: false, exifOrientation: true } as RefcocoOptions;
  const source = openRefcoco(options, { where: 'data.dataset', baseDir: root });
  const loader = await RisLoader.create(source, split, {
    inputSize: 32,
    wordLength: 8,
    tokenizer: byteLevelTokenizer(),
    batchSize: 2,
    mode: split === 'train' ? 'train' : 'val',
    seed: 0,
    skipBad,
    prefetch: 1,
    workers: 2,
    withOriginal: split !== 'train',
  });
  const batches: number[] = [];
  for await (const b of loader.epoch(0)) batches.push(b.size);
  return { batches, skipped: loader.skipped, describe: loader.describeSkipped() };
}
