/**
 * Resources over a long run of the tiny model through the real runner (runTraining):
 * the tfjs tensor count and the process RSS stay flat, the data loader never has more
 * than `workers` decodes in flight nor more than `prefetch` batches (plus the one being
 * filled) decoded ahead of the training step.
 *
 * Default: 60 steps (checkpoint and evaluation every 20). ZOO_LONG=1: 1000 steps
 * (every 250), the figures printed. Both run the same assertions; nothing is skipped.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { inlineConfig } from '../../core/config/load.js';
import { validateConfig } from '../../core/config/validate.js';
import type { DatasetContext, DatasetSource, RefRecord } from '../../core/data/contracts.js';
import { RisLoader } from '../../core/data/pipeline.js';
import { definePlugin, type AnyManifest } from '../../core/registry/manifest.js';
import { Registry } from '../../core/registry/registry.js';
import { CORE_PLUGINS } from '../../core/plugins.js';
import { tf } from '../../core/runtime/tf.js';
import { adamPlugin, type Optimizer, type OptimizerPlugin } from '../../core/train/optimizers.js';
import { runTraining } from '../../core/train/runner.js';
import { byteLevelTokenizer } from '../../plugins/backbones/clip/tokenizer/byte-vocab.js';
import { PLUGINS } from '../../plugins/index.js';
import { SyntheticPluginSchema, openSynthetic, type SyntheticPluginOptions } from '../../plugins/datasets/synthetic/index.js';
import { tempBase } from './harness.js';
import { tinyConfig, writeVocab } from './fixtures.js';

const LONG = process.env.ZOO_LONG === '1';
const STEPS = LONG ? 1000 : 60;
const EVERY = LONG ? 250 : 20;
/** Where the flatness is measured: after warm-up, and at the end. */
const EARLY = LONG ? 100 : 20;
/** Memory is sampled (after a full GC) every this many steps. */
const SAMPLE = LONG ? 10 : 5;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample {
  step: number;
  tensors: number;
  /** Sampled every SAMPLE steps after a full GC (else undefined). */
  rss?: number;
  heap?: number;
  arrayBuffers?: number;
}

/** Watches the data source: decodes in flight, and how far the loader runs ahead of training. */
class Probe {
  samples: Sample[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Training-split decodes only (evaluation has its own loader and its own `workers`). */
  trainInFlight = 0;
  maxTrainInFlight = 0;
  trainLoads = 0;
  maxLead = 0;
  batchSize = 1;

  wrapSource(src: DatasetSource): DatasetSource {
    const probe = this;
    return {
      name: src.name,
      splits: () => src.splits(),
      records: (split) => src.records(split),
      describe: () => src.describe(),
      prepare: () => src.prepare?.() ?? Promise.resolve(),
      loadMask: (r, h, w) => src.loadMask(r, h, w),
      loadMaskPng: src.loadMaskPng ? (r, h, w) => src.loadMaskPng!(r, h, w) : undefined,
      async loadImage(rec: RefRecord) {
        const train = rec.id.includes('/train/');
        if (train) {
          probe.trainLoads++;
          probe.maxTrainInFlight = Math.max(probe.maxTrainInFlight, ++probe.trainInFlight);
        }
        probe.maxInFlight = Math.max(probe.maxInFlight, ++probe.inFlight);
        try {
          return await src.loadImage(rec);
        } finally {
          probe.inFlight--;
          if (train) probe.trainInFlight--;
        }
      },
    };
  }

  wrapOptimizer(opt: Optimizer): Optimizer {
    const probe = this;
    return {
      get groups() {
        return opt.groups;
      },
      get stepCount() {
        return opt.stepCount;
      },
      exportState: () => opt.exportState(),
      importState: (s) => opt.importState(s),
      dispose: () => opt.dispose(),
      step(grads, lr) {
        opt.step(grads, lr);
        const step = probe.samples.length + 1;
        // Samples loaded for training minus samples consumed by the steps so far.
        probe.maxLead = Math.max(probe.maxLead, probe.trainLoads - step * probe.batchSize);
        const sample: Sample = { step, tensors: tf.memory().numTensors };
        if (step % SAMPLE === 0) {
          gc();
          const m = process.memoryUsage();
          Object.assign(sample, { rss: m.rss, heap: m.heapUsed, arrayBuffers: m.arrayBuffers });
        }
        probe.samples.push(sample);
      },
    };
  }
}

function probePlugins(probe: Probe): AnyManifest[] {
  return [
    definePlugin({
      kind: 'optimizer',
      name: 'adam-probe',
      description: 'test-only: Adam, recording tensors and RSS at every step',
      schema: adamPlugin.schema,
      create: (o: never): OptimizerPlugin => {
        const inner = adamPlugin.create(o, {}) as OptimizerPlugin;
        return { baseLr: inner.baseLr, create: (groups) => probe.wrapOptimizer(inner.create(groups)) };
      },
    }),
    definePlugin({
      kind: 'dataset',
      name: 'synthetic-probe',
      description: 'test-only: the synthetic dataset, counting decodes',
      schema: SyntheticPluginSchema,
      create: (o: SyntheticPluginOptions, ctx: DatasetContext) => probe.wrapSource(openSynthetic(o, ctx)),
    }),
  ];
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);

describe(`resources over ${STEPS} training steps (${LONG ? 'ZOO_LONG=1' : 'short; ZOO_LONG=1 runs 1000'})`, () => {
  it('tensor count and RSS flat; loader bounded by workers and prefetch', async () => {
    const base = tempBase('resources');
    const probe = new Probe();
    const registry = new Registry([...CORE_PLUGINS, ...PLUGINS, ...probePlugins(probe)]);
    const workers = 2;
    const prefetch = 2;
    const batchSize = 2;
    probe.batchSize = batchSize;
    const cfg = tinyConfig({
      vocab: writeVocab(join(base, 'shared')),
      data: { type: 'synthetic-probe', root: join(base, 'synth'), images: { train: 24, val: 4, testA: 1, testB: 1 }, minSide: 64, maxSide: 96, concurrency: 2 },
      dataExtra: { workers, prefetch },
      train: { epochs: 10_000, batchSize, maxSteps: STEPS, evalEvery: EVERY, checkpointEvery: EVERY, optimizer: { type: 'adam-probe', lr: 0.001 } },
    });
    (cfg.eval as Record<string, unknown>).maxSamples = 4;
    const v = validateConfig(inlineConfig(cfg), registry);
    const logs: string[] = [];
    const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const t0 = performance.now();
    const r = await runTraining(v, { registry, baseDir: base, log: (l) => logs.push(l), progressStream: quiet }, { out: join(base, 'run') });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.state.step).toBe(STEPS);
    expect(probe.samples.length).toBe(STEPS);

    const at = (s: number) => probe.samples[s - 1]!;
    const early = at(EARLY);
    const last = at(STEPS);
    const tail = probe.samples.slice(EARLY - 1);
    const mem = tail.filter((s) => s.rss !== undefined) as Required<Sample>[];
    const max = (k: 'rss' | 'heap' | 'tensors') => Math.max(...(k === 'tensors' ? tail : mem).map((s) => s[k]!));
    const figures = [
      `${STEPS} steps in ${seconds.toFixed(0)} s (${(STEPS / seconds).toFixed(1)} steps/s)`,
      `tensors: step ${EARLY} ${early.tensors}, step ${STEPS} ${last.tensors} (min ${Math.min(...tail.map((s) => s.tensors))}, max ${max('tensors')} from step ${EARLY} on)`,
      `RSS after GC: step ${EARLY} ${mb(early.rss!)} MiB, step ${STEPS} ${mb(last.rss!)} MiB (max ${mb(max('rss'))} MiB); JS heap ${mb(early.heap!)} -> ${mb(last.heap!)} MiB; array buffers ${mb(early.arrayBuffers!)} -> ${mb(last.arrayBuffers!)} MiB`,
      `loader: max ${probe.maxTrainInFlight} training decodes in flight (workers ${workers}; ${probe.maxInFlight} counting the evaluation loader's), max ${probe.maxLead} training samples decoded ahead of the step (prefetch ${prefetch} x batch ${batchSize})`,
    ];
    // Least-squares slope of RSS over the tail, extrapolated to 1000 steps.
    const n = mem.length;
    const mx = mem.reduce((a, s) => a + s.step, 0) / n;
    const my = mem.reduce((a, s) => a + s.rss, 0) / n;
    const slope = mem.reduce((a, s) => a + (s.step - mx) * (s.rss - my), 0) / mem.reduce((a, s) => a + (s.step - mx) ** 2, 0);
    figures.push(`RSS trend over steps ${EARLY}..${STEPS}: ${(slope / 1024).toFixed(1)} KiB/step`);
    console.log(`[resources] ${figures.join('\n[resources] ')}`);

    // Tensors: flat once the first evaluation has filled its caches.
    const afterEval = probe.samples.slice(EVERY + 1);
    expect(new Set(afterEval.map((s) => s.tensors)).size, 'tensor count varies after the first evaluation').toBe(1);
    expect(last.tensors - early.tensors, 'tensors added between the early step and the end').toBeLessThanOrEqual(40);
    // Memory: the JS heap after GC does not grow; RSS has no growth trend.
    expect(last.heap! - early.heap!, 'JS heap growth after GC').toBeLessThan(16 * 2 ** 20);
    expect(last.arrayBuffers! - early.arrayBuffers!, 'array buffer growth after GC').toBeLessThan(16 * 2 ** 20);
    expect(last.rss! - early.rss!, 'RSS growth').toBeLessThan(64 * 2 ** 20);
    if (LONG) expect(slope * 1000, 'RSS trend per 1000 steps').toBeLessThan(32 * 2 ** 20);
    // The loader: bounded concurrency and read-ahead.
    expect(probe.maxTrainInFlight).toBeLessThanOrEqual(workers);
    expect(probe.maxInFlight, 'training and evaluation loaders, each bounded').toBeLessThanOrEqual(2 * workers);
    expect(probe.maxLead).toBeLessThanOrEqual((prefetch + 1) * batchSize + workers);
  }, LONG ? 1_800_000 : 300_000);
});

describe('the data loader against a slow consumer', () => {
  it('never more than `workers` decodes in flight, never more than `prefetch` batches ahead', async () => {
    const base = tempBase('loader');
    const probe = new Probe();
    const src = probe.wrapSource(openSynthetic({ root: join(base, 'synth'), images: { train: 16, val: 1, testA: 1, testB: 1 }, minSide: 64, maxSide: 80 } as SyntheticPluginOptions, { where: 'data.dataset', baseDir: base }));
    for (const [workers, prefetch, batchSize] of [[1, 1, 2], [3, 2, 2], [2, 0, 3], [4, 4, 1]] as const) {
      probe.maxInFlight = 0;
      probe.trainLoads = 0;
      const loader = await RisLoader.create(src, 'train', { inputSize: 32, wordLength: 8, tokenizer: byteLevelTokenizer(), batchSize, mode: 'train', seed: 0, skipBad: false, prefetch, workers, withOriginal: false });
      let consumed = 0;
      let maxLead = 0;
      for await (const b of loader.epoch(0)) {
        consumed += b.size;
        // Give the producer every chance to run ahead.
        await new Promise((r) => setTimeout(r, 15));
        maxLead = Math.max(maxLead, probe.trainLoads - consumed);
      }
      expect(probe.maxInFlight, `workers ${workers}`).toBeLessThanOrEqual(workers);
      // Queued batches (at most max(1, prefetch)), the batch being filled, the decodes in flight.
      expect(maxLead, `prefetch ${prefetch}, batch ${batchSize}`).toBeLessThanOrEqual((Math.max(1, prefetch) + 1) * batchSize + workers);
      expect(consumed).toBe(loader.batches * batchSize);
    }
  }, 120_000);
});
