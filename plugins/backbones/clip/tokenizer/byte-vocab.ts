/**
 * Small byte-level BPE vocabularies the project makes itself, for tiny models trained on
 * synthetic data. They use the official layout (256 byte symbols, the same with `</w>`, one
 * token per merge, SOT, EOT last), so they are ordinary `ClipTokenizer`s: the same
 * encode/decode/tokenize, and the same merges file format as `bpe_simple_vocab_16e6.txt.gz`
 * (`save` writes it, gzip or plain; `ClipTokenizer.load` and the official Python loader read it).
 *
 *  - `byteLevelTokenizer()`: no merges; every UTF-8 byte is a token (514 ids, SOT 512, EOT 513).
 *  - `trainByteLevelBpe(sentences, { vocabSize })`: merges learned from a corpus with the
 *    standard BPE procedure on the same words the tokenizer sees (official cleaning,
 *    pre-tokeniser, byte alphabet, `</w>` on each word's last symbol): repeatedly merge the most
 *    frequent adjacent pair, counted over word occurrences. Ties go to the pair whose
 *    "A B" string sorts first (JS string order), so the result does not depend on the order
 *    of the sentences. Stops at `vocabSize` ids, or earlier when no pair occurs at least
 *    `minFrequency` times (`vocabSize` of the result then says how many ids there are).
 */
import { ConfigError } from '../../../../core/errors.js';
import { BASE_VOCAB_SIZE, ClipTokenizer, EOT_TOKEN, END_OF_WORD, SOT_TOKEN, byteEncode, pretokenize, type Merge } from './bpe.js';
import { cleanText } from './clean.js';

export interface TrainBpeOptions {
  /** Target number of ids, SOT and EOT included (at least 514: the byte symbols and the two specials). */
  vocabSize: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /** Bound on the tokenizer's BPE cache. */
  cacheSize?: number;
}

/** The byte-only vocabulary: no merges, 514 ids, SOT 512, EOT 513. */
export function byteLevelTokenizer(options: { cacheSize?: number } = {}): ClipTokenizer {
  return ClipTokenizer.fromMerges([], { source: '<byte-level vocabulary, no merges>', cacheSize: options.cacheSize });
}

interface Word {
  symbols: string[];
  count: number;
}

const pairKey = (a: string, b: string) => `${a} ${b}`;

/** Words (byte-encoded pre-tokens of the cleaned sentences) with their counts. */
function countWords(sentences: Iterable<string>): Word[] {
  const counts = new Map<string, number>();
  for (const s of sentences) {
    for (const tok of pretokenize(cleanText(s))) {
      if (tok === SOT_TOKEN || tok === EOT_TOKEN) continue; // never BPE'd (see ClipTokenizer.bpe)
      const enc = byteEncode(tok);
      counts.set(enc, (counts.get(enc) ?? 0) + 1);
    }
  }
  return [...counts.entries()].map(([enc, count]) => {
    const symbols = Array.from(enc);
    symbols[symbols.length - 1] += END_OF_WORD;
    return { symbols, count };
  });
}

/**
 * Learn BPE merges from `sentences` (see the file comment), at most `vocabSize - 514` of them.
 * Deterministic: the same multiset of words gives the same merges.
 */
export function learnBpeMerges(sentences: Iterable<string>, options: TrainBpeOptions): Merge[] {
  const { vocabSize } = options;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isSafeInteger(vocabSize) || vocabSize < BASE_VOCAB_SIZE) {
    throw new ConfigError(`BPE vocabSize must be an integer of at least ${BASE_VOCAB_SIZE} (256 bytes, 256 bytes</w>, SOT, EOT), got ${vocabSize}`);
  }
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) {
    throw new ConfigError(`BPE minFrequency must be a positive integer, got ${minFrequency}`);
  }
  const words = countWords(sentences);
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1) => {
    const { symbols, count } = words[wi]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const k = pairKey(symbols[i]!, symbols[i + 1]!);
      const c = (pairCount.get(k) ?? 0) + sign * count;
      if (c === 0) pairCount.delete(k);
      else pairCount.set(k, c);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));

  const merges: Merge[] = [];
  const target = vocabSize - BASE_VOCAB_SIZE;
  while (merges.length < target) {
    let best: string | undefined;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === undefined || bestCount < minFrequency) break;
    const sep = best.indexOf(' ');
    const a = best.slice(0, sep);
    const b = best.slice(sep + 1);
    // Words listed for a pair may no longer hold it (the list is not pruned): merging is then a no-op.
    for (const wi of [...(pairWords.get(best) ?? [])]) {
      const w = words[wi]!;
      addPairs(wi, -1);
      const next: string[] = [];
      for (let i = 0; i < w.symbols.length; ) {
        if (w.symbols[i] === a && i + 1 < w.symbols.length && w.symbols[i + 1] === b) {
          next.push(a + b);
          i += 2;
        } else {
          next.push(w.symbols[i]!);
          i += 1;
        }
      }
      w.symbols = next;
      addPairs(wi, 1);
    }
    pairWords.delete(best);
    merges.push([a, b]);
  }
  return merges;
}

/** A byte-level BPE tokenizer trained on `sentences` (see `learnBpeMerges`). */
export function trainByteLevelBpe(sentences: Iterable<string>, options: TrainBpeOptions): ClipTokenizer {
  const merges = learnBpeMerges(sentences, options);
  return ClipTokenizer.fromMerges(merges, { source: `<byte-level BPE trained to ${merges.length} merges>`, cacheSize: options.cacheSize });
}
