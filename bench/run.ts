/**
 * `npm run bench`: training and inference speed of the tiny default model
 * (configs/tiny/barleria-synthetic.json, what `npm start` trains) and of
 * BarLeRIa ViT-B/16 at 416x416 (batch 1 and 2), per backend: wasm with all
 * threads, wasm with 1 thread, cpu (tiny model only). Random weights and a
 * synthetic batch: runs on a clean clone, no fixture, no download.
 *
 *   npm run bench [-- --only tiny|vit-b16] [--skip-cpu] [--steps N] [--out FILE] [--note TEXT]
 *
 * Per run (each in its own child process, so peak RSS and the wasm heap are
 * its own): forward time (eval mode), training step time (forward + backward
 * + Adam, core/train/step.ts optimizerStep), samples/s, peak RSS, peak of
 * tf.memory().numBytes, wasm heap size, the backend's dense matmul GFLOP/s
 * (core/runtime/backend.ts matmulGflops, best of two sizes, probed before and after the
 * model in the same process), the
 * model's FLOPs and the model FLOP utilisation (MFU) = model FLOP/s achieved /
 * matmul FLOP/s. Also the data loader's images/s at the same input size and
 * batch (bench/loader.ts), beside the training rate.
 *
 * FLOP counting (bench/kernel-trace.ts): every kernel call of one training
 * step and of one forward is intercepted; matmuls and convolutions (their
 * backprop kernels included) count 2·M·N·K, elementwise ops 1 per output
 * element (softmax 5, reductions 1 per input element), data movement 0.
 * Model FLOPs exclude what activation checkpointing recomputes
 * (core/nn/checkpoint.ts; on for ViT-B/16 at 416 px, see `runtime.recompute`):
 * that is reported as overhead ("executed" includes it).
 *
 * The first training step of each run is traced (FLOPs, per-kernel time,
 * memory) and not timed; the following `--steps` are (median). At full size
 * one timed step (set with --steps-full); cpu runs the tiny model for one
 * traced step only (it takes ~45 s at batch 64 on the machine this was written
 * on; its time is reported from that step and flagged).
 *
 * Writes bench/results/bench-<cpu>-<cores>c.json (or --out).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../core/io/atomic-write.js';
import type { ModelKey } from './models.js';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

type Backend = 'wasm' | 'cpu';

interface ModelJob {
  kind: 'model';
  model: ModelKey;
  backend: Backend;
  threads: number;
  batch: number;
  /** Timed training steps after the traced one (0: report the traced step's time). */
  steps: number;
  /** Timed forwards after the traced one (0: report the traced forward's time). */
  forwards: number;
}

interface LoaderJob {
  kind: 'loader';
  model: ModelKey;
  size: number;
  batch: number;
  workers: number;
  prefetch: number;
}

type Job = ModelJob | LoaderJob;

interface KernelRow {
  kernel: string;
  ms: number;
  calls: number;
  gflop: number;
}

export interface ModelResult {
  job: ModelJob;
  backend: string;
  threads: number;
  wasmBuild?: string;
  config: string;
  clipDims: string;
  params: { total: number; trainable: number };
  recompute: boolean;
  /** Dense matmul GFLOP/s by size, and the best (the MFU denominator). */
  matmulGflops: Record<string, number>;
  matmulPeakGflops: number;
  buildMs: number;
  /** First (traced) training step. */
  firstStepMs: number;
  stepMs: number[];
  stepMedianMs: number;
  /** Step time taken from the traced first step (no timed step). */
  stepFromTracedStep: boolean;
  samplesPerSec: number;
  forwardMs: number[];
  forwardMedianMs: number;
  forwardSamplesPerSec: number;
  flops: {
    forward: number;
    forwardDense: number;
    /** Model FLOPs of one training step (forward + backward; Adam's elementwise work is not kernels). */
    trainStep: number;
    trainStepDense: number;
    /** Executed in the traced step, recomputation included. */
    trainStepExecuted: number;
    recompute: number;
    perSampleForwardG: number;
    perSampleTrainStepG: number;
  };
  achievedGflops: { forward: number; trainStep: number; trainStepExecuted: number };
  mfu: { forward: number; trainStep: number };
  kernelMsOfStep: number;
  recomputeMsOfStep: number;
  memory: { peakRssMiB: number; tfjsPeakMiB: number; wasmHeapMiB?: number };
  topKernels: KernelRow[];
  loss: number;
}

export interface LoaderResult {
  job: LoaderJob;
  imagesPerSec: number;
  samples: number;
  generatedMs?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const MiB = 2 ** 20;

// ---------------------------------------------------------------- child

async function runModel(job: ModelJob): Promise<ModelResult> {
  const { tf } = await import('../core/runtime/tf.js');
  const { selectBackend, matmulGflops } = await import('../core/runtime/backend.js');
  const { optimizerStep } = await import('../core/train/step.js');
  const { buildBenchModel, benchOptimizer, syntheticBatch } = await import('./models.js');
  const { installTrace, traced, topKernels } = await import('./kernel-trace.js');
  const rep = await selectBackend(job.backend, { threads: job.threads });
  if (job.backend === 'wasm' && rep.threads !== job.threads) throw new Error(`asked for ${job.threads} wasm threads, got ${rep.threads}: ${rep.reasons.join('; ')}`);
  const sizes = job.backend === 'cpu' ? [256, 512] : [512, 1024];
  // The MFU denominator: measured before and again after the model (best of the two per
  // size), so a passing disturbance on a shared machine does not deflate it (MFU > 100 %).
  const matmul: Record<string, number> = {};
  const probeMatmul = () => {
    for (const n of sizes) matmul[String(n)] = Math.max(matmul[String(n)] ?? 0, matmulGflops(n, 5));
  };
  probeMatmul();

  const tb = performance.now();
  const m = buildBenchModel(job.model);
  const buildMs = performance.now() - tb;
  const batch = syntheticBatch(m, job.batch);
  const opt = benchOptimizer(m);
  const lr = 1e-4;
  installTrace(tf.getBackend());

  const t0 = performance.now();
  const s0 = traced(() => optimizerStep(m.model, opt, [batch], lr));
  const firstStepMs = performance.now() - t0;
  const stepMs: number[] = [];
  let loss = s0.value.loss;
  for (let i = 0; i < job.steps; i++) {
    const t = performance.now();
    loss = optimizerStep(m.model, opt, [batch], lr).loss;
    stepMs.push(performance.now() - t);
  }
  const stepMedianMs = stepMs.length ? median(stepMs) : firstStepMs;

  m.model.eval();
  const fwd = () => {
    const y = tf.tidy(() => m.model.predict({ image: batch.image, text: batch.text }));
    y.dataSync();
    y.dispose();
  };
  const tf0 = performance.now();
  const f0 = traced(fwd);
  const firstFwdMs = performance.now() - tf0;
  const forwardMs: number[] = [];
  for (let i = 0; i < job.forwards; i++) {
    const t = performance.now();
    fwd();
    forwardMs.push(performance.now() - t);
  }
  const forwardMedianMs = forwardMs.length ? median(forwardMs) : firstFwdMs;

  probeMatmul();
  const matmulPeak = Math.max(...Object.values(matmul));
  const trainModel = s0.trace.flops - s0.trace.recomputeFlops;
  const trainDense = s0.trace.denseFlops; // recomputed forwards are mostly dense too; reported for the share only
  const B = job.batch;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.length;
  const result: ModelResult = {
    job,
    backend: rep.backend,
    threads: rep.threads,
    ...(rep.wasmBuild ? { wasmBuild: rep.wasmBuild } : {}),
    config: m.config,
    clipDims: m.dimsFrom,
    params: { total: m.total, trainable: m.trainable },
    recompute: s0.trace.recomputeFlops > 0,
    matmulGflops: matmul,
    matmulPeakGflops: matmulPeak,
    buildMs,
    firstStepMs,
    stepMs,
    stepMedianMs,
    stepFromTracedStep: stepMs.length === 0,
    samplesPerSec: (1000 * B) / stepMedianMs,
    forwardMs,
    forwardMedianMs,
    forwardSamplesPerSec: (1000 * B) / forwardMedianMs,
    flops: {
      forward: f0.trace.flops,
      forwardDense: f0.trace.denseFlops,
      trainStep: trainModel,
      trainStepDense: trainDense,
      trainStepExecuted: s0.trace.flops,
      recompute: s0.trace.recomputeFlops,
      perSampleForwardG: f0.trace.flops / B / 1e9,
      perSampleTrainStepG: trainModel / B / 1e9,
    },
    achievedGflops: {
      forward: f0.trace.flops / forwardMedianMs / 1e6,
      trainStep: trainModel / stepMedianMs / 1e6,
      trainStepExecuted: s0.trace.flops / stepMedianMs / 1e6,
    },
    mfu: {
      forward: f0.trace.flops / forwardMedianMs / 1e6 / matmulPeak,
      trainStep: trainModel / stepMedianMs / 1e6 / matmulPeak,
    },
    kernelMsOfStep: s0.trace.kernelMs,
    recomputeMsOfStep: s0.trace.recomputeMs,
    memory: {
      peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB,
      tfjsPeakMiB: Math.max(s0.trace.peakBytes, f0.trace.peakBytes) / MiB,
      ...(heap ? { wasmHeapMiB: heap / MiB } : {}),
    },
    topKernels: topKernels(s0.trace, 12).map(([kernel, s]) => ({ kernel, ms: s.ms, calls: s.calls, gflop: s.flops / 1e9 })),
    loss,
  };
  return result;
}

async function runLoader(job: LoaderJob): Promise<LoaderResult> {
  const { loaderThroughput } = await import('./loader.js');
  const r = await loaderThroughput({ size: job.size, batch: job.batch, workers: job.workers, prefetch: job.prefetch, repeat: 2 });
  return { job, imagesPerSec: r.imagesPerSec, samples: r.samples, ...(r.generatedMs !== undefined ? { generatedMs: r.generatedMs } : {}) };
}

async function child(job: Job): Promise<void> {
  const out = job.kind === 'model' ? await runModel(job) : await runLoader(job);
  console.log(`BENCH_RESULT ${JSON.stringify(out)}`);
}

// ---------------------------------------------------------------- parent

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

function machineSlug(): string {
  const model = (cpus()[0]?.model ?? 'cpu').toLowerCase().replace(/\(r\)|\(tm\)|processor|cpu|@.*$|\d+-core/g, ' ');
  const words = model.split(/[^a-z0-9]+/).filter(Boolean).slice(0, 2);
  return `${words.join('-') || 'cpu'}-${availableParallelism()}c`;
}

function plan(): Job[] {
  const only = arg('only') as ModelKey | undefined;
  const steps = Number(arg('steps') ?? 5);
  const stepsFull = Number(arg('steps-full') ?? 1);
  const all = Math.min(8, availableParallelism());
  const threadCounts = all > 1 ? [all, 1] : [1];
  const jobs: Job[] = [];
  if (!only || only === 'tiny') {
    for (const t of threadCounts) jobs.push({ kind: 'model', model: 'tiny', backend: 'wasm', threads: t, batch: 64, steps, forwards: steps });
    if (!flag('skip-cpu')) jobs.push({ kind: 'model', model: 'tiny', backend: 'cpu', threads: 1, batch: 64, steps: 0, forwards: 0 });
    jobs.push({ kind: 'loader', model: 'tiny', size: 64, batch: 64, workers: 2, prefetch: 4 });
  }
  if (!only || only === 'vit-b16') {
    for (const b of [1, 2]) for (const t of threadCounts) jobs.push({ kind: 'model', model: 'vit-b16', backend: 'wasm', threads: t, batch: b, steps: stepsFull, forwards: 0 });
    for (const b of [1, 2]) jobs.push({ kind: 'loader', model: 'vit-b16', size: 416, batch: b, workers: 2, prefetch: 4 });
  }
  return jobs;
}

function label(j: Job): string {
  return j.kind === 'model' ? `${j.model} ${j.backend}${j.backend === 'wasm' ? ` ${j.threads}thr` : ''} b${j.batch}` : `loader ${j.size}px b${j.batch}`;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');

function table(models: ModelResult[], loaders: LoaderResult[]): string {
  const rows: string[][] = [
    ['model', 'backend', 'thr', 'batch', 'fwd ms', 'step ms', 'samples/s', 'fwd GF/smp', 'step GF/smp', 'step GF/s', 'matmul GF/s', 'MFU step', 'MFU fwd', 'RSS MiB', 'tfjs MiB', 'heap MiB', 'loader img/s'],
  ];
  for (const r of models) {
    const l = loaders.find((x) => x.job.model === r.job.model && x.job.batch === r.job.batch);
    rows.push([
      r.job.model,
      r.backend,
      String(r.threads),
      String(r.job.batch),
      f0(r.forwardMedianMs),
      f0(r.stepMedianMs) + (r.stepFromTracedStep ? '*' : ''),
      f1(r.samplesPerSec),
      f1(r.flops.perSampleForwardG),
      f1(r.flops.perSampleTrainStepG),
      f1(r.achievedGflops.trainStep),
      f1(r.matmulPeakGflops),
      `${f0(100 * r.mfu.trainStep)}%`,
      `${f0(100 * r.mfu.forward)}%`,
      f0(r.memory.peakRssMiB),
      f0(r.memory.tfjsPeakMiB),
      r.memory.wasmHeapMiB ? f0(r.memory.wasmHeapMiB) : '-',
      l ? f0(l.imagesPerSec) : '-',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

/** Thread scaling: all threads vs 1 on the same run, per model and batch. */
function threadScaling(models: ModelResult[]): Record<string, { threads: number; step: number; forward: number; matmul: number }> {
  const out: Record<string, { threads: number; step: number; forward: number; matmul: number }> = {};
  for (const r of models) {
    if (r.backend !== 'wasm' || r.threads === 1) continue;
    const one = models.find((x) => x.backend === 'wasm' && x.threads === 1 && x.job.model === r.job.model && x.job.batch === r.job.batch);
    if (!one) continue;
    out[`${r.job.model} b${r.job.batch}`] = {
      threads: r.threads,
      step: one.stepMedianMs / r.stepMedianMs,
      forward: one.forwardMedianMs / r.forwardMedianMs,
      matmul: r.matmulPeakGflops / one.matmulPeakGflops,
    };
  }
  return out;
}

function parent(): void {
  const jobs = plan();
  const loadStart = loadavg();
  const t0 = performance.now();
  console.log(`barleria-zoo bench: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${jobs.length} runs, each in its own process:`);
  const models: ModelResult[] = [];
  const loaders: LoaderResult[] = [];
  const failures: { job: Job; error: string }[] = [];
  for (const job of jobs) {
    const ts = performance.now();
    const res = spawnSync(process.execPath, [...process.execArgv, SELF, '--child', JSON.stringify(job)], { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 * MiB });
    const line = res.stdout?.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    const secs = ((performance.now() - ts) / 1000).toFixed(0);
    if (res.status !== 0 || !line) {
      const error = `status ${res.status}${res.signal ? `, signal ${res.signal}` : ''}: ${(res.stderr || res.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`;
      failures.push({ job, error });
      console.log(`  ${label(job).padEnd(26)} FAILED after ${secs} s (${error})`);
      continue;
    }
    const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as ModelResult | LoaderResult;
    if (job.kind === 'model') {
      const m = r as ModelResult;
      models.push(m);
      console.log(`  ${label(job).padEnd(26)} step ${f0(m.stepMedianMs)} ms (${f1(m.samplesPerSec)} samples/s), forward ${f0(m.forwardMedianMs)} ms, MFU ${f0(100 * m.mfu.trainStep)}%  [${secs} s]`);
    } else {
      const l = r as LoaderResult;
      loaders.push(l);
      console.log(`  ${label(job).padEnd(26)} ${f1(l.imagesPerSec)} images/s  [${secs} s]`);
    }
  }
  const loadEnd = loadavg();
  const scaling = threadScaling(models);
  console.log(`\n${table(models, loaders)}`);
  console.log('(* step time from the traced first step: no separate timed step. GF/smp: GFLOP per sample; MFU: model FLOP/s / matmul FLOP/s; tfjs MiB: peak of tf.memory().numBytes, which counts aliased tensors again)');
  if (Object.keys(scaling).length) {
    console.log('\nthreads (same run): speed-up of all threads over 1');
    for (const [k, v] of Object.entries(scaling)) console.log(`  ${k.padEnd(14)} ${v.threads} threads: train step x${v.step.toFixed(2)}, forward x${v.forward.toFixed(2)}, dense matmul x${v.matmul.toFixed(2)}`);
  }
  for (const m of models) if (m.recompute) console.log(`\n${m.job.model} ${m.backend} ${m.threads}thr b${m.job.batch}: activation recomputation on; executed ${(m.flops.trainStepExecuted / 1e9).toFixed(0)} GFLOP per step, ${(m.flops.recompute / 1e9).toFixed(0)} of them recomputed (${f0(m.recomputeMsOfStep)} ms)`);
  console.log(`\nload average: start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const out = resolve(arg('out') ?? `${RESULTS_DIR}bench-${machineSlug()}.json`);
  const json = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version, platform: `${process.platform}-${process.arch}` },
    loadAverage: { start: loadStart, end: loadEnd },
    ...(arg('note') ? { note: arg('note') } : {}),
    flopMethod:
      'Kernel interception (bench/kernel-trace.ts) over one training step and one eval forward: BatchMatMul/_FusedMatMul 2·M·N·K per batch entry; Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter 2·(output-side elements)·kh·kw·cin; elementwise 1 per output element (Softmax 5), reductions 1 per input element; data movement 0. Model FLOPs exclude recomputed forwards (activation checkpointing). MFU = model FLOPs / step time / best dense matmul GFLOP/s of the same process.',
    results: models,
    loader: loaders,
    threadScaling: scaling,
    failures,
  };
  writeFileAtomic(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${out}`);
  if (failures.length) process.exitCode = 1;
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(JSON.parse(process.argv[childAt + 1]!) as Job);
else parent();
