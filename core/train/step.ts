/**
 * One optimisation step: loss and gradients of the trainable parameters,
 * optional accumulation over micro-batches and clipping by global norm, then
 * the optimiser update. Everything runs inside tidy scopes; the tensor count
 * is the same after every step.
 */
import { tf, type Tensor } from '../runtime/tf.js';
import type { Parameter } from '../nn/module.js';
import type { SegmentationModel } from '../model/model.js';
import type { Optimizer } from './optimizers.js';

export interface Batch {
  /** [B, S, S, 3] normalised */
  image: Tensor;
  /** [B, L] int32 */
  text: Tensor;
  /** [B, S, S, 1] in {0, 1} */
  mask: Tensor;
}

export interface StepResult {
  loss: number;
  parts: Record<string, number>;
  gradNorm: number;
  /** Mean IoU of the batch at threshold 0.35 on the prediction grid (a cheap training signal, not the official metric). */
  iou: number;
}

/** Loss and gradients by parameter name (caller disposes the gradients). */
export function lossAndGradients(model: SegmentationModel, batch: Batch, params: [string, Parameter][]): { grads: Map<string, Tensor>; loss: number; parts: Record<string, number>; iou: number } {
  const vars = params.map(([, p]) => p.variable);
  const byVar = new Map(params.map(([n, p]) => [p.variable.name, n]));
  let parts: Record<string, number> = {};
  let iou = 0;
  const { value, grads } = tf.variableGrads(() => {
    const r = model.loss({ image: batch.image, text: batch.text }, batch.mask);
    const vals = [...r.parts.values()].map((t) => t.dataSync()[0]!);
    parts = Object.fromEntries([...r.parts.keys()].map((k, i) => [k, vals[i]!]));
    iou = batchIou(r.logits, batch.mask);
    return r.total as tf.Scalar;
  }, vars);
  const loss = value.dataSync()[0]!;
  value.dispose();
  const out = new Map<string, Tensor>();
  for (const [vn, g] of Object.entries(grads)) out.set(byVar.get(vn)!, g);
  return { grads: out, loss, parts, iou };
}

/** Mean IoU over the batch of sigmoid(logits) > 0.35 vs the mask resized (nearest) to the logits grid. */
export function batchIou(logits: Tensor, mask: Tensor): number {
  return tf.tidy(() => {
    const [B, h, w] = logits.shape as [number, number, number, number];
    const S = mask.shape[1]!;
    const idx = (n: number, o: number) => tf.tensor1d(Int32Array.from({ length: o }, (_, i) => Math.min(n - 1, Math.floor((i * n) / o))), 'int32');
    const m = tf.gather(tf.gather(mask, idx(S, h), 1), idx(mask.shape[2]!, w), 2);
    const p = tf.cast(tf.greater(tf.sigmoid(logits), 0.35), 'float32');
    const g = tf.cast(tf.greater(m, 0.5), 'float32');
    const inter = tf.sum(tf.mul(p, g), [1, 2, 3]);
    const union = tf.sum(tf.maximum(p, g), [1, 2, 3]);
    return tf.mean(tf.div(inter, tf.add(union, 1e-6))).dataSync()[0]! * (B ? 1 : 0);
  });
}

/** Global L2 norm of gradients; scales them in place (returns new map) when above maxNorm > 0. */
export function clipByGlobalNorm(grads: Map<string, Tensor>, maxNorm: number): { grads: Map<string, Tensor>; norm: number } {
  const norm = tf.tidy(() => {
    const sq = [...grads.values()].map((g) => tf.sum(tf.square(g)));
    return sq.length ? Math.sqrt(tf.addN(sq).dataSync()[0]!) : 0;
  });
  if (!(maxNorm > 0) || norm <= maxNorm) return { grads, norm };
  // PyTorch clip_grad_norm_: scale by max_norm / (norm + 1e-6).
  const scale = maxNorm / (norm + 1e-6);
  const out = new Map<string, Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, scale));
    g.dispose();
  }
  return { grads: out, norm };
}

/**
 * A full optimiser step over `micro` batches (gradient accumulation averages
 * them), clipping, update. Returns the mean loss.
 */
export function optimizerStep(model: SegmentationModel, optimizer: Optimizer, micro: readonly Batch[], lr: number, clipNorm = 0): StepResult {
  const params = optimizer.groups.flatMap((g) => g.params);
  // A non-finite step must leave the model as it was: train-mode forwards update BatchNorm
  // running statistics in place, and a NaN batch would poison them (and every later eval).
  const buffers = [...model.namedBuffers()].map(([, b]) => [b.variable, b.variable.clone()] as const);
  try {
    let acc: Map<string, Tensor> | undefined;
    let loss = 0;
    let iou = 0;
    const parts: Record<string, number> = {};
    for (const b of micro) {
      const r = lossAndGradients(model, b, params);
      loss += r.loss / micro.length;
      iou += r.iou / micro.length;
      for (const [k, v] of Object.entries(r.parts)) parts[k] = (parts[k] ?? 0) + v / micro.length;
      if (!acc) acc = r.grads;
      else {
        for (const [k, g] of r.grads) {
          const prev = acc.get(k);
          acc.set(k, prev ? tf.add(prev, g) : g.clone());
          prev?.dispose();
          g.dispose();
        }
      }
    }
    let grads = acc ?? new Map<string, Tensor>();
    if (micro.length > 1) {
      const scaled = new Map<string, Tensor>();
      for (const [k, g] of grads) {
        scaled.set(k, tf.div(g, micro.length));
        g.dispose();
      }
      grads = scaled;
    }
    const clipped = clipByGlobalNorm(grads, clipNorm);
    if (Number.isFinite(loss) && Number.isFinite(clipped.norm)) optimizer.step(clipped.grads, lr);
    else for (const [v, saved] of buffers) v.assign(saved);
    for (const g of clipped.grads.values()) g.dispose();
    return { loss, parts, gradNorm: clipped.norm, iou };
  } finally {
    for (const [, saved] of buffers) saved.dispose();
  }
}
