/**
 * The original REFER release (lichengunc/refer) as a DatasetSource:
 *   <root>/<dir>/refs(<splitBy>).p     pickled list of refs
 *   <root>/<dir>/instances.json        COCO images / annotations / categories of those refs
 *   <imagesRoot>/<file_name>           COCO train2014 images (file_name from instances.json)
 *
 * What the official preparation (CRIS `tools/data_process.py` with REFER) does, reproduced:
 * - records of a split: REFER `getRefIds(split)` (see `referSplitMatches`), in pickle order;
 * - sentences: each sentence's `sent` field, stripped (`sent['sent'].strip()`);
 * - mask: `getMask(ref)['mask'] * 255` in uint8 (`crisMaskPng`: overlapping polygon parts
 *   give 254...), served by `loadMaskPng`; the evaluation ground truth is its nonzero
 *   pixels, i.e. the union of the parts (`annToMask`), which is what `loadMask` returns.
 *   An RLE segmentation (crowd annotation), which the official `getMask` cannot read, is
 *   decoded with `annToMask` (mask·255).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadSampleError } from '../../../core/data/bad-sample.js';
import type { DatasetSource, RefRecord } from '../../../core/data/contracts.js';
import { loadImageFile } from '../../../core/data/decode.js';
import { DataError, FileFormatError } from '../../../core/errors.js';
import { decodeUtf8 } from '../../../core/io/utf8.js';
import { MAX_WALK, WalkBudget, toPlain, unpickle } from '../../../core/io/pickle.js';
import type { ImageBuffer } from '../../../core/vision/image.js';
import { pyStrip } from '../../backbones/clip/tokenizer/clean.js';
import { annToMask, crisMaskPng, type CocoSegmentation } from './coco-mask.js';
import { checkSplit, compareOfficialSizes, referSplitMatches } from './names.js';

export interface ReferSourceOptions {
  /** Dataset name for ids and messages ("refcoco", "synthetic"...). */
  name: string;
  /** Data root (holds `<dir>/`). */
  root: string;
  /** Folder of refs(<splitBy>).p and instances.json under the root. */
  dir: string;
  splitBy: string;
  /** The splits this dataset has, in order. */
  splits: readonly string[];
  /** Folder of the images named by instances.json `file_name`. */
  imagesRoot: string;
  /** Apply EXIF orientation as cv2 does (default true). */
  exifOrientation?: boolean;
  /** Warn when split sizes differ from OFFICIAL_SPLIT_SIZES[name] (default false). */
  checkOfficialSizes?: boolean;
  warn?: (message: string) => void;
}

/** `RefRecord.maskRef` of this source. */
export interface ReferMaskRef {
  annId: number;
  segmentation: CocoSegmentation;
  /** Image size from instances.json. */
  height: number;
  width: number;
}

interface CocoImage {
  id: number;
  file_name: string;
  height: number;
  width: number;
}

interface CocoAnn {
  id: number;
  image_id: number;
  category_id?: number;
  segmentation?: unknown;
}

interface ReferIndex {
  /** All refs in pickle order, with their split field. */
  refs: { ref: Record<string, unknown>; index: number; split: string }[];
  anns: Map<number, CocoAnn>;
  images: Map<number, CocoImage>;
  cats: Map<number, string>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** The file's bytes, or a FileFormatError naming it (a folder, no permission...). */
function readOrFail(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new FileFormatError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

export function referFiles(root: string, dir: string, splitBy: string): { refs: string; instances: string } {
  return { refs: join(root, dir, `refs(${splitBy}).p`), instances: join(root, dir, 'instances.json') };
}

function isSegmentation(v: unknown): v is CocoSegmentation {
  if (Array.isArray(v)) return v.length > 0;
  return isObj(v) && Array.isArray(v.size) && (typeof v.counts === 'string' || Array.isArray(v.counts));
}

export class ReferSource implements DatasetSource {
  readonly name: string;
  readonly files: { refs: string; instances: string };
  private readonly o: ReferSourceOptions;
  private idx: ReferIndex | undefined;
  private readonly bySplit = new Map<string, RefRecord[]>();
  private warned = false;

  constructor(options: ReferSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.files = referFiles(options.root, options.dir, options.splitBy);
  }

  splits(): string[] {
    return [...this.o.splits];
  }

  private index(): ReferIndex {
    if (this.idx) return this.idx;
    const { refs: refsFile, instances: instFile } = this.files;
    for (const f of [refsFile, instFile]) if (!existsSync(f)) throw new FileFormatError(f, 'not found (REFER layout: <root>/<dataset>/refs(<splitBy>).p and instances.json)');
    // refs(<splitBy>).p
    const bytes = new Uint8Array(readOrFail(refsFile));
    // Legitimate refs files hold far fewer values than bytes; a pickle bomb holds far more.
    const refsValue = unpickle(bytes, { file: refsFile });
    const budget = new WalkBudget(refsFile, Math.max(MAX_WALK, bytes.length));
    budget.check(refsValue);
    const plain = toPlain(refsValue, refsFile, 0, budget);
    if (!Array.isArray(plain)) throw new FileFormatError(refsFile, `expected a pickled list of refs, got ${plain === null ? 'None' : typeof plain}`);
    const refs = plain.map((ref, index) => {
      if (!isObj(ref)) throw new FileFormatError(refsFile, `ref #${index} is not a dict`);
      if (typeof ref.split !== 'string') throw new FileFormatError(refsFile, `ref #${index} (ref_id ${JSON.stringify(ref.ref_id)}) has no "split" string`);
      if (!isInt(ref.ref_id)) throw new FileFormatError(refsFile, `ref #${index} has no integer "ref_id"`);
      return { ref, index, split: ref.split };
    });
    // instances.json: keep only what the refs use.
    let inst: unknown;
    try {
      inst = JSON.parse(decodeUtf8(readOrFail(instFile), (problem) => {
        throw new FileFormatError(instFile, problem);
      }));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(instFile, `not JSON: ${(e as Error).message}`, { cause: e });
    }
    if (!isObj(inst) || !Array.isArray(inst.images) || !Array.isArray(inst.annotations)) {
      throw new FileFormatError(instFile, 'expected a COCO object with "images" and "annotations" lists');
    }
    const wantAnns = new Set(refs.map((r) => r.ref.ann_id).filter(isInt));
    const anns = new Map<number, CocoAnn>();
    inst.annotations.forEach((a: unknown, i: number) => {
      if (!isObj(a) || !isInt(a.id)) throw new FileFormatError(instFile, `annotations[${i}] has no integer "id"`);
      if (wantAnns.has(a.id)) anns.set(a.id, a as unknown as CocoAnn);
    });
    const images = new Map<number, CocoImage>();
    inst.images.forEach((im: unknown, i: number) => {
      if (!isObj(im) || !isInt(im.id)) throw new FileFormatError(instFile, `images[${i}] has no integer "id"`);
      images.set(im.id, im as unknown as CocoImage);
    });
    const cats = new Map<number, string>();
    if (Array.isArray(inst.categories)) for (const c of inst.categories) if (isObj(c) && isInt(c.id) && typeof c.name === 'string') cats.set(c.id, c.name);
    this.idx = { refs, anns, images, cats };
    if (this.o.checkOfficialSizes && !this.warned) {
      this.warned = true;
      const counts = Object.fromEntries(this.o.splits.map((s) => [s, refs.filter((r) => referSplitMatches(s, r.split)).length]));
      for (const m of compareOfficialSizes(this.name, counts)) (this.o.warn ?? console.warn)(`${m} (${refsFile})`);
    }
    return this.idx;
  }

  records(split: string): RefRecord[] {
    checkSplit(this.name, split, this.o.splits);
    const cached = this.bySplit.get(split);
    if (cached) return cached;
    const { refs, anns, images, cats } = this.index();
    const out = refs.filter((r) => referSplitMatches(split, r.split)).map(({ ref, index }) => this.record(split, ref, index, anns, images, cats));
    this.bySplit.set(split, out);
    return out;
  }

  private record(split: string, ref: Record<string, unknown>, index: number, anns: Map<number, CocoAnn>, images: Map<number, CocoImage>, cats: Map<number, string>): RefRecord {
    const { refs: refsFile, instances: instFile } = this.files;
    const refId = ref.ref_id as number;
    const annId = isInt(ref.ann_id) ? ref.ann_id : -1;
    const imageId = isInt(ref.image_id) ? ref.image_id : -1;
    const sentences = Array.isArray(ref.sentences) ? ref.sentences.map((s) => (isObj(s) && typeof s.sent === 'string' ? pyStrip(s.sent) : '')) : [];
    const img = images.get(imageId);
    const ann = anns.get(annId);
    const rec: RefRecord = {
      id: `${this.name}/${split}/ref${refId}`,
      refId,
      annId,
      imageId,
      imagePath: img && typeof img.file_name === 'string' ? join(this.o.imagesRoot, img.file_name) : join(this.o.imagesRoot, `<image ${imageId}>`),
      sentences,
      maskRef: undefined,
    };
    const catId = isInt(ref.category_id) ? ref.category_id : ann?.category_id;
    if (catId !== undefined && cats.has(catId)) rec.category = cats.get(catId)!;
    const invalid = (message: string, file = instFile) => {
      rec.invalid = { reason: 'bad-annotation', message, file };
      return rec;
    };
    if (!Array.isArray(ref.sentences)) return invalid(`ref #${index} has no "sentences" list`, refsFile);
    if (annId < 0) return invalid(`ref #${index} has no integer "ann_id"`, refsFile);
    if (imageId < 0) return invalid(`ref #${index} has no integer "image_id"`, refsFile);
    if (!img) return invalid(`image ${imageId} of ref ${refId} is not in instances.json "images"`);
    if (typeof img.file_name !== 'string' || !isInt(img.height) || !isInt(img.width) || img.height <= 0 || img.width <= 0) {
      return invalid(`image ${imageId} needs "file_name", and positive "height" and "width"`);
    }
    if (!ann) return invalid(`annotation ${annId} of ref ${refId} is not in instances.json "annotations"`);
    if (!isSegmentation(ann.segmentation)) return invalid(`annotation ${annId} of ref ${refId} has no segmentation (polygons or RLE)`);
    const maskRef: ReferMaskRef = { annId, segmentation: ann.segmentation, height: img.height, width: img.width };
    rec.maskRef = maskRef;
    return rec;
  }

  loadImage(rec: RefRecord): Promise<ImageBuffer<Uint8Array>> {
    return loadImageFile(rec.imagePath, { exifOrientation: this.o.exifOrientation ?? true });
  }

  private maskOf(rec: RefRecord, height: number, width: number): ReferMaskRef {
    const m = rec.maskRef as ReferMaskRef | undefined;
    if (!m) throw new BadSampleError('bad-annotation', this.files.instances, `record ${rec.id} has no usable annotation`);
    if (m.height !== height || m.width !== width) {
      throw new BadSampleError(
        'mask-size',
        rec.imagePath,
        `the image decodes as ${width}×${height} (EXIF orientation ${this.o.exifOrientation === false ? 'ignored' : 'applied, as cv2.imread does'}) but instances.json says ${m.width}×${m.height} for image ${rec.imageId}`,
      );
    }
    return m;
  }

  private rasterise<T>(rec: RefRecord, m: ReferMaskRef, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof DataError) throw new BadSampleError('bad-annotation', this.files.instances, `annotation ${m.annId} of ${rec.id}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /** Union of the annotation's parts (pycocotools annToMask), 0/1. */
  async loadMask(rec: RefRecord, height: number, width: number): Promise<Uint8Array> {
    const m = this.maskOf(rec, height, width);
    return this.rasterise(rec, m, () => annToMask(m.segmentation, m.height, m.width, `annotation ${m.annId}`));
  }

  /** The official mask PNG content (REFER getMask · 255 in uint8). */
  async loadMaskPng(rec: RefRecord, height: number, width: number): Promise<Uint8Array> {
    const m = this.maskOf(rec, height, width);
    return this.rasterise(rec, m, () => {
      if (Array.isArray(m.segmentation)) return crisMaskPng(m.segmentation, m.height, m.width, `annotation ${m.annId}`);
      const u = annToMask(m.segmentation, m.height, m.width, `annotation ${m.annId}`);
      for (let i = 0; i < u.length; i++) u[i] = u[i] ? 255 : 0;
      return u;
    });
  }

  /** Number of refs per split (REFER getRefIds counting). */
  splitSizes(): Record<string, number> {
    const { refs } = this.index();
    return Object.fromEntries(this.o.splits.map((s) => [s, refs.filter((r) => referSplitMatches(s, r.split)).length]));
  }

  describe(): string {
    const sizes = this.idx ? ` (${Object.entries(this.splitSizes()).map(([s, n]) => `${s} ${n}`).join(', ')} refs)` : '';
    return `${this.name}: REFER layout, ${this.files.refs}${sizes}; images ${this.o.imagesRoot}`;
  }
}
