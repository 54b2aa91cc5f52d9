/**
 * The dataset contract between dataset plugins and the core data pipeline.
 * A dataset plugin knows where records, images and masks live; the core
 * pipeline (pipeline.ts) does sampling, letterboxing, normalisation,
 * tokenisation, batching and prefetch identically for every dataset.
 */
import type { ImageBuffer } from '../vision/image.js';
import type { TextTokenizer } from '../model/contracts.js';

/** One referred object (the official "number of referred objects" counts these). */
export interface RefRecord {
  /** Stable unique id within the dataset, e.g. "refcoco/val/ref123". */
  id: string;
  refId: number;
  annId: number;
  imageId: number;
  /** Absolute path of the image file. */
  imagePath: string;
  /** All sentences of the object, in the annotation order (val uses the first). */
  sentences: string[];
  /** Optional, for reports. */
  category?: string;
  /** Dataset-specific pointer used by `loadMask` (e.g. the annotation, or a mask PNG path). */
  maskRef: unknown;
  /**
   * (Additive, optional.) Why this record cannot be used, found while indexing the dataset
   * (annotation missing from instances.json, no segmentation, no sentences...). The pipeline
   * throws a DataError naming the record when it builds a loader, or skips it with `skipBad`.
   */
  invalid?: { reason: string; message: string; file?: string };
}

export interface DatasetSource {
  /** e.g. "refcoco", "refcoco+", "refcocog_u", "synthetic". */
  readonly name: string;
  /** Splits this source has, e.g. ["train", "val", "testA", "testB"]. */
  splits(): string[];
  /** Records of a split; throws DataError naming the split and the known ones if unknown. */
  records(split: string): RefRecord[];
  /** Decoded RGB image, HWC uint8. Throws DataError naming the file and record when unreadable. */
  loadImage(rec: RefRecord): Promise<ImageBuffer<Uint8Array>>;
  /** Ground-truth mask at the image's original size, row-major 0/1. */
  loadMask(rec: RefRecord, height: number, width: number): Promise<Uint8Array>;
  /** One line for logs: root, counts. */
  describe(): string;
  /**
   * (Additive, optional.) Asynchronous set-up before the first `splits()`/`records()` call,
   * e.g. generating a synthetic dataset (`create` is synchronous). Idempotent; the pipeline's
   * `RisLoader.create` awaits it.
   */
  prepare?(): Promise<void>;
  /**
   * (Additive, optional.) The mask as the official CRIS/ETRIS/BarLeRIa preparation stores it:
   * an 8-bit map at the original size (255 inside the object; REFER polygon parts that overlap
   * give 254, 253, ...: `getMask(ref)['mask'] * 255` in uint8). The pipeline letterboxes it and
   * divides by 255 for the training target, and takes `!= 0` as the evaluation ground truth,
   * exactly as the official `RefDataset` and `validate()` read the PNG. Without it the pipeline
   * uses `loadMask(...)·255`.
   */
  loadMaskPng?(rec: RefRecord, height: number, width: number): Promise<Uint8Array>;
}

export interface DatasetContext {
  /** Config location for messages, e.g. `data.dataset`. */
  where: string;
  /** Directory of the config file, to resolve relative paths. */
  baseDir: string;
  /** (Additive, optional.) Where non-fatal notices go (e.g. split sizes that differ from the official ones). Default: console.warn. */
  warn?: (message: string) => void;
}

/** How sentences are drawn: train = one random sentence per object per epoch; val = the first; test = every sentence. */
export type SamplingMode = 'train' | 'val' | 'test';

export interface PipelineOptions {
  inputSize: number;
  wordLength: number;
  tokenizer: TextTokenizer;
  batchSize: number;
  mode: SamplingMode;
  seed: number;
  /** Skip unreadable samples (counted) instead of throwing. */
  skipBad: boolean;
  /** Batches decoded ahead of the consumer. */
  prefetch: number;
  /** Concurrent decodes. */
  workers: number;
  /** Keep the original-size ground truth and the inverse letterbox matrix (evaluation). */
  withOriginal: boolean;
  /** Limit the number of samples (0 = all). */
  limit?: number;
  /**
   * (Additive, optional.) Drop the last, short batch of an epoch. Default: true in 'train' mode
   * (the official train DataLoader has drop_last=True), false otherwise.
   */
  dropLast?: boolean;
}

export interface SampleMeta {
  /** Record id + sentence index, e.g. "refcoco/val/ref123#0". */
  id: string;
  record: RefRecord;
  sentenceIndex: number;
  sentence: string;
  /** Original image size. */
  height: number;
  width: number;
  /** Inverse letterbox matrix (input -> original), row-major 2x3. */
  inverse: readonly number[];
  /** Ground truth at the original size (when `withOriginal`). */
  gt?: Uint8Array;
}

export interface Batch {
  /** [B, S, S, 3] normalised with CLIP mean/std, row-major NHWC. */
  image: Float32Array;
  /** [B, L] token ids. */
  text: Int32Array;
  /** [B, S, S] letterboxed mask in [0, 1]. */
  mask: Float32Array;
  size: number;
  meta: SampleMeta[];
}
