/**
 * The RefCOCO family as the official code names it: dataset names, REFER folders and
 * splitBy, splits, and the official split sizes in referred objects.
 */
import { ConfigError, nearest } from '../../../core/errors.js';

export type RefcocoName = 'refcoco' | 'refcoco+' | 'refcocog_u' | 'refcocog_g';

export interface ReferDatasetInfo {
  /** Folder of refs(<splitBy>).p and instances.json in the REFER release. */
  dir: string;
  splitBy: string;
  splits: readonly string[];
}

/**
 * CRIS/ETRIS/BarLeRIa dataset names → REFER release (lichengunc/refer): refcocog has two
 * splits of its own, "umd" (refcocog_u: train/val/test) and "google" (refcocog_g: train/val,
 * the test set was never released).
 */
export const REFCOCO_DATASETS: Readonly<Record<RefcocoName, ReferDatasetInfo>> = {
  refcoco: { dir: 'refcoco', splitBy: 'unc', splits: ['train', 'val', 'testA', 'testB'] },
  'refcoco+': { dir: 'refcoco+', splitBy: 'unc', splits: ['train', 'val', 'testA', 'testB'] },
  refcocog_u: { dir: 'refcocog', splitBy: 'umd', splits: ['train', 'val', 'test'] },
  refcocog_g: { dir: 'refcocog', splitBy: 'google', splits: ['train', 'val'] },
};

export const REFCOCO_NAMES = Object.keys(REFCOCO_DATASETS) as RefcocoName[];

/**
 * Official split sizes in referred objects (refs), as the official code counts them
 * (REFER `getRefIds(split=...)`, the entries of `anns/<dataset>/<split>.json`; the `info`
 * table of CRIS/ETRIS `utils/dataset.py`).
 */
export const OFFICIAL_SPLIT_SIZES: Readonly<Record<RefcocoName, Readonly<Record<string, number>>>> = {
  refcoco: { train: 42404, val: 3811, testA: 1975, testB: 1810 },
  'refcoco+': { train: 42278, val: 3805, testA: 1975, testB: 1798 },
  refcocog_u: { train: 42226, val: 2573, test: 5023 },
  refcocog_g: { train: 44822, val: 5000 },
};

/** The 80 COCO category names in the contiguous order of the CRIS `cat` field (`cat_process`). */
export const COCO_CATEGORY_NAMES: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];

/** The dataset's info, or a ConfigError listing the known names and the nearest one. */
export function refcocoDataset(name: string, where = 'dataset'): ReferDatasetInfo {
  const info = (REFCOCO_DATASETS as Record<string, ReferDatasetInfo>)[name];
  if (info) return info;
  let hint = '';
  if (name.toLowerCase() === 'refcocog') hint = ' RefCOCOg has two splits: "refcocog_u" (umd: train/val/test) or "refcocog_g" (google: train/val).';
  else {
    const n = nearest(name, REFCOCO_NAMES);
    if (n) hint = ` Did you mean "${n}"?`;
  }
  throw new ConfigError(`${where}: unknown RefCOCO dataset "${name}"; known: ${REFCOCO_NAMES.join(', ')}.${hint}`);
}

/** Throw a ConfigError unless `split` is one of `known`, naming the nearest. */
export function checkSplit(dataset: string, split: string, known: readonly string[]): void {
  if (known.includes(split)) return;
  const n = nearest(split, known);
  throw new ConfigError(`${dataset}: unknown split "${split}"; ${dataset} has ${known.length ? known.join(', ') : 'no splits'}.${n ? ` Did you mean "${n}"?` : ''}`);
}

/**
 * REFER `getRefIds(split=...)`: whether a ref whose `split` field is `refSplit` belongs to
 * `split`. testA/testB/testC take every ref whose split contains the letter (testAB...),
 * 'test' every ref whose split contains "test", train/val (and anything else) exact.
 */
export function referSplitMatches(split: string, refSplit: string): boolean {
  if (split === 'testA' || split === 'testB' || split === 'testC') return refSplit.includes(split[split.length - 1]!);
  if (split === 'test') return refSplit.includes('test');
  return refSplit === split;
}

/** Splits that differ from the official sizes: one message per split, empty when all match. */
export function compareOfficialSizes(name: string, counts: Readonly<Record<string, number>>): string[] {
  const official = (OFFICIAL_SPLIT_SIZES as Record<string, Readonly<Record<string, number>>>)[name];
  if (!official) return [];
  const out: string[] = [];
  for (const [split, n] of Object.entries(official)) {
    const got = counts[split];
    if (got === undefined) continue;
    if (got !== n) out.push(`${name} split "${split}" has ${got} referred objects; the official count is ${n}`);
  }
  return out;
}
