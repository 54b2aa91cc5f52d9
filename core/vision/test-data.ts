/**
 * Test helpers for core/vision and core/metrics: the eval_post parity fixture
 * and the OpenCV/PyTorch reference file, loaded once per test file.
 */
import { join } from 'node:path';
import { readSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { toFloat32 } from '../io/raw-tensor.js';
import { FIXTURES, ROOT } from '../../test/fixtures.js';

export interface EvalPostSample {
  index: number;
  ori_size_hw: [number, number];
  forward: number[][];
  inverse: number[][];
  iou: number;
}

export interface EvalPostTrainSample {
  index: number;
  ori_size_hw: [number, number];
  forward: number[][];
  img_warp: { dsize: [number, number]; flags: string; borderValue: number[] };
  mask_warp: { dsize: [number, number]; flags: string; borderValue: number };
}

export interface EvalPostConfig {
  input_size: number;
  pred_size: number;
  samples: EvalPostSample[];
  train_samples: EvalPostTrainSample[];
  mean_iou: number;
  prec: Record<string, number>;
  pr_thresholds_float32_as_float64: number[];
}

export function evalPost(): { file: SafetensorsFile; config: EvalPostConfig } {
  const file = readSafetensors(join(FIXTURES, 'parity', 'eval_post.safetensors'));
  return { file, config: JSON.parse(file.metadata.config!) as EvalPostConfig };
}

export function visionReference(): SafetensorsFile {
  return readSafetensors(join(ROOT, 'test', 'reference', 'vision.safetensors'));
}

export function f32(file: SafetensorsFile, name: string): Float32Array {
  return toFloat32(file.get(name));
}

/** uint8 data of a tensor stored as U8 or as F32 holding integers. */
export function u8(file: SafetensorsFile, name: string): Uint8Array {
  const t = file.get(name);
  return t.dtype === 'uint8' ? (t.data as Uint8Array) : Uint8Array.from(toFloat32(t));
}

/** max |a − b| and the number of differing elements. */
export function diff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; count: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d !== 0 || Number.isNaN(d)) count++;
    if (d > max || Number.isNaN(d)) max = Number.isNaN(d) ? Infinity : d;
  }
  return { max, count };
}
