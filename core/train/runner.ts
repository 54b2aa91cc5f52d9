/**
 * The training loop: model, data and optimiser from a validated config;
 * progress line; JSONL log of every step and evaluation; curves PNG;
 * evaluation each epoch (or every N steps) with the official protocol; best
 * checkpoint by val mIoU; atomic checkpoints and exact resume; NaN/Inf guard.
 * Nothing here knows any particular model.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tf } from '../runtime/tf.js';
import { selectBackend, type BackendChoice } from '../runtime/backend.js';
import { ConfigError, RuntimeFailure, UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { nanBatchFault } from '../io/faults.js';
import type { Registry } from '../registry/registry.js';
import { pluginAt, type ValidatedConfig } from '../config/validate.js';
import { buildModel } from '../model/build.js';
import type { SegmentationModel } from '../model/model.js';
import type { DatasetSource, SamplingMode } from '../data/contracts.js';
import { RisLoader } from '../data/pipeline.js';
import { formatRisTable, type RisReport } from '../metrics/ris-eval.js';
import type { OptimizerPlugin, Optimizer, ParamGroup } from './optimizers.js';
import type { Schedule } from './schedules.js';
import { optimizerStep } from './step.js';
import { batchTensors } from './batch.js';
import { evaluate } from './evaluate.js';
import { Progress } from './progress.js';
import { writeCurvesPng, type CurvePoint } from './plot.js';
import { reseedRandomStreams } from './random.js';
import { commitCheckpoint, loadCheckpoint, readLatest, saveCheckpoint, sha256File, type TrainingState } from './checkpoint.js';

export interface RunContext {
  registry: Registry;
  /** Directory that relative dataset paths resolve against (the config file's). */
  baseDir: string;
  log: (line: string) => void;
  /** Where progress lines go (default stderr). */
  progressStream?: NodeJS.WriteStream;
}

export interface TrainOptions {
  out: string;
  resume?: boolean;
  /** Stop (as if interrupted) after this many optimiser steps in this invocation; for tests and time-boxed runs. */
  stopAfter?: number;
}

export interface TrainResult {
  out: string;
  state: TrainingState;
  finished: boolean;
  best?: { mIoU: number; step: number; path: string };
  reports: RisReport[];
}

export function createDataset(v: ValidatedConfig, ctx: RunContext): DatasetSource {
  const node = v.plugins.find((p) => p.pointer === '/data/dataset');
  if (!node) throw new ConfigError('data.dataset: a dataset is required (see `zoo list dataset`)');
  return node.manifest.create(node.options, { where: 'data.dataset', baseDir: ctx.baseDir }) as DatasetSource;
}

export async function prepareRun(v: ValidatedConfig, ctx: RunContext, opts: { threads?: number } = {}) {
  const cfg = v.config;
  const report = await selectBackend(cfg.runtime.backend as BackendChoice, { threads: opts.threads ?? cfg.runtime.threads });
  ctx.log(`backend: ${report.backend}, ${report.threads} thread${report.threads > 1 ? 's' : ''}`);
  const model = buildModel(v, ctx.registry, { log: ctx.log });
  return model;
}

export async function loaderFor(v: ValidatedConfig, source: DatasetSource, model: SegmentationModel, split: string, mode: SamplingMode, batchSize: number, limit = 0): Promise<RisLoader> {
  const cfg = v.config;
  const data = cfg.data!;
  return RisLoader.create(source, split, {
    inputSize: cfg.input.size,
    wordLength: cfg.input.wordLength,
    tokenizer: model.backbone.tokenizer(),
    batchSize,
    mode,
    seed: cfg.runtime.seed,
    skipBad: data.skipBad,
    prefetch: data.prefetch,
    workers: data.workers,
    withOriginal: mode !== 'train',
    limit,
  });
}

export function makeOptimizer(v: ValidatedConfig, model: SegmentationModel, registry: Registry): { optimizer: Optimizer; baseLr: number; schedule: Schedule } {
  const optNode = pluginAt(v, '/train/optimizer');
  const plugin = optNode.manifest.create(optNode.options, {}) as OptimizerPlugin;
  const groups = model.parameterGroups();
  const paramGroups: ParamGroup[] = [
    { name: 'backbone', params: groups.backbone, lrMultiplier: v.config.train.backboneLrMultiplier },
    { name: 'head', params: groups.head, lrMultiplier: 1 },
  ];
  if (!groups.backbone.length && !groups.head.length) throw new ConfigError('model.freeze: nothing is trainable');
  const schedNode = pluginAt(v, '/train/schedule');
  void registry;
  return { optimizer: plugin.create(paramGroups), baseLr: plugin.baseLr, schedule: schedNode.manifest.create(schedNode.options, {}) as Schedule };
}

interface Paths {
  out: string;
  checkpoints: string;
  log: string;
  curves: string;
  config: string;
  report: string;
  best: string;
}

function pathsOf(out: string): Paths {
  const o = resolve(out);
  return { out: o, checkpoints: join(o, 'checkpoints'), log: join(o, 'log.jsonl'), curves: join(o, 'curves.png'), config: join(o, 'config.json'), report: join(o, 'report.json'), best: join(o, 'checkpoints', 'best.safetensors') };
}

function appendLog(p: Paths, entry: Record<string, unknown>): void {
  try {
    appendFileSync(p.log, JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
  } catch (e) {
    throw new RuntimeFailure(`cannot append to ${p.log}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Read the curves back from the log (so a resumed run plots its whole history). */
function curvesFromLog(p: Paths): { loss: CurvePoint[]; miou: CurvePoint[] } {
  const loss: CurvePoint[] = [];
  const miou: CurvePoint[] = [];
  if (!existsSync(p.log)) return { loss, miou };
  for (const line of readFileSync(p.log, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { type: string; step: number; loss?: number; mIoU?: number; split?: string };
      if (e.type === 'step' && e.loss !== undefined) loss.push({ x: e.step, y: e.loss });
      if (e.type === 'eval' && e.mIoU !== undefined) miou.push({ x: e.step, y: 100 * e.mIoU });
    } catch {
      /* a line cut by a kill: ignore */
    }
  }
  return { loss, miou };
}

export async function runTraining(v: ValidatedConfig, ctx: RunContext, o: TrainOptions): Promise<TrainResult> {
  const cfg = v.config;
  const tcfg = cfg.train;
  if (tcfg.batchSize % tcfg.accumulate) throw new ConfigError(`train.batchSize ${tcfg.batchSize} is not divisible by train.accumulate ${tcfg.accumulate}`);
  const micro = tcfg.batchSize / tcfg.accumulate;
  const p = pathsOf(o.out);
  const latest = existsSync(p.checkpoints) ? readLatest(p.checkpoints) : undefined;
  if (o.resume && !latest) throw new UsageError(`--resume: no checkpoint in ${p.checkpoints}; run without --resume to start`);
  if (!o.resume && latest) throw new UsageError(`${p.out} already holds a run (checkpoint ${latest.file}); use --resume to continue it or choose another --out`);
  try {
    mkdirSync(p.checkpoints, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RuntimeFailure(`cannot create ${p.checkpoints}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on device' : (e as Error).message}`, { cause: e });
  }

  const model = await prepareRun(v, ctx);
  const source = createDataset(v, ctx);
  await source.prepare?.();
  ctx.log(`data: ${source.describe()}`);
  const trainLoader = await loaderFor(v, source, model, 'train', 'train', micro);
  const valSplit = source.splits().includes('val') ? 'val' : undefined;
  const valLoader = valSplit ? await loaderFor(v, source, model, valSplit, 'val', cfg.eval.batchSize, cfg.eval.maxSamples) : undefined;
  const { optimizer, baseLr, schedule } = makeOptimizer(v, model, ctx.registry);
  const stepsPerEpoch = Math.floor(trainLoader.length / tcfg.batchSize);
  if (stepsPerEpoch < 1) throw new ConfigError(`train.batchSize ${tcfg.batchSize} exceeds the ${trainLoader.length} training samples`);
  const totalSteps = tcfg.maxSteps ? Math.min(tcfg.maxSteps, tcfg.epochs * stepsPerEpoch) : tcfg.epochs * stepsPerEpoch;

  const backboneWeights = (cfg.model.backbone as { weights?: string }).weights;
  const frozenWeights = backboneWeights ? { path: resolve(backboneWeights), sha256: await sha256File(backboneWeights) } : undefined;
  let state: TrainingState = { step: 0, epoch: 0, stepInEpoch: 0, seed: cfg.runtime.seed };
  if (latest) {
    const ck = loadCheckpoint(join(p.checkpoints, latest.file), model);
    if (ck.optimizer) optimizer.importState(ck.optimizer);
    if (ck.meta.frozenWeights && frozenWeights && ck.meta.frozenWeights.sha256 !== frozenWeights.sha256) {
      ctx.log(`warning: the frozen backbone weights changed since the checkpoint (${ck.meta.frozenWeights.path})`);
    }
    const { step, epoch, stepInEpoch, seed, bestMIoU, bestStep } = ck.meta;
    state = { step, epoch, stepInEpoch, seed, bestMIoU, bestStep };
    if (JSON.stringify(ck.meta.config) !== JSON.stringify(cfg)) ctx.log('warning: the config differs from the one the checkpoint was trained with');
    ctx.log(`resumed from ${latest.file}: step ${state.step}, epoch ${state.epoch + 1}, ${state.stepInEpoch} steps into it`);
  } else {
    writeFileAtomic(p.config, JSON.stringify(cfg, null, 2) + '\n');
  }
  const counts = model.parameterGroups();
  const nTrain = [...counts.backbone, ...counts.head].reduce((a, [, q]) => a + q.size, 0);
  ctx.log(`training: ${stepsPerEpoch} steps/epoch x ${tcfg.epochs} epochs (${totalSteps} steps), batch ${tcfg.batchSize}${tcfg.accumulate > 1 ? ` (${tcfg.accumulate} x ${micro})` : ''}, ${(nTrain / 1e6).toFixed(3)}M trainable parameters, ${schedule.describe()}`);
  appendLog(p, { type: 'start', step: state.step, resumed: Boolean(latest), totalSteps, stepsPerEpoch, trainable: nTrain });

  const metaOf = (s: TrainingState) => ({ ...s, config: cfg, frozenWeights });
  const checkpoint = () => {
    const path = commitCheckpoint(p.checkpoints, model, optimizer, metaOf(state));
    appendLog(p, { type: 'checkpoint', step: state.step, file: path });
    return path;
  };
  let lastGood = latest ? join(p.checkpoints, latest.file) : undefined;
  const curves = curvesFromLog(p);
  const runEval = async () => {
    if (!valLoader) return;
    const prog = new Progress({ label: `eval ${valSplit}`, total: valLoader.length, unit: 'expr', stream: ctx.progressStream });
    const r = await evaluate(model, valLoader.epoch(0), { split: valSplit!, inputSize: cfg.input.size, threshold: cfg.eval.threshold, total: valLoader.length, maxSamples: cfg.eval.maxSamples, onProgress: (d, t) => prog.update(d, { total: t }) });
    prog.finish();
    appendLog(p, { type: 'eval', step: state.step, epoch: state.epoch, split: valSplit, mIoU: r.mIoU, oIoU: r.oIoU, ...r.precision, count: r.count });
    ctx.log(`step ${state.step}: ${valSplit} mIoU ${(100 * r.mIoU).toFixed(2)} oIoU ${(100 * r.oIoU).toFixed(2)} (n=${r.count})`);
    curves.miou.push({ x: state.step, y: 100 * r.mIoU });
    if (state.bestMIoU === undefined || r.mIoU > state.bestMIoU) {
      state.bestMIoU = r.mIoU;
      state.bestStep = state.step;
      saveCheckpoint(p.best, model, undefined, metaOf(state));
      ctx.log(`  new best: saved ${p.best}`);
    }
    await writeCurvesPng(p.curves, curves.loss, curves.miou);
  };

  let stepsThisRun = 0;
  let skippedNonFinite = 0;
  const progress = new Progress({ label: 'train', total: totalSteps, unit: 'steps', stream: ctx.progressStream });
  progress.update(state.step);
  const startTensors = tf.memory().numTensors;
  let interrupted = false;
  outer: for (let epoch = state.epoch; epoch < tcfg.epochs && state.step < totalSteps; epoch++) {
    if (epoch !== state.epoch) state = { ...state, epoch, stepInEpoch: 0 };
    const it = trainLoader.epoch(epoch, { startBatch: state.stepInEpoch * tcfg.accumulate })[Symbol.asyncIterator]();
    while (state.stepInEpoch < stepsPerEpoch && state.step < totalSteps) {
      const micros = [];
      for (let k = 0; k < tcfg.accumulate; k++) {
        const n = await it.next();
        if (n.done) break;
        micros.push(n.value);
      }
      if (micros.length < tcfg.accumulate) break;
      const t0 = performance.now();
      model.train();
      reseedRandomStreams(model, state.seed, state.step);
      const lr = baseLr * schedule.factor(state.step, epoch, stepsPerEpoch, totalSteps);
      if (nanBatchFault(state.step + 1)) micros[0]!.image.fill(NaN, 0, 3); // test-only (ZOO_FAULT, core/io/faults.ts)
      const tensors = micros.map((b) => batchTensors(b, cfg.input.size));
      let res;
      try {
        res = optimizerStep(model, optimizer, tensors, lr, tcfg.gradClipNorm);
      } finally {
        tensors.forEach((t) => tf.dispose([t.image, t.text, t.mask]));
      }
      const dt = (performance.now() - t0) / 1000;
      if (!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm)) {
        appendLog(p, { type: 'nonfinite', step: state.step + 1, loss: String(res.loss), parts: res.parts, samples: micros.flatMap((b) => b.meta.map((m) => m.id)) });
        if (tcfg.onNonFinite === 'stop') {
          progress.finish();
          throw new RuntimeFailure(
            `step ${state.step + 1} (epoch ${epoch + 1}): the loss is ${res.loss} (${Object.entries(res.parts).map(([k, v]) => `${k} ${v}`).join(', ')}), gradient norm ${res.gradNorm}; training stopped without applying the update. ` +
              (lastGood ? `The last good checkpoint is ${lastGood}; resume with --resume (lower the lr or set train.gradClipNorm).` : 'No checkpoint was written yet.'),
          );
        }
        skippedNonFinite++;
        ctx.log(`step ${state.step + 1}: non-finite loss ${res.loss} (gradient norm ${res.gradNorm}), update skipped (train.onNonFinite = skip)`);
      }
      state.step++;
      state.stepInEpoch++;
      stepsThisRun++;
      curves.loss.push({ x: state.step, y: res.loss });
      const sps = (micros.reduce((a, b) => a + b.size, 0)) / dt;
      appendLog(p, { type: 'step', step: state.step, epoch, loss: res.loss, ...res.parts, iou: res.iou, lr, gradNorm: res.gradNorm, samplesPerSec: sps, seconds: dt });
      progress.update(state.step, { epoch: epoch + 1, loss: res.loss, iou: res.iou, lr, 'samples/s': sps });
      if (tcfg.evalEvery && state.step % tcfg.evalEvery === 0) await runEval();
      if (tcfg.checkpointEvery && state.step % tcfg.checkpointEvery === 0) lastGood = checkpoint();
      if (o.stopAfter && stepsThisRun >= o.stopAfter) {
        interrupted = true;
        break outer;
      }
    }
    // End of epoch.
    if (state.stepInEpoch >= stepsPerEpoch || state.step >= totalSteps) {
      const finishedEpoch = state.stepInEpoch >= stepsPerEpoch;
      if (finishedEpoch) state = { ...state, epoch: epoch + 1, stepInEpoch: 0 };
      if (!tcfg.evalEvery) await runEval();
      if (!tcfg.checkpointEvery) lastGood = checkpoint();
    }
  }
  progress.finish();
  if (skippedNonFinite) ctx.log(`${skippedNonFinite} steps skipped for non-finite losses`);
  if (trainLoader.skippedTotal) ctx.log(`data: ${trainLoader.describeSkipped()}`);
  const leak = tf.memory().numTensors - startTensors;
  if (leak > 0) ctx.log(`note: ${leak} tensors more than at the start of training (caches)`);
  if (interrupted) {
    if (tcfg.checkpointEvery && state.step % tcfg.checkpointEvery !== 0) lastGood = checkpoint();
    model.dispose();
    optimizer.dispose();
    return { out: p.out, state, finished: false, reports: [] };
  }
  const finished = state.step >= totalSteps;
  // The final state is always checkpointed (with checkpointEvery it may fall between two).
  if (tcfg.checkpointEvery && state.step % tcfg.checkpointEvery !== 0) lastGood = checkpoint();
  // Final evaluation of the best weights on the configured splits.
  const reports: RisReport[] = [];
  if (existsSync(p.best)) loadCheckpoint(p.best, model);
  for (const split of cfg.eval.splits) {
    if (!source.splits().includes(split)) {
      ctx.log(`eval: dataset has no split "${split}" (has ${source.splits().join(', ')}); skipped`);
      continue;
    }
    const loader = await loaderFor(v, source, model, split, split === 'val' ? 'val' : 'test', cfg.eval.batchSize, cfg.eval.maxSamples);
    const prog = new Progress({ label: `eval ${split}`, total: loader.length, unit: 'expr', stream: ctx.progressStream });
    const r = await evaluate(model, loader.epoch(0), { split, inputSize: cfg.input.size, threshold: cfg.eval.threshold, total: loader.length, maxSamples: cfg.eval.maxSamples, onProgress: (d, t) => prog.update(d, { total: t }) });
    prog.finish();
    reports.push(r);
    appendLog(p, { type: 'final', step: state.step, split, mIoU: r.mIoU, oIoU: r.oIoU, ...r.precision, count: r.count });
  }
  if (reports.length) {
    writeFileAtomic(p.report, JSON.stringify({ step: state.step, best: state.bestStep, splits: reports }, null, 2) + '\n');
    ctx.log('\n' + formatRisTable(reports.map((r) => ({ split: r.split, summary: r }))));
  }
  await writeCurvesPng(p.curves, curves.loss, curves.miou);
  model.dispose();
  optimizer.dispose();
  return { out: p.out, state, finished, best: state.bestMIoU !== undefined ? { mIoU: state.bestMIoU, step: state.bestStep!, path: p.best } : undefined, reports };
}

/** Paths in configs are relative to the working directory (as the official YAML files are). */
export function configBaseDir(_v: ValidatedConfig): string {
  return process.cwd();
}
