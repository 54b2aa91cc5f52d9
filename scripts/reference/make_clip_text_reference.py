"""Python reference values for the pieces of the CLIP text pipeline that JS must match exactly
(plugins/backbones/clip/tokenizer/clean.test.ts, bpe.test.ts): `html.unescape`, `str.strip`,
`re.sub(r'\\s+', ' ', .)`, `str.lower`, and the pre-tokeniser regex of the official tokenizer
(needs the `regex` module: Debian python3-regex 2022.10.31, the fixture's version 2.5.123).

Run: /usr/bin/python3 scripts/reference/make_clip_text_reference.py
Writes plugins/backbones/clip/tokenizer/__reference__/python-text.json.
"""
import html
import json
import os
import re
import sys

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'plugins', 'backbones', 'clip', 'tokenizer', '__reference__', 'python-text.json')

PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

HTML_CASES = [
    '&amp;', '&amp', '&ampx', '&amp;amp;', '&notit;', '&notin;', '&not', 'this&not that', '&#65;', '&#x41;', '&#X41',
    '&#65', '&#0;', '&#128;', '&#129;', '&#150;', '&#xD800;', '&#1114111;', '&#1114112;', '&#99999999999999999999;',
    '&#11;', '&#x10FFFE;', '&#xFDD0;', '&#13;', '&Eacute;', '&EACUTE;', '&eacute', '&;', '&#;', '&#x;', '& amp;',
    '&&amp;', '&AMP;', '&AMP', '&lt', '&LT', '&LTx', '&copy2024', '&frac12;', '&frac12', '&fjlig;', '&NotEqualTilde;',
    'a&b', '&abcdefghijklmnopqrstuvwxyzabcdefghijklmnop;', '&nbsp;x', '&NewLine;', '&Tab;', '&lt;&gt;&quot;&apos;',
    '&#x1F600;', '&#128512;', '&hellip;', '&rsquo;', '&#x2019;', '&ntilde; &Ntilde; &NTILDE; &nTILDE;', '&Jscr;ohn',
    '&#x92;', '&#146;', '&#x85;', '&#x80;', '&#x9F;', '&#00065;', '&#x0041;', '&#x;', '&#xg;', '&#12ab;',
    '&constructor;', '&__proto__;', '&toString;', '&hasOwnProperty', '&ｅａｃｕｔｅ;', '&\u00e9acute;', '&\U0001F600;',
]

TEXT_CASES = [
    '', ' ', '  a  b  ', '\t\na\r\n', '\x1c\x1d a \x1e\x1f', '\x85a\x85', '\xa0a\u3000', '\ufeffa\ufeff',
    '\u200ba\u200b', 'a\u2028b\u2029c', 'x\x0b\x0cy', 'ΟΔΟΣ ΣΑΣ Σ', 'İSTANBUL', 'ẞ ß', 'ǅ ǈ ǋ Ǳ', 'Ⅻ ⅻ ① Ⓐ',
    'ＡＢＣ ｱｲｳ', 'ΑΣ.', 'aΣb', 'ĲSSEL', 'ŉ', 'K Å', 'Ꙋ', 'ᾼ ᾈ', 'ǰ̌', '\u0130\u0307',
]

PRETOKEN_CASES = [
    "it's the kid who'll win, isn't it? we're sure they've gone; i'd say i'm done",
    "rock'n'roll", "'s's 'S 'ſ", "<|startoftext|>hi<|endoftext|>", '<|ſtartoftext|> <|STARTOFTEXT|>',
    '3.14 and 1,000,000 and 2nd', '50%!!! ...;;; ??', 'ⅻ ① ² ³ ½ ٣ ๓ 𝟘', 'a\u0345b ι\u0345 !\u0345!', "'\u0345s",
    'e-mail: someone@example.com', '👨\u200d👩\u200d👧 zwj', '狗在沙发上 привет мир', 'x\u0301y e\u0301',
    'tab\there new\nline nb\xa0sp nel\x85x feff\ufeffx zwsp\u200bx', 'c++ & c# code', '^^ `` ~~ $$',
    'ﬁ ﬂ ǆ', 'ǅemal', 'x\U000e0001y', 'a_b_c', '_ __ ___',
]


def main():
    pat = regex.compile(PATTERN, regex.IGNORECASE)
    data = {
        'python': sys.version.split()[0],
        'regex': regex.__version__,
        'pattern': PATTERN,
        'html_unescape': [[s, html.unescape(s)] for s in HTML_CASES],
        'text': [
            {
                'in': s,
                'strip': s.strip(),
                'whitespace_clean': re.sub(r'\s+', ' ', s).strip(),
                'lower': s.lower(),
            }
            for s in TEXT_CASES
        ],
        'pretokens': [[s, pat.findall(s)] for s in PRETOKEN_CASES],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(data, f, ensure_ascii=True, indent=1)
        f.write('\n')
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
