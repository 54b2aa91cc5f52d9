/**
 * A plain interleaved image: row-major, channels last (HWC), on a typed array.
 * The geometry code (warps, resizing, normalisation) works on these directly,
 * without tfjs, so that it can reproduce OpenCV / PyTorch arithmetic exactly.
 */
import { DataError } from '../errors.js';

export type PixelData = Uint8Array | Float32Array;

export interface ImageBuffer<D extends PixelData = PixelData> {
  /** Pixel (y, x), channel c is data[(y·width + x)·channels + c]. */
  data: D;
  height: number;
  width: number;
  channels: number;
}

export function imageBuffer<D extends PixelData>(data: D, height: number, width: number, channels = 1): ImageBuffer<D> {
  const img = { data, height, width, channels };
  checkImage(img, 'image');
  return img;
}

/** Throw a DataError unless `img` is a consistent image. `what` names it in the message. */
export function checkImage(img: ImageBuffer, what: string): void {
  const { height, width, channels, data } = img;
  for (const [k, v] of [['height', height], ['width', width], ['channels', channels]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new DataError(`${what}: ${k} must be a positive integer, got ${v}`);
  }
  if (data.length !== height * width * channels) {
    throw new DataError(`${what}: ${height}×${width}×${channels} needs ${height * width * channels} values, got ${data.length}`);
  }
}
