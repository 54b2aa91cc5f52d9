/**
 * Evaluation with the official protocol over a loader: logits -> sigmoid ->
 * bicubic to the input size -> inverse letterbox -> threshold -> IoU
 * (core/metrics/ris-eval.ts), per expression.
 */
import { tf } from '../runtime/tf.js';
import type { SegmentationModel } from '../model/model.js';
import { RisEvaluator, type RisReport } from '../metrics/ris-eval.js';
import type { Batch } from '../data/contracts.js';
import type { Affine } from '../vision/affine.js';
import { batchTensors } from './batch.js';

export interface EvalProgress {
  (done: number, total: number): void;
}

export async function evaluate(
  model: SegmentationModel,
  batches: AsyncIterable<Batch>,
  opts: { split: string; inputSize: number; threshold: number; total?: number; maxSamples?: number; onProgress?: EvalProgress },
): Promise<RisReport> {
  const wasTraining = model.training;
  model.eval();
  const ev = new RisEvaluator({ inputSize: opts.inputSize, threshold: opts.threshold });
  try {
    for await (const b of batches) {
      const logits = tf.tidy(() => {
        const t = batchTensors(b, opts.inputSize);
        return model.predict({ image: t.image, text: t.text });
      });
      const [B, h, w] = logits.shape as [number, number, number, number];
      const data = logits.dataSync() as Float32Array;
      logits.dispose();
      for (let i = 0; i < B; i++) {
        const m = b.meta[i]!;
        if (!m.gt) throw new Error(`evaluate: sample ${m.id} has no original-size ground truth (loader built without withOriginal)`);
        ev.add(m.id, { data: data.subarray(i * h * w, (i + 1) * h * w), height: h, width: w }, m.inverse as unknown as Affine, m.gt, [m.height, m.width]);
        if (opts.maxSamples && ev.count >= opts.maxSamples) break;
      }
      opts.onProgress?.(ev.count, opts.total ?? ev.count);
      if (opts.maxSamples && ev.count >= opts.maxSamples) break;
    }
  } finally {
    model.train(wasTraining);
  }
  return ev.report(opts.split);
}
