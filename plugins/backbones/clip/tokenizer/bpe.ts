/**
 * CLIP's byte-level BPE tokenizer, id for id the official `utils/simple_tokenizer.py`
 * (OpenAI CLIP, copied unchanged into BarLeRIa and ETRIS):
 *
 *  - text is cleaned (clean.ts), split by the pre-tokeniser regex (letter runs, single digits,
 *    runs of other symbols, English contractions, the two special tokens);
 *  - each piece's UTF-8 bytes are written in a printable byte alphabet (`bytesToUnicode`), the
 *    last symbol gets the end-of-word marker `</w>`, and merges are applied lowest rank first;
 *  - vocabulary: the 256 byte symbols, the same with `</w>`, one token per merge (the two
 *    halves joined), `<|startoftext|>`, `<|endoftext|>`. The official file has 48 894 merges
 *    (`lines[1 : 49152-256-2+1]`), so 49 408 ids with SOT 49406 and EOT 49407.
 *
 * The same class serves the small vocabularies of byte-vocab.ts (fewer merges, same layout)
 * and Hugging Face `vocab.json` + `merges.txt` pairs (`fromHuggingFace`).
 */
import { isBlankSentence } from './clean.js';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ConfigError, DataError, FileFormatError } from '../../../../core/errors.js';
import { writeFileAtomic } from '../../../../core/io/atomic-write.js';
import type { TextTokenizer } from '../../../../core/model/contracts.js';
import { cleanText } from './clean.js';
import { tokenize } from './tokenize.js';

export const SOT_TOKEN = '<|startoftext|>';
export const EOT_TOKEN = '<|endoftext|>';
export const END_OF_WORD = '</w>';
/** How many merges the official loader reads: `lines[1 : 49152-256-2+1]`. */
export const OFFICIAL_MERGE_COUNT = 49152 - 256 - 2;
/** Byte symbols, byte symbols with `</w>`, SOT, EOT: the vocabulary without merges. */
export const BASE_VOCAB_SIZE = 256 * 2 + 2;
/** Default bound on the BPE cache (the official cache is unbounded). */
export const DEFAULT_CACHE_SIZE = 20_000;

// ---------------------------------------------------------------- byte alphabet

/**
 * OpenAI's `bytes_to_unicode`: printable Latin-1 bytes ("!".."~", "¡".."¬", "®".."ÿ") stand for
 * themselves; the other 68 bytes get U+0100, U+0101, ... in byte order. Returns the byte values
 * in vocabulary order (printable ones first) with their characters.
 */
function buildByteAlphabet(): { order: number[]; chars: string[] } {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  const chars = new Array<string>(256);
  for (const b of order) chars[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (chars[b] === undefined) {
      chars[b] = String.fromCharCode(256 + n++);
      order.push(b);
    }
  }
  return { order, chars };
}

const BYTE_ALPHABET = buildByteAlphabet();
/** Byte value -> its symbol. */
export const BYTE_ENCODER: readonly string[] = BYTE_ALPHABET.chars;
/** Symbol -> byte value. */
export const BYTE_DECODER: ReadonlyMap<string, number> = new Map(BYTE_ALPHABET.chars.map((c, b) => [c, b]));
/** The 256 byte symbols in vocabulary order (ids 0..255; ids 256..511 are the same with `</w>`). */
export const BYTE_SYMBOLS: readonly string[] = BYTE_ALPHABET.order.map((b) => BYTE_ALPHABET.chars[b]!);

/** OpenAI's `bytes_to_unicode()` as a map, byte value -> symbol, in the official order. */
export function bytesToUnicode(): Map<number, string> {
  return new Map(BYTE_ALPHABET.order.map((b) => [b, BYTE_ALPHABET.chars[b]!]));
}

const UTF8 = new TextEncoder();

/** A pre-token's UTF-8 bytes written in the byte alphabet. */
export function byteEncode(token: string): string {
  let s = '';
  for (const b of UTF8.encode(token)) s += BYTE_ENCODER[b];
  return s;
}

// ---------------------------------------------------------------- pre-tokeniser

/**
 * The official pattern, `regex` module with IGNORECASE:
 * `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`.
 * In JS: flags `giu`; `\s` is the `regex` module's one, Unicode White_Space (JS `\s` adds U+FEFF and
 * misses U+0085). Checked over every code point assigned in Unicode 14 against regex 2022.10.31
 * (the fixture's 2.5.123): the only other difference is U+0345 (combining ypogegrammeni), which
 * JS case-insensitive `\p{L}` matches and the `regex` module matches with no alternative at all
 * (it is skipped like a space); `pretokenize` turns it into a space first. Code points that the
 * official environment's Unicode (15.0) leaves unassigned but this Node.js assigns as letters or
 * digits are split differently (both go through the byte fallback).
 */
export const PRETOKENIZER = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

/** `re.findall(pattern, cleaned)`: the pre-tokens of already cleaned text. */
export function pretokenize(cleaned: string): string[] {
  return cleaned.replace(/\u0345/g, ' ').match(PRETOKENIZER) ?? [];
}

// ---------------------------------------------------------------- merges files

export type Merge = readonly [string, string];

export interface LoadOptions {
  /** Merges to read after the header line; the official loader's slice by default (48 894). */
  maxMerges?: number;
  /** Bound on the BPE cache; default 20 000 words. */
  cacheSize?: number;
}

/** Python `str.split()` separators (merge lines are split on whitespace runs). */
const PY_SPACE_RUN = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
const PY_SPACE_OTHER = /[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

function decodeUtf8(buf: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (e) {
    throw new FileFormatError(path, 'is not UTF-8 text (corrupt or not a BPE merges file)', { cause: e });
  }
}

function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FileFormatError(path, `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** The text of a merges file, gunzipped when it starts with the gzip magic bytes. */
function mergesFileText(buf: Uint8Array, path: string): string {
  if (buf.byteLength === 0) throw new FileFormatError(path, 'is empty; expected a BPE merges file (plain text or gzip)');
  let bytes = buf;
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      bytes = gunzipSync(buf);
    } catch (e) {
      throw new FileFormatError(path, `is not a valid gzip file (${(e as Error).message}); truncated or corrupt BPE vocabulary?`, { cause: e });
    }
  }
  return decodeUtf8(bytes, path);
}

/**
 * Merge lines of a merges text: line 0 is a header (must contain "#version", as the official
 * file's `"bpe_simple_vocab_16e6.txt#version: 0.2` and Hugging Face's `#version: 0.2` do), then
 * `lines[1 : 1 + maxMerges]`. A final empty line (a file ending in "\n") is ignored.
 */
export function parseMergesText(text: string, path: string, maxMerges = OFFICIAL_MERGE_COUNT): Merge[] {
  if (!Number.isSafeInteger(maxMerges) || maxMerges < 0) throw new ConfigError(`maxMerges must be a non-negative integer, got ${maxMerges}`);
  // (split's limit is a uint32: cap it so a huge maxMerges does not wrap around.)
  const lines = text.split('\n', Math.min(maxMerges + 2, 0xffffffff));
  const header = lines[0]!;
  if (!header.includes('#version')) {
    throw new FileFormatError(path, `line 1 should be a "#version" header, found ${JSON.stringify(header.slice(0, 60))}; not a BPE merges file`);
  }
  let body = lines.slice(1, 1 + maxMerges);
  const fileEndsHere = lines.length <= maxMerges + 1;
  if (fileEndsHere && body.length > 0 && body[body.length - 1] === '') body = body.slice(0, -1);
  const merges: Merge[] = [];
  for (let i = 0; i < body.length; i++) {
    const line = body[i]!;
    // Fast path: "A B" with a single space; otherwise Python's split() on whitespace runs.
    const sp = line.indexOf(' ');
    if (sp > 0 && sp < line.length - 1 && line.indexOf(' ', sp + 1) < 0 && !PY_SPACE_OTHER.test(line)) {
      merges.push([line.slice(0, sp), line.slice(sp + 1)]);
      continue;
    }
    const parts = line.trim() === '' ? [] : line.trim().split(PY_SPACE_RUN);
    if (parts.length !== 2) {
      throw new FileFormatError(path, `line ${i + 2}: expected a merge "A B", found ${JSON.stringify(line.slice(0, 60))}`);
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}

/** Check that each merge joins two symbols that exist when it is learned. */
function checkMerges(merges: readonly Merge[], path: string, known: Set<string>): void {
  merges.forEach(([a, b], i) => {
    for (const part of [a, b]) {
      if (!known.has(part)) {
        throw new FileFormatError(path, `merge ${i + 1} ("${a} ${b}", line ${i + 2}) uses "${part}", which is neither a byte symbol nor made by an earlier merge; corrupt or not a byte-level BPE merges file`);
      }
    }
    known.add(a + b);
  });
}

function baseSymbols(): string[] {
  return [...BYTE_SYMBOLS, ...BYTE_SYMBOLS.map((s) => s + END_OF_WORD)];
}

// ---------------------------------------------------------------- tokenizer

interface TokenizerInit {
  tokens: readonly (string | undefined)[];
  encoder: Map<string, number>;
  merges: readonly Merge[];
  source: string;
  standardLayout: boolean;
  cacheSize: number;
}

export class ClipTokenizer implements TextTokenizer {
  /** Number of ids (the embedding table size): max id + 1. */
  readonly vocabSize: number;
  readonly sotId: number;
  readonly eotId: number;
  /** The merges in rank order. */
  readonly merges: readonly Merge[];
  /** Where the vocabulary came from, for messages. */
  readonly source: string;
  /** Ids follow the official layout (bytes, bytes + `</w>`, merges, SOT, EOT): `toMergesText` is lossless. */
  readonly standardLayout: boolean;

  private readonly tokens: readonly (string | undefined)[];
  private readonly encoder: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string>();
  private readonly cacheSize: number;

  private constructor(init: TokenizerInit) {
    this.tokens = init.tokens;
    this.encoder = init.encoder;
    this.merges = init.merges;
    this.source = init.source;
    this.standardLayout = init.standardLayout;
    this.cacheSize = init.cacheSize;
    this.vocabSize = init.tokens.length;
    this.sotId = init.encoder.get(SOT_TOKEN)!;
    this.eotId = init.encoder.get(EOT_TOKEN)!;
    // dict(zip(merges, range(n))): a repeated merge keeps its last rank.
    this.ranks = new Map(init.merges.map(([a, b], i) => [`${a} ${b}`, i]));
  }

  /**
   * The official vocabulary layout built from a merge list: 256 byte symbols, the same with
   * `</w>`, one token per merge, SOT, EOT. With the official 48 894 merges: 49 408 ids.
   */
  static fromMerges(merges: readonly Merge[], options: { source?: string; cacheSize?: number } = {}): ClipTokenizer {
    const source = options.source ?? `<${merges.length} merges>`;
    const tokens = baseSymbols();
    // dict(zip(vocab, range(len(vocab)))): a token made by two merges maps to the later id.
    const encoder = new Map<string, number>(tokens.map((t, i) => [t, i]));
    for (let i = 0; i < merges.length; i++) {
      const [a, b] = merges[i]!;
      // The encoder holds exactly the symbols that exist before merge i: check it joins two of them.
      if (!encoder.has(a) || !encoder.has(b)) checkMerges(merges.slice(0, i + 1), source, new Set(baseSymbols()));
      encoder.set(a + b, tokens.length);
      tokens.push(a + b);
    }
    for (const special of [SOT_TOKEN, EOT_TOKEN]) {
      encoder.set(special, tokens.length);
      tokens.push(special);
    }
    return new ClipTokenizer({ tokens, encoder, merges: [...merges], source, standardLayout: true, cacheSize: checkCacheSize(options.cacheSize) });
  }

  /** Parse a merges file's bytes (gzip or plain text). `path` names it in errors. */
  static fromBuffer(buf: Uint8Array, path: string, options: LoadOptions = {}): ClipTokenizer {
    const merges = parseMergesText(mergesFileText(buf, path), path, options.maxMerges);
    return ClipTokenizer.fromMerges(merges, { source: path, cacheSize: options.cacheSize });
  }

  /**
   * Load a merges file: the official `bpe_simple_vocab_16e6.txt.gz`, or a vocabulary written by
   * `save` (gzip or plain text, recognised by its content).
   */
  static load(path: string, options: LoadOptions = {}): ClipTokenizer {
    return ClipTokenizer.fromBuffer(readBytes(path, 'BPE merges file'), path, options);
  }

  /**
   * A Hugging Face pair: `vocab.json` (token -> id) and `merges.txt` (`#version` header, then one
   * merge per line; like `CLIPTokenizer`, at most 48 894 merges are read). The vocabulary must
   * hold the 512 byte symbols, `<|startoftext|>`, `<|endoftext|>` and every merge result.
   */
  static fromHuggingFace(vocabJsonPath: string, mergesTxtPath: string, options: LoadOptions = {}): ClipTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(decodeUtf8(readBytes(vocabJsonPath, 'vocab.json'), vocabJsonPath));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(vocabJsonPath, `is not JSON (${(e as Error).message})`, { cause: e });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new FileFormatError(vocabJsonPath, 'must be a JSON object mapping tokens to ids');
    }
    const encoder = new Map<string, number>();
    const tokens: (string | undefined)[] = [];
    for (const [tok, id] of Object.entries(json as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        throw new FileFormatError(vocabJsonPath, `token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}; ids must be non-negative integers`);
      }
      if (tokens[id] !== undefined) throw new FileFormatError(vocabJsonPath, `id ${id} is used by both ${JSON.stringify(tokens[id])} and ${JSON.stringify(tok)}`);
      encoder.set(tok, id);
      tokens[id] = tok;
    }
    for (const sym of [...baseSymbols(), SOT_TOKEN, EOT_TOKEN]) {
      if (!encoder.has(sym)) throw new FileFormatError(vocabJsonPath, `has no token ${JSON.stringify(sym)}; not a CLIP byte-level vocabulary`);
    }
    const merges = parseMergesText(mergesFileText(readBytes(mergesTxtPath, 'merges.txt'), mergesTxtPath), mergesTxtPath, options.maxMerges);
    checkMerges(merges, mergesTxtPath, new Set(baseSymbols()));
    merges.forEach(([a, b], i) => {
      if (!encoder.has(a + b)) throw new FileFormatError(vocabJsonPath, `has no token for merge ${i + 1} of ${mergesTxtPath} ("${a} ${b}" -> "${a + b}")`);
    });
    const standard = [...baseSymbols(), ...merges.map(([a, b]) => a + b), SOT_TOKEN, EOT_TOKEN];
    const standardLayout = standard.length === tokens.length && standard.every((t, i) => encoder.get(t) === i && tokens[i] === t);
    return new ClipTokenizer({
      tokens: Array.from(tokens),
      encoder,
      merges,
      source: `${vocabJsonPath} + ${mergesTxtPath}`,
      standardLayout,
      cacheSize: checkCacheSize(options.cacheSize),
    });
  }

  /** One line for logs: source, merges, ids, special ids. */
  isBlank(text: string): boolean {
    return isBlankSentence(text);
  }

  describe(): string {
    return `CLIP byte-level BPE (${this.source}): ${this.merges.length} merges, ${this.vocabSize} ids, SOT ${this.sotId}, EOT ${this.eotId}`;
  }

  /** Token string of an id (byte alphabet, `</w>` marks word ends); undefined outside the vocabulary. */
  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  /** Id of a token string, undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.encoder.get(token);
  }

  /**
   * BPE of one byte-encoded pre-token: its pieces joined by spaces, the last one ending in
   * `</w>`. The special tokens come back unchanged (the official cache is seeded with them).
   */
  bpe(token: string): string {
    if (token === SOT_TOKEN || token === EOT_TOKEN) return token;
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      // Least recently used eviction: move the hit to the end.
      this.cache.delete(token);
      this.cache.set(token, cached);
      return cached;
    }
    const chars = Array.from(token);
    if (chars.length === 0) return '';
    let word = chars;
    word[word.length - 1] += END_OF_WORD;
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i + 1 < word.length && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]!);
          i += 1;
        }
      }
      word = next;
    }
    const out = word.join(' ');
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, out);
    }
    return out;
  }

  /** The BPE pieces of a text (after the official cleaning), as strings: `bpe_pieces` of the fixture. */
  encodePieces(text: string): string[] {
    const pieces: string[] = [];
    for (const tok of pretokenize(cleanText(text))) {
      for (const piece of this.bpe(byteEncode(tok)).split(' ')) pieces.push(piece);
    }
    return pieces;
  }

  /** The official `encode`: clean, pre-tokenise, BPE, ids (no SOT/EOT). */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const piece of this.encodePieces(text)) {
      const id = this.encoder.get(piece);
      if (id === undefined) throw new FileFormatError(this.source, `BPE piece ${JSON.stringify(piece)} is not in the vocabulary`);
      ids.push(id);
    }
    return ids;
  }

  /**
   * The official `decode`: token strings joined, byte alphabet back to bytes, UTF-8 with
   * replacement characters for broken sequences, every `</w>` replaced by a space.
   */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    let pos = 0;
    for (const id of ids) {
      const tok = Number.isInteger(id) ? this.tokens[id] : undefined;
      if (tok === undefined) throw new DataError(`token id ${id} at position ${pos} is not in the vocabulary of ${this.source} (${this.vocabSize} ids)`);
      for (const c of tok) {
        const b = BYTE_DECODER.get(c);
        if (b === undefined) throw new FileFormatError(this.source, `token ${JSON.stringify(tok)} (id ${id}) has a character outside the byte alphabet`);
        bytes.push(b);
      }
      pos++;
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replaceAll(END_OF_WORD, ' ');
  }

  /** `tokenize(this, texts, contextLength, truncate)`: ids `[n, contextLength]`, see tokenize.ts. */
  tokenize(texts: readonly string[], contextLength: number, truncate = true): Int32Array {
    return tokenize(this, texts, contextLength, truncate);
  }

  /**
   * The merges file text (official format): a `#version` header line, then one merge per line,
   * no final newline, so the official Python loader reads exactly these merges back (with a
   * final newline it would add an empty token). Only for the official layout.
   */
  toMergesText(): string {
    if (!this.standardLayout) {
      throw new ConfigError(`${this.source}: the ids do not follow the official layout (bytes, bytes</w>, merges, SOT, EOT), so a merges file cannot represent this vocabulary`);
    }
    const header = `#version: 0.2 byte-level BPE, ${this.merges.length} merges, ${this.vocabSize} ids (SOT ${this.sotId}, EOT ${this.eotId})`;
    return [header, ...this.merges.map(([a, b]) => `${a} ${b}`)].join('\n');
  }

  /** Write the merges file atomically; gzip when `gzip` is set (default: the path ends in ".gz"). */
  save(path: string, options: { gzip?: boolean } = {}): void {
    const text = Buffer.from(this.toMergesText(), 'utf8');
    const gzip = options.gzip ?? path.endsWith('.gz');
    writeFileAtomic(path, gzip ? gzipSync(text, { level: 9 }) : text);
  }
}

function checkCacheSize(n: number | undefined): number {
  const size = n ?? DEFAULT_CACHE_SIZE;
  if (!Number.isSafeInteger(size) || size < 0) throw new ConfigError(`cacheSize must be a non-negative integer, got ${n}`);
  return size;
}
