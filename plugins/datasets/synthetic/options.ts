/**
 * Options of the synthetic dataset generator: the resolved type, defaults, a
 * JSON-schema description (plain object literal) and validation.
 */
import { ConfigError, didYouMean } from '../../../core/errors.js';
import { BACKGROUNDS, COLORS, EXPRESSION_KINDS, ROUND_SHAPES, SHAPES, SPLITS, type BackgroundKind, type ColorName, type ShapeName, type SizeName, type SplitName } from './vocabulary.js';

export interface SyntheticOptions {
  /** Seed of every random choice: same seed and options give byte-identical files. */
  seed: number;
  /** Folder of instances.json and refs(<splitBy>).p under the root (REFER's dataset name). */
  dataset: string;
  /** The refs file is `refs(<splitBy>).p`. */
  splitBy: string;
  /** Images per split. testA / testB follow RefCOCO's people / objects split: see README.md. */
  images: Record<SplitName, number>;
  /** Image sides are drawn uniformly (independently) from [minSide, maxSide] pixels. */
  minSide: number;
  maxSide: number;
  /** [min, max] objects per image (a crowded small image may get fewer than drawn, never fewer than 2). */
  objectsPerImage: [number, number];
  /**
   * Object radius as a fraction of the image's shorter side, drawn uniformly from [min, max]
   * for each size ("small" / "large" in the expressions); small's max must be below large's min.
   */
  objectRadius: Record<SizeName, [number, number]>;
  /** [min, max] referred objects per image (fewer when fewer objects can be referred to). */
  refsPerImage: [number, number];
  /** [min, max] sentences per ref; an object with fewer than `min` distinct expressions is not referred to. */
  sentencesPerRef: [number, number];
  shapes: ShapeName[];
  colors: ColorName[];
  backgrounds: BackgroundKind[];
  /**
   * Kinds of referring expression written: attr ("the red circle"), extreme ("the leftmost
   * circle"), center ("the circle nearest the center"), relation ("the circle left of the star").
   * An object none of whose expressions is of these kinds is not referred to.
   */
  expressionKinds: (typeof EXPRESSION_KINDS)[number][];
  jpegQuality: number;
  /** Uniform luminance grain, +- levels of 255, added to every pixel. */
  grain: number;
  /** Scene captions per image in captions.jsonl. */
  captionsPerImage: number;
  /** Splits whose images are captioned in captions.jsonl (default: train only, so no test image leaks into pretraining). */
  captionSplits: SplitName[];
  /** Extra images, not in the REFER dataset, for caption pretraining only (images/pretrain/). */
  extraCaptionImages: number;
  /** Pickle protocol of refs(<splitBy>).p (2 by default; 0 is what Python 2's pickle.dump writes by default). */
  pickleProtocol: 0 | 2;
  /** 'unicode' (Python 3 str) or 'py2' (ASCII strings as Python 2 byte strings, as a Python-2-written file has). */
  pickleStrings: 'unicode' | 'py2';
  /** Images encoded concurrently (does not change the output). */
  concurrency: number;
}

export type SyntheticOptionsInput = Partial<Omit<SyntheticOptions, 'images' | 'objectRadius'>> & { images?: Partial<Record<SplitName, number>>; objectRadius?: Partial<Record<SizeName, [number, number]>> };

export const SYNTHETIC_DEFAULTS: Readonly<SyntheticOptions> = Object.freeze({
  seed: 0,
  dataset: 'synthref',
  splitBy: 'unc',
  images: { train: 400, val: 60, testA: 40, testB: 40 },
  minSide: 96,
  maxSide: 192,
  objectsPerImage: [2, 6],
  objectRadius: { small: [0.085, 0.115], large: [0.16, 0.21] },
  refsPerImage: [1, 3],
  sentencesPerRef: [2, 3],
  shapes: [...SHAPES],
  colors: [...COLORS],
  backgrounds: [...BACKGROUNDS],
  expressionKinds: [...EXPRESSION_KINDS],
  jpegQuality: 90,
  grain: 4,
  captionsPerImage: 2,
  captionSplits: ['train'],
  extraCaptionImages: 0,
  pickleProtocol: 2,
  pickleStrings: 'unicode',
  concurrency: 8,
} satisfies SyntheticOptions);

const intRange = (min: number, max: number, description: string) => ({
  type: 'array',
  items: { type: 'integer', minimum: min, maximum: max },
  minItems: 2,
  maxItems: 2,
  description,
});
const fracRange = (description: string) => ({
  type: 'array',
  items: { type: 'number', exclusiveMinimum: 0, maximum: 0.45 },
  minItems: 2,
  maxItems: 2,
  description,
});
const count = (description: string, dflt: number) => ({ type: 'integer', minimum: 0, maximum: 100000, default: dflt, description });

/** JSON schema of SyntheticOptionsInput (every key optional; defaults as SYNTHETIC_DEFAULTS). */
export const SYNTHETIC_OPTIONS_SCHEMA = {
  $id: 'barleria-zoo/datasets/synthetic/options',
  type: 'object',
  additionalProperties: false,
  properties: {
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of every random choice; same seed and options give byte-identical files.' },
    dataset: { type: 'string', pattern: '^[A-Za-z0-9_.+-]+$', default: 'synthref', description: 'Folder (under the root) of instances.json and refs(<splitBy>).p.' },
    splitBy: { type: 'string', pattern: '^[A-Za-z0-9_.+-]+$', default: 'unc', description: 'The refs file is refs(<splitBy>).p.' },
    images: {
      type: 'object',
      additionalProperties: false,
      properties: {
        train: count('Training images.', 400),
        val: count('Validation images.', 60),
        testA: count('testA images (refs to round shapes only).', 40),
        testB: count('testB images (refs to angular shapes only).', 40),
      },
      default: { train: 400, val: 60, testA: 40, testB: 40 },
      description: 'Images per split.',
    },
    minSide: { type: 'integer', minimum: 64, maximum: 1024, default: 96, description: 'Smallest image side in pixels.' },
    maxSide: { type: 'integer', minimum: 64, maximum: 1024, default: 192, description: 'Largest image side in pixels.' },
    objectsPerImage: { ...intRange(2, 12, '[min, max] objects per image.'), default: [2, 6] },
    objectRadius: {
      type: 'object',
      additionalProperties: false,
      properties: {
        small: { ...fracRange('[min, max] radius of small objects (fraction of the shorter side).'), default: [0.085, 0.115] },
        large: { ...fracRange('[min, max] radius of large objects (fraction of the shorter side).'), default: [0.16, 0.21] },
      },
      default: { small: [0.085, 0.115], large: [0.16, 0.21] },
      description: "Object radius per size word, as a fraction of the image's shorter side; small's max must be below large's min.",
    },
    refsPerImage: { ...intRange(1, 12, '[min, max] referred objects per image.'), default: [1, 3] },
    sentencesPerRef: { ...intRange(1, 8, '[min, max] sentences per referred object.'), default: [2, 3] },
    shapes: { type: 'array', items: { enum: [...SHAPES] }, minItems: 2, uniqueItems: true, default: [...SHAPES], description: 'Shapes (COCO categories) to draw.' },
    colors: { type: 'array', items: { enum: [...COLORS] }, minItems: 2, uniqueItems: true, default: [...COLORS], description: 'Object colours.' },
    backgrounds: { type: 'array', items: { enum: [...BACKGROUNDS] }, minItems: 1, uniqueItems: true, default: [...BACKGROUNDS], description: 'Background textures.' },
    expressionKinds: {
      type: 'array',
      items: { enum: [...EXPRESSION_KINDS] },
      minItems: 1,
      uniqueItems: true,
      default: [...EXPRESSION_KINDS],
      description: 'Kinds of referring expression: attr ("the red circle"), extreme ("the leftmost circle"), center ("the circle nearest the center"), relation ("the circle left of the star"). Objects with no expression of these kinds are not referred to.',
    },
    jpegQuality: { type: 'integer', minimum: 1, maximum: 100, default: 90, description: 'JPEG quality.' },
    grain: { type: 'number', minimum: 0, maximum: 32, default: 4, description: 'Luminance grain amplitude (levels of 255).' },
    captionsPerImage: { type: 'integer', minimum: 0, maximum: 10, default: 2, description: 'Scene captions per captioned image.' },
    captionSplits: { type: 'array', items: { enum: [...SPLITS] }, uniqueItems: true, default: ['train'], description: 'Splits whose images are captioned in captions.jsonl.' },
    extraCaptionImages: count('Extra caption-only images (images/pretrain/), not part of the REFER dataset.', 0),
    pickleProtocol: { enum: [0, 2], default: 2, description: 'Pickle protocol of the refs file.' },
    pickleStrings: { enum: ['unicode', 'py2'], default: 'unicode', description: "Strings in the refs pickle as Python 3 str ('unicode') or Python 2 byte strings ('py2')." },
    concurrency: { type: 'integer', minimum: 1, maximum: 64, default: 8, description: 'Images encoded concurrently (does not change the output).' },
  },
} as const;

function fail(key: string, expected: string, got: unknown): never {
  throw new ConfigError(`synthetic dataset option "${key}": expected ${expected}, got ${JSON.stringify(got)}`);
}

function int(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(key, `an integer in [${min}, ${max}]`, v);
  return v;
}

function range(key: string, v: unknown, min: number, max: number): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) fail(key, `[min, max] integers in [${min}, ${max}]`, v);
  const a = int(`${key}[0]`, v[0], min, max);
  const b = int(`${key}[1]`, v[1], min, max);
  if (a > b) fail(key, 'min <= max', v);
  return [a, b];
}

function subset<T extends string>(key: string, v: unknown, all: readonly T[], minItems: number): T[] {
  if (!Array.isArray(v)) fail(key, `an array of ${all.join(' | ')}`, v);
  for (const x of v) {
    if (!all.includes(x as T)) throw new ConfigError(`synthetic dataset option "${key}": unknown value ${JSON.stringify(x)}; expected one of ${all.join(', ')}.${didYouMean(String(x), all)}`);
  }
  if (new Set(v).size !== v.length) fail(key, 'no repeated values', v);
  if (v.length < minItems) fail(key, `at least ${minItems} value(s)`, v);
  // canonical order, so that option order does not change the data (or the cache key)
  return all.filter((x) => v.includes(x));
}

function fracPair(key: string, v: unknown): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && x > 0 && x <= 0.45)) fail(key, '[min, max] numbers in (0, 0.45]', v);
  if (v[0] > v[1]) fail(key, 'min <= max', v);
  return [v[0], v[1]];
}

function radii(v: unknown, dflt: Record<SizeName, [number, number]>): Record<SizeName, [number, number]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('objectRadius', 'an object { small: [min, max], large: [min, max] }', v);
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (k !== 'small' && k !== 'large') throw new ConfigError(`synthetic dataset option "objectRadius": unknown size "${k}"; expected small, large.${didYouMean(k, ['small', 'large'])}`);
  }
  const small = fracPair('objectRadius.small', obj.small ?? dflt.small);
  const large = fracPair('objectRadius.large', obj.large ?? dflt.large);
  if (small[1] >= large[0]) fail('objectRadius', "small's max below large's min (so that the size words stay true)", v);
  return { small, large };
}

/** Fill defaults and validate; throws ConfigError naming the key. The result's key order is canonical. */
export function resolveSyntheticOptions(input: SyntheticOptionsInput = {}): SyntheticOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('(options)', 'an object', input);
  const known = Object.keys(SYNTHETIC_OPTIONS_SCHEMA.properties);
  for (const k of Object.keys(input)) {
    if (!known.includes(k)) throw new ConfigError(`unknown synthetic dataset option "${k}".${didYouMean(k, known)}`);
  }
  const d = SYNTHETIC_DEFAULTS;
  const g = <K extends keyof SyntheticOptions>(k: K): unknown => (input as Record<string, unknown>)[k] ?? d[k];
  const imagesIn = (input.images ?? {}) as Record<string, unknown>;
  if (typeof imagesIn !== 'object' || Array.isArray(imagesIn)) fail('images', 'an object of split counts', imagesIn);
  for (const k of Object.keys(imagesIn)) {
    if (!(SPLITS as readonly string[]).includes(k)) throw new ConfigError(`unknown split "${k}" in synthetic dataset option "images".${didYouMean(k, SPLITS)}`);
  }
  const images = Object.fromEntries(SPLITS.map((s) => [s, int(`images.${s}`, imagesIn[s] ?? d.images[s], 0, 100000)])) as Record<SplitName, number>;
  const name = (key: 'dataset' | 'splitBy'): string => {
    const v = g(key);
    if (typeof v !== 'string' || !/^[A-Za-z0-9_.+-]+$/.test(v) || v === '.' || v === '..') fail(key, 'a file name of letters, digits, _ . + -', v);
    return v;
  };
  const o: SyntheticOptions = {
    seed: int('seed', g('seed'), 0, 4294967295),
    dataset: name('dataset'),
    splitBy: name('splitBy'),
    images,
    minSide: int('minSide', g('minSide'), 64, 1024),
    maxSide: int('maxSide', g('maxSide'), 64, 1024),
    objectsPerImage: range('objectsPerImage', g('objectsPerImage'), 2, 12),
    objectRadius: radii(g('objectRadius'), d.objectRadius),
    refsPerImage: range('refsPerImage', g('refsPerImage'), 1, 12),
    sentencesPerRef: range('sentencesPerRef', g('sentencesPerRef'), 1, 8),
    shapes: subset('shapes', g('shapes'), SHAPES, 2),
    colors: subset('colors', g('colors'), COLORS, 2),
    backgrounds: subset('backgrounds', g('backgrounds'), BACKGROUNDS, 1),
    expressionKinds: subset('expressionKinds', g('expressionKinds'), EXPRESSION_KINDS, 1),
    jpegQuality: int('jpegQuality', g('jpegQuality'), 1, 100),
    grain: (() => {
      const v = g('grain');
      if (typeof v !== 'number' || !(v >= 0 && v <= 32)) fail('grain', 'a number in [0, 32]', v);
      return v;
    })(),
    captionsPerImage: int('captionsPerImage', g('captionsPerImage'), 0, 10),
    captionSplits: subset('captionSplits', g('captionSplits'), SPLITS, 0),
    extraCaptionImages: int('extraCaptionImages', g('extraCaptionImages'), 0, 100000),
    pickleProtocol: (() => {
      const v = g('pickleProtocol');
      if (v !== 0 && v !== 2) fail('pickleProtocol', '0 or 2', v);
      return v;
    })(),
    pickleStrings: (() => {
      const v = g('pickleStrings');
      if (v !== 'unicode' && v !== 'py2') fail('pickleStrings', '"unicode" or "py2"', v);
      return v;
    })(),
    concurrency: int('concurrency', g('concurrency'), 1, 64),
  };
  if (o.minSide > o.maxSide) fail('minSide', `<= maxSide (${o.maxSide})`, o.minSide);
  const round = o.shapes.filter((s) => ROUND_SHAPES.includes(s));
  if (o.images.testA > 0 && round.length === 0) fail('shapes', `at least one round shape (${ROUND_SHAPES.join(', ')}) when images.testA > 0`, o.shapes);
  if (o.images.testB > 0 && round.length === o.shapes.length) fail('shapes', 'at least one angular shape when images.testB > 0', o.shapes);
  const total = SPLITS.reduce((a, s) => a + o.images[s], 0);
  if (total === 0) fail('images', 'at least one image', o.images);
  if (total > 500000) fail('images', 'at most 500000 images in all (COCO-style ids are 6 digits)', o.images);
  return o;
}

/** Options that change the files (all but `concurrency`), in canonical key order: the cache key. */
export function dataOptions(o: SyntheticOptions): Omit<SyntheticOptions, 'concurrency'> {
  const { concurrency: _c, ...rest } = o;
  return rest;
}
