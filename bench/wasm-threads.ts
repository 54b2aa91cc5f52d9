/**
 * wasm backend: 1 thread (tfjs's single-threaded SIMD build) vs N threads (the
 * threaded SIMD build, core/runtime/wasm-threads.ts), in the same run.
 *
 *   npx tsx bench/wasm-threads.ts [--rounds 3] [--threads 1,2]
 *
 * Each (round, thread count) runs in a fresh child process (so idle pool
 * threads, JIT state and heap size of one configuration cannot affect
 * another), rounds alternate the order, and the best time of every metric
 * over all rounds is kept (the machine may be shared). Metrics: dense matmul
 * GFLOP/s (512, 1024), 3x3 conv2d GFLOP/s (forward; forward + both
 * gradients), and the forward and
 * forward+backward time of a ViT-S sized CLIP residual attention block built
 * from core/nn layers (bench/workloads.ts). Every child also hashes its outputs so
 * the run states whether thread counts gave bit-identical results.
 * Writes bench/results/wasm-threads.json.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../core/io/atomic-write.js';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Tensor } from '../core/runtime/tf.js';

const SELF = fileURLToPath(import.meta.url);
const RESULTS = fileURLToPath(new URL('./results/wasm-threads.json', import.meta.url));

interface Metric {
  /** Best and median time of one run, ms. */
  bestMs: number;
  medianMs: number;
  /** FLOPs per run when the metric has a meaningful count. */
  flop?: number;
}

interface ChildReport {
  threads: number;
  wasmBuild: string;
  reasons: string[];
  startupMs: number;
  metrics: Record<string, Metric>;
  /** FNV-1a of each workload's output bytes. */
  hashes: Record<string, string>;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

// ---------------------------------------------------------------- child

async function child(threads: number): Promise<void> {
  const t0 = performance.now();
  const { selectBackend } = await import('../core/runtime/backend.js');
  const report = await selectBackend('wasm', { threads });
  const startupMs = performance.now() - t0;
  if (report.threads !== threads) throw new Error(`asked for ${threads} threads, got ${report.threads}: ${report.reasons.join('; ')}`);
  const { tf } = await import('../core/runtime/tf.js');
  const w = await import('./workloads.js');

  const metrics: Record<string, Metric> = {};
  const hashes: Record<string, string> = {};
  const tensorsBefore = tf.memory().numTensors;

  /** Time `run` (which must finish its work and dispose its outputs) `reps` times after `warm` untimed runs. */
  const measure = (name: string, reps: number, warm: number, run: () => void, flop?: number) => {
    for (let i = 0; i < warm; i++) run();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const s = performance.now();
      run();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    metrics[name] = { bestMs: times[0]!, medianMs: times[Math.floor(times.length / 2)]!, ...(flop ? { flop } : {}) };
  };
  const hashOf = (name: string, f: () => Tensor | Tensor[]) => {
    hashes[name] = fnv1a(w.readOut(f));
  };

  for (const [n, reps] of [[512, 20], [1024, 8]] as const) {
    const a = w.seeded([n, n], 1);
    const b = w.seeded([n, n], 2);
    measure(`matmul ${n}`, reps, 3, () => w.readOut(() => tf.matMul(a, b)), 2 * n ** 3);
    hashOf(`matmul ${n}`, () => tf.matMul(a, b));
    a.dispose();
    b.dispose();
  }

  {
    const [B, H, W, C, K] = [2, 56, 56, 128, 128];
    const x = w.seeded([B, H, W, C], 3) as Tensor4D;
    const f = w.seeded([3, 3, C, K], 4, 0.05) as Tensor4D;
    const flop = 2 * B * H * W * C * K * 9;
    measure('conv2d 3x3 56x56x128->128 b2', 8, 2, () => w.readOut(() => tf.conv2d(x, f, 1, 'same')), flop);
    hashOf('conv2d 3x3 56x56x128->128 b2', () => tf.conv2d(x, f, 1, 'same'));
    // Forward, dx and dW: three convolutions' worth of FLOPs.
    const grads = () => tf.tidy(() => tf.grads((a: Tensor, k: Tensor) => tf.sum(tf.conv2d(a as Tensor4D, k as Tensor4D, 1, 'same')))([x, f]));
    measure('conv2d 3x3 fwd+bwd (dx, dW)', 5, 2, () => w.readOut(grads), 3 * flop);
    hashOf('conv2d 3x3 fwd+bwd (dx, dW)', grads);
    x.dispose();
    f.dispose();
  }

  {
    const { batch, tokens, width, heads } = w.BLOCK;
    const x = w.seeded([batch, tokens, width], 5);
    const block = new w.ResidualBlock(width, heads);
    const name = `block fwd (b${batch} L${tokens} C${width})`;
    measure(name, 6, 2, () => w.readOut(() => block.forward(x)));
    const nameB = `block fwd+bwd (b${batch} L${tokens} C${width})`;
    measure(nameB, 5, 2, () => w.readOut(() => tf.tidy(() => w.blockForwardBackward(block, x))));
    hashOf(nameB, () => tf.tidy(() => w.blockForwardBackward(block, x)));
    x.dispose();
    block.dispose();
  }
  if (tf.memory().numTensors !== tensorsBefore) throw new Error(`leaked ${tf.memory().numTensors - tensorsBefore} tensors`);

  const out: ChildReport = { threads: report.threads, wasmBuild: report.wasmBuild ?? '?', reasons: report.reasons, startupMs, metrics, hashes };
  console.log(JSON.stringify(out));
}

function fnv1a(arrays: Float32Array[]): string {
  let h = 0x811c9dc5;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------- parent

function parent(): void {
  const rounds = Number(arg('rounds', '3'));
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  if (!Number.isInteger(rounds) || rounds < 1 || threadCounts.some((t) => !Number.isInteger(t) || t < 1)) {
    throw new Error('usage: npx tsx bench/wasm-threads.ts [--rounds N] [--threads 1,2]');
  }
  const loadStart = loadavg();
  console.log(`wasm threads benchmark: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${fmtLoad(loadStart)}`);
  const runs: Record<number, ChildReport[]> = {};
  const roundLoads: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...threadCounts].reverse() : threadCounts;
    for (const t of order) {
      const res = spawnSync(process.execPath, [...process.execArgv, SELF, '--child', String(t)], { encoding: 'utf8', timeout: 600_000 });
      if (res.status !== 0) throw new Error(`child (${t} threads) failed (status ${res.status}, signal ${res.signal}):\n${res.stderr}`);
      const line = res.stdout.trim().split('\n').pop()!;
      const rep = JSON.parse(line) as ChildReport;
      (runs[t] ??= []).push(rep);
      process.stdout.write(`  round ${r + 1}/${rounds}, ${t} thread${t > 1 ? 's' : ''} (${rep.wasmBuild}): ${Object.entries(rep.metrics).map(([k, m]) => `${k.split(' (')[0]} ${m.bestMs.toFixed(1)} ms`).join(', ')}\n`);
    }
    roundLoads.push(loadavg());
  }
  const loadEnd = loadavg();

  // Best over rounds, per metric.
  const best: Record<number, Record<string, Metric & { gflops?: number }>> = {};
  for (const t of threadCounts) {
    best[t] = {};
    for (const rep of runs[t]!) {
      for (const [k, m] of Object.entries(rep.metrics)) {
        const cur = best[t]![k];
        if (!cur || m.bestMs < cur.bestMs) best[t]![k] = { ...m, ...(m.flop ? { gflops: m.flop / (m.bestMs / 1000) / 1e9 } : {}) };
      }
    }
  }
  const base = threadCounts[0]!;
  const metricNames = Object.keys(best[base]!);
  const speedup: Record<number, Record<string, number>> = {};
  for (const t of threadCounts.slice(1)) speedup[t] = Object.fromEntries(metricNames.map((k) => [k, best[base]![k]!.bestMs / best[t]![k]!.bestMs]));

  // Determinism: every run's output hashes, across rounds and thread counts.
  const hashSets: Record<string, Set<string>> = {};
  for (const t of threadCounts) for (const rep of runs[t]!) for (const [k, h] of Object.entries(rep.hashes)) (hashSets[k] ??= new Set()).add(h);
  const identical = Object.fromEntries(Object.entries(hashSets).map(([k, s]) => [k, s.size === 1]));

  const col = (s: string, w: number) => s.padStart(w);
  const header = ['metric'.padEnd(40), ...threadCounts.map((t) => col(`${t} thr`, 16)), ...threadCounts.slice(1).map((t) => col(`x${t}/x${base}`, 9))].join('');
  console.log(`\nbest of ${rounds} rounds (time per run; GFLOP/s where counted)\n${header}`);
  for (const k of metricNames) {
    const cells = threadCounts.map((t) => {
      const m = best[t]![k]!;
      return col(m.gflops ? `${m.gflops.toFixed(1)} GF/s` : `${m.bestMs.toFixed(1)} ms`, 16);
    });
    console.log([k.padEnd(40), ...cells, ...threadCounts.slice(1).map((t) => col(`${speedup[t]![k]!.toFixed(2)}x`, 9))].join(''));
  }
  console.log(`\nstart-up (process start to backend ready, best): ${threadCounts.map((t) => `${t} thr ${Math.min(...runs[t]!.map((r) => r.startupMs)).toFixed(0)} ms`).join(', ')}`);
  console.log(`outputs bit-identical across thread counts and rounds: ${Object.entries(identical).map(([k, v]) => `${k.split(' (')[0]} ${v ? 'yes' : 'NO'}`).join(', ')}`);
  console.log(`load average: start ${fmtLoad(loadStart)}, end ${fmtLoad(loadEnd)}`);

  const json = {
    date: new Date().toISOString(),
    command: 'npx tsx bench/wasm-threads.ts',
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` },
    loadAverage: { start: loadStart, afterEachRound: roundLoads, end: loadEnd },
    rounds,
    threadCounts,
    best,
    speedup,
    bitIdentical: identical,
    runs,
  };
  writeFileAtomic(RESULTS, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${RESULTS}`);
}

function fmtLoad(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' ');
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(Number(process.argv[childAt + 1]));
else parent();
