/**
 * Per-kernel profile of one training step of a model config (tf.profile):
 * where the time goes. Run: npx tsx bench/profile-step.ts CONFIG [--backend wasm] [--batch N] [--steps K]
 */
import { tf } from '../core/runtime/tf.js';
import { selectBackend, type BackendChoice } from '../core/runtime/backend.js';
import { Registry } from '../core/registry/registry.js';
import { CORE_PLUGINS } from '../core/plugins.js';
import { PLUGINS } from '../plugins/index.js';
import { loadConfig } from '../core/config/load.js';
import { validateConfig } from '../core/config/validate.js';
import { buildModel } from '../core/model/build.js';
import { createAdam } from '../core/train/optimizers.js';
import { optimizerStep } from '../core/train/step.js';

const args = process.argv.slice(2);
const flag = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1]! : d;
};
const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const v = validateConfig(loadConfig(args[0]!), registry);
await selectBackend(flag('backend', 'wasm') as BackendChoice, { threads: Number(flag('threads', '0')) });
const model = buildModel(v, registry, { skipPretrained: true, skipCheckpoint: true });
const B = Number(flag('batch', String(v.config.train.batchSize)));
const S = v.config.input.size;
const L = v.config.input.wordLength;
const image = tf.randomNormal([B, S, S, 3]);
const ids = new Int32Array(B * L);
for (let b = 0; b < B; b++) for (let l = 0; l < 6; l++) ids[b * L + l] = l === 0 ? 49406 : l === 5 ? 49407 : 300 + l;
const text = tf.tensor2d(ids, [B, L], 'int32');
const mask = tf.cast(tf.greater(tf.randomUniform([B, S, S, 1]), 0.7), 'float32');
const g = model.parameterGroups();
const opt = createAdam({ lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [{ name: 'backbone', params: g.backbone, lrMultiplier: 1 }, { name: 'head', params: g.head, lrMultiplier: 1 }]);
model.train();
const batch = { image, text, mask };
optimizerStep(model, opt, [batch], 1e-4); // warm-up
const steps = Number(flag('steps', '3'));
const g2 = globalThis as { __traceOn?: () => void; __traceDump?: () => void };
g2.__traceOn?.();
const t0 = performance.now();
for (let i = 0; i < steps; i++) optimizerStep(model, opt, [batch], 1e-4);
const dt = (performance.now() - t0) / steps;
g2.__traceDump?.();
console.log(`step: ${dt.toFixed(0)} ms for batch ${B} -> ${((1000 * B) / dt).toFixed(1)} samples/s`);
const t1 = performance.now();
tf.tidy(() => model.predict({ image, text }).dataSync());
console.log(`forward (eval): ${(performance.now() - t1).toFixed(0)} ms`);
const prof = await tf.profile(() => {
  optimizerStep(model, opt, [batch], 1e-4);
});
const byKernel = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.n++;
  byKernel.set(k.name, e);
}
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((a, [, e]) => a + e.ms, 0);
console.log(`kernels: ${prof.kernels.length} calls, ${total.toFixed(0)} ms kernel time`);
for (const [name, e] of rows.slice(0, 25)) console.log(`${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(6)} calls ${((100 * e.ms) / total).toFixed(1).padStart(5)}%`);
