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
import { CheckpointMismatchError, FileFormatError, RuntimeFailure } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { parseSafetensors, writeSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { countNonFinite, type RawTensor } from '../io/raw-tensor.js';
import { parseCheckpoint, sniffCheckpoint } from '../io/checkpoint.js';
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
  const f = readOwnCheckpoint(path);
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
  checkTensors(path, model, state, slots);
  // The checkpoint must cover every trainable parameter and buffer; frozen weights come from the config.
  let report: LoadReport;
  try {
    report = model.loadStateDict(state, { strict: false });
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new CheckpointMismatchError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
  const trainableMissing = report.missing.filter((n) => [...model.namedParameters()].some(([m, p]) => m === n && p.requiresGrad));
  if ((opts.strict ?? true) && (trainableMissing.length || report.unexpected.length)) {
    throw new RuntimeFailure(formatLoadReport({ ...report, missing: trainableMissing }, `${path} does not fit this model (built from a different config?)`));
  }
  return { meta, report, optimizer: Object.keys(slots).length ? { step: meta.optimizerStep, slots } : undefined };
}

/**
 * Read one of our checkpoints (safetensors). Other formats are refused with what they
 * are: a torch.save file belongs in `model.checkpoint`, anything else is described.
 */
function readOwnCheckpoint(path: string): SafetensorsFile {
  let buf: Buffer;
  try {
    if (!statSync(path).isFile()) throw new FileFormatError(path, 'is not a file');
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  const kind = sniffCheckpoint(buf);
  if (kind === 'zip' || kind === 'pickle') {
    throw new FileFormatError(path, `is a ${kind === 'zip' ? 'torch.save (zip)' : 'pickle (legacy torch.save)'} file, not a checkpoint written by \`zoo train\` (safetensors); to initialise a model from official weights set model.checkpoint in the config`);
  }
  // Not even safetensors-shaped (no "{" after a plausible length): say what the file is instead.
  if (kind === undefined && buf.length >= 9 && buf[8] !== 0x7b && buf.readBigUInt64LE(0) > BigInt(buf.length)) parseCheckpoint(buf, path);
  return parseSafetensors(buf, path);
}

/**
 * Every tensor must have the dtype `zoo train` writes for its variable (float32, or
 * int32/int64 for integer buffers) and finite values: NaN/Inf weights are refused here,
 * naming the tensor, rather than producing NaN masks later.
 */
function checkTensors(path: string, model: SegmentationModel, state: Map<string, RawTensor>, slots: OptimizerState['slots']): void {
  const want = new Map<string, string>();
  for (const [n, p] of model.namedParameters()) want.set(n, p.variable.dtype);
  for (const [n, b] of model.namedBuffers()) want.set(n, b.variable.dtype);
  for (const [name, t] of state) {
    const w = want.get(name);
    if (w === undefined) continue; // reported as unexpected
    const ok = w === 'int32' ? t.dtype === 'int32' || t.dtype === 'int64' : t.dtype === 'float32';
    if (!ok) throw new FileFormatError(path, `tensor "model/${name}" is ${t.dtype}; the model's ${name} is ${w} (checkpoints written by zoo train hold float32 and int32; is this file from another program?)`);
    const bad = countNonFinite(t);
    if (bad) throw new FileFormatError(path, `tensor "model/${name}" holds ${bad} NaN/Inf value${bad === 1 ? '' : 's'} (of ${t.data.length}); refusing to load diverged weights (resume from an earlier checkpoint)`);
  }
  for (const [param, byslot] of Object.entries(slots)) {
    for (const [slot, data] of Object.entries(byslot)) {
      if (!(data instanceof Float32Array)) throw new FileFormatError(path, `tensor "optim/${param}/${slot}" is not float32`);
      const bad = countNonFinite({ dtype: 'float32', shape: [data.length], data });
      if (bad) throw new FileFormatError(path, `tensor "optim/${param}/${slot}" holds ${bad} NaN/Inf value${bad === 1 ? '' : 's'}; refusing to resume from diverged optimiser state`);
    }
  }
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
  // Temp files of an interrupted earlier write: of a process that is gone (killed mid-write), or old.
  for (const t of readdirSync(dir).filter((f) => f.endsWith('.tmp'))) {
    const pid = Number(/\.(\d+)\.\d+\.tmp$/.exec(t)?.[1] ?? NaN);
    const writerGone = Number.isSafeInteger(pid) && pid !== process.pid && !processAlive(pid);
    if (writerGone || Date.now() - statSync(join(dir, t)).mtimeMs > 60_000) rmSync(join(dir, t), { force: true });
  }
  return join(dir, file);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeCheckpoint(path: string): string {
  return basename(path);
}
