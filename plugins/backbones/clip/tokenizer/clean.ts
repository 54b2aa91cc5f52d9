/**
 * The official CLIP text cleaning, as `utils/simple_tokenizer.py` runs it before BPE:
 *
 *   whitespace_clean(basic_clean(text)).lower()
 *   basic_clean(t)      = html.unescape(html.unescape(ftfy.fix_text(t))).strip()
 *   whitespace_clean(t) = re.sub(r'\s+', ' ', t).strip()
 *
 * `fixText` reproduces ftfy 6.x `fix_text` with its default configuration, except for the
 * mojibake repair (`fix_encoding`: re-decoding text that was UTF-8 read as Latin-1/Windows-125x,
 * e.g. "cafÃ©" -> "café"). That step is a statistical heuristic over ftfy's own character
 * tables and is out of scope: such text is passed through unchanged, where ftfy may repair
 * it. Everything else is implemented as ftfy defines it, in ftfy's order, repeated until
 * nothing changes:
 *
 *  - HTML entities (`&amp;`, `&eacute;`, `&#x2019;`, and the all-caps `&EACUTE;` variants) are
 *    decoded when they end in ";", unless a line with a literal "<" was seen (then that line
 *    and every later line keep their entities: ftfy's "looks like HTML" rule);
 *  - C1 controls U+0080..U+009F are read as Windows-1252 (U+0093 -> U+201C, then a quote);
 *  - Latin ligatures are split (ﬁ -> fi, ĳ -> ij, ...);
 *  - full-width and half-width forms get their standard width (ＦＵＬＬ -> FULL, U+3000 -> space);
 *  - curly quotes become straight quotes (U+02BC, U+2018..U+201B -> ', U+201C..U+201F -> ");
 *  - line breaks (\r\n, \r, U+2028, U+2029, U+0085) become \n;
 *  - lone UTF-16 surrogates become U+FFFD;
 *  - ANSI terminal escapes are removed, and so are the control characters ftfy removes
 *    (U+0000..U+0008, U+000B, U+000E..U+001F, U+007F, U+206A..U+206F, U+FEFF, U+FFF9..U+FFFC);
 *  - NFC normalisation (e + combining acute -> é). No NFKC: "Ⅻ", "①", "²" stay as they are.
 *
 * `htmlUnescape` is Python's `html.unescape` (HTML5 named references, also the legacy ones
 * without ";" and the longest-prefix rule, numeric references with the HTML5 replacement
 * table). Whitespace and `strip` use Python's `str.isspace` set; `lower` is JS
 * `toLowerCase`, the same full Unicode mapping (with final sigma) as Python's `str.lower`.
 *
 * Differences that remain: mojibake (above), and characters whose Unicode properties changed
 * between the Unicode version of the official environment and the one of this Node.js
 * (unassigned there, assigned here).
 */
import { C1_WINDOWS_1252, HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS, UPPERCASE_ENTITIES } from './html-tables.js';

// ---------------------------------------------------------------- Python html.unescape

const ENTITIES: ReadonlyMap<string, string> = new Map(Object.entries(HTML5_ENTITIES));
const CHARREF_REPLACEMENTS: ReadonlyMap<number, string> = new Map(Object.entries(INVALID_CHARREFS).map(([k, v]) => [Number(k), v]));
const CHARREF_DROPPED: ReadonlySet<number> = new Set(INVALID_CODEPOINTS);

/** `html._charref` of the Python standard library. */
const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = (hex ? ref.slice(2) : ref.slice(1)).replace(/;$/, '');
    // Python's int() is exact; parseInt loses precision only far above 0x10FFFF (-> U+FFFD either way).
    const num = parseInt(digits, hex ? 16 : 10);
    const replacement = CHARREF_REPLACEMENTS.get(num);
    if (replacement !== undefined) return replacement;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (CHARREF_DROPPED.has(num)) return '';
    return String.fromCodePoint(num);
  }
  const whole = ENTITIES.get(ref);
  if (whole !== undefined) return whole;
  // The longest entity name that is a prefix (at least 2 characters), as the HTML5 standard says.
  const cps = Array.from(ref);
  for (let x = cps.length - 1; x > 1; x--) {
    const hit = ENTITIES.get(cps.slice(0, x).join(''));
    if (hit !== undefined) return hit + cps.slice(x).join('');
  }
  return '&' + ref;
}

/** Python's `html.unescape`: decode named and numeric character references. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF_RE, (_m, ref: string) => replaceCharref(ref));
}

// ---------------------------------------------------------------- ftfy fixes

/** ftfy's entity pattern: only references that end in ";" (so "this&not that" stays). */
const FTFY_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy `unescape_html`: HTML5 names ending in ";", their all-caps variants, numeric references. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(FTFY_ENTITY_RE, (m) => {
    const named = ENTITIES.get(m.slice(1));
    if (named !== undefined) return named;
    const upper = Object.hasOwn(UPPERCASE_ENTITIES, m) ? UPPERCASE_ENTITIES[m] : undefined;
    if (upper !== undefined) return upper;
    if (m.startsWith('&#')) {
      const decoded = htmlUnescape(m);
      // A partial decode (html.unescape stopped before the ";") is not accepted.
      return decoded.includes(';') ? m : decoded;
    }
    return m;
  });
}

const C1_RE = /[\x80-\x9f]/g;
/** ftfy `fix_c1_controls`: C1 control characters read as (sloppy) Windows-1252. */
export function fixC1Controls(text: string): string {
  return text.replace(C1_RE, (c) => C1_WINDOWS_1252[c.charCodeAt(0)] ?? c);
}

const LIGATURES: ReadonlyMap<string, string> = new Map([
  ['\u0132', 'IJ'], ['\u0133', 'ij'], ['\u0149', '\u02bcn'],
  ['\u01f1', 'DZ'], ['\u01f2', 'Dz'], ['\u01f3', 'dz'],
  ['\u01c4', 'D\u017d'], ['\u01c5', 'D\u017e'], ['\u01c6', 'd\u017e'],
  ['\u01c7', 'LJ'], ['\u01c8', 'Lj'], ['\u01c9', 'lj'],
  ['\u01ca', 'NJ'], ['\u01cb', 'Nj'], ['\u01cc', 'nj'],
  ['\ufb00', 'ff'], ['\ufb01', 'fi'], ['\ufb02', 'fl'], ['\ufb03', 'ffi'], ['\ufb04', 'ffl'], ['\ufb05', '\u017ft'], ['\ufb06', 'st'],
]);
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;
/** ftfy `fix_latin_ligatures`: Latin typographic ligatures and legacy digraphs to their letters. */
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (c) => LIGATURES.get(c) ?? c);
}

/** U+3000 and every U+FF01..U+FFEF whose NFKC form differs: full/half-width to standard width. */
const WIDTH_MAP: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>([['\u3000', ' ']]);
  for (let cp = 0xff01; cp < 0xfff0; cp++) {
    const c = String.fromCharCode(cp);
    const alt = c.normalize('NFKC');
    if (alt !== c) m.set(c, alt);
  }
  return m;
})();
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
/** ftfy `fix_character_width`. */
export function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH_RE, (c) => WIDTH_MAP.get(c) ?? c);
}

/** ftfy `uncurl_quotes`. */
export function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

/** ftfy `fix_line_breaks`. */
export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');
}

/** ftfy `fix_surrogates`: paired surrogates are already characters in JS; lone ones become U+FFFD. */
export function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** ftfy `remove_terminal_escapes` (Python's `\d` is any decimal digit). */
export function removeTerminalEscapes(text: string): string {
  return text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
}

/** ftfy `remove_control_chars`. */
export function removeControlChars(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

/** ftfy's longest segment fixed at once (`max_decode_length`). */
const MAX_DECODE_LENGTH = 1_000_000;

function fixSegment(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const orig = text;
    if (unescapeHtml) text = ftfyUnescapeHtml(text);
    // (ftfy's fix_encoding, the mojibake repair, would run here: not implemented, see the file comment.)
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/**
 * ftfy 6.x `fix_text(text)` with default settings, without mojibake repair. Works line by line;
 * once a line contains "<", HTML entities are left alone from that line on.
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > MAX_DECODE_LENGTH) {
      end = pos + MAX_DECODE_LENGTH;
      const c = text.charCodeAt(end - 1);
      if (c >= 0xd800 && c <= 0xdbff) end += 1; // never split a surrogate pair
    }
    const segment = text.slice(pos, end);
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    out.push(fixSegment(segment, unescapeHtml));
    pos = end;
  }
  return out.join('');
}

// ---------------------------------------------------------------- Python whitespace, CLIP cleaning

/** Python `str.isspace()` characters (what `re`'s `\s` and `str.strip()` use). */
const PY_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACE_RUN_RE = new RegExp(`[${PY_SPACE}]+`, 'g');
const PY_STRIP_RE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python `str.strip()` with no arguments. */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP_RE, '');
}

/** CLIP `basic_clean`: ftfy, `html.unescape` twice, strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** CLIP `whitespace_clean`: every whitespace run to one space, strip. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(PY_SPACE_RUN_RE, ' '));
}

/** The full official cleaning that `encode` applies: `whitespace_clean(basic_clean(text)).lower()`. */
export function cleanText(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}

/**
 * True when the official cleaning leaves nothing (empty, whitespace-only, "&nbsp;", control
 * characters...). The official `tokenize` accepts such sentences and gives [SOT, EOT]; dataset
 * code uses this to reject them instead.
 */
export function isBlankSentence(text: string): boolean {
  return cleanText(text).length === 0;
}
