import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PyFloat, PyTuple, encodePickle, pyFloat, pyTuple, writePickle, type PickleWriteOptions, type PyValue } from './pickle-writer.js';
import { ConfigError } from '../errors.js';

const PYTHON = '/usr/bin/python3';

/** Run a Python script with `input` on stdin; fails loudly (never skips) when Python is missing. */
function python(script: string, input: Uint8Array | string = ''): string {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is required by this test (it checks the pickles with CPython's pickle.load) but does not exist`);
  }
  return execFileSync(PYTHON, ['-c', script], { input, maxBuffer: 1 << 28 }).toString('utf8');
}

/** CPython loads the pickle and prints a type-tagged JSON rendering of it. */
const TAGGED = `
import sys, json, pickle, math
v = pickle.load(sys.stdin.buffer)
def t(x):
    if x is None or isinstance(x, (bool, str)): return x
    if isinstance(x, int): return {'int': str(x)}
    if isinstance(x, float): return {'float': 'nan' if math.isnan(x) else repr(x)}
    if isinstance(x, bytes): return {'bytes': x.hex()}
    if isinstance(x, tuple): return {'tuple': [t(y) for y in x]}
    if isinstance(x, list): return [t(y) for y in x]
    if isinstance(x, dict): return {'dict': [[t(k), t(y)] for k, y in x.items()]}
    raise TypeError(type(x))
sys.stdout.write(json.dumps(t(v)))
`;

function pyReprFloat(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  if (/e/.test(s)) {
    // Python writes 1e+300 as 1e+300 and 1e-07 as 1e-07
    const [m, e] = s.split('e') as [string, string];
    const sign = e.startsWith('-') ? '-' : '+';
    const digits = e.replace(/^[+-]/, '');
    return `${m}e${sign}${digits.padStart(2, '0')}`;
  }
  return s.includes('.') ? s : `${s}.0`;
}

/** What TAGGED prints for a PyValue written by the writer. */
function tagged(v: PyValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return { int: BigInt(v).toString() };
    return { float: Number.isNaN(v) ? 'nan' : pyReprFloat(v) };
  }
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (v instanceof PyFloat) return { float: Number.isNaN(v.value) ? 'nan' : pyReprFloat(v.value) };
  if (v instanceof PyTuple) return { tuple: v.items.map(tagged) };
  if (Array.isArray(v)) return v.map(tagged);
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  return { dict: entries.map(([k, x]) => [tagged(k as PyValue), tagged(x as PyValue)]) };
}

function loadTagged(v: PyValue, opts: PickleWriteOptions): unknown {
  return JSON.parse(python(TAGGED, encodePickle(v, opts)));
}

const VARIANTS: [string, PickleWriteOptions][] = [
  ['protocol 2', {}],
  ['protocol 2, py2 strings', { strings: 'py2' }],
  ['protocol 2, no string memo', { memoizeStrings: false }],
  ['protocol 0', { protocol: 0 }],
  ['protocol 0, py2 strings', { protocol: 0, strings: 'py2' }],
];

/** A REFER refs(unc).p-like structure. */
function referLike(): PyValue[] {
  const refs: PyValue[] = [];
  let sent = 0;
  for (let r = 0; r < 40; r++) {
    const sentences = [0, 1, 2].map((k) => {
      const text = `the ${['red', 'green', 'blue'][k]} circle number ${r}`;
      return { tokens: text.split(' '), raw: k === 0 ? text.toUpperCase() : text, sent_id: sent++, sent: text };
    });
    refs.push({
      sent_ids: sentences.map((s) => s.sent_id),
      file_name: `COCO_train2014_${String(581857 + r).padStart(12, '0')}_${r}.jpg`,
      ann_id: 1719310 + r * 97,
      ref_id: r,
      image_id: 581857 + r,
      split: ['train', 'val', 'testA', 'testB'][r % 4]!,
      sentences,
      category_id: 1 + (r % 5),
      bbox: [103.93, 299.99 + r, 134.22, 177.42],
    });
  }
  return refs;
}

describe('pickle writer', () => {
  const scalars: PyValue = [
    null, true, false, 0, 1, 255, 256, 65535, 65536, -1, -256, 2147483647, -2147483648,
    2147483648, -2147483649, 2 ** 53, -(2 ** 53), 12345678901234567890n, -(2n ** 200n), 2n ** 2100n,
    0.5, -1.25, 1e-7, 1e300, 103.93, Math.PI, Infinity, -Infinity, NaN, pyFloat(1), pyFloat(-0), pyFloat(0),
    '', 'a', 'héllo wörld ✓ 😀', 'quote \' and " and \\ back\nslash\r\t\x00\x1a', 'x'.repeat(300),
    new Uint8Array(0), Uint8Array.of(0, 1, 127, 128, 255), [], pyTuple([]), pyTuple([1]), pyTuple([1, 'a']),
    pyTuple([1, 2, 3]), pyTuple([1, 2, 3, 4]), {}, new Map<PyValue, PyValue>([[1, 'one'], [pyTuple([2, 'b']), null], ['k', []]]),
  ];

  for (const [name, opts] of VARIANTS) {
    it(`${name}: every supported type loads in CPython with its type and value`, () => {
      expect(loadTagged(scalars, opts)).toEqual(tagged(scalars));
    });

    it(`${name}: a REFER-like refs list round-trips through pickle.load + json.dumps`, () => {
      const refs = referLike();
      const out = python('import sys, json, pickle; json.dump(pickle.load(sys.stdin.buffer), sys.stdout)', encodePickle(refs, opts));
      expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(refs)));
    });
  }

  it('batches long lists and dicts (> 1000 items) and uses LONG_BINPUT / LONG_BINGET past 256 memo entries', () => {
    const list = Array.from({ length: 2501 }, (_, i) => (i % 3 === 0 ? `s${i % 400}` : i));
    const dict: Record<string, PyValue> = {};
    for (let i = 0; i < 1500; i++) dict[`k${i}`] = i % 7 === 0 ? `s${i % 400}` : i * 0.5;
    const v = [list, dict];
    for (const opts of [{}, { protocol: 0 as const }]) expect(loadTagged(v, opts)).toEqual(tagged(v));
  });

  it('keeps shared and recursive lists and dicts shared', () => {
    const shared = [1, 2];
    const rec: PyValue[] = [];
    rec.push(rec);
    const d: Record<string, PyValue> = { a: 1 };
    (d as Record<string, PyValue>).self = d;
    const script = `
import sys, pickle
a, b, r, d = pickle.load(sys.stdin.buffer)
assert a is b and a == [1, 2]
assert r[0] is r
assert d['self'] is d and d['a'] == 1
print('ok')`;
    for (const opts of [{}, { protocol: 0 as const }]) {
      expect(python(script, encodePickle([shared, shared, rec, d], opts)).trim()).toBe('ok');
    }
  });

  it('is byte-identical to CPython pickle.dumps at protocols 0 and 2 for JSON-like data', () => {
    // json.loads shares repeated dict keys (as the writer's string memo does) and nothing else,
    // so CPython's memo decisions coincide with the writer's when values are not repeated.
    const doc = {
      refs: Array.from({ length: 30 }, (_, i) => ({ ref_id: i, ann_id: 1_000_000 + i * 131, box: [i + 0.25, 2 ** 33 + i], tag: `t${i}`, ok: i % 2 === 0, none: null })),
      big: 2 ** 40,
      neg: -5,
    };
    const json = JSON.stringify(doc);
    for (const protocol of [0, 2] as const) {
      const expected = python(`import sys, json, pickle; sys.stdout.write(pickle.dumps(json.loads(sys.stdin.read()), protocol=${protocol}).hex())`, json);
      expect(Buffer.from(encodePickle(doc, { protocol })).toString('hex')).toBe(expected);
    }
  });

  it('writes atomically to a file that pickle.load reads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pkl-'));
    const p = join(dir, 'refs(unc).p');
    writePickle(p, referLike());
    expect(readFileSync(p).subarray(0, 2)).toEqual(Buffer.from([0x80, 0x02]));
    const n = python(`import pickle; print(len(pickle.load(open(${JSON.stringify(p)}, 'rb'))))`);
    expect(n.trim()).toBe('40');
  });

  it('rejects values Python cannot represent, naming where they are', () => {
    expect(() => encodePickle({ a: [1, undefined as unknown as PyValue] })).toThrow(ConfigError);
    expect(() => encodePickle({ a: [1, undefined as unknown as PyValue] })).toThrow(/\$\["a"\]\[1\]/);
    expect(() => encodePickle([new Date() as unknown as PyValue])).toThrow(/class Date/);
    expect(() => encodePickle(new Map<PyValue, PyValue>([[[1], 2]]))).toThrow(/unhashable/);
    const t = pyTuple([[]]);
    (t.items[0] as PyValue[]).push(t);
    expect(() => encodePickle(t)).toThrow(/reference cycle/);
    expect(() => encodePickle(1, { protocol: 3 as 2 })).toThrow(/protocol/);
  });
});
