/**
 * Bad-input corpus, annotations: REFER refs(unc).p and instances.json with missing keys,
 * empty polygons, wrong sizes, duplicate ids, empty sentences, non-UTF-8 bytes, hostile
 * pickles; CRIS-layout lists and mask PNGs; unknown splits and dataset names. Through
 * the data pipeline (RisLoader), with and without skipBad, and through `zoo train`.
 * See harness.ts.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { ConfigError, DataError, FileFormatError, type ZooError } from '../../core/errors.js';
import type { SkipCounts } from '../../core/data/bad-sample.js';
import { encodePickle, type PyValue } from '../../core/io/pickle-writer.js';
import { corpus, type Case } from './harness.js';
import { iterate, pickleBadUtf8, referData, pickleDeepNesting, pickleForbiddenGlobal, pickleSharedBomb, writeCris, writeRefer, type ReferData, type WriteReferOptions } from './fixtures.js';
import { caseConfig, useShared, type Shared } from './shared.js';

const { shared, base } = useShared('annotation');

type C = Case<Shared>;
type ErrorClass = abstract new (...args: never[]) => ZooError;

const refs = (e: { at: (...p: string[]) => string }) => join(e.at('data'), 'refcoco', 'refs(unc).p');
const instances = (e: { at: (...p: string[]) => string }) => join(e.at('data'), 'refcoco', 'instances.json');

/** REFER data written with `o`, then one epoch of `split`: must fail with `error` and `messages`. */
function refer(name: string, what: string, o: WriteReferOptions, error: ErrorClass, messages: RegExp[], split = 'train'): C {
  return {
    name,
    expect: what,
    setup: async (e) => void (await writeRefer(e.at('data'), o)),
    call: (e) => iterate(e.at('data'), split, false),
    error,
    messages,
  };
}

/** The same with skipBad: the epoch completes and the sample is counted under `reason`. */
function referSkip(name: string, what: string, edit: (d: ReferData) => void, counts: Record<string, number>, describe: RegExp, split = 'train'): C {
  let result: Awaited<ReturnType<typeof iterate>> | undefined;
  return {
    name,
    expect: what,
    setup: async (e) => void (await writeRefer(e.at('data'), { edit })),
    call: async (e) => {
      result = await iterate(e.at('data'), split, true);
    },
    after: () => {
      for (const [k, n] of Object.entries(counts)) expect(result!.skipped[k as keyof SkipCounts], k).toBe(n);
      expect(result!.describe).toMatch(describe);
    },
  };
}

const ref = (d: ReferData, id: number) => d.refs.find((r) => r.ref_id === id)! as unknown as Record<string, unknown>;
const ann = (d: ReferData, id: number) => d.annotations.find((a) => a.id === id)! as unknown as Record<string, unknown>;

/** CRIS layout written with `o`, then one epoch of `split`. */
function cris(name: string, what: string, o: Parameters<typeof writeCris>[1], error: ErrorClass, messages: RegExp[], split = 'train'): C {
  return {
    name,
    expect: what,
    setup: async (e) => writeCris(e.at('data'), o),
    call: (e) => iterate(e.at('data'), split, false, { layout: 'cris' }),
    error,
    messages,
  };
}

const notUtf8Json = (d: ReferData): Buffer => {
  const text = JSON.stringify({ images: d.images, annotations: d.annotations, categories: [{ id: 1, name: 'person@' }] });
  const b = Buffer.from(text, 'utf8');
  b[b.indexOf('@')] = 0xe9; // latin-1 é
  return b;
};

const cases: C[] = [
  // ---- files of the REFER layout
  {
    name: 'refs-file-missing',
    expect: 'ConfigError: layout "refer" needs refs(unc).p, not found',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      rmSync(refs(e));
    },
    call: (e) => iterate(e.at('data'), 'train', false),
    error: ConfigError,
    messages: [/data\.dataset: layout "refer" for refcoco needs .*refs\(unc\)\.p, not found/],
  },
  {
    name: 'instances-file-missing',
    expect: 'ConfigError: layout "refer" needs instances.json, not found',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      rmSync(instances(e));
    },
    call: (e) => iterate(e.at('data'), 'train', false),
    error: ConfigError,
    messages: [/needs .*instances\.json, not found/],
  },
  {
    name: 'refs-is-directory',
    expect: 'FileFormatError: refs(unc).p: cannot read: EISDIR',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      rmSync(refs(e));
      mkdirSync(refs(e));
    },
    call: (e) => iterate(e.at('data'), 'train', false),
    error: FileFormatError,
    messages: [/refs\(unc\)\.p: cannot read: EISDIR/],
  },
  refer('instances-invalid-json', 'FileFormatError: instances.json: not JSON', { instancesBytes: Buffer.from('{"images": [}') }, FileFormatError, [/instances\.json: not JSON/]),
  refer('instances-not-utf8', 'FileFormatError: instances.json: not valid UTF-8, byte 0xe9 at offset/line/column', { instancesBytes: notUtf8Json(referData()) }, FileFormatError, [/instances\.json: not valid UTF-8: byte 0xe9 at offset \d+ \(line 1, column \d+\)/]),
  refer('instances-not-coco', 'FileFormatError: expected a COCO object with "images" and "annotations" lists', { instancesBytes: Buffer.from('{"imgs": []}') }, FileFormatError, [/instances\.json: expected a COCO object with "images" and "annotations" lists/]),
  refer('annotation-without-id', 'FileFormatError: annotations[2] has no integer "id"', { edit: (d) => void delete ann(d, 21).id }, FileFormatError, [/instances\.json: annotations\[2\] has no integer "id"/]),
  refer('image-entry-without-id', 'FileFormatError: images[1] has no integer "id"', { edit: (d) => void ((d.images[1] as Record<string, unknown>).id = 'two') }, FileFormatError, [/instances\.json: images\[1\] has no integer "id"/]),
  refer('refs-not-utf8', 'FileFormatError: refs(unc).p: a string is not valid UTF-8 (byte offset named)', { refsBytes: pickleBadUtf8() }, FileFormatError, [/refs\(unc\)\.p: bad pickle at byte \d+ \(BINUNICODE\): a string of 7 bytes is not valid UTF-8: byte 0xff at file offset \d+/]),
  refer('refs-not-a-list', 'FileFormatError: expected a pickled list of refs', { refsBytes: Buffer.from(encodePickle({ refs: [] } as PyValue)) }, FileFormatError, [/refs\(unc\)\.p: expected a pickled list of refs, got object/]),
  refer('ref-not-a-dict', 'FileFormatError: ref #0 is not a dict', { refsBytes: Buffer.from(encodePickle([1, 2] as PyValue)) }, FileFormatError, [/refs\(unc\)\.p: ref #0 is not a dict/]),
  refer('ref-without-split', 'FileFormatError: ref #3 (ref_id 3) has no "split" string', { edit: (d) => void delete ref(d, 3).split }, FileFormatError, [/refs\(unc\)\.p: ref #3 \(ref_id 3\) has no "split" string/]),
  refer('ref-without-ref-id', 'FileFormatError: ref #1 has no integer "ref_id"', { edit: (d) => void (ref(d, 1).ref_id = '1') }, FileFormatError, [/ref #1 has no integer "ref_id"/]),
  refer('refs-garbage', 'FileFormatError: refs(unc).p is not a pickle (bad pickle ... unknown opcode)', { refsBytes: Buffer.from('this is not a pickle') }, FileFormatError, [/refs\(unc\)\.p: bad pickle/]),
  refer('refs-truncated', 'FileFormatError: bad pickle ... (file truncated?)', { refsBytes: Buffer.from(encodePickle([{ ref_id: 1, split: 'train', sentences: [] }] as PyValue)).subarray(0, 30) }, FileFormatError, [/refs\(unc\)\.p: bad pickle at byte \d+/]),
  refer('refs-forbidden-global', 'FileFormatError: refuses to load global "os.system"', { refsBytes: pickleForbiddenGlobal() }, FileFormatError, [/refs\(unc\)\.p: bad pickle at byte \d+ \(GLOBAL\): refuses to load global "os\.system": only data is read/]),
  refer('refs-deep-nesting', 'FileFormatError: nests deeper than 500 levels (100k nested lists)', { refsBytes: pickleDeepNesting(100_000) }, FileFormatError, [/refs\(unc\)\.p: data nests deeper than 500 levels/]),
  refer('refs-shared-reference-bomb', 'FileFormatError: expands to more than 2000000 values through shared references (refused in < 5 s)', { refsBytes: pickleSharedBomb(64) }, FileFormatError, [/refs\(unc\)\.p: data expands to more than 2000000 values through shared references \(a pickle bomb\?\)/]),
  // ---- records (indexing): one DataError listing every unusable sample, unless skipBad
  refer('ref-without-ann-id', 'DataError: ref #1 has no integer "ann_id" (names refs file and record)', { edit: (d) => void delete ref(d, 1).ann_id }, DataError, [/1 unusable sample in refcoco split "train" \(set skipBad to skip them\)/, /record refcoco\/train\/ref1: .*refs\(unc\)\.p: ref #1 has no integer "ann_id"/]),
  refer('ref-without-sentences', 'DataError: ref #0 has no "sentences" list', { edit: (d) => void delete ref(d, 0).sentences }, DataError, [/record refcoco\/train\/ref0: .*ref #0 has no "sentences" list/]),
  refer('empty-polygon-list', 'DataError: annotation 12 of ref 1 has no segmentation', { edit: (d) => void (ann(d, 12).segmentation = []) }, DataError, [/record refcoco\/train\/ref1: .*instances\.json: annotation 12 of ref 1 has no segmentation \(polygons or RLE\)/]),
  refer('segmentation-missing', 'DataError: annotation without "segmentation"', { edit: (d) => void delete ann(d, 11).segmentation }, DataError, [/annotation 11 of ref 0 has no segmentation/]),
  refer('annotation-missing', 'DataError: annotation 999 of ref 6 is not in instances.json', { edit: (d) => void (ref(d, 6).ann_id = 999) }, DataError, [/record refcoco\/train\/ref6: .*annotation 999 of ref 6 is not in instances\.json "annotations"/]),
  refer('image-missing-from-instances', 'DataError: image 4 of ref 6 is not in instances.json "images"', { edit: (d) => void d.images.splice(3, 1) }, DataError, [/image 4 of ref 6 is not in instances\.json "images"/]),
  refer('image-zero-width', 'DataError: image 4 needs positive height and width', { edit: (d) => void (d.images[3]!.width = 0) }, DataError, [/image 4 needs "file_name", and positive "height" and "width"/]),
  refer('duplicate-ref-ids', 'DataError: duplicate record id (also record #0 of the split)', { edit: (d) => void (ref(d, 6).ref_id = 0) }, DataError, [/record refcoco\/train\/ref0: duplicate record id \(also record #0 of the split; image .*\)/]),
  refer('empty-sentence', 'DataError: the sentence is empty, naming record and sentence index', { edit: (d) => void (d.refs[1]!.sentences[0]!.sent = '') }, DataError, [/record refcoco\/train\/ref1 sentence 0: the sentence is empty \(""; image /]),
  refer('whitespace-sentence', 'DataError: a sentence of spaces and tabs is empty', { edit: (d) => void (d.refs[6]!.sentences[0]!.sent = ' \t  ') }, DataError, [/record refcoco\/train\/ref6 sentence 0: the sentence is empty/]),
  refer('no-sentences', 'DataError: the record has no sentences', { edit: (d) => void (d.refs[6]!.sentences = []) }, DataError, [/record refcoco\/train\/ref6: the record has no sentences/]),
  refer('sentence-not-a-dict', 'DataError: a sentence that is not {sent: ...} reads as empty', { edit: (d) => void ((d.refs[6] as unknown as { sentences: unknown[] }).sentences = ['a bare string']) }, DataError, [/record refcoco\/train\/ref6 sentence 0: the sentence is empty/]),
  refer('several-problems-listed', 'DataError: 3 unusable samples, all three listed', { edit: (d) => { ref(d, 6).ann_id = 999; d.refs[1]!.sentences[0]!.sent = ''; ref(d, 0).ann_id = 'x'; } }, DataError, [/3 unusable samples in refcoco split "train"/, /ref0/, /ref1 sentence 0/, /ref6/]),
  // ---- records (loading): masks
  refer('polygon-too-short', 'DataError: the first polygon has 4 numbers; pycocotools needs more than 4', { edit: (d) => void (ann(d, 41).segmentation = [[1, 2, 3, 4]]) }, DataError, [/record refcoco\/train\/ref6/, /annotation 41 of refcoco\/train\/ref6: .*the first polygon has 4 numbers/]),
  refer('polygon-non-numeric', 'DataError: polygon coordinate is not a finite number', { edit: (d) => void (ann(d, 41).segmentation = [[1, 2, 'x', 4, 5, 6]]) }, DataError, [/record refcoco\/train\/ref6/, /annotation 41/]),
  refer('rle-size-mismatch', 'DataError: RLE size 10×10 differs from the image size 24×30', { edit: (d) => void (ann(d, 41).segmentation = { size: [10, 10], counts: [100] }) }, DataError, [/annotation 41.*RLE size 10×10 differs from the image size 24×30/]),
  refer('rle-bad-counts', 'DataError: RLE counts add up to the wrong number of pixels', { edit: (d) => void (ann(d, 41).segmentation = { size: [24, 30], counts: [5, 5] }) }, DataError, [/annotation 41.*counts add up to 10 pixels but size 24×30 has 720/]),
  refer('instances-size-wrong', 'DataError (mask-size): instances.json says 50×40 but the image decodes as 30×24', { edit: (d) => void Object.assign(d.images[3]!, { width: 50, height: 40 }) }, DataError, [/the image decodes as 30×24 .* but instances\.json says 50×40 for image 4/]),
  // ---- splits and names
  {
    name: 'unknown-split',
    expect: 'ConfigError: unknown split "vall"; lists the splits, did you mean "val"',
    setup: async (e) => void (await writeRefer(e.at('data'))),
    call: (e) => iterate(e.at('data'), 'vall', false),
    error: ConfigError,
    messages: [/refcoco: unknown split "vall"; refcoco has train, val, testA, testB\. Did you mean "val"\?/],
  },
  {
    name: 'unknown-split-refcocog',
    expect: 'ConfigError: refcocog_u has no testA (train, val, test)',
    setup: async (e) => {
      await writeRefer(e.at('data'));
      mkdirSync(e.at('data', 'refcocog'));
      writeFileSync(e.at('data', 'refcocog', 'refs(umd).p'), readFileSync(refs(e)));
      writeFileSync(e.at('data', 'refcocog', 'instances.json'), readFileSync(instances(e)));
    },
    call: (e) => iterate(e.at('data'), 'testA', false, { dataset: 'refcocog_u' }),
    error: ConfigError,
    messages: [/refcocog_u: unknown split "testA"; refcocog_u has train, val, test/],
  },
  {
    name: 'unknown-dataset-name',
    expect: 'ConfigError: unknown dataset "refcocog" explains refcocog_u / refcocog_g',
    setup: async (e) => void (await writeRefer(e.at('data'))),
    call: (e) => iterate(e.at('data'), 'train', false, { dataset: 'refcocog' }),
    error: ConfigError,
    messages: [/refcocog.*"refcocog_u".*"refcocog_g"/],
  },
  // ---- skipBad: counted by reason, the epoch completes
  referSkip('skipbad-duplicate-id', 'skipBad: counted as a duplicate id', (d) => void (ref(d, 6).ref_id = 0), { 'duplicate-id': 1 }, /skipped 1 sample \(1 duplicate id\)/),
  referSkip('skipbad-empty-sentence', 'skipBad: counted as an empty sentence', (d) => void (d.refs[6]!.sentences[0]!.sent = ''), { 'empty-sentence': 1 }, /skipped 1 sample \(1 empty sentence\)/),
  referSkip('skipbad-missing-annotation', 'skipBad: counted as a bad annotation', (d) => void (ref(d, 6).ann_id = 999), { 'bad-annotation': 1 }, /skipped 1 sample \(1 bad annotation\)/),
  referSkip('skipbad-wrong-size', 'skipBad: counted as a mask of the wrong size', (d) => void Object.assign(d.images[3]!, { width: 50, height: 40 }), { 'mask-size': 1 }, /skipped 1 sample \(1 mask of the wrong size\)/),
  // ---- the CRIS layout
  cris('cris-mask-missing', 'DataError: mask file not found, naming the PNG and the record', { maskBytes: { 6: Buffer.alloc(0) } }, DataError, [/record refcoco\/train\/ref6/, /masks\/refcoco\/6\.png: the mask file is empty|masks\/refcoco\/6\.png/]),
  cris('cris-mask-wrong-size', 'DataError: the mask is 10×10 but the image is 30×24', {}, DataError, [/masks\/refcoco\/6\.png: the mask is 10×10 but the image .*COCO_train2014_000000000004\.jpg is 30×24/]),
  cris('cris-mask-colour', 'DataError: the mask is a colour image', {}, DataError, [/masks\/refcoco\/6\.png: the mask is a colour image \(pixel 0,0 is/]),
  cris('cris-mask-truncated', 'DataError: the mask PNG cannot be decoded', {}, DataError, [/record refcoco\/train\/ref6/, /masks\/refcoco\/6\.png: cannot decode the image/]),
  cris('cris-anns-not-a-list', 'FileFormatError: expected a JSON list', {}, FileFormatError, [/anns\/refcoco\/train\.json: expected a JSON list of \{segment_id, img_name, sentences/]),
  cris('cris-anns-invalid-json', 'FileFormatError: cannot read the annotation list', {}, FileFormatError, [/anns\/refcoco\/train\.json: cannot read the annotation list/]),
  cris('cris-anns-not-utf8', 'FileFormatError: not valid UTF-8 with the byte offset', {}, FileFormatError, [/anns\/refcoco\/train\.json: not valid UTF-8: byte 0xe9/]),
  cris('cris-entry-without-img-name', 'DataError: entry 0: no "img_name"', { editEntries: (s, es) => void (s === 'train' && delete es[0]!.img_name) }, DataError, [/anns\/refcoco\/train\.json: entry 0: no "img_name"/]),
  cris('cris-entry-not-object', 'DataError: entry 1: not an object', { editEntries: (s, es) => void (s === 'train' && (es[1] = 7 as never)) }, DataError, [/entry 1: not an object/]),
  cris('cris-entry-bad-segment-id', 'DataError: entry 0: no integer "segment_id"', { editEntries: (s, es) => void (s === 'train' && (es[0]!.segment_id = 'a')) }, DataError, [/entry 0: no integer "segment_id"/]),
  // ---- through zoo train
  {
    name: 'train-duplicate-ids',
    expect: 'zoo train exits 1: 1 unusable sample (set skipBad to skip them), nothing written',
    exit: 1,
    setup: async (e) => void (await writeRefer(e.at('data'), { edit: (d) => void (ref(d, 6).ref_id = 0) })),
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.at('data') })), '--out', e.at('run')],
    messages: [/1 unusable sample in refcoco split "train" \(set skipBad to skip them\)/, /duplicate record id/],
  },
  {
    name: 'train-bad-refs-pickle',
    expect: 'zoo train exits 1 naming refs(unc).p (forbidden global)',
    exit: 1,
    setup: async (e) => void (await writeRefer(e.at('data'), { refsBytes: pickleForbiddenGlobal() })),
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.at('data') })), '--out', e.at('run')],
    messages: [/refs\(unc\)\.p: bad pickle .*refuses to load global "os\.system"/],
  },
];

// The CRIS cases that need a file edited after writeCris.
const crisEdits: Record<string, (root: string) => Promise<void> | void> = {
  'cris-mask-wrong-size': async (root) => writeFileSync(join(root, 'masks', 'refcoco', '6.png'), await sharp(Buffer.alloc(100), { raw: { width: 10, height: 10, channels: 1 } }).png().toBuffer()),
  'cris-mask-colour': async (root) => writeFileSync(join(root, 'masks', 'refcoco', '6.png'), await sharp({ create: { width: 30, height: 24, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer()),
  'cris-mask-truncated': (root) => {
    const p = join(root, 'masks', 'refcoco', '6.png');
    writeFileSync(p, readFileSync(p).subarray(0, 40));
  },
  'cris-anns-not-a-list': (root) => writeFileSync(join(root, 'anns', 'refcoco', 'train.json'), '{"refs": []}'),
  'cris-anns-invalid-json': (root) => writeFileSync(join(root, 'anns', 'refcoco', 'train.json'), '[{"segment_id": 1,'),
  'cris-anns-not-utf8': (root) => {
    const p = join(root, 'anns', 'refcoco', 'train.json');
    const b = readFileSync(p);
    b[b.indexOf('left')] = 0xe9;
    writeFileSync(p, b);
  },
  'cris-mask-missing': (root) => rmSync(join(root, 'masks', 'refcoco', '6.png')),
};
for (const c of cases) {
  const edit = crisEdits[c.name];
  if (!edit) continue;
  const setup = c.setup!;
  c.setup = async (e) => {
    await setup(e);
    await edit(e.at('data'));
  };
}
for (const c of cases) if (c.name === 'cris-mask-missing') c.messages = [/record refcoco\/train\/ref6/, /masks\/refcoco\/6\.png: mask file not found/];

corpus('annotation', cases, shared, base);

export { cases as annotationCases };
