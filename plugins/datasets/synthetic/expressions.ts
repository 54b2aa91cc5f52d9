/**
 * Referring expressions over a synthetic scene: a small meaning representation
 * (`RefExpr`), its evaluation against a scene (the set of objects it denotes), the
 * generator of expressions that denote exactly one object (with margins, so that what
 * is unique for the predicate is also clear to a human eye), the realisation as English
 * with lexical variation, and a parser from the normalised sentence back to `RefExpr`
 * (used to check every written sentence, independently of how it was produced).
 */
import type { Rng } from '../../../core/nn/rng.js';
import { DataError } from '../../../core/errors.js';
import {
  COLOR_WORDS,
  COLORS,
  GENERIC_NOUNS,
  PRONOUN_NOUN,
  SHAPE_NOUNS,
  SHAPES,
  SIZE_WORDS,
  SIZES,
  type ColorName,
  type ShapeName,
  type SizeName,
} from './vocabulary.js';

export type Direction = 'left' | 'right' | 'top' | 'bottom';
export type Relation = 'above' | 'below' | 'left' | 'right' | 'near';

/** A noun phrase's content: the attributes it names; no shape means "shape / object / one". */
export interface Desc {
  shape?: ShapeName;
  color?: ColorName;
  size?: SizeName;
}

export type RefExpr =
  /** "the small blue square": the objects matching desc. */
  | { kind: 'attr'; desc: Desc }
  /** "the leftmost circle", "the circle on the left": the extreme one(s) among those matching desc. */
  | { kind: 'extreme'; desc: Desc; dir: Direction }
  /** "the circle nearest the center": the one(s) nearest the image centre among those matching desc. */
  | { kind: 'center'; desc: Desc }
  /**
   * "the triangle above the green star": among the objects matching desc other than the
   * anchor (which `anchor` must name uniquely), those in direction `rel` from the anchor
   * (the displacement's dominant axis, strictly); for `near`, the nearest one(s).
   */
  | { kind: 'relation'; desc: Desc; rel: Relation; anchor: Desc };

export type ExprKind = RefExpr['kind'];

/** What expressions see of an object: attributes and the centre of its bounding box. */
export interface SceneItem {
  shape: ShapeName;
  color: ColorName;
  size: SizeName;
  cx: number;
  cy: number;
}
export interface SceneLayout {
  width: number;
  height: number;
  objects: readonly SceneItem[];
}

// ---- semantics -------------------------------------------------------------------------------

export function matches(o: SceneItem, d: Desc): boolean {
  return (d.shape === undefined || o.shape === d.shape) && (d.color === undefined || o.color === d.color) && (d.size === undefined || o.size === d.size);
}

const select = (s: SceneLayout, d: Desc): number[] => s.objects.flatMap((o, i) => (matches(o, d) ? [i] : []));

/** The indices minimising `key` (all of them on a tie). */
function argmin(idx: readonly number[], key: (i: number) => number): number[] {
  let best = Infinity;
  let out: number[] = [];
  for (const i of idx) {
    const k = key(i);
    if (k < best) {
      best = k;
      out = [i];
    } else if (k === best) out.push(i);
  }
  return out;
}

function extremeKey(s: SceneLayout, dir: Direction): (i: number) => number {
  const o = s.objects;
  switch (dir) {
    case 'left':
      return (i) => o[i]!.cx;
    case 'right':
      return (i) => -o[i]!.cx;
    case 'top':
      return (i) => o[i]!.cy;
    case 'bottom':
      return (i) => -o[i]!.cy;
  }
}

const centerKey = (s: SceneLayout) => (i: number) => Math.hypot(s.objects[i]!.cx - s.width / 2, s.objects[i]!.cy - s.height / 2);

/** Displacement of `o` from `a` split into (along the relation's axis, signed so positive = holds; across it). */
function relAxes(o: SceneItem, a: SceneItem, rel: Exclude<Relation, 'near'>): [number, number] {
  const dx = o.cx - a.cx;
  const dy = o.cy - a.cy;
  switch (rel) {
    case 'above':
      return [-dy, Math.abs(dx)];
    case 'below':
      return [dy, Math.abs(dx)];
    case 'left':
      return [-dx, Math.abs(dy)];
    case 'right':
      return [dx, Math.abs(dy)];
  }
}

/** The objects (indices) the expression denotes. A referring expression is good when this is exactly [target]. */
export function evaluate(e: RefExpr, s: SceneLayout): number[] {
  const set = select(s, e.desc);
  switch (e.kind) {
    case 'attr':
      return set;
    case 'extreme':
      return argmin(set, extremeKey(s, e.dir));
    case 'center':
      return argmin(set, centerKey(s));
    case 'relation': {
      const anchors = select(s, e.anchor);
      if (anchors.length !== 1) return [];
      const ai = anchors[0]!;
      const a = s.objects[ai]!;
      const cands = set.filter((i) => i !== ai);
      if (e.rel === 'near') return argmin(cands, (i) => Math.hypot(s.objects[i]!.cx - a.cx, s.objects[i]!.cy - a.cy));
      const rel = e.rel;
      return cands.filter((i) => {
        const [along, across] = relAxes(s.objects[i]!, a, rel);
        return along > 0 && along > across;
      });
    }
  }
}

// ---- generation ------------------------------------------------------------------------------

export interface Candidate {
  expr: RefExpr;
  /** Relative preference within its kind (minimal descriptions are preferred). */
  weight: number;
}

const nAttrs = (d: Desc): number => (d.shape ? 1 : 0) + (d.color ? 1 : 0) + (d.size ? 1 : 0);

/** The 8 descriptions an object satisfies (each attribute named or not). */
function descsOf(o: SceneItem): Desc[] {
  const out: Desc[] = [];
  for (const size of [undefined, o.size]) {
    for (const color of [undefined, o.color]) {
      for (const shape of [undefined, o.shape]) {
        const d: Desc = {};
        if (shape) d.shape = shape;
        if (color) d.color = color;
        if (size) d.size = size;
        out.push(d);
      }
    }
  }
  return out;
}

/** Preference order for naming an anchor: "the star", "the green star", "the small star", "the green shape"... */
const ANCHOR_PREFERENCE: ((o: SceneItem) => Desc)[] = [
  (o) => ({ shape: o.shape }),
  (o) => ({ shape: o.shape, color: o.color }),
  (o) => ({ shape: o.shape, size: o.size }),
  (o) => ({ color: o.color }),
  (o) => ({ shape: o.shape, color: o.color, size: o.size }),
  (o) => ({ color: o.color, size: o.size }),
];

/** Margins that make a unique referent also a clear one. */
export const MARGINS = {
  /** extreme: the runner-up is at least this fraction of the image extent further (and >= minPixels). */
  extremeGap: 0.12,
  /** center: target distance <= ratio * runner-up distance, and the difference >= centerGap * shorter side. */
  centerRatio: 0.6,
  centerGap: 0.1,
  /** relation: target's displacement along the axis >= dominance * across, and >= relMin * shorter side. */
  dominance: 1.3,
  relMin: 0.1,
  /** relation: every other candidate is clearly not in that direction: along < looseDominance * across. */
  looseDominance: 0.75,
  /** near: target distance <= nearRatio * runner-up distance. */
  nearRatio: 0.65,
  minPixels: 6,
};

function withWeights(cands: { expr: RefExpr; n: number }[]): Candidate[] {
  if (cands.length === 0) return [];
  const min = Math.min(...cands.map((c) => c.n));
  return cands.map((c) => ({ expr: c.expr, weight: c.n === min ? 1 : 0.35 }));
}

/**
 * Every expression of the grammar that denotes exactly object `t` with a clear margin
 * (see MARGINS). Spatial and relational expressions are only offered when the
 * description alone is ambiguous, as a person would use them.
 */
export function candidateExpressions(s: SceneLayout, t: number): Candidate[] {
  const target = s.objects[t]!;
  const side = Math.min(s.width, s.height);
  const descs = descsOf(target);
  const out: Candidate[] = [];

  // attribute
  out.push(...withWeights(descs.filter((d) => nAttrs(d) > 0 && select(s, d).length === 1).map((d) => ({ expr: { kind: 'attr' as const, desc: d }, n: nAttrs(d) }))));

  // extreme
  const ext: { expr: RefExpr; n: number }[] = [];
  for (const d of descs) {
    const set = select(s, d);
    if (set.length < 2) continue;
    for (const dir of ['left', 'right', 'top', 'bottom'] as const) {
      const key = extremeKey(s, dir);
      const sorted = [...set].sort((a, b) => key(a) - key(b));
      if (sorted[0] !== t) continue;
      const extent = dir === 'left' || dir === 'right' ? s.width : s.height;
      if (key(sorted[1]!) - key(t) >= Math.max(MARGINS.minPixels, MARGINS.extremeGap * extent)) ext.push({ expr: { kind: 'extreme', desc: d, dir }, n: nAttrs(d) });
    }
  }
  out.push(...withWeights(ext));

  // center
  const cen: { expr: RefExpr; n: number }[] = [];
  const ck = centerKey(s);
  for (const d of descs) {
    const set = select(s, d);
    if (set.length < 2) continue;
    const sorted = [...set].sort((a, b) => ck(a) - ck(b));
    if (sorted[0] !== t) continue;
    const d0 = ck(t);
    const d1 = ck(sorted[1]!);
    if (d0 <= MARGINS.centerRatio * d1 && d1 - d0 >= Math.max(MARGINS.minPixels, MARGINS.centerGap * side)) cen.push({ expr: { kind: 'center', desc: d }, n: nAttrs(d) });
  }
  out.push(...withWeights(cen));

  // relation
  const rel: { expr: RefExpr; n: number }[] = [];
  s.objects.forEach((a, ai) => {
    if (ai === t) return;
    const anchor = ANCHOR_PREFERENCE.map((f) => f(a)).find((d) => select(s, d).length === 1);
    if (!anchor) return;
    for (const d of descs) {
      if (select(s, d).length < 2) continue; // the description alone would do
      const cands = select(s, d).filter((i) => i !== ai);
      // near
      if (cands.length >= 2) {
        const dist = (i: number): number => Math.hypot(s.objects[i]!.cx - a.cx, s.objects[i]!.cy - a.cy);
        const sorted = [...cands].sort((x, y) => dist(x) - dist(y));
        if (sorted[0] === t && dist(t) <= MARGINS.nearRatio * dist(sorted[1]!)) rel.push({ expr: { kind: 'relation', desc: d, rel: 'near', anchor }, n: nAttrs(d) });
      }
      for (const r of ['above', 'below', 'left', 'right'] as const) {
        const [along, across] = relAxes(target, a, r);
        if (!(along >= MARGINS.dominance * across && along >= Math.max(MARGINS.minPixels, MARGINS.relMin * side))) continue;
        const clear = cands.every((i) => {
          if (i === t) return true;
          const [al, ac] = relAxes(s.objects[i]!, a, r);
          return al <= 0 || al < MARGINS.looseDominance * ac;
        });
        if (clear) rel.push({ expr: { kind: 'relation', desc: d, rel: r, anchor }, n: nAttrs(d) });
      }
    }
  });
  out.push(...withWeights(rel));
  return out;
}

function weightedPick<T extends { weight: number }>(items: T[], rng: Rng): T {
  const total = items.reduce((a, c) => a + c.weight, 0);
  let u = rng.next() * total;
  for (const c of items) {
    u -= c.weight;
    if (u < 0) return c;
  }
  return items[items.length - 1]!;
}

/** Up to `m` candidates of as many different kinds as possible (round-robin over kinds in random order). */
export function chooseExpressions(cands: readonly Candidate[], m: number, rng: Rng): RefExpr[] {
  const byKind = new Map<ExprKind, Candidate[]>();
  for (const c of cands) {
    const list = byKind.get(c.expr.kind) ?? [];
    list.push(c);
    byKind.set(c.expr.kind, list);
  }
  const kinds = rng.shuffle([...byKind.keys()].sort());
  const out: RefExpr[] = [];
  while (out.length < m && kinds.some((k) => byKind.get(k)!.length > 0)) {
    for (const k of kinds) {
      const list = byKind.get(k)!;
      if (list.length === 0 || out.length >= m) continue;
      const c = weightedPick(list, rng);
      list.splice(list.indexOf(c), 1);
      out.push(c.expr);
    }
  }
  return out;
}

// ---- realisation -------------------------------------------------------------------------------

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
/** The first entry with probability `p0`, else one of the others. */
const pickPreferFirst = <T>(rng: Rng, xs: readonly T[], p0 = 0.6): T => (xs.length === 1 || rng.next() < p0 ? xs[0]! : xs[1 + rng.int(xs.length - 1)]!);

const startsWithVowelSound = (w: string): boolean => /^[aeio]/.test(w) || /^u(?!ni)/.test(w);
/** "a" / "an" for the next word. */
export const indefinite = (next: string): string => (startsWithVowelSound(next) ? 'an' : 'a');

function nounPhrase(d: Desc, rng: Rng): string[] {
  const words: string[] = [];
  if (d.size) words.push(pickPreferFirst(rng, SIZE_WORDS[d.size], 0.7));
  if (d.color) words.push(pickPreferFirst(rng, COLOR_WORDS[d.color], 0.8));
  if (d.shape) words.push(pickPreferFirst(rng, SHAPE_NOUNS[d.shape]));
  else if (words.length > 0 && rng.next() < 0.25) words.push(PRONOUN_NOUN);
  else words.push(pickPreferFirst(rng, GENERIC_NOUNS, 0.6));
  return words;
}

/**
 * "the" mostly, sometimes none (RefCOCO style "red circle on left"), and, where it reads
 * naturally (not before a superlative), sometimes "a".
 */
function withArticle(rng: Rng, words: string[], indefiniteOk = true): string[] {
  const u = rng.next();
  if (u < 0.72) return ['the', ...words];
  if (u < 0.9 || !indefiniteOk) return words;
  return [indefinite(words[0]!), ...words];
}

const PRE_EXTREME: Readonly<Record<Direction, { always: readonly string[]; pair: readonly string[] }>> = {
  left: { always: ['leftmost'], pair: ['left'] },
  right: { always: ['rightmost'], pair: ['right'] },
  top: { always: ['topmost', 'highest', 'uppermost'], pair: ['top'] },
  bottom: { always: ['bottommost', 'lowest'], pair: ['bottom'] },
};
const POST_EXTREME: Readonly<Record<Direction, readonly string[]>> = {
  left: ['on the left', 'on the left side', 'furthest to the left', 'farthest left'],
  right: ['on the right', 'on the right side', 'furthest to the right', 'farthest right'],
  top: ['at the top', 'nearest the top'],
  bottom: ['at the bottom', 'nearest the bottom'],
};
const CENTER_PHRASES = ['nearest the center', 'closest to the center', 'nearest to the middle', 'closest to the middle', 'nearest the centre'];
const CENTER_PHRASES_3 = ['in the middle', 'in the center'];
const RELATION_PHRASES: Readonly<Record<Relation, readonly string[]>> = {
  above: ['above'],
  below: ['below', 'under', 'beneath'],
  left: ['left of', 'to the left of'],
  right: ['right of', 'to the right of'],
  near: ['next to', 'nearest to', 'closest to', 'near'],
};

/**
 * English for the expression, normalised (lower case, single spaces, no punctuation),
 * as REFER's `sent`. Forms that presuppose the number of candidates ("the left circle"
 * of two, "in the middle" of three or more) are only used when the scene agrees.
 */
export function realize(e: RefExpr, s: SceneLayout, rng: Rng): string {
  const np = nounPhrase(e.desc, rng);
  let words: string[];
  switch (e.kind) {
    case 'attr':
      words = withArticle(rng, np);
      break;
    case 'extreme': {
      const setSize = select(s, e.desc).length;
      if (rng.next() < 0.5) {
        const adjs = [...PRE_EXTREME[e.dir].always, ...(setSize === 2 ? PRE_EXTREME[e.dir].pair : [])];
        words = withArticle(rng, [pick(rng, adjs), ...np], false);
      } else {
        words = withArticle(rng, [...np, pick(rng, POST_EXTREME[e.dir])], false);
      }
      break;
    }
    case 'center': {
      const setSize = select(s, e.desc).length;
      words = withArticle(rng, [...np, pick(rng, setSize >= 3 ? [...CENTER_PHRASES, ...CENTER_PHRASES_3] : CENTER_PHRASES)], false);
      break;
    }
    case 'relation':
      words = withArticle(rng, [...np, pick(rng, RELATION_PHRASES[e.rel]), 'the', ...nounPhrase(e.anchor, rng)]);
      break;
  }
  return words.join(' ');
}

/** REFER's `sent` from a raw string: lower case, letters/digits/spaces only, single spaces. */
export function normalizeSentence(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9 ]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The "typed" form of a sentence, like RefCOCO's `raw`: sometimes capitalised, with a full stop, or shouted. */
export function decorateRaw(sent: string, rng: Rng): string {
  const u = rng.next();
  if (u < 0.7) return sent;
  if (u < 0.85) return sent[0]!.toUpperCase() + sent.slice(1);
  if (u < 0.95) return `${sent[0]!.toUpperCase()}${sent.slice(1)}.`;
  return sent.toUpperCase();
}

// ---- parsing -----------------------------------------------------------------------------------

const ARTICLES = new Set(['the', 'a', 'an']);

function invert<K extends string>(table: Readonly<Record<K, readonly string[]>>): Map<string, K> {
  const m = new Map<string, K>();
  for (const k of Object.keys(table) as K[]) for (const w of table[k]) m.set(w, k);
  return m;
}
const SIZE_OF = invert(SIZE_WORDS);
const COLOR_OF = invert(COLOR_WORDS);
const SHAPE_OF = invert(SHAPE_NOUNS);
const PRE_EXTREME_OF = new Map<string, Direction>();
for (const dir of ['left', 'right', 'top', 'bottom'] as const) for (const w of [...PRE_EXTREME[dir].always, ...PRE_EXTREME[dir].pair]) PRE_EXTREME_OF.set(w, dir);

const phraseTable = <K>(entries: [K, readonly string[]][]): [K, string[]][] =>
  entries.flatMap(([k, ps]) => ps.map((p): [K, string[]] => [k, p.split(' ')])).sort((a, b) => b[1].length - a[1].length);
const POST_EXTREME_PHRASES = phraseTable(Object.entries(POST_EXTREME) as [Direction, readonly string[]][]);
const CENTER_PHRASE_LIST = [...CENTER_PHRASES, ...CENTER_PHRASES_3].map((p) => p.split(' '));
const RELATION_PHRASE_LIST = phraseTable(Object.entries(RELATION_PHRASES) as [Relation, readonly string[]][]);

const eq = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const startsWith = (a: readonly string[], p: readonly string[]): boolean => p.length <= a.length && p.every((x, i) => a[i] === x);

/** [size] [colour] noun, from tokens[i]; returns the description and the next index. */
function parseNounPhrase(tk: readonly string[], i: number, sent: string): [Desc, number] {
  const d: Desc = {};
  const size = SIZE_OF.get(tk[i] ?? '');
  if (size) {
    d.size = size;
    i++;
  }
  const color = COLOR_OF.get(tk[i] ?? '');
  if (color) {
    d.color = color;
    i++;
  }
  const two = `${tk[i] ?? ''} ${tk[i + 1] ?? ''}`;
  const shape2 = SHAPE_OF.get(two);
  if (shape2) return [{ ...d, shape: shape2 }, i + 2];
  const w = tk[i] ?? '';
  const shape = SHAPE_OF.get(w);
  if (shape) return [{ ...d, shape }, i + 1];
  if ((GENERIC_NOUNS as readonly string[]).includes(w)) return [d, i + 1];
  if (w === PRONOUN_NOUN && (d.size || d.color)) return [d, i + 1];
  throw new DataError(`cannot parse "${sent}": expected a shape noun at word ${i + 1} ("${w}")`);
}

/** The meaning of a normalised sentence of the generator's grammar (throws DataError otherwise). */
export function parseExpression(sent: string): RefExpr {
  const tk = sent.split(' ').filter((w) => w.length > 0);
  let i = 0;
  if (ARTICLES.has(tk[i] ?? '')) i++;
  const pre = PRE_EXTREME_OF.get(tk[i] ?? '');
  if (pre) i++;
  const [desc, j] = parseNounPhrase(tk, i, sent);
  const rest = tk.slice(j);
  if (rest.length === 0) return pre ? { kind: 'extreme', desc, dir: pre } : { kind: 'attr', desc };
  if (pre) throw new DataError(`cannot parse "${sent}": nothing may follow "${tk[i - 1]} <shape>"`);
  for (const [dir, p] of POST_EXTREME_PHRASES) if (eq(rest, p)) return { kind: 'extreme', desc, dir };
  for (const p of CENTER_PHRASE_LIST) if (eq(rest, p)) return { kind: 'center', desc };
  for (const [rel, p] of RELATION_PHRASE_LIST) {
    if (!startsWith(rest, p) || rest[p.length] !== 'the') continue;
    const [anchor, k] = parseNounPhrase(rest, p.length + 1, sent);
    if (k === rest.length) return { kind: 'relation', desc, rel, anchor };
  }
  throw new DataError(`cannot parse "${sent}": unexpected "${rest.join(' ')}" after the noun phrase`);
}

/** A canonical string of an expression (for equality and logs). */
export function exprKey(e: RefExpr): string {
  const d = (x: Desc): string => [x.size ?? '', x.color ?? '', x.shape ?? '*'].join('/');
  switch (e.kind) {
    case 'attr':
      return `attr(${d(e.desc)})`;
    case 'extreme':
      return `extreme(${d(e.desc)},${e.dir})`;
    case 'center':
      return `center(${d(e.desc)})`;
    case 'relation':
      return `relation(${d(e.desc)},${e.rel},${d(e.anchor)})`;
  }
}

/** All vocabulary, for tokenizer tests and documentation. */
export function vocabularyWords(): string[] {
  const words = new Set<string>(['the', 'a', 'an', ...GENERIC_NOUNS, PRONOUN_NOUN]);
  const add = (p: string): void => p.split(' ').forEach((w) => words.add(w));
  for (const s of SHAPES) SHAPE_NOUNS[s].forEach(add);
  for (const c of COLORS) COLOR_WORDS[c].forEach(add);
  for (const z of SIZES) SIZE_WORDS[z].forEach(add);
  for (const dir of ['left', 'right', 'top', 'bottom'] as const) {
    [...PRE_EXTREME[dir].always, ...PRE_EXTREME[dir].pair, ...POST_EXTREME[dir]].forEach(add);
  }
  [...CENTER_PHRASES, ...CENTER_PHRASES_3].forEach(add);
  Object.values(RELATION_PHRASES).flat().forEach(add);
  return [...words].sort();
}
