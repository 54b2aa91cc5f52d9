/**
 * The official referring-image-segmentation evaluation (CRIS / ETRIS /
 * BarLeRIa `engine.validate()` and `inference()`), per expression:
 *
 *   sigmoid(logits [h, w])
 *   → bicubic, align_corners=True, to the network input size (skipped when
 *     the prediction already has that size, as the official code does)
 *   → inverse letterbox: cv2.warpAffine(prob, inverse, (W, H), INTER_CUBIC, borderValue=0)
 *   → > 0.35
 *   → IoU = |pred ∧ gt| / (|pred ∨ gt| + 1e-6), gt nonzero = true.
 *
 * Summary: mIoU = mean IoU; oIoU = Σ intersection / Σ union (the "overall
 * IoU" of the RIS literature; the official code does not report it);
 * Pr@X = fraction of expressions with IoU > X for the thresholds
 * torch.arange(0.5, 1.0, 0.1) in float32 (so 0.6000000238…, compared strictly).
 *
 * Numbers match the official code run on CPU bit for bit (see
 * core/vision/upsample.ts and warp-affine.ts). The published numbers were
 * produced on CUDA, whose sigmoid/bicubic roundings differ in the last float32
 * bits; that moves single pixels at the 0.35 boundary, not the metrics'
 * reported digits.
 */
import { DataError } from '../errors.js';
import { toSize, type Affine, type Size } from '../vision/affine.js';
import { unletterbox } from '../vision/letterbox.js';
import { resizeBicubic, sigmoid } from '../vision/upsample.js';

/** Probability threshold of the official evaluation. */
export const RIS_MASK_THRESHOLD = 0.35;

/** torch.arange(0.5, 1.0, 0.1) in float32, as float64 numbers. */
export const PR_THRESHOLDS: readonly number[] = [0.5, 0.6, 0.7, 0.8, 0.9].map(Math.fround);

/** Keys of the precision metrics, in threshold order. */
export const PR_KEYS = ['Pr@50', 'Pr@60', 'Pr@70', 'Pr@80', 'Pr@90'] as const;
export type PrKey = (typeof PR_KEYS)[number];

/** A single-channel float32 map, row-major. */
export interface FloatMap {
  data: Float32Array;
  height: number;
  width: number;
}

export interface RisSampleRecord {
  id: string;
  iou: number;
  intersection: number;
  union: number;
}

export interface RisSummary {
  count: number;
  /** Mean IoU, a fraction in [0, 1] (float64). */
  mIoU: number;
  /** Σ intersection / Σ union, a fraction in [0, 1] (0 when both sums are 0). */
  oIoU: number;
  /** Fraction of samples with IoU > threshold, float32-rounded as the official `.float().mean()`. */
  precision: Record<PrKey, number>;
}

/** JSON report of one split; metrics are fractions in [0, 1] (the table prints percentages). */
export interface RisReport extends RisSummary {
  split: string;
  threshold: number;
  prThresholds: number[];
  samples: RisSampleRecord[];
}

function checkMapSize(what: string, data: ArrayLike<number>, size: Size): void {
  if (!Number.isSafeInteger(size.height) || !Number.isSafeInteger(size.width) || size.height <= 0 || size.width <= 0) {
    throw new DataError(`${what}: size must be positive integers, got ${size.height}×${size.width}`);
  }
  if (data.length !== size.height * size.width) {
    throw new DataError(`${what}: a ${size.height}×${size.width} map needs ${size.height * size.width} values, got ${data.length}`);
  }
}

/**
 * The prediction's probability map on the original image (before the
 * threshold): sigmoid, bicubic to `inputSize` unless already that size,
 * inverse letterbox to `original`.
 */
export function predictionToOriginal(logits: FloatMap, inputSize: number | Size, inverse: Affine, original: Size): Float32Array {
  checkMapSize('prediction logits', logits.data, logits);
  checkMapSize('original size', { length: original.height * original.width }, original);
  const input = toSize(inputSize);
  let prob = sigmoid(logits.data);
  if (logits.height !== input.height || logits.width !== input.width) {
    prob = resizeBicubic(prob, logits, input, true);
  }
  return unletterbox(prob, input, inverse, original);
}

/** Binary (0/1) mask on the original image: predictionToOriginal(...) > threshold. */
export function predictionToMask(
  logits: FloatMap,
  inputSize: number | Size,
  inverse: Affine,
  original: Size,
  threshold = RIS_MASK_THRESHOLD,
): Uint8Array {
  const prob = predictionToOriginal(logits, inputSize, inverse, original);
  const mask = new Uint8Array(prob.length);
  for (let i = 0; i < prob.length; i++) mask[i] = prob[i]! > threshold ? 1 : 0;
  return mask;
}

/** IoU of two masks of equal length (nonzero = foreground), with the official + 1e-6 in the denominator. */
export function maskIoU(pred: ArrayLike<number>, gt: ArrayLike<number>): { iou: number; intersection: number; union: number } {
  if (pred.length !== gt.length) throw new DataError(`maskIoU: prediction has ${pred.length} pixels, ground truth ${gt.length}`);
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p && g) intersection++;
    if (p || g) union++;
  }
  // An empty prediction on an empty ground truth scores 0, as in the official code.
  return { iou: intersection / (union + 1e-6), intersection, union };
}

/** mIoU, oIoU and Pr@X over records (an empty list gives zeros). */
export function summarizeRis(records: readonly RisSampleRecord[]): RisSummary {
  const n = records.length;
  const precision = Object.fromEntries(PR_KEYS.map((k) => [k, 0])) as Record<PrKey, number>;
  if (n === 0) return { count: 0, mIoU: 0, oIoU: 0, precision };
  let sumIoU = 0;
  let sumInter = 0;
  let sumUnion = 0;
  const above = PR_THRESHOLDS.map(() => 0);
  for (const r of records) {
    sumIoU += r.iou;
    sumInter += r.intersection;
    sumUnion += r.union;
    PR_THRESHOLDS.forEach((t, i) => {
      if (r.iou > t) above[i]!++;
    });
  }
  PR_KEYS.forEach((k, i) => {
    precision[k] = Math.fround(above[i]! / n);
  });
  return { count: n, mIoU: sumIoU / n, oIoU: sumUnion > 0 ? sumInter / sumUnion : 0, precision };
}

export interface RisEvaluatorOptions {
  /** Network input size (the letterbox target). */
  inputSize: number | Size;
  /** Probability threshold, default 0.35. */
  threshold?: number;
}

/** Accumulates per-expression IoUs for one split. */
export class RisEvaluator {
  private readonly items: RisSampleRecord[] = [];
  private readonly ids = new Set<string>();
  readonly inputSize: Size;
  readonly threshold: number;

  constructor(options: RisEvaluatorOptions) {
    this.inputSize = toSize(options.inputSize);
    this.threshold = options.threshold ?? RIS_MASK_THRESHOLD;
  }

  /**
   * Score one expression from the raw logits ([h, w], any size; bicubic to the
   * input size when different), the letterbox inverse matrix, the ground
   * truth at the original size (row-major, nonzero = object) and that size.
   */
  add(sampleId: string, logits: FloatMap, inverse: Affine, gtMask: ArrayLike<number>, origSize: Size | readonly [number, number]): RisSampleRecord {
    const original = Array.isArray(origSize) ? { height: origSize[0]!, width: origSize[1]! } : (origSize as Size);
    checkMapSize(`sample "${sampleId}" ground truth`, gtMask, original);
    const pred = predictionToMask(logits, this.inputSize, inverse, original, this.threshold);
    return this.addMask(sampleId, pred, gtMask);
  }

  /** Score an already thresholded prediction at the original size. */
  addMask(sampleId: string, predMask: ArrayLike<number>, gtMask: ArrayLike<number>): RisSampleRecord {
    if (this.ids.has(sampleId)) throw new DataError(`sample "${sampleId}" was already evaluated in this split`);
    const { iou, intersection, union } = maskIoU(predMask, gtMask);
    const record = { id: sampleId, iou, intersection, union };
    this.ids.add(sampleId);
    this.items.push(record);
    return record;
  }

  get count(): number {
    return this.items.length;
  }

  records(): readonly RisSampleRecord[] {
    return this.items;
  }

  summary(): RisSummary {
    return summarizeRis(this.items);
  }

  report(split: string): RisReport {
    return { split, ...this.summary(), threshold: this.threshold, prThresholds: [...PR_THRESHOLDS], samples: this.items.map((r) => ({ ...r })) };
  }
}

const pct = (x: number) => (100 * x).toFixed(2);

/** A fixed-width text table of splits: mIoU, oIoU, Pr@50..Pr@90 in percent, and n. */
export function formatRisTable(rows: readonly { split: string; summary: RisSummary }[]): string {
  const header = ['split', 'mIoU', 'oIoU', ...PR_KEYS, 'n'];
  const body = rows.map(({ split, summary: s }) => [split, pct(s.mIoU), pct(s.oIoU), ...PR_KEYS.map((k) => pct(s.precision[k])), String(s.count)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
