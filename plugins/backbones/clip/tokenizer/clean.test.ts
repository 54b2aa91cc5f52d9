import { describe, expect, it } from 'vitest';
import {
  basicClean,
  cleanText,
  fixText,
  ftfyUnescapeHtml,
  htmlUnescape,
  isBlankSentence,
  pyStrip,
  whitespaceClean,
} from './clean.js';
import { readTokenizerFixture } from './test-fixture.js';
import reference from './__reference__/python-text.json' with { type: 'json' };

describe('html.unescape (Python reference values)', () => {
  it.each(reference.html_unescape as [string, string][])('%j', (input, expected) => {
    expect(htmlUnescape(input)).toBe(expected);
  });
});

describe('Python whitespace, strip and lower (reference values)', () => {
  it.each(reference.text)('$in', (c) => {
    expect(pyStrip(c.in)).toBe(c.strip);
    expect(whitespaceClean(c.in)).toBe(c.whitespace_clean);
    expect(c.in.toLowerCase()).toBe(c.lower);
  });
});

describe('ftfy fix_text behaviour', () => {
  it('uncurls quotes', () => {
    expect(fixText('\u201chere\u2019s a test\u201d')).toBe('"here\'s a test"');
    expect(fixText('\u2018a\u201b \u201eb\u201f \u02bcc')).toBe("'a' \"b\" 'c");
  });

  it('splits Latin ligatures and digraphs (only those, not NFKC)', () => {
    expect(fixText('ﬂuﬃeﬆ')).toBe('fluffiest');
    expect(fixText('ĳssel ǅemal ǈ')).toBe('ijssel Džemal Lj');
    expect(fixText('ŉ')).toBe("'n"); // -> U+02BC n -> uncurled
    expect(fixText('Ⅻ ① ² ™ …')).toBe('Ⅻ ① ² ™ …');
  });

  it('folds full-width and half-width forms', () => {
    expect(fixText('ＬＯＵＤ　ＮＯＩＳＥＳ')).toBe('LOUD NOISES');
    expect(fixText('Ｕﾀｰﾝ')).toBe('Uターン');
    expect(fixText('０１２！～')).toBe('012!~');
  });

  it('normalises to NFC', () => {
    expect(fixText('man\u0303ana e\u0301')).toBe('mañana é');
    expect(fixText('か\u3099')).toBe('が');
  });

  it('decodes HTML entities ending in ";" (and all-caps ones) unless the line has "<"', () => {
    expect(fixText('HTML entities &lt;3')).toBe('HTML entities <3');
    expect(fixText('<em>HTML entities &lt;3</em>')).toBe('<em>HTML entities &lt;3</em>');
    expect(fixText('Broken text&hellip; it&#x2019;s ﬂubberiﬁc!')).toBe("Broken text… it's flubberific!");
    expect(fixText('P&EACUTE;REZ')).toBe('PÉREZ');
    expect(fixText('BUNDESSTRA&SZLIG;E')).toBe('BUNDESSTRASSE');
    expect(ftfyUnescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('ñ Ñ Ñ &nTILDE;');
    expect(ftfyUnescapeHtml('this&not that &amp')).toBe('this&not that &amp');
    expect(ftfyUnescapeHtml('&#12ab; &#x41; &#99999999;')).toBe('&#12ab; A \ufffd');
    expect(ftfyUnescapeHtml('&constructor; &toString;')).toBe('&constructor; &toString;');
    // Repeated to a fixed point: "&amp;amp;" becomes "&".
    expect(fixText('&amp;amp;amp;')).toBe('&');
    // Once a line with "<" is seen, later lines keep their entities too.
    expect(fixText('a &amp; b\nx < y\n&amp;')).toBe('a & b\nx < y\n&amp;');
    expect(fixText('&amp;\n<\n')).toBe('&\n<\n');
  });

  it('reads C1 controls as Windows-1252 and normalises line breaks', () => {
    expect(fixText('I\x92m \x93in\x94 \x80 doo\x85')).toBe("I'm \"in\" € doo…");
    expect(fixText('one\r\ntwo\rthree\u2028four\u2029five')).toBe('one\ntwo\nthree\nfour\nfive');
    expect(fixText('\x81\x8d')).toBe('\x81\x8d'); // undefined in Windows-1252: kept
  });

  it('removes terminal escapes, control characters and the BOM; repairs lone surrogates', () => {
    expect(fixText("\x1b[36;44mI'm blue\x1b[0m")).toBe("I'm blue");
    expect(fixText('\ufeffParty like\nit&rsquo;s 1999!')).toBe("Party like\nit's 1999!");
    expect(fixText('a\x00b\x07c\x0bd\x1fe\x7ff\u206ag\ufffch')).toBe('abcdefgh');
    expect(fixText('tab\tform\x0cfeed')).toBe('tab\tform\x0cfeed');
    expect(fixText('x\ud800y\udc00z')).toBe('x\ufffdy\ufffdz');
    expect(fixText('\ud83d\udca9')).toBe('💩');
  });

  it('is idempotent and leaves the empty string', () => {
    expect(fixText('')).toBe('');
    for (const s of readTokenizerFixture().sentences) expect(fixText(fixText(s))).toBe(fixText(s));
  });
});

describe('CLIP cleaning', () => {
  it('html.unescape twice after ftfy, then whitespace runs, strip, lower', () => {
    // ftfy leaves a line with "<" alone; CLIP's two html.unescape passes still decode it.
    expect(basicClean('<b> &amp;amp;lt; </b>')).toBe('<b> &lt; </b>');
    expect(cleanText('  Tom &amp; Jerry &lt;3\u00a0\t ')).toBe('tom & jerry <3');
    expect(cleanText('\x1c a \x1f')).toBe('a');
    expect(cleanText('ΟΔΟΣ')).toBe('οδος');
    expect(cleanText('ＦＵＬＬ\u3000ＷＩＤＴＨ')).toBe('full width');
  });

  it('reproduces the fixture cleaning', () => {
    const fx = readTokenizerFixture();
    fx.sentences.forEach((s, i) => expect(cleanText(s), `sentence ${i}`).toBe(fx.cleaned[i]));
  });

  it('isBlankSentence flags what cleans to nothing', () => {
    for (const s of ['', '   ', '\t\n', '&nbsp;', '\u3000', '\ufeff', '\x00\x1b[0m', ' &#32; ']) expect(isBlankSentence(s), JSON.stringify(s)).toBe(true);
    for (const s of ['a', ' . ', '\u200b', '🐶']) expect(isBlankSentence(s), JSON.stringify(s)).toBe(false);
  });
});
