import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../../core/errors.js';
import { BASE_VOCAB_SIZE, ClipTokenizer, byteLevelTokenizer, cleanText, learnBpeMerges, loadTokenizer, trainByteLevelBpe } from './index.js';
import { readTokenizerFixture } from './test-fixture.js';

/** A deterministic synthetic corpus of referring expressions. */
function corpus(n: number, seed = 1): string[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
  const colours = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'grey', 'white'];
  const shapes = ['cube', 'sphere', 'cylinder', 'cone', 'square', 'circle', 'triangle', 'star'];
  const places = ['on the left', 'on the right', 'at the top', 'at the bottom', 'in the middle', 'next to the big one', 'behind the café table'];
  const sizes = ['small', 'large', 'tiny', 'huge', ''];
  return Array.from({ length: n }, (_, i) => {
    const extra = i % 17 === 0 ? ' 🐶' : i % 13 === 0 ? ' #2' : '';
    return `the ${pick(sizes)} ${pick(colours)} ${pick(shapes)} ${pick(places)}${extra}`.replace(/ +/g, ' ');
  });
}

const tmp = () => mkdtempSync(join(tmpdir(), 'clip-bytevocab-'));
const squash = (s: string) => s.replace(/ /g, '');

describe('byte-level vocabulary (no merges)', () => {
  it('has 514 ids with SOT and EOT last', () => {
    const tok = byteLevelTokenizer();
    expect(tok.vocabSize).toBe(514);
    expect(tok.sotId).toBe(512);
    expect(tok.eotId).toBe(513);
    expect(tok.merges.length).toBe(0);
    expect(tok.encode('ab')).toEqual([tok.tokenToId('a')!, tok.tokenToId('b</w>')!]);
    expect(tok.encode('é')).toEqual([tok.tokenToId('Ã')!, tok.tokenToId('©</w>')!]);
    expect(Array.from(tok.tokenize(['ab'], 5))).toEqual([512, tok.tokenToId('a')!, tok.tokenToId('b</w>')!, 513, 0]);
  });

  it('round-trips any text through encode and decode', () => {
    const tok = byteLevelTokenizer();
    for (const s of readTokenizerFixture().sentences) {
      expect(squash(tok.decode(tok.encode(s)))).toBe(squash(cleanText(s)));
    }
  });

  it('saves and loads (header only)', () => {
    const p = join(tmp(), 'bytes.txt');
    byteLevelTokenizer().save(p);
    expect(readFileSync(p, 'utf8')).toMatch(/^#version: 0\.2 .*0 merges, 514 ids \(SOT 512, EOT 513\)$/);
    const back = loadTokenizer(p);
    expect(back.vocabSize).toBe(514);
    expect(back.encode('hello')).toEqual(byteLevelTokenizer().encode('hello'));
  });
});

describe('learned byte-level BPE', () => {
  const sentences = corpus(400);

  it('reaches the target vocabulary size with SOT and EOT at the end', () => {
    const tok = trainByteLevelBpe(sentences, { vocabSize: 600 });
    expect(tok.vocabSize).toBe(600);
    expect(tok.merges.length).toBe(600 - BASE_VOCAB_SIZE);
    expect(tok.sotId).toBe(598);
    expect(tok.eotId).toBe(599);
    expect(tok.idToToken(598)).toBe('<|startoftext|>');
    // Frequent words become one token.
    expect(tok.encodePieces('the red cube')).toEqual(['the</w>', 'red</w>', 'cube</w>']);
    // Fewer tokens than bytes on the training text.
    const nBpe = sentences.reduce((n, s) => n + tok.encode(s).length, 0);
    const nBytes = sentences.reduce((n, s) => n + byteLevelTokenizer().encode(s).length, 0);
    expect(nBpe).toBeLessThan(nBytes / 2.5);
  });

  it('is deterministic and independent of the sentence order', () => {
    const a = learnBpeMerges(sentences, { vocabSize: 700 });
    const b = learnBpeMerges(sentences, { vocabSize: 700 });
    const c = learnBpeMerges([...sentences].reverse(), { vocabSize: 700 });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('breaks count ties by the pair string', () => {
    // "ab" and "cd" are equally frequent: "a b" sorts first.
    expect(learnBpeMerges(['ab cd', 'ab cd'], { vocabSize: 515 })).toEqual([['a', 'b</w>']]);
    expect(learnBpeMerges(['cd ab', 'cd ab'], { vocabSize: 516 })).toEqual([['a', 'b</w>'], ['c', 'd</w>']]);
  });

  it('learns merges that encode reproduces: training words become the learned pieces', () => {
    const tok = trainByteLevelBpe(['low lower lowest', 'low lower newest', 'newest widest'], { vocabSize: 540 });
    // Every merge joins symbols that exist at that point (checked by fromMerges), and round trips hold.
    for (const s of ['low lower lowest', 'newest widest', 'lowly west']) {
      expect(squash(tok.decode(tok.encode(s)))).toBe(squash(s));
    }
    expect(tok.encodePieces('low')).toEqual(['low</w>']);
  });

  it('stops early when no pair is frequent enough, and reports the real size', () => {
    const tok = trainByteLevelBpe(['abc', 'abd'], { vocabSize: 5000 });
    expect(tok.merges).toEqual([['a', 'b']]);
    expect(tok.vocabSize).toBe(515);
    expect(tok.eotId).toBe(514);
    expect(trainByteLevelBpe(['abc', 'abd'], { vocabSize: 5000, minFrequency: 1 }).merges.length).toBeGreaterThan(1);
  });

  it('ignores the special tokens in the corpus', () => {
    const merges = learnBpeMerges(['<|endoftext|> <|endoftext|> <|startoftext|>', 'aa aa'], { vocabSize: 600 });
    expect(merges).toEqual([['a', 'a</w>']]);
  });

  it('round-trips encode -> decode on seen and unseen text', () => {
    const tok = trainByteLevelBpe(sentences, { vocabSize: 800 });
    const unseen = [...readTokenizerFixture().sentences, 'ünïcödé 狗 🐶🐱 zwj 👨‍👩‍👧', 'the blue sphere behind the tiny cone'];
    for (const s of [...sentences.slice(0, 50), ...unseen]) {
      expect(squash(tok.decode(tok.encode(s))), s).toBe(squash(cleanText(s)));
    }
  });

  it('saves (gz and plain) and loads back the same tokenizer, byte for byte', () => {
    const tok = trainByteLevelBpe(sentences, { vocabSize: 620 });
    expect(tok.vocabSize).toBe(620);
    const dir = tmp();
    for (const name of ['tiny.bpe.txt.gz', 'tiny.bpe.txt']) {
      const p = join(dir, name);
      tok.save(p);
      const first = readFileSync(p);
      tok.save(p);
      expect(readFileSync(p).equals(first)).toBe(true); // deterministic file
      const back = ClipTokenizer.load(p);
      expect(back.merges).toEqual(tok.merges);
      expect([back.vocabSize, back.sotId, back.eotId]).toEqual([620, 618, 619]);
      expect(Array.from(back.tokenize(sentences, 16))).toEqual(Array.from(tok.tokenize(sentences, 16)));
    }
    expect(readFileSync(join(dir, 'tiny.bpe.txt.gz'))[0]).toBe(0x1f);
    const text = readFileSync(join(dir, 'tiny.bpe.txt'), 'utf8');
    expect(text.split('\n').length).toBe(1 + tok.merges.length);
    expect(text.endsWith('\n')).toBe(false);
    // An explicit gzip flag wins over the extension.
    const p = join(dir, 'forced.txt');
    tok.save(p, { gzip: true });
    expect(readFileSync(p)[0]).toBe(0x1f);
    expect(ClipTokenizer.load(p).merges).toEqual(tok.merges);
  });

  it('rejects impossible settings', () => {
    expect(() => learnBpeMerges(sentences, { vocabSize: 513 })).toThrow(ConfigError);
    expect(() => learnBpeMerges(sentences, { vocabSize: 600.5 })).toThrow(/at least 514/);
    expect(() => learnBpeMerges(sentences, { vocabSize: 600, minFrequency: 0 })).toThrow(/minFrequency/);
    expect(learnBpeMerges(sentences, { vocabSize: 514 })).toEqual([]);
  });
});
