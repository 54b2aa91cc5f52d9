/** CLIP text tokenizer: official cleaning, byte-level BPE, fixed-length id rows. */
export {
  BASE_VOCAB_SIZE,
  BYTE_DECODER,
  BYTE_ENCODER,
  BYTE_SYMBOLS,
  ClipTokenizer,
  DEFAULT_CACHE_SIZE,
  END_OF_WORD,
  EOT_TOKEN,
  OFFICIAL_MERGE_COUNT,
  PRETOKENIZER,
  SOT_TOKEN,
  byteEncode,
  bytesToUnicode,
  parseMergesText,
  pretokenize,
  type LoadOptions,
  type Merge,
} from './bpe.js';
export {
  basicClean,
  cleanText,
  fixText,
  ftfyUnescapeHtml,
  htmlUnescape,
  isBlankSentence,
  pyStrip,
  whitespaceClean,
} from './clean.js';
export { loadTokenizer } from './load.js';
export { tokenize, tokenizeRaw, type SentenceEncoder } from './tokenize.js';
export { byteLevelTokenizer, learnBpeMerges, trainByteLevelBpe, type TrainBpeOptions } from './byte-vocab.js';
