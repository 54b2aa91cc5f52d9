import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.js';
import { affineFromRows, affineToRows, applyAffine, getAffineTransform, invertAffine, letterboxMatrices } from './affine.js';
import { evalPost, visionReference } from './test-data.js';

interface LetterboxRef {
  h: number;
  w: number;
  in_h: number;
  in_w: number;
  forward: number[][];
  inverse: number[][];
}

describe('letterbox matrices (official getTransformMat via cv2.getAffineTransform)', () => {
  it('are bit-identical to the parity fixture (eval samples and train samples)', () => {
    const { config } = evalPost();
    for (const s of config.samples) {
      const lb = letterboxMatrices(s.ori_size_hw[0], s.ori_size_hw[1], config.input_size);
      expect(lb.forward, `sample ${s.index} forward`).toEqual(affineFromRows(s.forward));
      expect(lb.inverse, `sample ${s.index} inverse`).toEqual(affineFromRows(s.inverse));
    }
    for (const s of config.train_samples) {
      const lb = letterboxMatrices(s.ori_size_hw[0], s.ori_size_hw[1], config.input_size);
      expect(lb.forward, `train sample ${s.index}`).toEqual(affineFromRows(s.forward));
    }
  });

  it('are bit-identical to OpenCV 4.6 for odd sizes, tiny images and non-square inputs', () => {
    const refs = JSON.parse(visionReference().metadata.letterbox!) as LetterboxRef[];
    expect(refs.length).toBeGreaterThan(20);
    for (const r of refs) {
      const lb = letterboxMatrices(r.h, r.w, { height: r.in_h, width: r.in_w });
      const what = `${r.h}×${r.w} → ${r.in_h}×${r.in_w}`;
      expect(lb.forward, what).toEqual(affineFromRows(r.forward));
      expect(lb.inverse, what).toEqual(affineFromRows(r.inverse));
    }
  });

  it('maps the image corners onto the centred scaled rectangle', () => {
    const lb = letterboxMatrices(200, 100, 416);
    expect(lb.scale).toBeCloseTo(2.08, 12);
    expect(lb.biasX).toBeCloseTo(104, 9);
    expect(lb.biasY).toBe(0);
    const [x, y] = applyAffine(lb.forward, 100, 200);
    expect(x).toBeCloseTo(312, 4);
    expect(y).toBeCloseTo(416, 4);
    const [u, v] = applyAffine(lb.inverse, x, y);
    expect(u).toBeCloseTo(100, 4);
    expect(v).toBeCloseTo(200, 4);
  });

  it('rejects bad sizes and collinear points', () => {
    expect(() => letterboxMatrices(0, 10, 416)).toThrow(DataError);
    expect(() => letterboxMatrices(10, 10, Number.NaN)).toThrow(/input height/);
    expect(() => getAffineTransform([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 0], [0, 1]])).toThrow(/collinear/);
    expect(() => affineFromRows([[1, 2, 3]])).toThrow(DataError);
  });
});

describe('invertAffine', () => {
  it('inverts (composition is the identity) and round-trips rows', () => {
    const m = affineFromRows([[0.9, 0.31, -3.3], [-0.12, 1.07, 2.6]]);
    const n = invertAffine(m);
    for (const [x, y] of [[0, 0], [3, -7], [100, 42]] as const) {
      const [a, b] = applyAffine(m, x, y);
      const [c, d] = applyAffine(n, a, b);
      expect(c).toBeCloseTo(x, 10);
      expect(d).toBeCloseTo(y, 10);
    }
    expect(affineFromRows(affineToRows(m))).toEqual(m);
    // OpenCV maps a singular matrix to zeros (D = 0) instead of failing.
    expect(invertAffine([0, 0, 1, 0, 0, 2]).map(Math.abs)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
