import { describe, expect, it } from 'vitest';
import { Rng } from '../../../core/nn/rng.js';
import { DataError } from '../../../core/errors.js';
import {
  candidateExpressions,
  chooseExpressions,
  decorateRaw,
  evaluate,
  exprKey,
  normalizeSentence,
  parseExpression,
  realize,
  vocabularyWords,
  type RefExpr,
  type SceneItem,
  type SceneLayout,
} from './expressions.js';
import { resolveSyntheticOptions } from './options.js';
import { planRefs, sampleScene } from './scene.js';

const item = (shape: SceneItem['shape'], color: SceneItem['color'], size: SceneItem['size'], cx: number, cy: number): SceneItem => ({ shape, color, size, cx, cy });

/**
 *   0 red circle (small)   at (20, 20)        1 red circle (large) at (80, 20)
 *   2 green star (large)   at (50, 50)
 *   3 blue triangle        at (50, 15)        4 blue triangle      at (50, 85)
 */
const scene: SceneLayout = {
  width: 100,
  height: 100,
  objects: [
    item('circle', 'red', 'small', 20, 20),
    item('circle', 'red', 'large', 80, 20),
    item('star', 'green', 'large', 50, 50),
    item('triangle', 'blue', 'small', 50, 15),
    item('triangle', 'blue', 'small', 50, 85),
  ],
};

describe('referring expressions', () => {
  const cases: [string, number[]][] = [
    ['the red circle', [0, 1]],
    ['the small red circle', [0]],
    ['big red disc', [1]],
    ['the green shape', [2]],
    ['the star', [2]],
    ['the red one', [0, 1]],
    ['the leftmost shape', [0]],
    ['the circle on the left', [0]],
    ['the left circle', [0]],
    ['rightmost red circle', [1]],
    ['the top triangle', [3]],
    ['the triangle at the bottom', [4]],
    ['the lowest shape', [4]],
    ['the shape nearest the center', [2]],
    ['the triangle closest to the middle', [3, 4]], // a tie: ambiguous
    ['the triangle above the green star', [3]],
    ['a triangle below the star', [4]],
    ['the triangle beneath the green star', [4]],
    ['the circle left of the star', []], // (20,20) vs the star at (50,50): a diagonal is neither left nor above
    ['the circle to the right of the small triangle', []], // the anchor is ambiguous
    ['the shape next to the small red circle', [3]],
    ['the red circle nearest to the big red circle', [0]],
    ['the thing near the big circle', [3]],
  ];

  for (const [sent, denoted] of cases) {
    it(`"${sent}" denotes [${denoted.join(', ')}]`, () => {
      expect(evaluate(parseExpression(sent), scene)).toEqual(denoted);
    });
  }

  it('parses the grammar and rejects anything else with a DataError naming the sentence', () => {
    expect(parseExpression('the half circle to the right of the tiny violet plus sign')).toEqual({
      kind: 'relation',
      desc: { shape: 'semicircle' },
      rel: 'right',
      anchor: { size: 'small', color: 'purple', shape: 'cross' },
    } satisfies RefExpr);
    expect(parseExpression('an orange oval')).toEqual({ kind: 'attr', desc: { color: 'orange', shape: 'ellipse' } });
    for (const bad of ['', 'the', 'the one', 'the red', 'the dog', 'the leftmost circle on the left', 'the circle above', 'the circle above the', 'the circle above the red one of them', 'the circle in the corner']) {
      expect(() => parseExpression(bad), bad).toThrow(DataError);
    }
    expect(() => parseExpression('the red dog')).toThrow(/cannot parse "the red dog"/);
  });

  it('normalises raw sentences as REFER does (lower case, no punctuation, single spaces)', () => {
    expect(normalizeSentence('  The RED circle,  on the LEFT. ')).toBe('the red circle on the left');
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) expect(normalizeSentence(decorateRaw('the small red circle', rng))).toBe('the small red circle');
  });

  it('every candidate expression of random scenes denotes exactly its target, also after realisation and parsing', () => {
    const o = resolveSyntheticOptions({});
    const rng = new Rng(11);
    const kinds = new Map<string, number>();
    const vocabulary = new Set(vocabularyWords());
    let total = 0;
    for (let k = 0; k < 150; k++) {
      const s = sampleScene(rng, o);
      s.objects.forEach((_, t) => {
        for (const c of candidateExpressions(s, t)) {
          total++;
          kinds.set(c.expr.kind, (kinds.get(c.expr.kind) ?? 0) + 1);
          expect(evaluate(c.expr, s), exprKey(c.expr)).toEqual([t]);
          const sent = realize(c.expr, s, rng);
          expect(normalizeSentence(sent)).toBe(sent);
          const parsed = parseExpression(sent);
          expect(evaluate(parsed, s), `${sent} (${exprKey(c.expr)})`).toEqual([t]);
          for (const w of sent.split(' ')) expect(vocabulary.has(w), w).toBe(true);
        }
      });
    }
    expect(total).toBeGreaterThan(1000);
    for (const kind of ['attr', 'extreme', 'center', 'relation']) expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(30);
  });

  it('chooses expressions of different kinds first', () => {
    const cands = candidateExpressions(scene, 3); // top blue triangle: extreme, relation, center?...
    const chosen = chooseExpressions(cands, 3, new Rng(1));
    const kinds = new Set(cands.map((c) => c.expr.kind));
    expect(new Set(chosen.map((e) => e.kind)).size).toBe(Math.min(3, kinds.size));
  });

  it('plans refs with distinct sentences, each denoting its object', () => {
    const o = resolveSyntheticOptions({ sentencesPerRef: [2, 3] });
    const rng = new Rng(5);
    let refs = 0;
    for (let k = 0; k < 60; k++) {
      const s = sampleScene(rng, o, k % 2 ? 'round' : undefined);
      for (const r of planRefs(s, o, rng, k % 2 ? 'round' : undefined)) {
        refs++;
        expect(r.sentences.length).toBeGreaterThanOrEqual(2);
        expect(r.sentences.length).toBeLessThanOrEqual(3);
        expect(new Set(r.sentences.map((x) => x.sent)).size).toBe(r.sentences.length);
        if (k % 2) expect(['circle', 'ellipse', 'semicircle']).toContain(s.objects[r.object]!.shape);
        for (const x of r.sentences) expect(evaluate(parseExpression(x.sent), s)).toEqual([r.object]);
      }
    }
    expect(refs).toBeGreaterThan(40);
  });
});
