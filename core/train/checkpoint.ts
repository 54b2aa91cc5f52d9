/**
 * Training checkpoints. One safetensors file per checkpoint holds the
 * trainable parameters and every persistent buffer (`model/<name>`, PyTorch
 * layout) and the optimiser moments (`optim/<name>/<slot>`); its metadata holds
 * the resolved config, step, epoch, position in the epoch, the optimiser step
 * count and a reference (path + sha256) to the frozen backbone weights, which
 * are not copied. Files are written atomically; `latest.json` points at the
 * newest complete checkpoint and is replaced only after it is on disk, so a
 * run killed at any point resumes from the last complete checkpoint.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tf } from '../runtime/tf.js';
import { FileFormatError, RuntimeFailure } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/raw-tensor.js';
import { formatLoadReport, tensorToRaw, toTorchLayout, type LoadReport } from '../nn/module.js';
import type { SegmentationModel } from '../model/model.js';
import type { Optimizer, OptimizerState } from './optimizers.js';

export const CHECKPOINT_FORMAT = 'barleria-zoo/checkpoint@1';

export interface TrainingState {
  /** Optimiser steps done. */
  step: number;
  /** Epoch in progress (0-based) and optimiser steps already done in it. */
  epoch: number;
  stepInEpoch: number;
  seed: number;
  bestMIoU?: number;
  bestStep?: number;
}

export interface CheckpointMeta extends TrainingState {
  format: string;
  config: unknown;
  optimizerStep: number;
  frozenWeights?: { path: string; sha256: string };
  savedAt: string;
  metrics?: Record<string, number>;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((res, rej) => {
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => res())
      .on('error', rej);
  });
  return h.digest('hex');
}

/** Trainable parameters and persistent buffers, PyTorch layout. */
export function checkpointTensors(model: SegmentationModel): [string, RawTensor][] {
  const out: [string, RawTensor][] = [];
  tf.tidy(() => {
    for (const [n, p] of model.namedParameters()) if (p.requiresGrad) out.push([`model/${n}`, tensorToRaw(toTorchLayout(p.variable, p.layout))]);
    for (const [n, b] of model.namedBuffers()) if (b.persistent) out.push([`model/${n}`, tensorToRaw(toTorchLayout(b.variable, b.layout))]);
  });
  return out;
}

export function saveCheckpoint(path: string, model: SegmentationModel, optimizer: Optimizer | undefined, meta: Omit<CheckpointMeta, 'format' | 'savedAt' | 'optimizerStep'>): void {
  const tensors = checkpointTensors(model);
  let optimizerStep = 0;
  if (optimizer) {
    const s = optimizer.exportState();
    optimizerStep = s.step;
    // Moments are stored in the parameters' native layout (they are only read back by our optimiser).
    const shapes = new Map([...model.namedParameters()].map(([n, p]) => [n, [...p.variable.shape]]));
    for (const [name, slots] of Object.entries(s.slots)) {
      for (const [slot, data] of Object.entries(slots)) tensors.push([`optim/${name}/${slot}`, { dtype: 'float32', shape: shapes.get(name) ?? [data.length], data }]);
    }
  }
  const full: CheckpointMeta = { ...meta, format: CHECKPOINT_FORMAT, optimizerStep, savedAt: new Date().toISOString() };
  writeSafetensors(path, tensors, { checkpoint: JSON.stringify(full) });
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  report: LoadReport;
  optimizer?: OptimizerState;
}

/**
 * Load model state (and optionally optimiser state) from one of our
 * checkpoints. Frozen backbone weights are not in it: the model must have been
 * built from the same config.
 */
export function loadCheckpoint(path: string, model: SegmentationModel, opts: { strict?: boolean } = {}): LoadedCheckpoint {
  const f = readSafetensors(path);
  const raw = f.metadata.checkpoint;
  if (!raw) throw new FileFormatError(path, 'is not a barleria-zoo checkpoint (no "checkpoint" metadata); to initialise from an official checkpoint use model.checkpoint in the config');
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch {
    throw new FileFormatError(path, 'checkpoint metadata is not JSON');
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new FileFormatError(path, `unsupported checkpoint format ${JSON.stringify(meta.format)} (expected ${CHECKPOINT_FORMAT})`);
  const state = new Map<string, RawTensor>();
  const slots: OptimizerState['slots'] = {};
  for (const name of f.names) {
    if (name.startsWith('model/')) state.set(name.slice(6), f.get(name));
    else if (name.startsWith('optim/')) {
      const rest = name.slice(6);
      const cut = rest.lastIndexOf('/');
      const pn = rest.slice(0, cut);
      (slots[pn] ??= {})[rest.slice(cut + 1)] = f.get(name).data as Float32Array;
    }
  }
  // The checkpoint must cover every trainable parameter and buffer; frozen weights come from the config.
  const report = model.loadStateDict(state, { strict: false });
  const trainableMissing = report.missing.filter((n) => [...model.namedParameters()].some(([m, p]) => m === n && p.requiresGrad));
  if ((opts.strict ?? true) && (trainableMissing.length || report.unexpected.length)) {
    throw new RuntimeFailure(formatLoadReport({ ...report, missing: trainableMissing }, `${path} does not fit this model (built from a different config?)`));
  }
  return { meta, report, optimizer: Object.keys(slots).length ? { step: meta.optimizerStep, slots } : undefined };
}

export interface CheckpointPointer {
  file: string;
  step: number;
  epoch: number;
}

export function readLatest(dir: string): CheckpointPointer | undefined {
  const p = join(dir, 'latest.json');
  if (!existsSync(p)) return undefined;
  let ptr: CheckpointPointer;
  try {
    ptr = JSON.parse(readFileSync(p, 'utf8')) as CheckpointPointer;
  } catch {
    throw new FileFormatError(p, 'is not valid JSON; delete it to start over, or restore it from the checkpoint files beside it');
  }
  if (typeof ptr !== 'object' || ptr === null || typeof ptr.file !== 'string' || !/^[^/\\]+\.safetensors$/.test(ptr.file)) {
    throw new FileFormatError(p, `is not a checkpoint pointer (expected {"file": "step-....safetensors", "step": N, "epoch": N}); delete it to start over, or restore it from the checkpoint files beside it`);
  }
  if (!existsSync(join(dir, ptr.file))) throw new FileFormatError(p, `points at ${ptr.file}, which does not exist`);
  return ptr;
}

/** Write a numbered checkpoint, then move `latest.json` to it, then prune older ones (keeping `keep` and best). */
export function commitCheckpoint(dir: string, model: SegmentationModel, optimizer: Optimizer, meta: Omit<CheckpointMeta, 'format' | 'savedAt' | 'optimizerStep'>, keep = 2): string {
  const file = `step-${String(meta.step).padStart(8, '0')}.safetensors`;
  saveCheckpoint(join(dir, file), model, optimizer, meta);
  writeFileAtomic(join(dir, 'latest.json'), JSON.stringify({ file, step: meta.step, epoch: meta.epoch } satisfies CheckpointPointer, null, 2) + '\n');
  const numbered = readdirSync(dir).filter((f) => /^step-\d+\.safetensors$/.test(f)).sort();
  for (const old of numbered.slice(0, Math.max(0, numbered.length - keep))) if (old !== file) rmSync(join(dir, old), { force: true });
  // Temp files of an interrupted earlier write.
  for (const t of readdirSync(dir).filter((f) => f.endsWith('.tmp'))) if (Date.now() - statSync(join(dir, t)).mtimeMs > 60_000) rmSync(join(dir, t), { force: true });
  return join(dir, file);
}

export function describeCheckpoint(path: string): string {
  return basename(path);
}
