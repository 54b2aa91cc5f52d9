/**
 * Open a tokenizer vocabulary named in a config: a merges file (the official
 * `bpe_simple_vocab_16e6.txt.gz`, or one written by `ClipTokenizer.save`, gzip or plain), or a
 * Hugging Face `vocab.json` with its `merges.txt` in the same folder.
 */
import { basename, dirname, join } from 'node:path';
import { ClipTokenizer, type LoadOptions } from './bpe.js';

export function loadTokenizer(path: string, options: LoadOptions = {}): ClipTokenizer {
  if (basename(path).toLowerCase().endsWith('.json')) {
    return ClipTokenizer.fromHuggingFace(path, join(dirname(path), 'merges.txt'), options);
  }
  return ClipTokenizer.load(path, options);
}
