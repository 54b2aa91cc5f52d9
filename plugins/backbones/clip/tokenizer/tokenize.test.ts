import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DataError } from '../../../../core/errors.js';
import { ClipTokenizer, isBlankSentence, tokenize, tokenizeRaw, type SentenceEncoder } from './index.js';
import { BPE_GZ, readTokenizerFixture, type TokenizerFixture } from './test-fixture.js';

let tok: ClipTokenizer;
let fx: TokenizerFixture;
beforeAll(() => {
  tok = ClipTokenizer.load(BPE_GZ);
  fx = readTokenizerFixture();
});

/** A stand-in encoder: one id per character (a=1, b=2, ...), SOT 100, EOT 101. */
const letters: SentenceEncoder = {
  sotId: 100,
  eotId: 101,
  encode: (t) => Array.from(t, (c) => c.charCodeAt(0) - 96),
};

const rows = (out: Int32Array, ctx: number) => Array.from({ length: out.length / ctx }, (_, i) => Array.from(out.subarray(i * ctx, (i + 1) * ctx)));

describe('tokenize', () => {
  it('pads with zeros after SOT ids EOT', () => {
    expect(rows(tokenize(letters, ['ab', ''], 5), 5)).toEqual([
      [100, 1, 2, 101, 0],
      [100, 101, 0, 0, 0],
    ]);
  });

  it('keeps rows that fit exactly', () => {
    expect(rows(tokenize(letters, ['abc'], 5), 5)).toEqual([[100, 1, 2, 3, 101]]);
  });

  it('truncates over-long rows to the first ids and overwrites the last with EOT', () => {
    expect(rows(tokenize(letters, ['abcdef'], 5), 5)).toEqual([[100, 1, 2, 3, 101]]);
    expect(rows(tokenize(letters, ['abcdef'], 1), 1)).toEqual([[101]]);
    expect(rows(tokenize(letters, ['abcdef'], 2), 2)).toEqual([[100, 101]]);
  });

  it('without truncation, names the sentence index and its length', () => {
    const run = () => tokenize(letters, ['ab', 'abcdefgh'], 5, false);
    expect(run).toThrow(DataError);
    expect(run).toThrow(/sentence 1 is 10 tokens long with SOT and EOT, more than the context length 5/);
    expect(tokenize(letters, ['abc'], 5, false)).toEqual(new Int32Array([100, 1, 2, 3, 101]));
  });

  it('official sentence 29 overflows 77 without truncation, and is cut with it', () => {
    const [i] = fx.config.overflow_at_77_without_truncate;
    expect(i).toBe(29);
    expect(() => tok.tokenize(fx.sentences, 77, false)).toThrow(/sentence 29 is \d+ tokens long/);
    const row = Array.from(tok.tokenize([fx.sentences[29]!], 77));
    expect(row).toEqual(fx.rows[77]![29]);
    expect(row[76]).toBe(49407);
    expect(row.slice(0, 76)).toEqual([49406, ...fx.ids[29]!.slice(0, 75)]);
  });

  it('gives [SOT, EOT] for empty and whitespace-only sentences, as the official code does', () => {
    const out = tok.tokenize(['', '   \t'], 4);
    expect(Array.from(out)).toEqual([49406, 49407, 0, 0, 49406, 49407, 0, 0]);
    expect(isBlankSentence('   \t')).toBe(true);
    expect(fx.rows[17]![25]!.slice(0, 3)).toEqual([49406, 49407, 0]);
  });

  it('turns a literal <|endoftext|> into EOT inside the row', () => {
    const row = Array.from(tok.tokenize(['the <|endoftext|> token'], 8));
    expect(row).toEqual(fx.rows[17]![33]!.slice(0, 8));
    expect(row.filter((id) => id === 49407).length).toBe(2);
  });

  it('validates the context length', () => {
    for (const bad of [0, -1, 2.5, Number.NaN]) expect(() => tokenize(letters, ['a'], bad)).toThrow(ConfigError);
  });

  it('handles no sentences', () => {
    expect(tokenize(letters, [], 7).length).toBe(0);
  });

  it('tokenizeRaw returns an int32 tensor [n, ctx]', () => {
    const t = tokenizeRaw(tok, fx.sentences.slice(0, 3), 17);
    expect(t.dtype).toBe('int32');
    expect(t.shape).toEqual([3, 17]);
    expect(Array.from(t.data as Int32Array)).toEqual(fx.rows[17]!.slice(0, 3).flat());
  });
});
