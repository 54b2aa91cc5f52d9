/**
 * Image normalisation as the official dataset does it (`RefDataset.convert`):
 * uint8 RGB → float32, /255, − mean, / std, each step rounded to float32
 * (PyTorch `div_(255.).sub_(mean).div_(std)` on a float tensor).
 */
import { DataError } from '../errors.js';
import { checkImage, type ImageBuffer } from './image.js';

/** OpenAI CLIP's RGB mean and std (the official `RefDataset` constants). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/**
 * The letterbox border colour of the official train/val image warp:
 * mean·255 per channel (OpenCV rounds it to (123, 117, 104) for uint8 images).
 */
export const CLIP_BORDER_VALUE: readonly number[] = CLIP_MEAN.map((m) => m * 255);

export type Layout = 'chw' | 'hwc';

const f = Math.fround;

/**
 * Normalise an HWC uint8 image to float32 ((v/255 − mean)/std per channel).
 * `layout` 'chw' gives [C, H, W] (PyTorch's layout), 'hwc' keeps [H, W, C]
 * (the project's NHWC tensors).
 */
export function normalizeImage(
  img: ImageBuffer<Uint8Array>,
  mean: readonly number[] = CLIP_MEAN,
  std: readonly number[] = CLIP_STD,
  layout: Layout = 'hwc',
): Float32Array {
  checkImage(img, 'normalizeImage');
  const { height: h, width: w, channels: cn, data } = img;
  if (mean.length !== cn || std.length !== cn) {
    throw new DataError(`normalizeImage: a ${cn}-channel image needs ${cn} mean and std values, got ${mean.length} and ${std.length}`);
  }
  if (std.some((s) => !(Math.abs(s) > 0))) throw new DataError(`normalizeImage: std must be non-zero, got ${JSON.stringify(std)}`);
  const m = mean.map(f);
  const s = std.map(f);
  const out = new Float32Array(h * w * cn);
  const hw = h * w;
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < cn; c++) {
      const v = f(f(f(data[p * cn + c]! / 255) - m[c]!) / s[c]!);
      out[layout === 'hwc' ? p * cn + c : c * hw + p] = v;
    }
  }
  return out;
}

/** A uint8 mask as the float target the official dataset returns (mask / 255 in float32). */
export function maskToFloat(mask: Uint8Array): Float32Array {
  const out = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = f(mask[i]! / 255);
  return out;
}
