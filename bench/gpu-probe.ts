/**
 * GPU probe (issue 7, optional): does the `webgpu` npm package (Dawn over
 * Vulkan) find the GPU from Node, run a tfjs-backend-webgpu matmul, and train
 * the tiny BarLeRIa model a few steps? Bundled with esbuild together with Node
 * and the Vulkan loader, because the device machine has no Node and no
 * registry (see bench/gpu-probe.md for the exact commands).
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { create, globals } from 'webgpu';
import { writeFileSync } from 'node:fs';

Object.assign(globalThis, globals);
(globalThis as unknown as { navigator: unknown }).navigator = { gpu: create([]) };
// The backend registers itself only when navigator.gpu exists at import time.
await import('@tensorflow/tfjs-backend-webgpu');

const { tf } = await import('../core/runtime/tf.js');
const { Registry } = await import('../core/registry/registry.js');
const { CORE_PLUGINS } = await import('../core/plugins.js');
const clip = (await import('../plugins/backbones/clip/index.js')).default;
const snf = (await import('../plugins/adapters/snf/index.js')).default;
const lim = (await import('../plugins/adapters/lim/index.js')).default;
const gst = (await import('../plugins/adapters/gst/index.js')).default;
const cris = (await import('../plugins/heads/cris/index.js')).default;
const bce = (await import('../plugins/losses/bce/index.js')).default;
const { inlineConfig } = await import('../core/config/load.js');
const { validateConfig } = await import('../core/config/validate.js');
const { buildModel } = await import('../core/model/build.js');
const { createAdam } = await import('../core/train/optimizers.js');
const { optimizerStep } = await import('../core/train/step.js');
const { Rng } = await import('../core/nn/rng.js');

const out: Record<string, unknown> = {};
const log = (k: string, v: unknown) => {
  out[k] = v;
  console.log(k, typeof v === 'object' ? JSON.stringify(v) : v);
};
const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } } }).navigator.gpu;
const adapter = await gpu.requestAdapter();
log('adapter', adapter ? (adapter.info ?? 'found') : null);

async function matmul(backend: string, n: number, reps: number) {
  await tf.setBackend(backend);
  await tf.ready();
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  await tf.matMul(a, b).data();
  const t0 = performance.now();
  let c = tf.matMul(a, b);
  for (let i = 1; i < reps; i++) {
    const d = tf.matMul(a, c);
    c.dispose();
    c = d;
  }
  await c.data();
  const s = (performance.now() - t0) / 1000;
  tf.dispose([a, b, c]);
  return (2 * n ** 3 * reps) / s / 1e9;
}

const registry = new Registry([...CORE_PLUGINS, clip, snf, lim, gst, cris, bce]);
const S = 64;
const L = 12;
const doc = {
  input: { size: S, wordLength: L },
  runtime: { seed: 1 },
  model: {
    backbone: { type: 'clip', preset: 'custom', visionWidth: 64, visionLayers: 4, visionHeads: 1, patchSize: 8, textWidth: 64, textLayers: 4, textHeads: 1, vocabSize: 1000, contextLength: 16, embedDim: 64, stageLayers: [2, 3] },
    adapters: [{ type: 'snf', flowLength: 2 }, { type: 'lim' }, { type: 'gst', embedDim: 48, depth: 4, heads: 1, patchSize: 8, imageSize: S, numQueries: 8, fusionMap: ['0->0', '1->1', '2->2', '3->3'], deepSupervision: [4] }],
    head: { type: 'cris', visDim: 64, fpnOut: [32, 64, 128], numLayers: 1, numHeads: 2, dimFfn: 128, dropout: 0 },
  },
};

async function train(backend: string, steps: number, B: number) {
  await tf.setBackend(backend);
  await tf.ready();
  const model = buildModel(validateConfig(inlineConfig(doc as never), registry), registry);
  const r = new Rng(3);
  const ids = new Int32Array(B * L).map((_, i) => (i % L === 0 ? 998 : i % L < 6 ? 10 + r.int(900) : i % L === 6 ? 999 : 0));
  const batch = { image: tf.tensor4d(r.fillNormal(B * S * S * 3), [B, S, S, 3]), text: tf.tensor2d(ids, [B, L], 'int32'), mask: tf.tensor4d(Float32Array.from({ length: B * S * S }, (_, i) => (i % S < S / 2 ? 1 : 0)), [B, S, S, 1]) };
  const g = model.parameterGroups();
  const opt = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [{ name: 'b', params: g.backbone, lrMultiplier: 1 }, { name: 'h', params: g.head, lrMultiplier: 1 }]);
  model.train();
  const losses: number[] = [];
  const times: number[] = [];
  const params = [...g.backbone, ...g.head];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    if (backend === 'webgpu') {
      // tfjs-webgpu's synchronous readback needs OffscreenCanvas (absent in Node): read asynchronously.
      const { value, grads } = tf.variableGrads(() => model.loss({ image: batch.image, text: batch.text }, batch.mask).total as tf.Scalar, params.map(([, p]) => p.variable));
      losses.push((await value.data())[0]!);
      opt.step(new Map(params.map(([n, p]) => [n, grads[p.variable.name]!])), 1e-3);
      await params[0]![1].variable.data();
      value.dispose();
      tf.dispose(grads);
    } else losses.push(optimizerStep(model, opt, [batch], 1e-3).loss);
    times.push(performance.now() - t0);
  }
  opt.dispose();
  model.dispose();
  tf.dispose([batch.image, batch.text, batch.mask]);
  return { losses, stepMs: times.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, steps - 1), samplesPerSec: (1000 * B * (steps - 1)) / times.slice(1).reduce((a, b) => a + b, 0) };
}

try {
  if (!adapter) throw new Error('no WebGPU adapter (Dawn found no Vulkan device)');
  log('webgpu matmul 1024 GFLOP/s', await matmul('webgpu', 1024, 20));
  log('webgpu matmul 4096 GFLOP/s', await matmul('webgpu', 4096, 10));
  log('cpu matmul 256 GFLOP/s', await matmul('cpu', 256, 3));
  const w = await train('webgpu', 8, 32);
  log('webgpu tiny BarLeRIa train (batch 32)', w);
  const c = await train('cpu', 3, 32);
  log('cpu tiny BarLeRIa train (batch 32)', c);
  log('loss |webgpu - cpu| at steps 0..2', w.losses.slice(0, 3).map((l, i) => Math.abs(l - c.losses[i]!)));
} catch (e) {
  log('error', String((e as Error).stack ?? e));
}
if (process.env.OUT) writeFileSync(`${process.env.OUT}/gpu-probe.json`, JSON.stringify(out, null, 2));
process.exit(0);
