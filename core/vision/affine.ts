/**
 * 2×3 affine matrices with OpenCV's numerics, and the official letterbox
 * transform (`RefDataset.getTransformMat` of CRIS/ETRIS/BarLeRIa).
 *
 * The official code builds its matrices with `cv2.getAffineTransform` from three
 * float32 point pairs. OpenCV solves the 6×6 linear system by Gaussian
 * elimination with partial pivoting in float64; the result differs from the
 * analytic matrix in the 8th digit, and those digits decide where OpenCV's
 * 1/32-pixel snapping lands. This file reproduces the solve operation by
 * operation, so the matrices are bit-identical to OpenCV's.
 */
import { DataError } from '../errors.js';

/**
 * Row-major 2×3 affine matrix [a, b, c, d, e, f]:
 * x' = a·x + b·y + c, y' = d·x + e·y + f.
 */
export type Affine = readonly [number, number, number, number, number, number];

export type Point = readonly [number, number];

/** Height and width of an image or of the network input. */
export interface Size {
  height: number;
  width: number;
}

const f32 = Math.fround;

/** An Affine from the nested rows PyTorch / numpy / the fixtures use: [[a, b, c], [d, e, f]]. */
export function affineFromRows(rows: readonly (readonly number[])[]): Affine {
  if (rows.length !== 2 || rows.some((r) => r.length !== 3)) throw new DataError(`an affine matrix needs 2 rows of 3 numbers, got ${JSON.stringify(rows)}`);
  return [rows[0]![0]!, rows[0]![1]!, rows[0]![2]!, rows[1]![0]!, rows[1]![1]!, rows[1]![2]!];
}

export function affineToRows(m: Affine): [[number, number, number], [number, number, number]] {
  return [[m[0], m[1], m[2]], [m[3], m[4], m[5]]];
}

/** Apply M to a point. */
export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/**
 * Solve A·x = b in place like OpenCV 4's `hal::LU64f` (row-major n×n A, one
 * right-hand side): elimination with the row of largest |pivot| (multiplier
 * -1/pivot), then back substitution dividing by the pivot.
 * Returns false for a singular system (|pivot| < 100·float64 epsilon).
 */
function luSolveInPlace(a: Float64Array, b: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    let k = i;
    for (let j = i + 1; j < n; j++) if (Math.abs(a[j * n + i]!) > Math.abs(a[k * n + i]!)) k = j;
    if (Math.abs(a[k * n + i]!) < 100 * Number.EPSILON) return false;
    if (k !== i) {
      for (let j = i; j < n; j++) {
        const t = a[i * n + j]!;
        a[i * n + j] = a[k * n + j]!;
        a[k * n + j] = t;
      }
      const t = b[i]!;
      b[i] = b[k]!;
      b[k] = t;
    }
    const d = -1 / a[i * n + i]!;
    for (let j = i + 1; j < n; j++) {
      const alpha = a[j * n + i]! * d;
      for (let c = i + 1; c < n; c++) a[j * n + c] = a[j * n + c]! + alpha * a[i * n + c]!;
      b[j] = b[j]! + alpha * b[i]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let c = i + 1; c < n; c++) s -= a[i * n + c]! * b[c]!;
    b[i] = s / a[i * n + i]!;
  }
  return true;
}

/**
 * `cv2.getAffineTransform(src, dst)`: the affine map taking the three source
 * points to the three destination points. Points are rounded to float32 first,
 * as OpenCV takes `Point2f` (the official code passes float32 arrays).
 */
export function getAffineTransform(src: readonly [Point, Point, Point], dst: readonly [Point, Point, Point]): Affine {
  const a = new Float64Array(36);
  const b = new Float64Array(6);
  for (let i = 0; i < 3; i++) {
    const sx = f32(src[i]![0]);
    const sy = f32(src[i]![1]);
    const r0 = i * 12; // row 2i: x equation
    const r1 = r0 + 6; // row 2i + 1: y equation
    a[r0] = a[r1 + 3] = sx;
    a[r0 + 1] = a[r1 + 4] = sy;
    a[r0 + 2] = a[r1 + 5] = 1;
    b[2 * i] = f32(dst[i]![0]);
    b[2 * i + 1] = f32(dst[i]![1]);
  }
  if (!luSolveInPlace(a, b, 6)) {
    throw new DataError(`getAffineTransform: the source points ${JSON.stringify(src)} are collinear (singular system)`);
  }
  return [b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!];
}

/**
 * The inverse of an affine map, computed as OpenCV's `warpAffine` does when it
 * is given a forward matrix (and as `cv2.invertAffineTransform`): D = 1/det,
 * zero for a singular matrix.
 */
export function invertAffine(m: Affine): Affine {
  let d = m[0] * m[4] - m[1] * m[3];
  d = d !== 0 ? 1 / d : 0;
  const a11 = m[4] * d;
  const a22 = m[0] * d;
  const a12 = m[1] * -d;
  const a21 = m[3] * -d;
  const b1 = -a11 * m[2] - a12 * m[5];
  const b2 = -a21 * m[2] - a22 * m[5];
  return [a11, a12, b1, a21, a22, b2];
}

export interface Letterbox {
  /** Original image (source) to network input (destination). */
  forward: Affine;
  /** Network input back to the original image, as `getAffineTransform(dst, src)`. */
  inverse: Affine;
  /** The common scale min(S_h/h, S_w/w). */
  scale: number;
  /** Size of the scaled image inside the input (float). */
  scaledHeight: number;
  scaledWidth: number;
  /** Left and top padding (float). */
  biasX: number;
  biasY: number;
}

/** Normalise an input size given as one side or as {height, width}. */
export function toSize(size: number | Size): Size {
  return typeof size === 'number' ? { height: size, width: size } : size;
}

/**
 * The official letterbox (`RefDataset.getTransformMat(img_size, inverse=True)`):
 * scale the h×w image by min(S/h, S/w), centre it in the S×S input, and build
 * both matrices with `getAffineTransform` from the float32 corner points
 * (0, 0), (w, 0), (0, h) and their images.
 */
export function letterboxMatrices(height: number, width: number, inputSize: number | Size): Letterbox {
  const { height: inH, width: inW } = toSize(inputSize);
  for (const [name, v] of [['height', height], ['width', width], ['input height', inH], ['input width', inW]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new DataError(`letterbox: image ${name} must be a positive number, got ${v}`);
  }
  const scale = Math.min(inH / height, inW / width);
  const scaledHeight = height * scale;
  const scaledWidth = width * scale;
  const biasX = (inW - scaledWidth) / 2;
  const biasY = (inH - scaledHeight) / 2;
  const src: [Point, Point, Point] = [[0, 0], [width, 0], [0, height]];
  const dst: [Point, Point, Point] = [[biasX, biasY], [scaledWidth + biasX, biasY], [biasX, scaledHeight + biasY]];
  return {
    forward: getAffineTransform(src, dst),
    inverse: getAffineTransform(dst, src),
    scale,
    scaledHeight,
    scaledWidth,
    biasX,
    biasY,
  };
}
