/**
 * The layout the CRIS/ETRIS/BarLeRIa preparation (`tools/data_process.py`,
 * tools/prepare_datasets.md) writes, as a DatasetSource:
 *   <root>/anns/<dataset>/<split>.json    [{bbox, cat, segment_id, img_name,
 *                                            sentences: [{idx, sent_id, sent}], sentences_num}]
 *   <root>/masks/<dataset>/<segment_id>.png   `getMask(ref)['mask'] * 255`, 8-bit grey
 *   <imagesRoot>/<img_name>                COCO train2014 images (default <root>/images/train2014)
 * (`segment_id` is the REFER ref_id; `cat` the contiguous 0..79 COCO index.)
 * The official training reads the PNG as the target (/255 after the warp); the official
 * evaluation takes its nonzero pixels: `loadMaskPng` gives the PNG, `loadMask` its nonzero
 * pixels as 0/1.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BadSampleError } from '../../../core/data/bad-sample.js';
import type { DatasetSource, RefRecord } from '../../../core/data/contracts.js';
import { loadImageFile, loadMaskFile } from '../../../core/data/decode.js';
import { FileFormatError } from '../../../core/errors.js';
import { decodeUtf8 } from '../../../core/io/utf8.js';
import type { ImageBuffer } from '../../../core/vision/image.js';
import { COCO_CATEGORY_NAMES, checkSplit, compareOfficialSizes } from './names.js';

export interface CrisSourceOptions {
  /** Dataset name for ids and messages; also the folder under anns/ and masks/ unless `folder` is given. */
  name: string;
  root: string;
  /** Folder under anns/ and masks/ (default `name`). */
  folder?: string;
  /** Splits in their usual order; others found as <split>.json come after, sorted. */
  splits: readonly string[];
  imagesRoot: string;
  exifOrientation?: boolean;
  checkOfficialSizes?: boolean;
  warn?: (message: string) => void;
}

/** `RefRecord.maskRef` of this source: the mask PNG path. */
export interface CrisMaskRef {
  png: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

export function crisDirs(root: string, folder: string): { anns: string; masks: string } {
  return { anns: join(root, 'anns', folder), masks: join(root, 'masks', folder) };
}

export class CrisLayoutSource implements DatasetSource {
  readonly name: string;
  readonly dirs: { anns: string; masks: string };
  private readonly o: CrisSourceOptions;
  private readonly bySplit = new Map<string, RefRecord[]>();

  constructor(options: CrisSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.dirs = crisDirs(options.root, options.folder ?? options.name);
  }

  splits(): string[] {
    const found = existsSync(this.dirs.anns) ? readdirSync(this.dirs.anns).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)) : [];
    const known = this.o.splits.filter((s) => found.includes(s));
    return [...known, ...found.filter((s) => !known.includes(s)).sort()];
  }

  records(split: string): RefRecord[] {
    checkSplit(this.name, split, this.splits());
    const cached = this.bySplit.get(split);
    if (cached) return cached;
    const file = join(this.dirs.anns, `${split}.json`);
    let data: unknown;
    try {
      data = JSON.parse(decodeUtf8(readFileSync(file), (problem) => {
        throw new FileFormatError(file, problem);
      }));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(file, `cannot read the annotation list: ${(e as Error).message}`, { cause: e });
    }
    if (!Array.isArray(data)) throw new FileFormatError(file, 'expected a JSON list of {segment_id, img_name, sentences, ...}');
    const out = data.map((entry, i) => this.record(split, file, entry, i));
    this.bySplit.set(split, out);
    if (this.o.checkOfficialSizes) for (const m of compareOfficialSizes(this.name, { [split]: out.length })) (this.o.warn ?? console.warn)(`${m} (${file})`);
    return out;
  }

  private record(split: string, file: string, entry: unknown, i: number): RefRecord {
    const e = isObj(entry) ? entry : {};
    const segId = isInt(e.segment_id) ? e.segment_id : -1;
    const imgName = typeof e.img_name === 'string' ? e.img_name : '';
    const sentences = Array.isArray(e.sentences) ? e.sentences.map((s) => (isObj(s) && typeof s.sent === 'string' ? s.sent : '')) : [];
    const imageId = /(\d+)\.[A-Za-z]+$/.exec(imgName);
    const rec: RefRecord = {
      id: `${this.name}/${split}/ref${segId >= 0 ? segId : `#${i}`}`,
      refId: segId,
      annId: -1,
      imageId: imageId ? Number(imageId[1]) : -1,
      imagePath: join(this.o.imagesRoot, imgName || `<entry ${i}>`),
      sentences,
      maskRef: { png: join(this.dirs.masks, `${segId}.png`) } satisfies CrisMaskRef,
    };
    if (isInt(e.cat) && e.cat >= 0 && e.cat < COCO_CATEGORY_NAMES.length) rec.category = COCO_CATEGORY_NAMES[e.cat]!;
    const bad = (message: string) => {
      rec.invalid = { reason: 'bad-annotation', message: `entry ${i}: ${message}`, file };
      return rec;
    };
    if (!isObj(entry)) return bad('not an object');
    if (segId < 0) return bad('no integer "segment_id"');
    if (!imgName) return bad('no "img_name"');
    if (!Array.isArray(e.sentences)) return bad('no "sentences" list');
    return rec;
  }

  loadImage(rec: RefRecord): Promise<ImageBuffer<Uint8Array>> {
    return loadImageFile(rec.imagePath, { exifOrientation: this.o.exifOrientation ?? true });
  }

  /** The mask PNG as cv2.imread(path, IMREAD_GRAYSCALE) reads it, checked against the image size. */
  async loadMaskPng(rec: RefRecord, height: number, width: number): Promise<Uint8Array> {
    const { png } = rec.maskRef as CrisMaskRef;
    // Masks are written from annotation sizes, never rotated: read them without EXIF orientation.
    const m = await loadMaskFile(png, { exifOrientation: false });
    if (m.height !== height || m.width !== width) {
      throw new BadSampleError('mask-size', png, `the mask is ${m.width}×${m.height} but the image ${rec.imagePath} is ${width}×${height}`);
    }
    return m.data;
  }

  /** Nonzero pixels of the mask PNG (the official evaluation's ground truth), 0/1. */
  async loadMask(rec: RefRecord, height: number, width: number): Promise<Uint8Array> {
    const png = await this.loadMaskPng(rec, height, width);
    const out = new Uint8Array(png.length);
    for (let i = 0; i < png.length; i++) out[i] = png[i] ? 1 : 0;
    return out;
  }

  describe(): string {
    const sizes = [...this.bySplit].map(([s, r]) => `${s} ${r.length}`).join(', ');
    return `${this.name}: CRIS layout, ${this.dirs.anns}${sizes ? ` (${sizes} refs)` : ''}; masks ${this.dirs.masks}; images ${this.o.imagesRoot}`;
  }
}
