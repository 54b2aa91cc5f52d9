/**
 * Image and mask decoding with sharp, matching what the official code gets from
 * OpenCV (`cv2.imdecode(buf, cv2.IMREAD_COLOR)` then BGR→RGB, OpenCV 4.x):
 *
 * - EXIF orientation is applied. OpenCV ≥ 3.1 applies it in `imread` and (4.x) in
 *   `imdecode` unless IMREAD_IGNORE_ORIENTATION is given; the official RefDataset does not
 *   give it. Checked with OpenCV 4.6: a JPEG tagged orientation 6 decodes transposed.
 *   (`exifOrientation: false` keeps the stored pixel grid.)
 * - Embedded ICC profiles are ignored (OpenCV does no colour management): the stored
 *   RGB values are returned as they are.
 * - Grayscale images are replicated to three channels; alpha is dropped, not composited;
 *   16-bit images keep the high byte (v >> 8), as OpenCV's IMREAD_COLOR does.
 * - CMYK JPEGs (Adobe, inverted, as Photoshop writes them) are converted with OpenCV's
 *   own formula (per channel: k − ((k·(255 − c)) >> 8) on the stored values), not
 *   through a colour profile.
 * These give pixel-identical results to cv2 4.6 on baseline/progressive JPEG (4:2:0 and
 * 4:4:4), grayscale JPEG, CMYK JPEG, 8/16-bit RGB/gray PNG with and without alpha, and
 * JPEGs with an ICC profile (core/data/decode.test.ts checks against committed cv2 output).
 *
 * Stricter than OpenCV: a truncated or corrupt file is an error (OpenCV returns a
 * partly grey image with a warning); libjpeg warnings such as extraneous bytes before a
 * marker are accepted, as OpenCV accepts them.
 */
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { BadSampleError } from './bad-sample.js';
import type { ImageBuffer } from '../vision/image.js';

export interface DecodeOptions {
  /** Apply the EXIF orientation as OpenCV does (default true). */
  exifOrientation?: boolean;
}

/**
 * Read an image or mask file. A missing or unreadable file is a BadSampleError with
 * `reason` (default 'unreadable-image'); an empty file is 'empty-image' for images.
 */
export async function readDataFile(path: string, kind: 'image' | 'mask' = 'image'): Promise<Buffer> {
  const unreadable = kind === 'image' ? 'unreadable-image' : 'unreadable-mask';
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new BadSampleError(unreadable, path, `not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof BadSampleError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new BadSampleError(unreadable, path, code === 'ENOENT' ? `${kind} file not found` : `cannot read the ${kind}: ${(e as Error).message}`, { cause: e });
  }
  if (size === 0) throw new BadSampleError(kind === 'image' ? 'empty-image' : unreadable, path, `the ${kind} file is empty (0 bytes)`);
  try {
    return await readFile(path);
  } catch (e) {
    throw new BadSampleError(unreadable, path, `cannot read the ${kind}: ${(e as Error).message}`, { cause: e });
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!.replace(/:\s*$/, '');
}

/**
 * Our own diagnosis of a truncated file, when the bytes show it: libvips keeps its error
 * text in a process-wide buffer, so with several decodes in flight the message can come
 * back as "Unknown error"; the file itself says what is wrong.
 */
function truncation(bytes: Uint8Array): string | undefined {
  const tail = (n: number) => bytes.subarray(Math.max(0, bytes.length - n));
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const t = tail(64);
    for (let i = 0; i + 1 < t.length; i++) if (t[i] === 0xff && t[i + 1] === 0xd9) return undefined;
    return 'premature end of JPEG data (the file is truncated: no end-of-image marker)';
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    if (Buffer.from(tail(64)).includes('IEND')) return undefined;
    return 'truncated PNG (no IEND chunk)';
  }
  return undefined;
}

function decodeFailure(bytes: Uint8Array, file: string, e: unknown): BadSampleError {
  return new BadSampleError('unreadable-image', file, `cannot decode the image: ${truncation(bytes) ?? firstLine(e)}`, { cause: e });
}

/** Largest image decoded: sharp's own default input limit (0x3FFF²: 268 megapixels, ~800 MB as RGB). */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/** OpenCV's CMYK→RGB on libjpeg's stored (Adobe-inverted) values; `ink` are libvips' (= 255 − stored). */
function cmykToRgb(ink: Uint8Array | Buffer, n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const k = 255 - ink[p * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const v = 255 - ink[p * 4 + c]!;
      out[p * 3 + c] = k - ((k * (255 - v)) >> 8);
    }
  }
  return out;
}

/**
 * Decode image bytes to HWC uint8 RGB as `cv2.cvtColor(cv2.imdecode(buf, IMREAD_COLOR), BGR2RGB)`
 * (see the module comment). `file` names the image in errors (BadSampleError 'unreadable-image'
 * or 'empty-image').
 */
export async function decodeImage(bytes: Uint8Array, file: string, options: DecodeOptions = {}): Promise<ImageBuffer<Uint8Array>> {
  const autoOrient = options.exifOrientation ?? true;
  const input = { failOn: 'error' as const, ignoreIcc: true, autoOrient };
  let meta: Metadata;
  try {
    // Header only (no pixels are allocated): the size limit is checked below, with the size in the message.
    meta = await sharp(bytes, { ...input, limitInputPixels: false }).metadata();
  } catch (e) {
    throw decodeFailure(bytes, file, e);
  }
  if (!meta.width || !meta.height) throw new BadSampleError('empty-image', file, `the image has no pixels (${meta.width ?? 0}×${meta.height ?? 0})`);
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) {
    throw new BadSampleError(
      'unreadable-image',
      file,
      `the image header says ${meta.width}×${meta.height} pixels (${Math.round((meta.width * meta.height) / 1e6)} megapixels), more than the ${Math.round(MAX_IMAGE_PIXELS / 1e6)}-megapixel limit; refusing to decode it (a corrupt header, or resize the image)`,
    );
  }
  try {
    if (meta.space === 'cmyk') {
      const { data, info } = await sharp(bytes, input).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`expected 4 CMYK channels, got ${info.channels}`);
      return { data: cmykToRgb(data, info.width * info.height), height: info.height, width: info.width, channels: 3 };
    }
    const { data, info } = await sharp(bytes, input).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`expected 8-bit RGB, got ${info.channels} channels, ${data.length} bytes`);
    }
    if (info.width === 0 || info.height === 0) throw new BadSampleError('empty-image', file, 'the image has no pixels');
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), height: info.height, width: info.width, channels: 3 };
  } catch (e) {
    if (e instanceof BadSampleError) throw e;
    throw decodeFailure(bytes, file, e);
  }
}

/** Read and decode an image file (readDataFile + decodeImage). */
export async function loadImageFile(path: string, options: DecodeOptions = {}): Promise<ImageBuffer<Uint8Array>> {
  return decodeImage(await readDataFile(path, 'image'), path, options);
}

/**
 * A single-channel 8-bit mask file as `cv2.imread(path, cv2.IMREAD_GRAYSCALE)` gives it for
 * the official mask PNGs (8-bit grey; 16-bit keeps the high byte; alpha dropped). A colour
 * file whose channels differ is refused ('unreadable-mask'): masks are grey.
 */
export async function loadMaskFile(path: string, options: DecodeOptions = {}): Promise<ImageBuffer<Uint8Array>> {
  const bytes = await readDataFile(path, 'mask');
  let rgb: ImageBuffer<Uint8Array>;
  try {
    rgb = await decodeImage(bytes, path, options);
  } catch (e) {
    if (e instanceof BadSampleError) throw new BadSampleError('unreadable-mask', path, e.detail, { cause: e });
    throw e;
  }
  const n = rgb.height * rgb.width;
  const out = new Uint8Array(n);
  const d = rgb.data;
  for (let p = 0; p < n; p++) {
    const v = d[p * 3]!;
    if (d[p * 3 + 1] !== v || d[p * 3 + 2] !== v) {
      throw new BadSampleError('unreadable-mask', path, `the mask is a colour image (pixel ${p % rgb.width},${Math.floor(p / rgb.width)} is ${v},${d[p * 3 + 1]},${d[p * 3 + 2]}); expected a grey mask`);
    }
    out[p] = v;
  }
  return { data: out, height: rgb.height, width: rgb.width, channels: 1 };
}
