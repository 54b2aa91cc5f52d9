/**
 * `zoo parity` for tokenizer fixtures: the cleaned text, the BPE pieces, the
 * raw ids and the padded/truncated rows of every context length, exactly.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../../core/registry/manifest.js';
import { UsageError } from '../../../../core/errors.js';
import type { Fixture } from '../../../../core/parity/fixture.js';
import type { ParityReport } from '../../../../core/parity/report.js';
import type { ParityHandler, ParityOptions } from '../../../../core/parity/handler.js';
import { ClipTokenizer } from './bpe.js';
import { cleanText } from './clean.js';

interface TokenizerConfig {
  bpe_file?: string;
  bpe_sha256?: string;
  context_lengths?: number[];
}

const ints = (data: ArrayLike<bigint | number>) => Array.from(data as ArrayLike<bigint>, (v) => Number(v));

function vocabPath(f: Fixture, c: TokenizerConfig, opts: ParityOptions): string {
  if (opts.vocab) return opts.vocab;
  const name = basename(c.bpe_file ?? 'bpe_simple_vocab_16e6.txt.gz');
  for (const dir of [dirname(f.path), dirname(dirname(f.path))]) if (existsSync(join(dir, name))) return join(dir, name);
  throw new UsageError(`${f.path}: the tokenizer fixture needs the BPE vocabulary ${name}; none beside the fixture folder, pass --vocab PATH`);
}

export const tokenizerParity: ParityHandler = {
  matches: (f) => f.has('out/bpe.flat') && f.metadata.sentences !== undefined,
  run(f: Fixture, report: ParityReport, opts: ParityOptions) {
    const c = f.config as TokenizerConfig;
    const path = vocabPath(f, c, opts);
    if (c.bpe_sha256) {
      const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
      report.exact('tokens', `vocabulary sha256 (${basename(path)})`, sha, c.bpe_sha256);
    }
    const tok = ClipTokenizer.load(path);
    const sentences = f.json<string[]>('sentences')!;
    const cleaned = f.json<string[]>('cleaned');
    const pieces = f.json<string[][]>('bpe_pieces');
    const flat = ints(f.raw('out/bpe.flat').data as BigInt64Array);
    const offsets = ints(f.raw('out/bpe.offsets').data as BigInt64Array);
    let badClean = 0;
    let badPieces = 0;
    let badIds = 0;
    sentences.forEach((s, i) => {
      if (cleaned && cleanText(s) !== cleaned[i]) badClean++;
      if (pieces && JSON.stringify(tok.encodePieces(s)) !== JSON.stringify(pieces[i])) badPieces++;
      const ref = flat.slice(offsets[i], offsets[i + 1]);
      if (JSON.stringify(tok.encode(s)) !== JSON.stringify(ref)) badIds++;
    });
    if (cleaned) report.custom('tokens', `cleaned text (${sentences.length} sentences)`, badClean, 0, badClean ? `${badClean} differ` : undefined);
    if (pieces) report.custom('tokens', 'BPE pieces', badPieces, 0, badPieces ? `${badPieces} differ` : undefined);
    report.custom('tokens', 'raw ids (encode)', badIds, 0, badIds ? `${badIds} sentences differ` : undefined);
    const ctxs = c.context_lengths ?? f.names('out/ids.ctx').map((n) => Number(n.slice('out/ids.ctx'.length)));
    for (const ctx of ctxs) {
      const ref = ints(f.raw(`out/ids.ctx${ctx}`).data as BigInt64Array);
      report.exact('tokens', `tokenize(context ${ctx}, truncate)`, tok.tokenize(sentences, ctx, true), ref);
    }
  },
};

export default definePlugin({
  kind: 'parity',
  name: 'clip-tokenizer',
  description: 'Tokenizer fixtures: cleaning, BPE pieces and ids of the official CLIP tokenizer, exactly',
  schema: Type.Object({}),
  create: () => tokenizerParity,
});
