/** Test-only: the official tokenizer fixture (parity README section 8) and the official BPE file. */
import { join } from 'node:path';
import { readSafetensors } from '../../../../core/io/safetensors.js';
import { FIXTURES } from '../../../../test/fixtures.js';

export const BPE_GZ = join(FIXTURES, 'bpe_simple_vocab_16e6.txt.gz');
export const TOKENIZER_FIXTURE = join(FIXTURES, 'parity', 'tokenizer.safetensors');

export interface TokenizerFixture {
  sentences: string[];
  cleaned: string[];
  pieces: string[][];
  config: { vocab_size: number; sot_id: number; eot_id: number; context_lengths: number[]; overflow_at_77_without_truncate: number[] };
  /** encode(sentences[i]) of the official code. */
  ids: number[][];
  /** Official tokenize(sentences, ctx, truncate=True), one row per sentence. */
  rows: Record<number, number[][]>;
}

const toNumbers = (data: ArrayLike<bigint | number>) => Array.from(data as ArrayLike<bigint>, (v) => Number(v));

export function readTokenizerFixture(): TokenizerFixture {
  const f = readSafetensors(TOKENIZER_FIXTURE);
  const meta = (k: string) => JSON.parse(f.metadata[k]!);
  const flat = toNumbers(f.get('out/bpe.flat').data as BigInt64Array);
  const offsets = toNumbers(f.get('out/bpe.offsets').data as BigInt64Array);
  const sentences: string[] = meta('sentences');
  const rows: Record<number, number[][]> = {};
  for (const ctx of [17, 77]) {
    const t = f.get(`out/ids.ctx${ctx}`);
    const v = toNumbers(t.data as BigInt64Array);
    rows[ctx] = sentences.map((_, i) => v.slice(i * ctx, (i + 1) * ctx));
  }
  return {
    sentences,
    cleaned: meta('cleaned'),
    pieces: meta('bpe_pieces'),
    config: meta('config'),
    ids: sentences.map((_, i) => flat.slice(offsets[i], offsets[i + 1])),
    rows,
  };
}
