/**
 * The data pipeline shared by every dataset: sampling, decoding, the official letterbox,
 * CLIP normalisation, tokenisation, batching with prefetch, and bad-data handling.
 *
 * Per record (as the official CRIS/ETRIS/BarLeRIa `RefDataset.__getitem__`):
 *   image = source.loadImage(rec)                        (cv2-compatible decode, core/data/decode.ts)
 *   png   = source.loadMaskPng(rec, h, w)                 (official 8-bit mask; else loadMask·255)
 *   image → letterbox: warpAffine(cubic, border = CLIP mean·255) → /255 − mean / std  (float32, NHWC)
 *   png   → letterbox: warpAffine(linear, border 0) → /255 (float32): the training target, in [0, 1]
 *   gt    = png ≠ 0 at the original size (with `withOriginal`): what the official validate()
 *           compares against (`cv2.imread(png, GRAYSCALE) / 255.` used as booleans)
 * Per sample: tokenizer.tokenize([sentence], wordLength).
 *
 * Determinism: the samples of an epoch are `epochSamples(...)` (core/data/sampling.ts);
 * records are loaded concurrently (at most `workers` at a time) but consumed strictly in
 * sample order, and batches are filled with the next good samples in that order. So the
 * batches depend on (records, mode, seed, epoch, batchSize, limit, dropLast) only — not on
 * `workers` or `prefetch` — and `epoch(e, { startBatch })` yields exactly what an
 * uninterrupted iteration yields from that batch on.
 *
 * Bad data: problems found while indexing (RefRecord.invalid, duplicate ids, blank
 * sentences) fail `new RisLoader` with a DataError listing them, unless `skipBad`; problems
 * found while loading (unreadable/truncated/empty image, broken annotation, mask of the
 * wrong size) throw a DataError naming the record, the split and the file when the
 * consumer reaches that sample, unless `skipBad`, which skips and counts them
 * (`loader.skipped`, `loader.describeSkipped()`). Only the last batch of an epoch can be
 * short. Records found bad are remembered for later epochs.
 */
import { ConfigError, DataError, FileFormatError, ZooError } from '../errors.js';
import { letterboxImage, letterboxMask } from '../vision/letterbox.js';
import { maskToFloat, normalizeImage } from '../vision/normalize.js';
import { BadSampleError, describeSkipCounts, emptySkipCounts, isSkipReason, totalSkipped, type SkipCounts, type SkipReason } from './bad-sample.js';
import type { Batch, DatasetSource, PipelineOptions, RefRecord, SampleMeta } from './contracts.js';
import { SAMPLING_MODES, epochSamples, type SampleRef } from './sampling.js';

export interface EpochOptions {
  /** Start at this batch of the epoch (resume). Default 0. */
  startBatch?: number;
  /**
   * The sample position where `startBatch` begins, when known (`loader.cursor` after the
   * previous batch, saved with a checkpoint). Without it, and with `skipBad`, the loader
   * finds it by checking the earlier samples (decoding, not warping, those not yet seen).
   */
  startSample?: number;
}

export interface SkippedSample {
  /** Sample id, e.g. "refcoco/val/ref12#0". */
  id: string;
  reason: SkipReason;
  message: string;
}

/** A record decoded and transformed once, shared by all its samples. */
interface Processed {
  image: Float32Array;
  mask: Float32Array;
  height: number;
  width: number;
  inverse: readonly number[];
  gt?: Uint8Array;
}

type Outcome = { ok: true; value: Processed | undefined } | { ok: false; reason: SkipReason; error: Error; fatal: boolean };

interface Bad {
  reason: SkipReason;
  error: Error;
}

/** Most skipped samples listed per epoch in `skippedSamples`. */
const MAX_LISTED = 200;

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ConfigError(`pipeline option ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class RisLoader {
  readonly source: DatasetSource;
  readonly split: string;
  readonly options: Readonly<PipelineOptions>;
  readonly records: readonly RefRecord[];
  readonly dropLast: boolean;
  /** Skips of the epoch being iterated (or last iterated), by reason. */
  skipped: SkipCounts = emptySkipCounts();
  /** The first skipped samples of that epoch, with messages. */
  skippedSamples: SkippedSample[] = [];
  /** Sample position just past the last yielded batch (pass as `startSample` to resume after it). */
  cursor = 0;

  private readonly sentenceCounts: number[];
  private lengthCache: number | undefined;
  /** Records unusable from indexing (invalid, duplicate id). */
  private readonly badRecords = new Map<number, Bad>();
  /** Blank sentences the mode can use: key `${record}:${sentence}`. */
  private readonly badSentences = new Map<string, Bad>();
  /** Records found bad while loading (kept across epochs). */
  private readonly loadBad = new Map<number, Bad>();

  /** Prepare the source (`source.prepare()`), then build the loader. */
  static async create(source: DatasetSource, split: string, options: PipelineOptions): Promise<RisLoader> {
    await source.prepare?.();
    return new RisLoader(source, split, options);
  }

  constructor(source: DatasetSource, split: string, options: PipelineOptions) {
    const o = options;
    checkInt('inputSize', o.inputSize, 1);
    checkInt('wordLength', o.wordLength, 1);
    checkInt('batchSize', o.batchSize, 1);
    checkInt('prefetch', o.prefetch, 0);
    checkInt('workers', o.workers, 1);
    checkInt('seed', o.seed, 0);
    checkInt('limit', o.limit ?? 0, 0);
    if (!SAMPLING_MODES.includes(o.mode)) throw new ConfigError(`pipeline option mode must be one of ${SAMPLING_MODES.join(', ')}, got ${JSON.stringify(o.mode)}`);
    if (!o.tokenizer || typeof o.tokenizer.tokenize !== 'function') throw new ConfigError('pipeline option tokenizer must be a TextTokenizer');
    this.source = source;
    this.split = split;
    this.options = { ...o };
    this.dropLast = o.dropLast ?? o.mode === 'train';
    this.records = source.records(split);
    this.sentenceCounts = this.records.map((r) => r.sentences.length);
    this.indexProblems();
  }

  /** Number of samples per epoch (before skips). */
  get length(): number {
    this.lengthCache ??= this.samples(0).length;
    return this.lengthCache;
  }

  /** Number of batches per epoch (before skips; fewer when samples are skipped). */
  get batches(): number {
    const n = this.length;
    const b = this.options.batchSize;
    return this.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  }

  /** The (record, sentence) pairs of epoch `e`, in order. */
  samples(e: number): SampleRef[] {
    const o = this.options;
    return epochSamples(this.sentenceCounts, o.mode, o.seed, o.mode === 'train' ? e : 0, o.limit ?? 0);
  }

  /** "skipped 3 samples (2 unreadable images, 1 empty sentence)" for the current epoch. */
  describeSkipped(): string {
    return describeSkipCounts(this.skipped);
  }

  /** The batches of epoch `e` (from `startBatch`). */
  epoch(e: number, opts: EpochOptions = {}): AsyncIterable<Batch> {
    checkInt('epoch', e, 0);
    checkInt('startBatch', opts.startBatch ?? 0, 0);
    if (opts.startSample !== undefined) checkInt('startSample', opts.startSample, 0);
    return { [Symbol.asyncIterator]: () => this.iterate(e, opts) };
  }

  // ---- indexing-time checks ---------------------------------------------------------------

  private where(rec: RefRecord, sentence?: number): string {
    return `${this.source.name} split "${this.split}", record ${rec.id}${sentence !== undefined ? ` sentence ${sentence}` : ''}`;
  }

  private indexProblems(): void {
    const seen = new Map<string, number>();
    const mode = this.options.mode;
    this.records.forEach((rec, i) => {
      if (rec.invalid) {
        const reason = isSkipReason(rec.invalid.reason) ? rec.invalid.reason : 'bad-annotation';
        const file = rec.invalid.file ? `${rec.invalid.file}: ` : '';
        this.badRecords.set(i, { reason, error: new DataError(`${this.where(rec)}: ${file}${rec.invalid.message}`) });
        return;
      }
      const first = seen.get(rec.id);
      if (first !== undefined) {
        this.badRecords.set(i, { reason: 'duplicate-id', error: new DataError(`${this.where(rec)}: duplicate record id (also record #${first} of the split; image ${rec.imagePath})`) });
        return;
      }
      seen.set(rec.id, i);
      if (rec.sentences.length === 0) {
        this.badRecords.set(i, { reason: 'empty-sentence', error: new DataError(`${this.where(rec)}: the record has no sentences (image ${rec.imagePath})`) });
        return;
      }
      const used = mode === 'val' ? 1 : rec.sentences.length;
      for (let s = 0; s < used; s++) {
        const text = rec.sentences[s]!;
        if (typeof text !== 'string' || isBlank(this.options.tokenizer, text)) {
          this.badSentences.set(`${i}:${s}`, { reason: 'empty-sentence', error: new DataError(`${this.where(rec, s)}: the sentence is empty (${JSON.stringify(text)}; image ${rec.imagePath})`) });
        }
      }
    });
    if (this.options.skipBad) return;
    const all = [...this.badRecords.values(), ...this.badSentences.values()];
    if (all.length === 0) return;
    const shown = all.slice(0, 5).map((b) => `  - ${b.error.message}`);
    const more = all.length > 5 ? `\n  ... and ${all.length - 5} more` : '';
    throw new DataError(`${all.length} unusable sample${all.length === 1 ? '' : 's'} in ${this.source.name} split "${this.split}" (set skipBad to skip them):\n${shown.join('\n')}${more}`);
  }

  private staticBad(s: SampleRef): Bad | undefined {
    return this.badRecords.get(s.record) ?? this.badSentences.get(`${s.record}:${s.sentence}`);
  }

  // ---- loading ------------------------------------------------------------------------------

  private classify(e: unknown, rec: RefRecord, stage: 'image' | 'mask' | 'transform'): Outcome {
    const where = this.where(rec);
    if (e instanceof BadSampleError) {
      return { ok: false, reason: e.reason, fatal: false, error: new DataError(`${where}: ${e.message}`, { cause: e }) };
    }
    if (e instanceof DataError || e instanceof FileFormatError) {
      const reason: SkipReason = stage === 'image' ? 'unreadable-image' : stage === 'mask' ? 'bad-annotation' : 'other';
      const file = stage === 'image' || !e.message.includes(rec.imagePath) ? ` (image ${rec.imagePath})` : '';
      return { ok: false, reason, fatal: false, error: new DataError(`${where}${file}: ${e.message}`, { cause: e }) };
    }
    // Not a data problem (a bug or an engine limit): never skipped, but still named.
    const kind = e instanceof ZooError ? e.name : 'unexpected error';
    return { ok: false, reason: 'other', fatal: true, error: new DataError(`${where} (image ${rec.imagePath}): ${kind} while loading the ${stage}: ${errorMessage(e)}`, { cause: e }) };
  }

  /** Load one record; with `transform` false only check that it loads (decode, mask, sizes). */
  private async loadRecord(index: number, transform: boolean): Promise<Outcome> {
    const rec = this.records[index]!;
    const o = this.options;
    let img;
    try {
      img = await this.source.loadImage(rec);
    } catch (e) {
      return this.classify(e, rec, 'image');
    }
    const { height: h, width: w } = img;
    if (!(h > 0 && w > 0)) return this.classify(new BadSampleError('empty-image', rec.imagePath, `the image has no pixels (${w}×${h})`), rec, 'image');
    if (img.channels !== 3 || img.data.length !== h * w * 3) {
      return this.classify(new BadSampleError('unreadable-image', rec.imagePath, `loadImage gave ${img.channels} channels / ${img.data.length} values for ${w}×${h}; expected RGB`), rec, 'image');
    }
    let png: Uint8Array;
    try {
      if (this.source.loadMaskPng) png = await this.source.loadMaskPng(rec, h, w);
      else {
        const m = await this.source.loadMask(rec, h, w);
        png = new Uint8Array(m.length);
        for (let i = 0; i < m.length; i++) png[i] = m[i] ? 255 : 0;
      }
    } catch (e) {
      return this.classify(e, rec, 'mask');
    }
    if (png.length !== h * w) {
      return this.classify(new BadSampleError('mask-size', rec.imagePath, `the mask has ${png.length} values but the image is ${w}×${h} (${h * w} pixels)`), rec, 'mask');
    }
    if (!transform) return { ok: true, value: undefined };
    try {
      const S = o.inputSize;
      const lb = letterboxImage(img, S);
      const image = normalizeImage(lb.image);
      const mask = maskToFloat(letterboxMask({ data: png, height: h, width: w, channels: 1 }, lb.forward, S).data);
      let gt: Uint8Array | undefined;
      if (o.withOriginal) {
        gt = new Uint8Array(h * w);
        for (let i = 0; i < gt.length; i++) gt[i] = png[i] ? 1 : 0;
      }
      return { ok: true, value: { image, mask, height: h, width: w, inverse: [...lb.inverse], gt } };
    } catch (e) {
      return this.classify(e, rec, 'transform');
    }
  }

  /** Never rejects. */
  private settle(index: number, transform: boolean): Promise<Outcome> {
    return this.loadRecord(index, transform).catch((e: unknown) => this.classify(e, this.records[index]!, 'transform'));
  }

  /**
   * Outcomes of samples[start..] in order, loading at most `workers` records at a time
   * (a record shared by consecutive samples, as in 'test' mode, loads once).
   */
  private async *outcomes(samples: readonly SampleRef[], start: number, transform: boolean, stop: { cancelled: boolean }): AsyncGenerator<{ pos: number; bad?: Bad; fatal?: boolean; value?: Processed }> {
    const workers = this.options.workers;
    const pending = new Map<number, { promise: Promise<Outcome>; users: number }>();
    const loaded: boolean[] = [];
    let sched = start;
    const fill = (): void => {
      while (sched < samples.length) {
        const s = samples[sched]!;
        if (this.staticBad(s) || this.loadBad.has(s.record)) {
          loaded[sched++ - start] = false;
          continue;
        }
        const entry = pending.get(s.record);
        if (entry) entry.users++;
        else if (pending.size >= workers) break;
        else pending.set(s.record, { promise: this.settle(s.record, transform), users: 1 });
        loaded[sched++ - start] = true;
      }
    };
    for (let pos = start; pos < samples.length; pos++) {
      fill();
      const s = samples[pos]!;
      if (!loaded[pos - start]) {
        yield { pos, bad: this.staticBad(s) ?? this.loadBad.get(s.record)! };
      } else {
        const entry = pending.get(s.record)!;
        const out = await entry.promise;
        if (--entry.users === 0) pending.delete(s.record);
        if (stop.cancelled) return;
        if (out.ok) yield { pos, value: out.value };
        else {
          const bad = { reason: out.reason, error: out.error };
          if (!out.fatal) this.loadBad.set(s.record, bad);
          yield { pos, bad, fatal: out.fatal };
        }
      }
      if (stop.cancelled) return;
    }
  }

  private noteSkip(s: SampleRef, bad: Bad): void {
    this.skipped[bad.reason]++;
    if (this.skippedSamples.length < MAX_LISTED) {
      this.skippedSamples.push({ id: `${this.records[s.record]!.id}#${s.sentence}`, reason: bad.reason, message: bad.error.message });
    }
  }

  /** Where batch `startBatch` begins in the sample order (counting the skips before it). */
  private async findStart(samples: readonly SampleRef[], startBatch: number, stop: { cancelled: boolean }): Promise<number> {
    const target = startBatch * this.options.batchSize;
    if (target === 0) return 0;
    if (!this.options.skipBad) return Math.min(target, samples.length);
    let good = 0;
    for await (const r of this.outcomes(samples, 0, false, stop)) {
      if (r.bad) {
        if (r.fatal) throw r.bad.error;
        this.noteSkip(samples[r.pos]!, r.bad);
        continue;
      }
      if (++good === target) return r.pos + 1;
    }
    return samples.length;
  }

  private assemble(items: { p: Processed; s: SampleRef; text: Int32Array }[]): Batch {
    const S = this.options.inputSize;
    const L = this.options.wordLength;
    const n = items.length;
    const image = new Float32Array(n * S * S * 3);
    const mask = new Float32Array(n * S * S);
    const text = new Int32Array(n * L);
    const meta: SampleMeta[] = [];
    items.forEach(({ p, s, text: t }, i) => {
      image.set(p.image, i * S * S * 3);
      mask.set(p.mask, i * S * S);
      text.set(t, i * L);
      const rec = this.records[s.record]!;
      const m: SampleMeta = {
        id: `${rec.id}#${s.sentence}`,
        record: rec,
        sentenceIndex: s.sentence,
        sentence: rec.sentences[s.sentence]!,
        height: p.height,
        width: p.width,
        inverse: p.inverse,
      };
      if (p.gt) m.gt = p.gt;
      meta.push(m);
    });
    return { image, text, mask, size: n, meta };
  }

  private tokens(s: SampleRef): Int32Array {
    const rec = this.records[s.record]!;
    const L = this.options.wordLength;
    const t = this.options.tokenizer.tokenize([rec.sentences[s.sentence]!], L);
    if (t.length !== L) throw new DataError(`${this.where(rec, s.sentence)}: the tokenizer gave ${t.length} ids, expected ${L}`);
    return t;
  }

  private async *iterate(e: number, opts: EpochOptions): AsyncGenerator<Batch> {
    const o = this.options;
    const samples = this.samples(e);
    this.skipped = emptySkipCounts();
    this.skippedSamples = [];
    const stop = { cancelled: false };
    const start = opts.startSample ?? (await this.findStart(samples, opts.startBatch ?? 0, stop));
    this.cursor = start;
    const capacity = Math.max(1, o.prefetch);
    const queue: { batch: Batch; cursor: number }[] = [];
    let done = false;
    let failure: unknown;
    let wakeConsumer: (() => void) | undefined;
    let wakeProducer: (() => void) | undefined;
    const signalConsumer = (): void => {
      const w = wakeConsumer;
      wakeConsumer = undefined;
      w?.();
    };
    const signalProducer = (): void => {
      const w = wakeProducer;
      wakeProducer = undefined;
      w?.();
    };
    const push = async (batch: Batch, cursor: number): Promise<void> => {
      queue.push({ batch, cursor });
      signalConsumer();
      while (queue.length >= capacity && !stop.cancelled) await new Promise<void>((r) => (wakeProducer = r));
    };
    const produce = async (): Promise<void> => {
      let items: { p: Processed; s: SampleRef; text: Int32Array }[] = [];
      for await (const r of this.outcomes(samples, start, true, stop)) {
        const s = samples[r.pos]!;
        if (r.bad) {
          if (r.fatal || !o.skipBad) throw r.bad.error;
          this.noteSkip(s, r.bad);
          continue;
        }
        items.push({ p: r.value!, s, text: this.tokens(s) });
        if (items.length === o.batchSize) {
          await push(this.assemble(items), r.pos + 1);
          items = [];
        }
        if (stop.cancelled) return;
      }
      if (items.length > 0 && !this.dropLast && !stop.cancelled) await push(this.assemble(items), samples.length);
    };
    void produce()
      .catch((err: unknown) => {
        failure = err;
      })
      .finally(() => {
        done = true;
        signalConsumer();
      });
    try {
      for (;;) {
        if (queue.length > 0) {
          const { batch, cursor } = queue.shift()!;
          signalProducer();
          this.cursor = cursor;
          yield batch;
          continue;
        }
        if (done) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((r) => (wakeConsumer = r));
      }
    } finally {
      stop.cancelled = true;
      signalProducer();
    }
  }

  /** Total samples skipped in the current epoch. */
  get skippedTotal(): number {
    return totalSkipped(this.skipped);
  }
}

/** `RisLoader.create` as a function. */
export function createRisLoader(source: DatasetSource, split: string, options: PipelineOptions): Promise<RisLoader> {
  return RisLoader.create(source, split, options);
}

/** Blank after the tokenizer's own cleaning (when it offers one), else after trimming whitespace. */
function isBlank(tokenizer: { isBlank?(text: string): boolean }, text: string): boolean {
  return tokenizer.isBlank ? tokenizer.isBlank(text) : text.trim().length === 0;
}
