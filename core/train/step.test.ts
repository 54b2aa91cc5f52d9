/**
 * Training-step guarantees on every backend: a net mixing the layer kinds the
 * models use trains with equal losses on wasm and cpu, and the tensor count is
 * flat over 50 steps (memory discipline).
 */
import { describe, expect, it } from 'vitest';
import { tf, type Tensor } from '../runtime/tf.js';
import { selectBackend } from '../runtime/backend.js';
import { Module } from '../nn/module.js';
import { seedInit } from '../nn/init.js';
import { Rng } from '../nn/rng.js';
import { Conv2d } from '../nn/layers/conv2d.js';
import { ConvTranspose2d } from '../nn/layers/conv-transpose2d.js';
import { MultiheadAttention } from '../nn/layers/multihead-attention.js';
import { LayerNorm } from '../nn/layers/layer-norm.js';
import { BatchNorm2d } from '../nn/layers/batch-norm2d.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Linear } from '../nn/layers/linear.js';
import { gelu } from '../nn/functional.js';
import { interpolate } from '../nn/resize.js';
import { createAdam } from './optimizers.js';

class MixedNet extends Module {
  // No bias before BatchNorm: it cannot change the output, so its gradient is pure rounding noise
  // that Adam's first step would turn into ±lr updates differing between backends.
  readonly conv = this.child('conv', new Conv2d(3, 8, 3, { stride: 2, padding: 1, bias: false }));
  readonly bn = this.child('bn', new BatchNorm2d(8));
  readonly up = this.child('up', new ConvTranspose2d(8, 8, 3, { stride: 2, padding: 1, outputPadding: 1 }));
  readonly emb = this.child('emb', new Embedding(20, 8));
  readonly attn = this.child('attn', new MultiheadAttention(8, 2));
  readonly ln = this.child('ln', new LayerNorm(8));
  readonly out = this.child('out', new Linear(8, 1));
  forward(img: Tensor, ids: Tensor): Tensor {
    const [B] = img.shape as [number];
    const f = gelu(this.bn.forward(this.conv.forward(img))); // [B, 4, 4, 8]
    const g = interpolate(this.up.forward(f), [6, 6], 'bilinear'); // [B, 6, 6, 8]
    const tokens = tf.reshape(g, [B, 36, 8]);
    const words = this.emb.forward(ids); // [B, L, 8]
    const x = this.ln.forward(tf.add(tokens, this.attn.forward(tokens, words, words)));
    return this.out.forward(x); // [B, 36, 1]
  }
}

function data(seed: number) {
  const r = new Rng(seed);
  return {
    img: tf.tensor4d(r.fillNormal(2 * 8 * 8 * 3), [2, 8, 8, 3]),
    ids: tf.tensor2d(Int32Array.from({ length: 10 }, () => r.int(20)), [2, 5], 'int32'),
    target: tf.tensor3d(r.fillNormal(2 * 36), [2, 36, 1]),
  };
}

async function trainLosses(backend: 'cpu' | 'wasm', steps: number): Promise<number[]> {
  await selectBackend(backend);
  seedInit(11);
  const net = new MixedNet();
  const { img, ids, target } = data(5);
  const params = net.trainableParameters();
  const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [{ name: 'all', params, lrMultiplier: 1 }]);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(net.forward(img, ids), target))) as tf.Scalar, params.map(([, p]) => p.variable));
    losses.push(value.dataSync()[0]!);
    const byName = new Map(params.map(([n, p]) => [n, grads[p.variable.name]!]));
    adam.step(byName, 1e-3);
    value.dispose();
    tf.dispose(grads);
  }
  adam.dispose();
  net.dispose();
  tf.dispose([img, ids, target]);
  return losses;
}

describe('training steps', () => {
  it('a net mixing conv, transposed conv, attention, LayerNorm, BatchNorm, GELU, embedding and bilinear resize: same losses on wasm and cpu', async () => {
    const cpu = await trainLosses('cpu', 6);
    const wasm = await trainLosses('wasm', 6);
    expect(cpu[5]!).toBeLessThan(cpu[0]!);
    cpu.forEach((l, i) => expect(Math.abs(l - wasm[i]!), `step ${i}: cpu ${l} wasm ${wasm[i]}`).toBeLessThan(1e-4));
  });

  it('the tensor count is flat over 50 training steps (wasm)', async () => {
    await selectBackend('wasm');
    seedInit(2);
    const net = new MixedNet();
    const { img, ids, target } = data(9);
    const params = net.trainableParameters();
    const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [{ name: 'all', params, lrMultiplier: 1 }]);
    const counts: number[] = [];
    for (let s = 0; s < 50; s++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(net.forward(img, ids), target))) as tf.Scalar, params.map(([, p]) => p.variable));
        adam.step(new Map(params.map(([n, p]) => [n, grads[p.variable.name]!])), 1e-3);
        value.dispose();
      });
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size, `tensor counts ${counts.join(',')}`).toBe(1);
    adam.dispose();
    net.dispose();
    tf.dispose([img, ids, target]);
  });
});
