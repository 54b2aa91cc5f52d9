import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DataError, FileFormatError } from '../../../../core/errors.js';
import {
  BYTE_DECODER,
  BYTE_ENCODER,
  BYTE_SYMBOLS,
  ClipTokenizer,
  EOT_TOKEN,
  OFFICIAL_MERGE_COUNT,
  SOT_TOKEN,
  byteEncode,
  bytesToUnicode,
  cleanText,
  loadTokenizer,
  parseMergesText,
  pretokenize,
} from './index.js';
import { BPE_GZ, readTokenizerFixture, type TokenizerFixture } from './test-fixture.js';
import reference from './__reference__/python-text.json' with { type: 'json' };

let tok: ClipTokenizer;
let fx: TokenizerFixture;
let loadMs = 0;

beforeAll(() => {
  const t0 = performance.now();
  tok = ClipTokenizer.load(BPE_GZ);
  loadMs = performance.now() - t0;
  fx = readTokenizerFixture();
});

const tmp = () => mkdtempSync(join(tmpdir(), 'clip-bpe-'));

describe('byte alphabet', () => {
  it('is OpenAI bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100..', () => {
    const m = bytesToUnicode();
    expect(m.size).toBe(256);
    expect(m.get(0x21)).toBe('!');
    expect(m.get(0xff)).toBe('ÿ');
    expect(m.get(0x00)).toBe('Ā');
    expect(m.get(0x20)).toBe('Ġ'); // space: 33rd non-printable byte
    expect(m.get(0xad)).toBe('Ń'); // soft hyphen: the last one (U+0143)
    expect([...m.keys()].slice(0, 3)).toEqual([0x21, 0x22, 0x23]);
    expect(new Set(m.values()).size).toBe(256);
    for (let b = 0; b < 256; b++) expect(BYTE_DECODER.get(BYTE_ENCODER[b]!)).toBe(b);
    expect(BYTE_SYMBOLS).toEqual([...m.values()]);
  });

  it('encodes UTF-8 bytes', () => {
    expect(byteEncode('é')).toBe('Ã©');
    expect(byteEncode('🐶')).toBe('ðŁĲ¶');
    expect(byteEncode('a b')).toBe('aĠb');
  });
});

describe('official vocabulary', () => {
  it('has the official layout and size', () => {
    expect(tok.vocabSize).toBe(fx.config.vocab_size);
    expect(tok.sotId).toBe(fx.config.sot_id);
    expect(tok.eotId).toBe(fx.config.eot_id);
    expect(tok.merges.length).toBe(OFFICIAL_MERGE_COUNT);
    expect(tok.idToToken(0)).toBe('!');
    expect(tok.idToToken(256)).toBe('!</w>');
    expect(tok.idToToken(512)).toBe('in');
    expect(tok.idToToken(49405)).toBe('jekyll</w>');
    expect(tok.idToToken(49406)).toBe(SOT_TOKEN);
    expect(tok.idToToken(49408)).toBeUndefined();
    expect(tok.tokenToId(EOT_TOKEN)).toBe(49407);
    expect(tok.standardLayout).toBe(true);
    expect(tok.describe()).toContain('49408 ids');
  });

  it('loads fast', () => {
    console.log(`official BPE load: ${loadMs.toFixed(0)} ms`);
    expect(loadMs).toBeLessThan(3000);
  });
});

describe('parity with the official tokenizer (fixture)', () => {
  it('cleans every sentence exactly', () => {
    fx.sentences.forEach((s, i) => expect(cleanText(s), `sentence ${i}`).toBe(fx.cleaned[i]));
  });

  it('gives the BPE pieces of every sentence', () => {
    fx.sentences.forEach((s, i) => expect(tok.encodePieces(s), `sentence ${i}`).toEqual(fx.pieces[i]));
  });

  it('gives the raw encode ids of every sentence (bpe.flat / bpe.offsets)', () => {
    expect(fx.ids.reduce((n, a) => n + a.length, 0)).toBe(400);
    fx.sentences.forEach((s, i) => expect(tok.encode(s), `sentence ${i}`).toEqual(fx.ids[i]));
  });

  it.each([17, 77])('tokenize(context %i) equals ids.ctx rows id for id', (ctx) => {
    const out = tok.tokenize(fx.sentences, ctx);
    expect(out).toBeInstanceOf(Int32Array);
    expect(out.length).toBe(fx.sentences.length * ctx);
    fx.sentences.forEach((_, i) => expect(Array.from(out.subarray(i * ctx, (i + 1) * ctx)), `sentence ${i}`).toEqual(fx.rows[ctx]![i]));
  });

  it('maps a literal <|endoftext|> to the EOT id (sentence 33)', () => {
    expect(fx.sentences[33]).toContain(EOT_TOKEN);
    expect(tok.encode(fx.sentences[33]!)).toContain(49407);
    expect(tok.encode('<|startoftext|>')).toEqual([49406]);
    expect(tok.encode('<|STARTOFTEXT|>')).toEqual([49406]); // lower-cased by the cleaning first
  });

  it('decodes the fixture ids back to the cleaned text (spaces aside)', () => {
    fx.sentences.forEach((_, i) => {
      const text = tok.decode(fx.ids[i]!);
      expect(text.replace(/ /g, ''), `sentence ${i}`).toBe(fx.cleaned[i]!.replace(/ /g, ''));
    });
    expect(tok.decode(tok.encode('the man on the left'))).toBe('the man on the left ');
    expect(tok.decode([49406, 320, 49407])).toBe('<|startoftext|>a <|endoftext|>');
  });

  it('decodes broken UTF-8 with replacement characters, like errors="replace"', () => {
    const firstByteOfDog = tok.tokenToId('ðŁ')!;
    expect(firstByteOfDog).toBeDefined();
    expect(tok.decode([firstByteOfDog])).toBe('\ufffd');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([1, 49408])).toThrow(DataError);
    expect(() => tok.decode([1, 49408])).toThrow(/token id 49408 at position 1/);
    expect(() => tok.decode([-1])).toThrow(DataError);
    expect(() => tok.decode([1.5])).toThrow(DataError);
  });

  it('tokenises 1000 sentences quickly', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `${fx.sentences[i % fx.sentences.length]} number ${i}`);
    const fresh = ClipTokenizer.load(BPE_GZ); // cold cache
    const t0 = performance.now();
    const out = fresh.tokenize(many, 77);
    const ms = performance.now() - t0;
    console.log(`tokenize 1000 sentences (cold cache): ${ms.toFixed(0)} ms`);
    expect(out.length).toBe(77_000);
    expect(ms).toBeLessThan(3000);
  });
});

describe('pre-tokeniser', () => {
  it('matches the Python regex module on the reference cases', () => {
    for (const [text, expected] of reference.pretokens as [string, string[]][]) {
      expect(pretokenize(text), JSON.stringify(text)).toEqual(expected);
    }
  });

  it('splits every digit and keeps contractions', () => {
    expect(pretokenize("1990s it's")).toEqual(['1', '9', '9', '0', 's', 'it', "'s"]);
  });
});

describe('BPE cache', () => {
  it('is bounded and does not change results', () => {
    const small = ClipTokenizer.load(BPE_GZ, { cacheSize: 3 });
    const none = ClipTokenizer.load(BPE_GZ, { cacheSize: 0 });
    for (const s of fx.sentences) {
      expect(small.encode(s)).toEqual(tok.encode(s));
      expect(none.encode(s)).toEqual(tok.encode(s));
    }
    expect((small as unknown as { cache: Map<string, string> }).cache.size).toBeLessThanOrEqual(3);
    expect((none as unknown as { cache: Map<string, string> }).cache.size).toBe(0);
    // Special tokens never depend on the cache.
    expect(small.encode('<|endoftext|> <|endoftext|>')).toEqual([49407, 49407]);
  });
});

describe('Hugging Face vocab.json + merges.txt', () => {
  function writePair(dir: string, mergesText?: string): { vocab: string; merges: string } {
    const vocab: Record<string, number> = {};
    for (let id = 0; id < tok.vocabSize; id++) vocab[tok.idToToken(id)!] = id;
    const vocabPath = join(dir, 'vocab.json');
    const mergesPath = join(dir, 'merges.txt');
    writeFileSync(vocabPath, JSON.stringify(vocab));
    writeFileSync(mergesPath, mergesText ?? `#version: 0.2\n${tok.merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
    return { vocab: vocabPath, merges: mergesPath };
  }

  it('gives the same ids as the official file on every fixture sentence', () => {
    const p = writePair(tmp());
    const hf = ClipTokenizer.fromHuggingFace(p.vocab, p.merges);
    expect(hf.vocabSize).toBe(49408);
    expect(hf.sotId).toBe(49406);
    expect(hf.eotId).toBe(49407);
    expect(hf.standardLayout).toBe(true);
    fx.sentences.forEach((s, i) => expect(hf.encode(s), `sentence ${i}`).toEqual(fx.ids[i]));
    expect(Array.from(hf.tokenize(fx.sentences, 77))).toEqual(Array.from(tok.tokenize(fx.sentences, 77)));
    // loadTokenizer picks the HF loader for a .json path (merges.txt beside it).
    expect(loadTokenizer(p.vocab).encode(fx.sentences[1]!)).toEqual(fx.ids[1]);
  });

  it('keeps ids as vocab.json gives them (non-standard layout)', () => {
    const dir = tmp();
    const p = writePair(dir);
    const vocab = JSON.parse(readFileSync(p.vocab, 'utf8')) as Record<string, number>;
    // Swap two ids: encode follows vocab.json, and the layout is no longer the official one.
    const a = tok.idToToken(320)!;
    const b = tok.idToToken(321)!;
    vocab[a] = 321;
    vocab[b] = 320;
    writeFileSync(p.vocab, JSON.stringify(vocab));
    const hf = ClipTokenizer.fromHuggingFace(p.vocab, p.merges);
    expect(hf.standardLayout).toBe(false);
    expect(hf.encode('a')).toEqual([321]);
    expect(() => hf.toMergesText()).toThrow(/official layout/);
  });

  it('rejects broken pairs with errors naming the file', () => {
    const dir = tmp();
    const p = writePair(dir);
    writeFileSync(p.vocab, '{"a": 1,');
    expect(() => ClipTokenizer.fromHuggingFace(p.vocab, p.merges)).toThrow(FileFormatError);
    expect(() => ClipTokenizer.fromHuggingFace(p.vocab, p.merges)).toThrow(p.vocab);
    writeFileSync(p.vocab, JSON.stringify({ a: 0 }));
    expect(() => ClipTokenizer.fromHuggingFace(p.vocab, p.merges)).toThrow(/has no token "!"/);
    const q = writePair(tmp(), '#version: 0.2\ni n\nzz qq\n');
    expect(() => ClipTokenizer.fromHuggingFace(q.vocab, q.merges)).toThrow(/merge 2 .*"zz"/);
    expect(() => ClipTokenizer.fromHuggingFace(join(dir, 'missing.json'), p.merges)).toThrow(/missing\.json: cannot read the vocab\.json: ENOENT/);
    expect(() => loadTokenizer(join(tmp(), 'vocab.json'))).toThrow(FileFormatError);
  });
});

describe('merges files: errors and formats', () => {
  it('names the path of a missing file', () => {
    const p = join(tmp(), 'nope.txt.gz');
    expect(() => ClipTokenizer.load(p)).toThrow(FileFormatError);
    expect(() => ClipTokenizer.load(p)).toThrow(`${p}: cannot read the BPE merges file: ENOENT`);
  });

  it('names the path of a corrupt gzip file', () => {
    const p = join(tmp(), 'bpe.txt.gz');
    const gz = readFileSync(BPE_GZ);
    writeFileSync(p, gz.subarray(0, gz.length >> 1)); // truncated
    expect(() => ClipTokenizer.load(p)).toThrow(FileFormatError);
    expect(() => ClipTokenizer.load(p)).toThrow(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not a valid gzip file`));
    const flipped = Buffer.from(gz);
    flipped[flipped.length - 6]! ^= 0xff; // CRC / size trailer damage
    writeFileSync(p, flipped);
    expect(() => ClipTokenizer.load(p)).toThrow(/is not a valid gzip file/);
  });

  it('rejects empty files, non-text, missing headers and bad merge lines', () => {
    const dir = tmp();
    const p = join(dir, 'bpe.txt');
    writeFileSync(p, '');
    expect(() => ClipTokenizer.load(p)).toThrow(`${p}: is empty`);
    writeFileSync(p, Buffer.from([0x23, 0xff, 0xfe, 0x00]));
    expect(() => ClipTokenizer.load(p)).toThrow(`${p}: is not UTF-8 text`);
    writeFileSync(p, 'i n\nt h\n');
    expect(() => ClipTokenizer.load(p)).toThrow(/line 1 should be a "#version" header/);
    writeFileSync(p, '#version: 0.2\ni n\nthree part line\n');
    expect(() => ClipTokenizer.load(p)).toThrow(/line 3: expected a merge "A B"/);
    writeFileSync(p, '#version: 0.2\ni n\n\nt h');
    expect(() => ClipTokenizer.load(p)).toThrow(/line 3: expected a merge/);
    writeFileSync(p, '#version: 0.2\nin g\n');
    expect(() => ClipTokenizer.load(p)).toThrow(/merge 1 \("in g", line 2\) uses "in"/);
  });

  it('reads plain text and gzip alike, CRLF and a final newline included', () => {
    const dir = tmp();
    const text = gunzipSync(readFileSync(BPE_GZ)).toString('utf8');
    const lines = text.split('\n').slice(0, 2001);
    const plain = join(dir, 'small.txt');
    writeFileSync(plain, lines.join('\r\n') + '\r\n');
    const gz = join(dir, 'small.txt.gz');
    writeFileSync(gz, gzipSync(lines.join('\n')));
    const a = ClipTokenizer.load(plain);
    const b = ClipTokenizer.load(gz);
    expect(a.merges.length).toBe(2000);
    expect(b.merges).toEqual(a.merges);
    expect(a.vocabSize).toBe(512 + 2000 + 2);
    expect(a.eotId).toBe(2513);
    for (const s of fx.sentences) expect(b.encode(s)).toEqual(a.encode(s));
  });

  it('reads only the official slice of merges by default, or maxMerges', () => {
    const text = gunzipSync(readFileSync(BPE_GZ)).toString('utf8');
    expect(parseMergesText(text, BPE_GZ).length).toBe(OFFICIAL_MERGE_COUNT);
    expect(parseMergesText(text, BPE_GZ, 10)).toEqual(tok.merges.slice(0, 10));
    expect(ClipTokenizer.fromBuffer(readFileSync(BPE_GZ), BPE_GZ, { maxMerges: 100 }).vocabSize).toBe(614);
  });

  it('writes the official format and reads it back identically', () => {
    const dir = tmp();
    for (const name of ['vocab.txt.gz', 'vocab.txt']) {
      const p = join(dir, name);
      tok.save(p);
      const back = ClipTokenizer.load(p);
      expect(back.merges).toEqual(tok.merges);
      expect(back.vocabSize).toBe(tok.vocabSize);
      for (const s of fx.sentences) expect(back.encode(s)).toEqual(tok.encode(s));
    }
    const raw = readFileSync(join(dir, 'vocab.txt'), 'utf8');
    expect(raw.startsWith('#version: 0.2')).toBe(true);
    expect(raw.endsWith('\n')).toBe(false);
    expect(raw.split('\n').length).toBe(1 + OFFICIAL_MERGE_COUNT);
    expect(readFileSync(join(dir, 'vocab.txt.gz'))[0]).toBe(0x1f);
  });
});
