/**
 * Single-image prediction: decode, letterbox, tokenise, run, map the
 * probability back to the original image (official post-processing), write
 * an overlay PNG (the referred object tinted, its outline drawn) and the raw
 * mask PNG.
 */
import sharp from 'sharp';
import { tf } from '../runtime/tf.js';
import { FileFormatError, UsageError } from '../errors.js';
import { BadSampleError } from '../data/bad-sample.js';
import { loadImageFile } from '../data/decode.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { SegmentationModel } from '../model/model.js';
import { letterboxImage } from '../vision/letterbox.js';
import { normalizeImage } from '../vision/normalize.js';
import { predictionToOriginal, RIS_MASK_THRESHOLD } from '../metrics/ris-eval.js';
import type { ImageBuffer } from '../vision/image.js';
import type { Affine } from '../vision/affine.js';

/**
 * Decode an image exactly as the data pipeline does for training and evaluation (EXIF
 * orientation, CMYK, 16-bit and grey as cv2; size limit): core/data/decode.ts.
 */
export async function decodeImageFile(path: string): Promise<ImageBuffer<Uint8Array>> {
  try {
    return await loadImageFile(path);
  } catch (e) {
    if (e instanceof BadSampleError) throw new FileFormatError(path, e.detail, { cause: e });
    throw e;
  }
}

export interface Prediction {
  /** Probability at the original size, row-major. */
  prob: Float32Array;
  mask: Uint8Array;
  height: number;
  width: number;
}

export async function predictImage(model: SegmentationModel, image: ImageBuffer<Uint8Array>, text: string, o: { inputSize: number; wordLength: number; threshold?: number }): Promise<Prediction> {
  if (!text.trim()) throw new UsageError('predict: --text is empty');
  const lb = letterboxImage(image, o.inputSize);
  const pixels = normalizeImage(lb.image, undefined, undefined, 'hwc');
  const ids = model.backbone.tokenizer().tokenize([text], o.wordLength);
  model.eval();
  const logits = tf.tidy(() => model.predict({ image: tf.tensor4d(pixels, [1, o.inputSize, o.inputSize, 3]), text: tf.tensor2d(ids, [1, o.wordLength], 'int32') }));
  const [, h, w] = logits.shape as [number, number, number, number];
  const data = Float32Array.from(logits.dataSync() as Float32Array);
  logits.dispose();
  const prob = predictionToOriginal({ data, height: h, width: w }, o.inputSize, lb.inverse as Affine, { height: image.height, width: image.width });
  const thr = o.threshold ?? RIS_MASK_THRESHOLD;
  const mask = new Uint8Array(prob.length);
  for (let i = 0; i < prob.length; i++) mask[i] = prob[i]! > thr ? 1 : 0;
  return { prob, mask, height: image.height, width: image.width };
}

/** The image with the mask tinted (alpha 0.5) and its boundary drawn. */
export function overlay(image: ImageBuffer<Uint8Array>, mask: ArrayLike<number>, color: [number, number, number] = [255, 40, 40]): Uint8Array {
  return paintMask(image, mask, (v, c, edge) => (edge ? color[c]! : Math.round(0.5 * v + 0.5 * color[c]!)), (v) => v);
}

/** The mask shown whatever the object's colour: pixels outside it dimmed to 30 %, its boundary drawn in yellow. */
export function spotlight(image: ImageBuffer<Uint8Array>, mask: ArrayLike<number>): Uint8Array {
  const yellow = [255, 230, 0];
  return paintMask(image, mask, (v, c, edge) => (edge ? yellow[c]! : v), (v) => Math.round(0.3 * v));
}

/** Per channel value: `inside(v, c, edge)` for mask pixels (edge: on the mask's boundary), `outside(v)` elsewhere. */
function paintMask(image: ImageBuffer<Uint8Array>, mask: ArrayLike<number>, inside: (v: number, c: number, edge: boolean) => number, outside: (v: number) => number): Uint8Array {
  const { height: H, width: W } = image;
  const on = (i: number) => mask[i]! > 0;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const edge = on(i) && (x === 0 || y === 0 || x === W - 1 || y === H - 1 || !on(i - 1) || !on(i + 1) || !on(i - W) || !on(i + W));
      for (let c = 0; c < 3; c++) out[i * 3 + c] = on(i) ? inside(image.data[i * 3 + c]!, c, edge) : outside(image.data[i * 3 + c]!);
    }
  }
  return out;
}

export async function writePredictionPngs(outPath: string, image: ImageBuffer<Uint8Array>, pred: Prediction): Promise<{ overlay: string; mask: string }> {
  const ov = overlay(image, pred.mask);
  const overlayPng = await sharp(Buffer.from(ov), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
  const maskPath = outPath.replace(/\.png$/i, '') + '.mask.png';
  const m = Uint8Array.from(pred.mask, (v) => v * 255);
  const maskPng = await sharp(Buffer.from(m), { raw: { width: image.width, height: image.height, channels: 1 } }).png().toBuffer();
  writeFileAtomic(outPath, overlayPng);
  writeFileAtomic(maskPath, maskPng);
  return { overlay: outPath, mask: maskPath };
}
