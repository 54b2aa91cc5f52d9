import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.js';
import { affineFromRows } from '../vision/affine.js';
import { diff, evalPost, f32 } from '../vision/test-data.js';
import {
  PR_KEYS,
  PR_THRESHOLDS,
  RisEvaluator,
  formatRisTable,
  maskIoU,
  predictionToMask,
  predictionToOriginal,
  summarizeRis,
  type RisSampleRecord,
} from './ris-eval.js';

describe('official evaluation on the eval_post parity fixture', () => {
  const { file, config } = evalPost();
  const P = config.pred_size;
  const S = config.input_size;
  const logits = f32(file, 'in/logits');
  const logitsOf = (k: number) => ({ data: logits.subarray(k * P * P, (k + 1) * P * P), height: P, width: P });

  it('thresholds are torch.arange(0.5, 1.0, 0.1) in float32', () => {
    expect(PR_THRESHOLDS).toEqual(config.pr_thresholds_float32_as_float64);
  });

  it('warped probabilities ≤ 2.5e-7 and pred masks ≤ 0.2 % flips (public set: bit-identical, 0 flips)', () => {
    for (const s of config.samples) {
      const [h, w] = s.ori_size_hw;
      const original = { height: h, width: w };
      const prob = predictionToOriginal(logitsOf(s.index), S, affineFromRows(s.inverse), original);
      expect(diff(prob, f32(file, `mid/warped.${s.index}`)).max, `sample ${s.index}`).toBeLessThanOrEqual(2.5e-7);
      const mask = predictionToMask(logitsOf(s.index), S, affineFromRows(s.inverse), original);
      const flips = diff(mask, f32(file, `out/pred_mask.${s.index}`)).count;
      expect(flips / mask.length, `sample ${s.index}`).toBeLessThanOrEqual(0.002);
    }
  });

  it('per-sample IoU (≤ 1e-6 of config.samples[k].iou; public set: identical), mIoU and Pr@ reproduce out/iou, out/miou, out/prec', () => {
    const ev = new RisEvaluator({ inputSize: S });
    for (const s of config.samples) {
      const [h, w] = s.ori_size_hw;
      const rec = ev.add(`s${s.index}`, logitsOf(s.index), affineFromRows(s.inverse), f32(file, `in/gt.${s.index}`), [h, w]);
      expect(Math.abs(rec.iou - s.iou), `sample ${s.index}`).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(rec.iou - f32(file, 'out/iou')[s.index]!)).toBeLessThanOrEqual(1e-6);
    }
    const sum = ev.summary();
    expect(sum.count).toBe(config.samples.length);
    expect(Math.abs(sum.mIoU - config.mean_iou)).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(sum.mIoU - f32(file, 'out/miou')[0]!)).toBeLessThanOrEqual(1e-6);
    const prec = f32(file, 'out/prec');
    PR_KEYS.forEach((k, i) => {
      expect(sum.precision[k], k).toBe(config.prec[k]);
      expect(sum.precision[k], k).toBe(prec[i]);
    });
    const rows = ev.records();
    expect(sum.oIoU).toBeCloseTo(rows.reduce((a, r) => a + r.intersection, 0) / rows.reduce((a, r) => a + r.union, 0), 15);
  });
});

describe('maskIoU and summaries, by hand', () => {
  it('perfect, partial, empty prediction, empty ground truth, both empty', () => {
    expect(maskIoU([1, 1, 0, 0], [255, 255, 0, 0])).toEqual({ iou: 2 / (2 + 1e-6), intersection: 2, union: 2 });
    expect(maskIoU([1, 1, 1, 0], [0, 1, 1, 1])).toEqual({ iou: 2 / (4 + 1e-6), intersection: 2, union: 4 });
    expect(maskIoU([0, 0, 0, 0], [0, 1, 1, 0])).toEqual({ iou: 0, intersection: 0, union: 2 });
    expect(maskIoU([0, 1, 0, 0], [0, 0, 0, 0])).toEqual({ iou: 0, intersection: 0, union: 1 });
    // The official formula scores an empty prediction on an empty object as 0, not 1.
    expect(maskIoU([0, 0], [0, 0])).toEqual({ iou: 0, intersection: 0, union: 0 });
    // Any nonzero value is foreground (a PNG read as 0/255 or divided by 255 twice).
    expect(maskIoU([1], [1 / 65025])).toEqual({ iou: 1 / (1 + 1e-6), intersection: 1, union: 1 });
    expect(() => maskIoU([1, 0], [1])).toThrow(DataError);
  });

  it('Pr@ is strict: an IoU of exactly 0.5 does not count for Pr@50, 0.6 does not reach 0.6000000238', () => {
    const recs: RisSampleRecord[] = [
      { id: 'a', iou: 0.5, intersection: 1, union: 2 },
      { id: 'b', iou: 0.6, intersection: 3, union: 5 },
      { id: 'c', iou: 0.95, intersection: 19, union: 20 },
      { id: 'd', iou: 0, intersection: 0, union: 4 },
    ];
    const s = summarizeRis(recs);
    expect(s.precision).toEqual({ 'Pr@50': 0.5, 'Pr@60': 0.25, 'Pr@70': 0.25, 'Pr@80': 0.25, 'Pr@90': 0.25 });
    expect(s.mIoU).toBeCloseTo((0.5 + 0.6 + 0.95) / 4, 15);
    expect(s.oIoU).toBeCloseTo(23 / 31, 15);
    expect(summarizeRis([])).toEqual({ count: 0, mIoU: 0, oIoU: 0, precision: { 'Pr@50': 0, 'Pr@60': 0, 'Pr@70': 0, 'Pr@80': 0, 'Pr@90': 0 } });
  });

  it('a prediction already at the input size skips the upsampling; the evaluator rejects duplicates and bad sizes', () => {
    const ev = new RisEvaluator({ inputSize: 4 });
    // Identity letterbox (4×4 image into a 4×4 input); logits +10 on the left half.
    const logits = { data: Float32Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? 10 : -10)), height: 4, width: 4 };
    const identity = [1, 0, 0, 0, 1, 0] as const;
    const gt = Uint8Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? 255 : 0));
    const r = ev.add('x', logits, identity, gt, { height: 4, width: 4 });
    expect(r).toEqual({ id: 'x', iou: 8 / (8 + 1e-6), intersection: 8, union: 8 });
    expect(() => ev.add('x', logits, identity, gt, [4, 4])).toThrow(/already evaluated/);
    expect(() => ev.add('y', logits, identity, gt, [4, 5])).toThrow(/needs 20 values/);
    expect(() => ev.add('z', { ...logits, height: 3 }, identity, gt, [4, 4])).toThrow(/needs 12 values/);
    const rep = ev.report('val');
    expect(rep).toMatchObject({ split: 'val', count: 1, threshold: 0.35, samples: [{ id: 'x', intersection: 8, union: 8 }] });
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
  });

  it('prints a percentage table', () => {
    const s = summarizeRis([
      { id: 'a', iou: 0.75, intersection: 3, union: 4 },
      { id: 'b', iou: 0.25, intersection: 1, union: 4 },
    ]);
    const table = formatRisTable([{ split: 'val', summary: s }, { split: 'testA', summary: summarizeRis([]) }]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^split\s+mIoU\s+oIoU\s+Pr@50\s+Pr@60\s+Pr@70\s+Pr@80\s+Pr@90\s+n$/);
    expect(lines[2]).toMatch(/^val\s+50\.00\s+50\.00\s+50\.00\s+50\.00\s+50\.00\s+0\.00\s+0\.00\s+2$/);
    expect(lines[3]).toMatch(/^testA\s+0\.00/);
  });
});
