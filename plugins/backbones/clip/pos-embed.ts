import { tf } from '../../../core/runtime/tf.js';
import { toFloat32, type RawTensor } from '../../../core/io/raw-tensor.js';
import { interpolate } from '../../../core/nn/resize.js';

/**
 * Resize a positional table [1 + G·G, W] to [1 + g·g, W] like the official
 * build_model: class row kept, grid bicubic (align_corners=False), float32.
 */
export function resizePositionalEmbedding(t: RawTensor, grid: number): RawTensor {
  const [rows, W] = t.shape as [number, number];
  const G = Math.round(Math.sqrt(rows - 1));
  if (G === grid) return { dtype: 'float32', shape: [rows, W], data: toFloat32(t) };
  const src = toFloat32(t);
  const out = tf.tidy(() => {
    const g = tf.tensor(src.subarray(W), [1, G, G, W]);
    const r = interpolate(g, [grid, grid], 'bicubic', false);
    return tf.concat([tf.tensor(src.subarray(0, W), [1, W]), tf.reshape(r, [grid * grid, W])], 0);
  });
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return { dtype: 'float32', shape: [1 + grid * grid, W], data: Float32Array.from(data) };
}

