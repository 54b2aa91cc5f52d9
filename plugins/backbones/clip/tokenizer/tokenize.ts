/**
 * The official `tokenize(texts, context_length, truncate)` of `utils/dataset.py`: one row per
 * sentence, [SOT] + encode(text) + [EOT], zero padded to `contextLength`. A row that is longer
 * keeps its first `contextLength` ids and has the last one overwritten by EOT (truncate), or is
 * an error (truncate = false). Empty sentences give [SOT, EOT] like the official code; use
 * `isBlankSentence` (clean.ts) to reject them in dataset code.
 */
import { ConfigError, DataError } from '../../../../core/errors.js';
import type { RawTensor } from '../../../../core/io/raw-tensor.js';

/** What `tokenize` needs from a tokenizer. */
export interface SentenceEncoder {
  encode(text: string): number[];
  readonly sotId: number;
  readonly eotId: number;
}

function preview(text: string): string {
  const t = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return JSON.stringify(t);
}

/**
 * Token ids of `texts`, row-major `[texts.length, contextLength]`. Row i is
 * [SOT, ...encode(texts[i]), EOT, 0, 0, ...]; with `truncate` (the default here; the official
 * default is false, but every official call passes true) an over-long row becomes its first
 * `contextLength` ids with the last set to EOT; without it, an over-long sentence throws a
 * DataError naming its index and length.
 */
export function tokenize(tokenizer: SentenceEncoder, texts: readonly string[], contextLength: number, truncate = true): Int32Array {
  if (!Number.isSafeInteger(contextLength) || contextLength < 1) {
    throw new ConfigError(`context length must be a positive integer, got ${contextLength}`);
  }
  const out = new Int32Array(texts.length * contextLength);
  texts.forEach((text, i) => {
    const ids = [tokenizer.sotId, ...tokenizer.encode(text), tokenizer.eotId];
    if (ids.length > contextLength) {
      if (!truncate) {
        throw new DataError(
          `sentence ${i} is ${ids.length} tokens long with SOT and EOT, more than the context length ${contextLength} (truncate is off): ${preview(text)}`,
        );
      }
      ids.length = contextLength;
      ids[contextLength - 1] = tokenizer.eotId;
    }
    out.set(ids, i * contextLength);
  });
  return out;
}

/** `tokenize` as an int32 RawTensor of shape `[texts.length, contextLength]`. */
export function tokenizeRaw(tokenizer: SentenceEncoder, texts: readonly string[], contextLength: number, truncate = true): RawTensor {
  return { dtype: 'int32', shape: [texts.length, contextLength], data: tokenize(tokenizer, texts, contextLength, truncate) };
}
