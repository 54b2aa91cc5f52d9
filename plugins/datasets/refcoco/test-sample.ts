/**
 * Test-only: a tiny RefCOCO in the REFER layout (refs(unc).p written with the project's
 * pickle writer, instances.json, JPEG images), and its conversion to the CRIS layout (what
 * the official tools/data_process.py would write from it). It has refs with several
 * sentences, two refs sharing an image, overlapping polygon parts, a crowd annotation with
 * an RLE segmentation, a ref in "testAB" (REFER puts it in testA and testB), a ref whose
 * annotation has no segmentation and a ref whose annotation is missing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../../../core/io/atomic-write.js';
import { encodePickle, type PickleWriteOptions, type PyValue } from '../../../core/io/pickle-writer.js';
import { annToMask, crisMaskPng, rleEncode, type CocoSegmentation } from './coco-mask.js';

export const SAMPLE_IMAGES = [
  { id: 1001, width: 40, height: 30 },
  { id: 1002, width: 32, height: 24 },
  { id: 1003, width: 36, height: 28 },
  { id: 1004, width: 20, height: 20 },
] as const;

export const fileName = (id: number): string => `COCO_train2014_${String(id).padStart(12, '0')}.jpg`;

function crowdRle(): { size: [number, number]; counts: number[] } {
  const h = 24;
  const w = 32;
  const m = new Uint8Array(h * w);
  for (let y = 4; y < 18; y++) for (let x = 6; x < 25; x++) m[y * w + x] = 1;
  return rleEncode(m, h, w);
}

/** Annotations by id: [image id, category id, segmentation, iscrowd]. */
export const SAMPLE_ANNS: Record<number, [number, number, CocoSegmentation | [], number]> = {
  // two overlapping parts: the overlap is 2 in REFER's part count, 254 in the CRIS PNG
  11: [1001, 1, [[5, 5, 20, 5, 20, 20, 5, 20], [15, 10, 30, 10, 30, 25, 15, 25]], 0],
  12: [1001, 3, [[25, 2, 38, 2, 38, 8, 25, 8]], 0],
  21: [1002, 1, crowdRle(), 1],
  31: [1003, 1, [[3, 3, 12, 3, 12, 20, 3, 20]], 0],
  32: [1003, 3, [[18, 5, 33, 5, 33, 25, 18, 25]], 0],
  41: [1004, 3, [], 0],
};

export interface SampleRef {
  ref_id: number;
  ann_id: number;
  image_id: number;
  split: string;
  category_id: number;
  sentences: string[];
}

export const SAMPLE_REFS: SampleRef[] = [
  { ref_id: 0, ann_id: 11, image_id: 1001, split: 'train', category_id: 1, sentences: [' the left blob ', 'left thing', 'person on the left'] },
  { ref_id: 1, ann_id: 12, image_id: 1001, split: 'train', category_id: 3, sentences: ['top right car'] },
  { ref_id: 2, ann_id: 21, image_id: 1002, split: 'val', category_id: 1, sentences: ['the crowd', 'people', 'group of people'] },
  { ref_id: 3, ann_id: 31, image_id: 1003, split: 'testA', category_id: 1, sentences: ['man left', 'guy'] },
  { ref_id: 4, ann_id: 32, image_id: 1003, split: 'testB', category_id: 3, sentences: ['car right'] },
  { ref_id: 5, ann_id: 41, image_id: 1004, split: 'testAB', category_id: 3, sentences: ['nothing to see'] },
  { ref_id: 6, ann_id: 999, image_id: 1004, split: 'val', category_id: 3, sentences: ['lost annotation'] },
];

/** REFER counting of SAMPLE_REFS (testAB counts in testA and testB). */
export const SAMPLE_SPLIT_SIZES = { train: 2, val: 2, testA: 2, testB: 2 };

async function writeImages(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const im of SAMPLE_IMAGES) {
    const rgb = Buffer.alloc(im.width * im.height * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + im.id) % 251;
    writeFileAtomic(join(dir, fileName(im.id)), await sharp(rgb, { raw: { width: im.width, height: im.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
}

/** Write <root>/refcoco/{refs(unc).p, instances.json} and <root>/images/train2014/*.jpg. */
export async function writeReferSample(root: string, pickle: PickleWriteOptions = {}): Promise<void> {
  let sentId = 0;
  const refs: PyValue[] = SAMPLE_REFS.map((r) => {
    const sentences = r.sentences.map((s) => ({ tokens: s.trim().split(' '), raw: s, sent_id: sentId++, sent: s }));
    return {
      sent_ids: sentences.map((s) => s.sent_id),
      file_name: `${fileName(r.image_id).slice(0, -4)}_${r.ann_id}.jpg`,
      ann_id: r.ann_id,
      ref_id: r.ref_id,
      image_id: r.image_id,
      split: r.split,
      sentences,
      category_id: r.category_id,
    };
  });
  const instances = {
    images: SAMPLE_IMAGES.map((im) => ({ id: im.id, file_name: fileName(im.id), height: im.height, width: im.width })),
    annotations: Object.entries(SAMPLE_ANNS).map(([id, [image_id, category_id, segmentation, iscrowd]]) => ({ id: Number(id), image_id, category_id, segmentation, iscrowd, area: 1, bbox: [0, 0, 1, 1] })),
    categories: [
      { id: 1, name: 'person', supercategory: 'person' },
      { id: 3, name: 'car', supercategory: 'vehicle' },
    ],
  };
  mkdirSync(join(root, 'refcoco'), { recursive: true });
  writeFileAtomic(join(root, 'refcoco', 'refs(unc).p'), encodePickle(refs, pickle));
  writeFileAtomic(join(root, 'refcoco', 'instances.json'), JSON.stringify(instances));
  await writeImages(join(root, 'images', 'train2014'));
}

/** COCO id → the CRIS contiguous index (`cat_process`) for the sample's categories. */
const CRIS_CAT: Record<number, number> = { 1: 0, 3: 2 };

/**
 * The CRIS layout of the same sample, as tools/data_process.py writes it: one JSON per split
 * (valid refs only: the official script cannot process the broken ones) and one PNG per ref.
 */
export async function writeCrisSample(root: string): Promise<void> {
  const annDir = join(root, 'anns', 'refcoco');
  const maskDir = join(root, 'masks', 'refcoco');
  mkdirSync(annDir, { recursive: true });
  mkdirSync(maskDir, { recursive: true });
  const bySplit: Record<string, unknown[]> = { train: [], val: [], testA: [], testB: [] };
  let sentId = 0;
  for (const r of SAMPLE_REFS) {
    const ids = r.sentences.map(() => sentId++);
    const ann = SAMPLE_ANNS[r.ann_id];
    if (!ann || (Array.isArray(ann[2]) && ann[2].length === 0)) continue;
    const im = SAMPLE_IMAGES.find((i) => i.id === r.image_id)!;
    const seg = ann[2] as CocoSegmentation;
    // the official getMask reads polygons only; the crowd RLE is written as its mask·255
    const png = Array.isArray(seg) ? crisMaskPng(seg, im.height, im.width) : annToMask(seg, im.height, im.width).map((v) => v * 255);
    writeFileSync(join(maskDir, `${r.ref_id}.png`), await sharp(Buffer.from(png), { raw: { width: im.width, height: im.height, channels: 1 } }).png().toBuffer());
    const entry = {
      bbox: [0, 0, 1, 1],
      cat: CRIS_CAT[r.category_id],
      segment_id: r.ref_id,
      img_name: fileName(r.image_id),
      sentences: r.sentences.map((s, idx) => ({ idx, sent_id: ids[idx], sent: s.trim() })),
      sentences_num: r.sentences.length,
    };
    for (const s of Object.keys(bySplit)) {
      if (s === r.split || ((s === 'testA' || s === 'testB') && r.split.includes(s.slice(-1)))) bySplit[s]!.push(entry);
    }
  }
  for (const [s, entries] of Object.entries(bySplit)) writeFileAtomic(join(annDir, `${s}.json`), JSON.stringify(entries));
  await writeImages(join(root, 'images', 'train2014'));
}
