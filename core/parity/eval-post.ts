/**
 * `zoo parity` for evaluation fixtures (eval_post format): the official
 * validation post-processing (sigmoid, bicubic align_corners=True, inverse
 * letterbox warp, 0.35 threshold, IoU, mIoU, Pr@) and the train-time
 * letterbox transforms, with the tolerances of the fixtures README 9.3.
 */
import { Type } from '@sinclair/typebox';
import { definePlugin } from '../registry/manifest.js';
import type { Fixture } from './fixture.js';
import type { ParityReport } from './report.js';
import type { ParityHandler } from './handler.js';
import { affineFromRows, letterboxMatrices } from '../vision/affine.js';
import { letterboxImage, letterboxMask } from '../vision/letterbox.js';
import { resizeBicubic, sigmoid } from '../vision/upsample.js';
import { normalizeImage } from '../vision/normalize.js';
import { PR_KEYS, RisEvaluator, predictionToMask, predictionToOriginal } from '../metrics/ris-eval.js';
import { diffStats } from './report.js';

interface Sample {
  index: number;
  ori_size_hw: [number, number];
  forward: number[][];
  inverse: number[][];
  iou: number;
}
interface TrainSample {
  index: number;
  ori_size_hw: [number, number];
  forward: number[][];
}
interface Config {
  input_size: number;
  pred_size: number;
  samples: Sample[];
  train_samples?: TrainSample[];
  mean_iou: number;
  prec: Record<string, number>;
}

function relMatrixError(ours: readonly number[], ref: number[][]): number {
  const flat = ref.flat();
  let m = 0;
  flat.forEach((v, i) => (m = Math.max(m, Math.abs(ours[i]! - v) / Math.max(Math.abs(v), 1e-12))));
  return m;
}

export const evalPostParity: ParityHandler = {
  matches: (f: Fixture) => Array.isArray((f.config as Partial<Config>).samples) && f.has('in/logits'),
  run(f: Fixture, report: ParityReport) {
    const c = f.config as unknown as Config;
    const S = c.input_size;
    const P = c.pred_size;
    const logits = f.f32('in/logits').data;
    const ev = new RisEvaluator({ inputSize: S });
    for (const s of c.samples) {
      const [h, w] = s.ori_size_hw;
      const lg = { data: logits.subarray(s.index * P * P, (s.index + 1) * P * P), height: P, width: P };
      const lb = letterboxMatrices(h, w, S);
      report.custom('eval', `forward matrix ${s.index} (rel)`, relMatrixError(lb.forward, s.forward), 1e-6);
      report.custom('eval', `inverse matrix ${s.index} (rel)`, relMatrixError(lb.inverse, s.inverse), 1e-6);
      if (f.has(`mid/prob96.${s.index}`)) {
        const prob = resizeBicubic(sigmoid(Float32Array.from(lg.data)), { height: P, width: P }, { height: S, width: S }, true);
        report.custom('eval', `prob96.${s.index}`, diffStats(prob, f.f32(`mid/prob96.${s.index}`).data).maxAbs, 1e-5);
      }
      const inverse = affineFromRows(s.inverse);
      const warped = predictionToOriginal(lg, S, inverse, { height: h, width: w });
      report.custom('eval', `warped.${s.index}`, diffStats(warped, f.f32(`mid/warped.${s.index}`).data).maxAbs, 1e-5);
      const mask = predictionToMask(lg, S, inverse, { height: h, width: w });
      const ref = f.f32(`out/pred_mask.${s.index}`).data;
      let flips = 0;
      for (let i = 0; i < mask.length; i++) if (mask[i] !== (ref[i]! > 0 ? 1 : 0)) flips++;
      report.custom('eval', `pred_mask.${s.index} (fraction of pixels flipped)`, flips / mask.length, 0.002);
      const rec = ev.add(`sample ${s.index}`, lg, inverse, f.f32(`in/gt.${s.index}`).data, [h, w]);
      report.custom('eval', `iou.${s.index}`, Math.abs(rec.iou - s.iou), 2e-3);
    }
    const sum = ev.summary();
    report.custom('eval', 'mIoU', Math.abs(sum.mIoU - c.mean_iou), 2e-3);
    const prec = f.has('out/prec') ? f.f32('out/prec').data : undefined;
    PR_KEYS.forEach((k, i) => report.custom('eval', k, Math.abs(sum.precision[k] - (prec ? prec[i]! : c.prec[k]!)), 1e-6));
    for (const t of c.train_samples ?? []) {
      const [h, w] = t.ori_size_hw;
      const j = t.index;
      const img = { data: Uint8Array.from(f.f32(`in/train.img_u8.${j}`).data), height: h, width: w, channels: 3 };
      const lb = letterboxImage(img, S);
      report.custom('eval', `train forward matrix ${j} (rel)`, relMatrixError(lb.forward, t.forward), 1e-6);
      report.custom('eval', `train.img_warp_u8.${j} (levels)`, diffStats(lb.image.data, f.f32(`out/train.img_warp_u8.${j}`).data).maxAbs, 1);
      const m = letterboxMask({ data: Uint8Array.from(f.f32(`in/train.mask_u8.${j}`).data), height: h, width: w, channels: 1 }, lb.forward, S);
      report.custom('eval', `train.mask_warp_u8.${j} (levels)`, diffStats(m.data, f.f32(`out/train.mask_warp_u8.${j}`).data).maxAbs, 0);
      if (f.has(`out/train.img_tensor.${j}`)) {
        const chw = normalizeImage(lb.image, undefined, undefined, 'chw');
        // One uint8 level is 1/(255·std) ≈ 0.015 after normalisation.
        report.custom('eval', `train.img_tensor.${j}`, diffStats(chw, f.f32(`out/train.img_tensor.${j}`).data).maxAbs, 1 / (255 * 0.26) + 1e-5);
      }
    }
  },
};

export const evalPostParityPlugin = definePlugin({
  kind: 'parity',
  name: 'eval-post',
  description: 'Evaluation fixtures (eval_post format): official post-processing, IoU/mIoU/Pr@, letterbox warps',
  schema: Type.Object({}),
  create: () => evalPostParity,
});
