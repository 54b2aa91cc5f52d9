/**
 * dataset/__NAME__: the DatasetSource (options and manifest: index.ts).
 *
 * A source knows where records, images and masks are; it does no resizing,
 * normalisation or tokenisation (the core pipeline does, for every dataset).
 * Errors name the record and the file: DataError for bad data, ConfigError
 * for bad options.
 */
import { resolve } from 'node:path';
import { ConfigError, DataError } from '../../../core/errors.js';
import { Rng } from '../../../core/nn/rng.js';
import type { ImageBuffer } from '../../../core/vision/image.js';
import type { DatasetContext, DatasetSource, RefRecord } from '../../../core/data/contracts.js';
import type { Options } from './index.js';

const COLORS: Record<string, [number, number, number]> = { red: [220, 40, 40], green: [40, 190, 60], blue: [50, 80, 230], yellow: [235, 210, 40] };
const SHAPES = ['square', 'disc'] as const;
type Shape = (typeof SHAPES)[number];

/** What `maskRef` holds here: the referred shape. A real dataset keeps an annotation id or a mask file path. */
export interface ShapeRef {
  shape: Shape;
  color: string;
  /** Centre and half size in pixels. */
  cx: number;
  cy: number;
  r: number;
  /** The other (not referred) shape drawn in the image. */
  distractor: { shape: Shape; color: string; cx: number; cy: number; r: number };
  height: number;
  width: number;
  seed: number;
}

function inside(s: { shape: Shape; cx: number; cy: number; r: number }, x: number, y: number): boolean {
  const dx = x + 0.5 - s.cx;
  const dy = y + 0.5 - s.cy;
  return s.shape === 'square' ? Math.abs(dx) <= s.r && Math.abs(dy) <= s.r : dx * dx + dy * dy <= s.r * s.r;
}

export class __PASCAL__Source implements DatasetSource {
  readonly name = '__NAME__';
  private readonly bySplit = new Map<string, RefRecord[]>();

  constructor(
    readonly options: Options,
    ctx: DatasetContext,
  ) {
    const { images, size, valFraction, seed } = options;
    const nVal = Math.max(1, Math.round(images * valFraction));
    if (nVal >= images) throw new ConfigError(`${ctx.where}.valFraction: ${valFraction} of ${images} images leaves none for train`);
    const rng = new Rng(seed);
    const colors = Object.keys(COLORS);
    for (const split of ['train', 'val']) this.bySplit.set(split, []);
    for (let i = 0; i < images; i++) {
      const split = i < images - nVal ? 'train' : 'val';
      const r = Math.max(2, Math.round(size * rng.uniform(0.1, 0.18)));
      // The two shapes sit in the left and right halves, so they never overlap.
      const left = rng.next() < 0.5;
      const place = (onLeft: boolean) => ({ cx: (onLeft ? 0.25 : 0.75) * size, cy: rng.uniform(r + 1, size - r - 1) });
      const color = colors[rng.int(colors.length)]!;
      const shape = SHAPES[rng.int(SHAPES.length)]!;
      const other = colors.filter((c) => c !== color)[rng.int(colors.length - 1)]!;
      const ref: ShapeRef = {
        shape,
        color,
        r,
        ...place(left),
        distractor: { shape: SHAPES[rng.int(SHAPES.length)]!, color: other, r, ...place(!left) },
        height: size,
        width: size,
        seed: rng.seed(),
      };
      this.bySplit.get(split)!.push({
        id: `__NAME__/${split}/${i}`,
        refId: i,
        annId: i,
        imageId: i,
        // Nothing is read from this path (the pixels are generated); a real dataset puts the image file here, resolved against ctx.baseDir.
        imagePath: resolve(ctx.baseDir, '__NAME__', `image_${i}.png`),
        sentences: [`the ${color} ${shape}`, `${shape} on the ${left ? 'left' : 'right'}`],
        category: shape,
        maskRef: ref,
      });
    }
  }

  splits(): string[] {
    return [...this.bySplit.keys()];
  }

  records(split: string): RefRecord[] {
    const recs = this.bySplit.get(split);
    if (!recs) throw new DataError(`${this.name}: unknown split "${split}"; splits: ${this.splits().join(', ')}`);
    return [...recs];
  }

  private ref(rec: RefRecord): ShapeRef {
    const ref = rec.maskRef as ShapeRef | undefined;
    if (!ref || typeof ref !== 'object' || !('shape' in ref)) throw new DataError(`${this.name}: record ${rec.id} has no shape annotation (not a record of this dataset?)`);
    return ref;
  }

  async loadImage(rec: RefRecord): Promise<ImageBuffer<Uint8Array>> {
    const ref = this.ref(rec);
    const { height, width } = ref;
    const rng = new Rng(ref.seed);
    const data = new Uint8Array(height * width * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        const s = inside(ref, x, y) ? ref : inside(ref.distractor, x, y) ? ref.distractor : undefined;
        const rgb = s ? COLORS[s.color]! : [128, 128, 128];
        for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, Math.round(rgb[c]! + (rng.next() - 0.5) * 24)));
      }
    }
    return { data, height, width, channels: 3 };
  }

  async loadMask(rec: RefRecord, height: number, width: number): Promise<Uint8Array> {
    const ref = this.ref(rec);
    if (height !== ref.height || width !== ref.width) {
      throw new DataError(`${this.name}: record ${rec.id}: mask asked at ${height}x${width} but the image ${rec.imagePath} is ${ref.height}x${ref.width}`);
    }
    const mask = new Uint8Array(height * width);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) mask[y * width + x] = inside(ref, x, y) ? 1 : 0;
    return mask;
  }

  describe(): string {
    const counts = this.splits().map((s) => `${s} ${this.bySplit.get(s)!.length}`);
    return `${this.name}: generated ${this.options.size}x${this.options.size} shape images (seed ${this.options.seed}): ${counts.join(', ')} referred objects`;
  }
}

export function create__PASCAL__(o: Options, ctx: DatasetContext): DatasetSource {
  return new __PASCAL__Source(o, ctx);
}
