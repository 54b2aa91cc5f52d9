/**
 * Writes the synthetic dataset in the REFER + COCO layout (see README.md), atomically
 * (into a temporary sibling folder renamed into place), deterministically (same seed and
 * options, same bytes) and cached (`ensureSyntheticDataset` keeps a matching dataset).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../../core/nn/rng.js';
import { ConfigError, FileFormatError, RuntimeFailure } from '../../../core/errors.js';
import { writeFileAtomic } from '../../../core/io/atomic-write.js';
import { encodePickle, type PyValue } from '../../../core/io/pickle-writer.js';
import { dataOptions, resolveSyntheticOptions, type SyntheticOptions, type SyntheticOptionsInput } from './options.js';
import { planRefs, renderScene, sampleScene, sceneCaptions, type PlannedRef, type Scene } from './scene.js';
import { SHAPES, SPLITS, categoryId, shapeGroup, type ShapeGroup, type SplitName } from './vocabulary.js';

/** Bump when the same options would produce different files. */
export const GENERATOR_VERSION = 1;
export const MANIFEST_FORMAT = 'barleria-zoo/synthetic-refer';
/** Manifest file name, directly under the root. */
export const MANIFEST_FILE = 'synthref.json';

/** COCO image ids are 6-digit numbers; RefCOCO's largest is 581929. */
const MAX_IMAGE_ID = 581929;
/** COCO (non-crowd) annotation ids go up to about 2.2 million. */
const MAX_ANN_ID = 2232119;

export interface SyntheticCounts {
  images: Record<SplitName, number>;
  refs: Record<SplitName, number>;
  sentences: Record<SplitName, number>;
  annotations: number;
  captions: number;
  captionImages: number;
}

export interface SyntheticManifest {
  format: typeof MANIFEST_FORMAT;
  generatorVersion: number;
  seed: number;
  /** Every option that affects the files (all but `concurrency`). */
  options: Omit<SyntheticOptions, 'concurrency'>;
  counts: SyntheticCounts;
  /** Paths relative to the root. */
  files: { instances: string; refs: string; scenes: string; captions: string; imageDir: string; pretrainImageDir: string };
}

export interface GenerationResult {
  root: string;
  manifest: SyntheticManifest;
  /** False when ensureSyntheticDataset found a matching dataset. */
  generated: boolean;
  /** Wall time of the generation (0 when cached). */
  seconds: number;
}

// ---- planning (pure) ------------------------------------------------------------------------

/** A 32-bit hash of (seed, stream, index): independent random streams per image. */
function mixSeed(seed: number, stream: number, index: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface PlannedImage {
  /** Position in the generation order (also the order of instances.json). */
  index: number;
  /** REFER split, or 'pretrain' for a caption-only image. */
  split: SplitName | 'pretrain';
  /** COCO image id (0 for a caption-only 'pretrain' image, which is in no COCO file). */
  imageId: number;
  /** Path relative to the root. */
  path: string;
  /** COCO `file_name` (base name). */
  fileName: string;
  scene: Scene;
  refs: PlannedRef[];
  captions: string[];
  /** COCO annotation id per scene object. */
  annIds: number[];
}

export interface SyntheticPlan {
  options: SyntheticOptions;
  images: PlannedImage[];
}

const SPLIT_GROUP: Record<SplitName, ShapeGroup | undefined> = { train: undefined, val: undefined, testA: 'round', testB: 'angular' };

const pad12 = (n: number): string => String(n).padStart(12, '0');

function distinctInts(rng: Rng, n: number, max: number, used = new Set<number>()): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const v = 1 + rng.int(max);
    if (used.has(v)) continue;
    used.add(v);
    out.push(v);
  }
  return out;
}

/** Everything the files contain, without rendering pixels. Deterministic in (seed, options). */
export function planSyntheticDataset(input: SyntheticOptionsInput | SyntheticOptions = {}): SyntheticPlan {
  const o = resolveSyntheticOptions(input);
  const layout = new Rng(mixSeed(o.seed, 0, 0));
  const splits: SplitName[] = layout.shuffle(SPLITS.flatMap((s) => Array.from({ length: o.images[s] }, () => s)));
  const ids = distinctInts(layout, splits.length, MAX_IMAGE_ID);
  const images: PlannedImage[] = [];
  splits.forEach((split, index) => {
    const rng = new Rng(mixSeed(o.seed, 1, index));
    const group = SPLIT_GROUP[split];
    let scene = sampleScene(rng, o, group);
    let refs = planRefs(scene, o, rng, group);
    for (let tries = 0; refs.length === 0; tries++) {
      if (tries >= 50) throw new RuntimeFailure(`synthetic dataset: no referable object in 50 scenes for image ${index} (${split}); loosen sentencesPerRef or add shapes/colours`);
      scene = sampleScene(rng, o, group);
      refs = planRefs(scene, o, rng, group);
    }
    const captions = o.captionSplits.includes(split) ? sceneCaptions(scene, rng, o.captionsPerImage) : [];
    const fileName = `COCO_train2014_${pad12(ids[index]!)}.jpg`;
    images.push({ index, split, imageId: ids[index]!, path: `images/train2014/${fileName}`, fileName, scene, refs, captions, annIds: [] });
  });
  const nRefer = images.length;
  for (let k = 0; k < o.extraCaptionImages; k++) {
    const index = nRefer + k;
    const rng = new Rng(mixSeed(o.seed, 1, index));
    const scene = sampleScene(rng, o);
    const fileName = `pretrain_${String(k).padStart(8, '0')}.jpg`;
    images.push({ index, split: 'pretrain', imageId: 0, path: `images/pretrain/${fileName}`, fileName, scene, refs: [], captions: sceneCaptions(scene, rng, Math.max(1, o.captionsPerImage)), annIds: [] });
  }
  const nAnns = images.slice(0, nRefer).reduce((a, im) => a + im.scene.objects.length, 0);
  const annIds = distinctInts(layout, nAnns, MAX_ANN_ID);
  let next = 0;
  for (const im of images.slice(0, nRefer)) im.annIds = im.scene.objects.map(() => annIds[next++]!);
  return { options: o, images };
}

// ---- file contents --------------------------------------------------------------------------

const emptyCounts = (): Record<SplitName, number> => ({ train: 0, val: 0, testA: 0, testB: 0 });

function buildFiles(plan: SyntheticPlan): {
  instances: string;
  refs: Uint8Array;
  scenes: string;
  captions: string;
  counts: SyntheticCounts;
} {
  const o = plan.options;
  const refer = plan.images.filter((im) => im.split !== 'pretrain');
  const counts: SyntheticCounts = { images: emptyCounts(), refs: emptyCounts(), sentences: emptyCounts(), annotations: 0, captions: 0, captionImages: 0 };
  const cocoImages: PyValue[] = [];
  const annotations: PyValue[] = [];
  const refs: PyValue[] = [];
  const scenes: unknown[] = [];
  let refId = 0;
  let sentId = 0;
  for (const im of refer) {
    const split = im.split as SplitName;
    counts.images[split]++;
    cocoImages.push({ id: im.imageId, file_name: im.fileName, height: im.scene.height, width: im.scene.width });
    im.scene.objects.forEach((obj, k) => {
      annotations.push({
        segmentation: [obj.polygon],
        area: obj.area,
        iscrowd: 0,
        image_id: im.imageId,
        bbox: obj.bbox,
        category_id: categoryId(obj.shape),
        id: im.annIds[k]!,
      });
    });
    counts.annotations += im.scene.objects.length;
    for (const r of im.refs) {
      const obj = im.scene.objects[r.object]!;
      const annId = im.annIds[r.object]!;
      const sentences = r.sentences.map((s) => ({ tokens: s.sent.split(' '), raw: s.raw, sent_id: sentId++, sent: s.sent }));
      refs.push({
        sent_ids: sentences.map((s) => s.sent_id),
        file_name: `COCO_train2014_${pad12(im.imageId)}_${annId}.jpg`,
        ann_id: annId,
        ref_id: refId++,
        image_id: im.imageId,
        split,
        sentences,
        category_id: categoryId(obj.shape),
      });
      counts.refs[split]++;
      counts.sentences[split] += sentences.length;
    }
    scenes.push({
      image_id: im.imageId,
      split,
      file_name: im.fileName,
      width: im.scene.width,
      height: im.scene.height,
      background: im.scene.background,
      objects: im.scene.objects.map((obj, k) => ({ ann_id: im.annIds[k], shape: obj.shape, color: obj.color, size: obj.size, bbox: obj.bbox, center: [obj.cx, obj.cy] })),
    });
  }
  const captionLines: string[] = [];
  for (const im of plan.images) {
    if (im.captions.length > 0) counts.captionImages++;
    for (const caption of im.captions) captionLines.push(JSON.stringify({ image: im.path, caption, split: im.split }));
  }
  counts.captions = captionLines.length;
  const categories = SHAPES.map((s) => ({ id: categoryId(s), name: s, supercategory: shapeGroup(s) }));
  return {
    instances: JSON.stringify({ images: cocoImages, annotations, categories }),
    refs: encodePickle(refs, { protocol: o.pickleProtocol, strings: o.pickleStrings }),
    scenes: `${JSON.stringify({ images: scenes })}\n`,
    captions: captionLines.map((l) => `${l}\n`).join(''),
    counts,
  };
}

function manifestFor(o: SyntheticOptions, counts: SyntheticCounts): SyntheticManifest {
  return {
    format: MANIFEST_FORMAT,
    generatorVersion: GENERATOR_VERSION,
    seed: o.seed,
    options: dataOptions(o),
    counts,
    files: {
      instances: `${o.dataset}/instances.json`,
      refs: `${o.dataset}/refs(${o.splitBy}).p`,
      scenes: `${o.dataset}/scenes.json`,
      captions: 'captions.jsonl',
      imageDir: 'images/train2014',
      pretrainImageDir: 'images/pretrain',
    },
  };
}

// ---- writing --------------------------------------------------------------------------------

async function writeImages(dir: string, plan: SyntheticPlan): Promise<void> {
  const o = plan.options;
  mkdirSync(join(dir, 'images', 'train2014'), { recursive: true });
  if (o.extraCaptionImages > 0) mkdirSync(join(dir, 'images', 'pretrain'), { recursive: true });
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < plan.images.length) {
      const im = plan.images[next++]!;
      try {
        const rgb = renderScene(im.scene, new Rng(mixSeed(o.seed, 2, im.index)), o.grain);
        const jpg = await sharp(rgb, { raw: { width: im.scene.width, height: im.scene.height, channels: 3 } })
          .jpeg({ quality: o.jpegQuality })
          .toBuffer();
        if (!failed) writeFileAtomic(join(dir, im.path), jpg);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  // Wait for every worker to stop before reporting, so none writes into a folder being removed.
  const results = await Promise.allSettled(Array.from({ length: o.concurrency }, worker));
  const err = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (err) throw err.reason;
}

/** Write the whole dataset into `dir` (which must be empty or absent). Not atomic: see generateSyntheticDataset. */
async function writeDatasetInto(dir: string, o: SyntheticOptions): Promise<SyntheticManifest> {
  const plan = planSyntheticDataset(o);
  const files = buildFiles(plan);
  const manifest = manifestFor(o, files.counts);
  await writeImages(dir, plan);
  writeFileAtomic(join(dir, manifest.files.instances), files.instances);
  writeFileAtomic(join(dir, manifest.files.refs), files.refs);
  writeFileAtomic(join(dir, manifest.files.scenes), files.scenes);
  writeFileAtomic(join(dir, manifest.files.captions), files.captions);
  // last: a folder with a manifest is complete
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** The manifest under `root`, or undefined when there is none. Throws FileFormatError when it is unreadable. */
export function readSyntheticManifest(root: string): SyntheticManifest | undefined {
  const p = join(root, MANIFEST_FILE);
  if (!existsSync(p)) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new FileFormatError(p, `not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof m !== 'object' || m === null || (m as { format?: unknown }).format !== MANIFEST_FORMAT) {
    throw new FileFormatError(p, `not a synthetic dataset manifest (expected "format": "${MANIFEST_FORMAT}")`);
  }
  return m as SyntheticManifest;
}

/** Key-order-independent JSON, for comparing option objects. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Whether the dataset under `root` was made by this generator version with these options, and its files exist. */
export function syntheticDatasetMatches(root: string, o: SyntheticOptions): SyntheticManifest | undefined {
  let m: SyntheticManifest | undefined;
  try {
    m = readSyntheticManifest(root);
  } catch {
    return undefined;
  }
  if (!m || m.generatorVersion !== GENERATOR_VERSION || canonical(m.options) !== canonical(dataOptions(o))) return undefined;
  const f = m.files;
  if (![f.instances, f.refs, f.scenes, f.captions].every((p) => existsSync(join(root, p)))) return undefined;
  const jpgs = (dir: string): number => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)).filter((n) => n.endsWith('.jpg')).length : 0);
  if (jpgs(f.imageDir) !== SPLITS.reduce((a, s) => a + m.counts.images[s], 0)) return undefined;
  if (jpgs(f.pretrainImageDir) !== o.extraCaptionImages) return undefined;
  return m;
}

const TMP_TAG = '.tmp-';

/** Remove temp folders of generations whose process is gone (an interrupted run leaves one). */
function removeStaleTemps(root: string): void {
  const parent = dirname(root);
  const prefix = `.${basename(root)}${TMP_TAG}`;
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

function isEmptyDir(p: string): boolean {
  return statSync(p).isDirectory() && readdirSync(p).length === 0;
}

/**
 * Generate the dataset under `root`, replacing a previous synthetic dataset there.
 * The files are written into a temporary sibling folder, which is renamed to `root`
 * when complete, so `root` never holds a half-written dataset. A `root` that exists and
 * is neither empty nor a synthetic dataset is left alone (ConfigError).
 */
export async function generateSyntheticDataset(root: string, options: SyntheticOptionsInput = {}): Promise<GenerationResult> {
  const o = resolveSyntheticOptions(options);
  const abs = resolve(root);
  const t0 = performance.now();
  const parent = dirname(abs);
  const guard = (): void => {
    if (existsSync(abs) && !isEmptyDir(abs) && !existsSync(join(abs, MANIFEST_FILE))) {
      throw new ConfigError(`${abs} exists and is not a synthetic dataset (no ${MANIFEST_FILE}); refusing to replace it: choose another root or remove it`);
    }
  };
  guard();
  mkdirSync(parent, { recursive: true });
  removeStaleTemps(abs);
  const tmp = join(parent, `.${basename(abs)}${TMP_TAG}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(tmp);
    const manifest = await writeDatasetInto(tmp, o);
    guard();
    if (existsSync(abs)) {
      // Move the old dataset aside, move the new one in, then delete the old one.
      const old = join(parent, `.${basename(abs)}${TMP_TAG}${process.pid}-old-${randomBytes(4).toString('hex')}`);
      renameSync(abs, old);
      try {
        renameSync(tmp, abs);
      } catch (e) {
        renameSync(old, abs);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, abs);
    }
    return { root: abs, manifest, generated: true, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof ConfigError || e instanceof RuntimeFailure) throw e;
    // Another process may have renamed its identical dataset into place meanwhile.
    const theirs = syntheticDatasetMatches(abs, o);
    if (theirs) return { root: abs, manifest: theirs, generated: false, seconds: 0 };
    throw new RuntimeFailure(`cannot generate the synthetic dataset at ${abs}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The synthetic dataset under `root` for these options: kept when its manifest matches
 * (generator version and every data option) and its files are there; (re)generated
 * atomically otherwise.
 */
export async function ensureSyntheticDataset(root: string, options: SyntheticOptionsInput = {}): Promise<GenerationResult> {
  const o = resolveSyntheticOptions(options);
  const abs = resolve(root);
  const m = syntheticDatasetMatches(abs, o);
  if (m) return { root: abs, manifest: m, generated: false, seconds: 0 };
  return generateSyntheticDataset(abs, o);
}
