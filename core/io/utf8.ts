/**
 * Strict UTF-8 decoding for text files users hand us (configs, instances.json, CRIS
 * annotation lists) and for pickle strings: invalid bytes are an error that says where
 * they are, instead of silently becoming U+FFFD (a garbled path or sentence later).
 * A leading byte-order mark is dropped (JSON.parse would reject it).
 */

const fatal = new TextDecoder('utf-8', { fatal: true });

export interface Utf8Problem {
  /** Byte offset of the first invalid byte. */
  offset: number;
  byte: number;
  /** 1-based line and column (in characters) of that byte. */
  line: number;
  column: number;
}

/**
 * Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1.
 * `surrogates`: accept encoded UTF-16 surrogates (ED A0..BF xx), as Python's
 * `surrogatepass` (used by pickle) does.
 */
export function firstInvalidUtf8(b: Uint8Array, surrogates = false): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed && !surrogates) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/** Where the first invalid byte is, or undefined when `b` is valid UTF-8. */
export function utf8Problem(b: Uint8Array, surrogates = false): Utf8Problem | undefined {
  const offset = firstInvalidUtf8(b, surrogates);
  if (offset < 0) return undefined;
  const before = Buffer.from(b.buffer, b.byteOffset, offset);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  const line = before.subarray(0, lineStart).reduce((n, x) => n + (x === 0x0a ? 1 : 0), 1);
  const column = before.subarray(lineStart).toString('utf8').length + 1;
  return { offset, byte: b[offset]!, line, column };
}

export function describeUtf8Problem(p: Utf8Problem): string {
  return `not valid UTF-8: byte 0x${p.byte.toString(16).padStart(2, '0')} at offset ${p.offset} (line ${p.line}, column ${p.column}); save the file as UTF-8`;
}

/**
 * Decode UTF-8; on invalid bytes call `fail` with a description (which must throw).
 * A leading BOM is dropped.
 */
export function decodeUtf8(b: Uint8Array, fail: (problem: string, p: Utf8Problem) => never): string {
  try {
    return fatal.decode(b);
  } catch {
    const p = utf8Problem(b);
    if (!p) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
    return fail(describeUtf8Problem(p), p);
  }
}
