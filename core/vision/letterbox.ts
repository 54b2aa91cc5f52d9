/**
 * The official letterbox pipeline (CRIS / ETRIS / BarLeRIa `RefDataset`),
 * composed from the exact OpenCV emulations:
 * - image: `warpAffine(img, forward, (S, S), INTER_CUBIC, borderValue = CLIP mean·255)`;
 * - training mask: `warpAffine(mask, forward, (S, S), INTER_LINEAR, borderValue = 0)`;
 * - evaluation: a probability map at the input size goes back to the
 *   original image with `warpAffine(prob, inverse, (w, h), INTER_CUBIC, borderValue = 0)`.
 */
import { DataError } from '../errors.js';
import { letterboxMatrices, toSize, type Affine, type Letterbox, type Size } from './affine.js';
import { checkImage, type ImageBuffer } from './image.js';
import { CLIP_BORDER_VALUE } from './normalize.js';
import { warpAffine } from './warp-affine.js';

export interface LetterboxedImage extends Letterbox {
  image: ImageBuffer<Uint8Array>;
}

/** Letterbox an HWC uint8 image into the network input (cubic, border = the mean colour by default). */
export function letterboxImage(
  img: ImageBuffer<Uint8Array>,
  inputSize: number | Size,
  borderValue: number | readonly number[] = CLIP_BORDER_VALUE,
): LetterboxedImage {
  checkImage(img, 'letterboxImage');
  const lb = letterboxMatrices(img.height, img.width, inputSize);
  const image = warpAffine(img, lb.forward, toSize(inputSize), { interpolation: 'cubic', borderValue });
  return { ...lb, image };
}

/** Letterbox a single-channel uint8 mask (0/255) with the image's forward matrix (linear, border 0). */
export function letterboxMask(mask: ImageBuffer<Uint8Array>, forward: Affine, inputSize: number | Size): ImageBuffer<Uint8Array> {
  checkImage(mask, 'letterboxMask');
  if (mask.channels !== 1) throw new DataError(`letterboxMask: masks have 1 channel, got ${mask.channels}`);
  return warpAffine(mask, forward, toSize(inputSize), { interpolation: 'linear', borderValue: 0 });
}

/**
 * Map a float32 [S_h, S_w] map at the network input back onto the original
 * h×w image (the evaluation's `cv2.warpAffine(pred, inverse, (w, h), INTER_CUBIC, borderValue=0)`).
 * `inverse` is the letterbox's inverse matrix, passed as OpenCV receives it
 * (OpenCV inverts it again internally; that double inversion is part of the
 * exact result).
 */
export function unletterbox(map: Float32Array, mapSize: Size, inverse: Affine, original: Size): Float32Array {
  const src: ImageBuffer<Float32Array> = { data: map, height: mapSize.height, width: mapSize.width, channels: 1 };
  checkImage(src, 'unletterbox');
  return warpAffine(src, inverse, original, { interpolation: 'cubic', borderValue: 0 }).data;
}
