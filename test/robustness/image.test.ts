/**
 * Bad-input corpus, images: truncated JPEG/PNG, zero-size PNG, empty files, text named
 * .jpg, a header claiming 100000×100000 (refused before any pixel is allocated), missing
 * files and folders; CMYK, 16-bit, grey and RGBA images are accepted. Through
 * `zoo predict --image`, through the data pipeline (RisLoader over a REFER dataset,
 * with and without skipBad) and through `zoo train`. See harness.ts.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect } from 'vitest';
import { DataError } from '../../core/errors.js';
import type { SkipCounts } from '../../core/data/bad-sample.js';
import { corpus, type Case, type CaseEnv } from './harness.js';
import { imageKinds, iterate, jpeg, writeRefer } from './fixtures.js';
import { caseConfig, useShared, type Shared } from './shared.js';

const { shared, base } = useShared('image', { checkpoint: true });

let kinds: Record<string, Buffer> = {};
beforeAll(async () => {
  kinds = await imageKinds(30, 24);
}, 60_000);

type C = Case<Shared>;
type E = CaseEnv<Shared>;

const fname = (id: number) => `COCO_train2014_${String(id).padStart(12, '0')}.jpg`;

// ---- zoo predict --image

function predict(name: string, what: string, kind: string | ((e: E) => string), messages: (RegExp | ((e: E) => RegExp))[], exit: 0 | 1 = 1, extra: Partial<C> = {}): C {
  let image = '';
  return {
    name,
    expect: what,
    exit,
    setup: (e) => {
      if (typeof kind === 'function') image = kind(e);
      else writeFileSync((image = e.at(`input-${kind}.jpg`)), kinds[kind]!);
    },
    argv: (e) => ['predict', '--config', e.shared.modelConfig, '--checkpoint', e.shared.checkpoint, '--image', image, '--text', 'the left one', '--out', e.at('pred.png')],
    messages,
    allowNew: exit === 0 ? [/^pred\.png$/, /^pred\.mask\.png$/] : [],
    after: exit === 0 ? async (e) => {
      const sharp = (await import('sharp')).default;
      const m = await sharp(e.at('pred.mask.png')).metadata();
      expect([m.width, m.height]).toEqual([30, 24]);
    } : undefined,
    ...extra,
  };
}

let rssBefore = 0;

// ---- the data pipeline (REFER dataset with one bad image)

/** The dataset with image 4 (train ref 6) replaced; iterate the train split. */
function pipeline(name: string, what: string, kind: string, o: { skipBad?: boolean; reason?: keyof SkipCounts; messages?: RegExp[]; accepted?: boolean } = {}): C {
  let result: Awaited<ReturnType<typeof iterate>> | undefined;
  return {
    name,
    expect: what,
    setup: async (e) => {
      await writeRefer(e.at('data'), { imageBytes: { 4: kinds[kind]! } });
    },
    call: async (e) => {
      result = await iterate(e.at('data'), 'train', o.skipBad ?? false);
    },
    error: o.accepted || o.skipBad ? undefined : DataError,
    messages: o.accepted || o.skipBad ? [] : [/refcoco split "train", record refcoco\/train\/ref6/, new RegExp(fname(4).replace('.', '\\.')), ...(o.messages ?? [])],
    after: () => {
      if (o.accepted) {
        expect(result!.batches).toEqual([2]);
        expect(result!.describe).toBe('skipped no samples');
      } else if (o.skipBad) {
        expect(result!.skipped[o.reason ?? 'unreadable-image']).toBe(1);
        expect(result!.batches).toEqual([2]);
      }
    },
  };
}

const cases: C[] = [
  predict('predict-truncated-jpeg', 'cannot decode the image: premature end of JPEG (one line, names the file)', 'truncatedJpeg', [(e) => new RegExp(`${e.at('input-truncatedJpeg.jpg')}: cannot decode the image: .*premature end of JPEG`)], 1, {
    after: (_e, r) => {
      const lines = r.err.split('\n');
      expect(lines.filter((l) => /cannot decode the image/.test(l)).length, 'one line').toBe(1);
      expect(lines.filter((l) => /VipsJpeg|vips_|GLib/.test(l)), 'not the libvips log').toEqual([]);
    },
  }),
  predict('predict-truncated-png', 'cannot decode the image: truncated PNG', 'truncatedPng', [/input-truncatedPng\.jpg: cannot decode the image: truncated PNG \(no IEND chunk\)/]),
  predict('predict-zero-size-png', 'a PNG header of 0×0 cannot be decoded', 'zeroSizePng', [/input-zeroSizePng\.jpg: cannot decode the image/]),
  predict('predict-empty-file', 'the image file is empty (0 bytes)', 'empty', [/input-empty\.jpg: the image file is empty \(0 bytes\)/]),
  predict('predict-text-named-jpg', 'unsupported image format (a text file named .jpg)', 'text', [/input-text\.jpg: cannot decode the image: Input buffer contains unsupported image format/]),
  predict('predict-huge-header', '100000×100000 header refused before allocating (limit named, RSS flat)', 'huge', [/input-huge\.jpg: the image header says 100000×100000 pixels \(10000 megapixels\), more than the 268-megapixel limit/], 1, {
    setup: (e) => {
      writeFileSync(e.at('input-huge.jpg'), kinds.huge!);
      rssBefore = process.memoryUsage().rss;
    },
    argv: (e) => ['predict', '--config', e.shared.modelConfig, '--checkpoint', e.shared.checkpoint, '--image', e.at('input-huge.jpg'), '--text', 'x', '--out', e.at('pred.png')],
    after: (_e, r) => {
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200e6);
      expect(r.ms).toBeLessThan(5000);
    },
  }),
  predict('predict-missing-image', 'image file not found, naming it', (e) => e.at('nope.jpg'), [/nope\.jpg: image file not found/]),
  predict('predict-image-is-directory', 'not a file', (e) => (mkdirSync(e.at('photos')), e.at('photos')), [/photos: not a file/]),
  predict('predict-cmyk-jpeg', 'accepted: CMYK JPEG converted as OpenCV does', 'cmyk', [], 0),
  predict('predict-16-bit-png', 'accepted: 16-bit PNG (high byte)', 'png16', [], 0),
  predict('predict-grayscale-png', 'accepted: grey PNG replicated to RGB', 'gray', [], 0),
  predict('predict-grayscale-jpeg', 'accepted: grey JPEG', 'grayJpeg', [], 0),
  predict('predict-rgba-png', 'accepted: alpha dropped', 'rgba', [], 0),
  // ---- pipeline, skipBad off: a DataError naming the record, the split and the file
  pipeline('data-truncated-jpeg', 'DataError: record ref6, split train, file, premature end of JPEG', 'truncatedJpeg', { messages: [/premature end of JPEG/] }),
  pipeline('data-truncated-png', 'DataError naming record and file: truncated PNG', 'truncatedPng', { messages: [/truncated PNG/] }),
  pipeline('data-zero-size-png', 'DataError naming record and file: cannot decode', 'zeroSizePng', { messages: [/cannot decode the image/] }),
  pipeline('data-empty-file', 'DataError: the image file is empty (0 bytes)', 'empty', { messages: [/the image file is empty \(0 bytes\)/] }),
  pipeline('data-text-named-jpg', 'DataError: unsupported image format', 'text', { messages: [/unsupported image format/] }),
  pipeline('data-huge-header', 'DataError: header says 100000×100000, over the limit (no allocation)', 'huge', { messages: [/100000×100000 pixels .* more than the 268-megapixel limit/] }),
  {
    name: 'data-missing-image',
    expect: 'DataError: image file not found, naming record and path',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      rmSync(join(e.at('data'), 'images', 'train2014', fname(4)));
    },
    call: (e) => iterate(e.at('data'), 'train', false),
    error: DataError,
    messages: [/record refcoco\/train\/ref6/, /COCO_train2014_000000000004\.jpg: image file not found/],
  },
  {
    name: 'data-image-is-directory',
    expect: 'DataError: not a file',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      const p = join(e.at('data'), 'images', 'train2014', fname(4));
      rmSync(p);
      mkdirSync(p);
    },
    call: (e) => iterate(e.at('data'), 'train', false),
    error: DataError,
    messages: [/record refcoco\/train\/ref6/, /COCO_train2014_000000000004\.jpg: not a file/],
  },
  {
    name: 'data-wrong-size-vs-annotation',
    expect: 'DataError (mask-size): the image decodes as 24×30 but instances.json says 30×24',
    setup: async (e) => void (await writeRefer(e.at('data'), { imageBytes: { 4: await jpeg(24, 30) } })),
    call: (e) => iterate(e.at('data'), 'train', false),
    error: DataError,
    messages: [/record refcoco\/train\/ref6/, /the image decodes as 24×30 .* but instances\.json says 30×24 for image 4/],
  },
  // ---- pipeline, skipBad on: skipped and counted, the epoch goes on
  pipeline('data-truncated-jpeg-skipbad', 'skipBad: skipped and counted as an unreadable image; the batch fills from good samples', 'truncatedJpeg', { skipBad: true }),
  pipeline('data-empty-file-skipbad', 'skipBad: counted as a zero-size image', 'empty', { skipBad: true, reason: 'empty-image' }),
  pipeline('data-text-named-jpg-skipbad', 'skipBad: counted as an unreadable image', 'text', { skipBad: true }),
  pipeline('data-huge-header-skipbad', 'skipBad: counted as an unreadable image', 'huge', { skipBad: true }),
  // ---- pipeline, odd but valid
  pipeline('data-cmyk-jpeg', 'accepted', 'cmyk', { accepted: true }),
  pipeline('data-16-bit-png', 'accepted', 'png16', { accepted: true }),
  pipeline('data-grayscale-png', 'accepted', 'gray', { accepted: true }),
  pipeline('data-rgba-png', 'accepted', 'rgba', { accepted: true }),
  // ---- zoo train: a corrupt JPEG among the training images
  {
    name: 'train-corrupt-jpeg',
    expect: 'zoo train exits 1 naming the record, split and file (set skipBad to skip); no checkpoint written',
    exit: 1,
    setup: async (e) => void (await writeRefer(e.at('data'), { imageBytes: { 4: kinds.truncatedJpeg! } })),
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.at('data') })), '--out', e.at('run')],
    messages: [/refcoco split "train", record refcoco\/train\/ref6/, /COCO_train2014_000000000004\.jpg: cannot decode the image/],
    // A run that fails on data keeps its config and log (complete files), never a checkpoint.
    allowNew: [/^run\/config\.json$/, /^run\/log\.jsonl$/],
    timeoutMs: 30_000,
  },
  {
    name: 'train-corrupt-jpeg-skipbad',
    expect: 'zoo train with skipBad finishes and reports "skipped 1 sample (1 unreadable image)"',
    exit: 0,
    setup: async (e) => void (await writeRefer(e.at('data'), { imageBytes: { 4: kinds.truncatedJpeg! } })),
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.at('data'), dataExtra: { skipBad: true } })), '--out', e.at('run')],
    messages: [/data: skipped 1 sample \(1 unreadable image\)/],
    stdout: [/finished at step 1/],
    allowNew: [/^run\//],
    timeoutMs: 60_000,
  },
];

corpus('image', cases, shared, base);

export { cases as imageCases };
