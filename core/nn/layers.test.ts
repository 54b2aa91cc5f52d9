/**
 * Every layer against PyTorch reference values (test/reference/layers.safetensors,
 * made by scripts/reference/make_layer_refs.py): outputs, input and parameter
 * gradients, BatchNorm running statistics, on the cpu and wasm backends.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import { tf, type Tensor } from '../runtime/tf.js';
import { selectBackend } from '../runtime/backend.js';
import { readSafetensors } from '../io/safetensors.js';
import { Module, rawToTensor, toTorchLayout } from './module.js';
import { Linear } from './layers/linear.js';
import { Conv2d } from './layers/conv2d.js';
import { ConvTranspose2d } from './layers/conv-transpose2d.js';
import { LayerNorm } from './layers/layer-norm.js';
import { BatchNorm2d } from './layers/batch-norm2d.js';
import { MultiheadAttention } from './layers/multihead-attention.js';
import { Embedding } from './layers/embedding.js';
import { bceWithLogits, gelu, quickGelu } from './functional.js';
import { interpolate, type ResizeMode } from './resize.js';
import { ROOT } from '../../test/fixtures.js';

const ref = readSafetensors(join(ROOT, 'test/reference/layers.safetensors'));
const cases = JSON.parse(ref.metadata.cases!) as Record<string, Record<string, unknown>>;
const nchwToNhwc = (t: Tensor) => (t.rank === 4 ? tf.transpose(t, [0, 2, 3, 1]) : t);
const nhwcToNchw = (t: Tensor) => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t);

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function load(name: string): Tensor {
  return rawToTensor(ref.get(name));
}

type Fwd = (ins: Record<string, Tensor>) => Tensor;

function build(c: Record<string, unknown>): { module?: Module; fwd: (m: Module | undefined) => Fwd; image: boolean } {
  const n = (k: string) => c[k] as number;
  switch (c.type) {
    case 'Linear': {
      const m = new Linear(n('in'), n('out'), { bias: c.bias !== false });
      return { module: m, fwd: () => (i) => m.forward(i.x!), image: false };
    }
    case 'Conv2d': {
      const m = new Conv2d(n('in'), n('out'), c.k as number, { stride: c.stride as number, padding: c.padding as number, dilation: c.dilation as number, groups: c.groups as number, bias: c.bias !== false });
      return { module: m, fwd: () => (i) => m.forward(i.x!), image: true };
    }
    case 'ConvTranspose2d': {
      const m = new ConvTranspose2d(n('in'), n('out'), c.k as number, { stride: c.stride as number, padding: c.padding as number, outputPadding: c.outputPadding as number, bias: c.bias !== false });
      return { module: m, fwd: () => (i) => m.forward(i.x!), image: true };
    }
    case 'LayerNorm': {
      const m = new LayerNorm(n('dim'), n('eps'));
      return { module: m, fwd: () => (i) => m.forward(i.x!), image: false };
    }
    case 'BatchNorm2d': {
      const m = new BatchNorm2d(n('channels'));
      m.train(c.train as boolean);
      return { module: m, fwd: () => (i) => m.forward(i.x!), image: true };
    }
    case 'MultiheadAttention': {
      const m = new MultiheadAttention(n('E'), n('heads'), { kdim: c.kdim as number, vdim: c.vdim as number, batchFirst: c.batchFirst as boolean });
      return {
        module: m,
        fwd: () => (i) => {
          if (!i.kpm) return m.forward(i.q!, i.k!, i.v!);
          const am = tf.where(tf.isInf(i.am!), tf.fill(i.am!.shape, -Infinity), tf.zerosLike(i.am!));
          return m.forward(i.q!, i.k!, i.v!, { keyPaddingMask: tf.cast(i.kpm, 'bool'), attnMask: am });
        },
        image: false,
      };
    }
    case 'Embedding': {
      const m = new Embedding(n('num'), n('dim'));
      return { module: m, fwd: () => (i) => m.forward(tf.cast(i.ids!, 'int32')), image: false };
    }
    case 'gelu':
      return { fwd: () => (i) => gelu(i.x!), image: false };
    case 'quick_gelu':
      return { fwd: () => (i) => quickGelu(i.x!), image: false };
    case 'bce':
      return { fwd: () => (i) => tf.reshape(bceWithLogits(i.x!, i.t!), [1]), image: false };
    case 'interpolate':
      return { fwd: () => (i) => interpolate(i.x!, c.size as [number, number], c.mode as ResizeMode, c.alignCorners as boolean), image: true };
  }
  throw new Error(`unknown case type ${String(c.type)}`);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`layers vs PyTorch on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend);
    });
    for (const [name, c] of Object.entries(cases)) {
      it(name, () => {
        const before = tf.memory().numTensors;
        const { module, fwd, image } = build(c);
        if (module) {
          const dict = new Map<string, Tensor>();
          for (const key of ref.names) if (key.startsWith(`${name}/param/`)) dict.set(key.slice(name.length + 7), load(key));
          module.loadStateDict(dict);
          dict.forEach((t) => t.dispose());
        }
        const inNames = ref.names.filter((k) => k.startsWith(`${name}/in/`) && !k.endsWith('/r')).map((k) => k.slice(name.length + 4));
        const inputs: Record<string, tf.Variable> = {};
        for (const k of inNames) {
          const raw = ref.get(`${name}/in/${k}`);
          const t = tf.tidy(() => (image ? nchwToNhwc(rawToTensor(raw)) : rawToTensor(raw)));
          inputs[k] = tf.variable(t, raw.dtype === 'float32' && ref.has(`${name}/grad/${k}`));
          t.dispose();
        }
        const f = fwd(module)!;
        const r = tf.tidy(() => (image ? nchwToNhwc(load(`${name}/in/r`)) : load(`${name}/in/r`)));
        const params = module ? [...module.namedParameters()] : [];
        const vars = [...params.map(([, p]) => p.variable), ...Object.values(inputs).filter((v) => v.trainable)];
        let yOut: Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const y = f(inputs);
          yOut = tf.keep(y.clone());
          return tf.sum(tf.mul(y, r)) as tf.Scalar;
        }, vars);
        const yRef = load(`${name}/out/y`);
        const y = image ? nhwcToNchw(yOut!) : yOut!;
        const scale = (t: Tensor) => Math.max(1, tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!));
        expect(maxAbsDiff(y, yRef), `${name} output`).toBeLessThan(1e-5 * scale(yRef));
        for (const [pn, p] of params) {
          const gRef = load(`${name}/grad/${pn}`);
          const g = tf.tidy(() => toTorchLayout(grads[p.variable.name]!, p.layout));
          expect(maxAbsDiff(g, gRef), `${name} grad ${pn}`).toBeLessThan(1e-4 * scale(gRef));
          g.dispose();
          gRef.dispose();
        }
        for (const [k, v] of Object.entries(inputs)) {
          if (!v.trainable || !ref.has(`${name}/grad/${k}`)) continue;
          const gRef = load(`${name}/grad/${k}`);
          const g = image ? nhwcToNchw(grads[v.name]!) : grads[v.name]!;
          expect(maxAbsDiff(g, gRef), `${name} grad ${k}`).toBeLessThan(1e-4 * scale(gRef));
          gRef.dispose();
          if (g !== grads[v.name]) g.dispose();
        }
        if (module instanceof BatchNorm2d) {
          for (const s of ['running_mean', 'running_var']) {
            const st = module.stateDict();
            const sRef = load(`${name}/state/${s}`);
            expect(maxAbsDiff(st.get(s)!, sRef), `${name} ${s}`).toBeLessThan(1e-6);
            st.forEach((t) => t.dispose());
            sRef.dispose();
          }
        }
        value.dispose();
        Object.values(grads).forEach((g) => g.dispose());
        yRef.dispose();
        r.dispose();
        yOut!.dispose();
        if (y !== yOut) y.dispose();
        Object.values(inputs).forEach((v) => v.dispose());
        module?.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}
