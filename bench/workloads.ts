/**
 * Workloads of bench/wasm-threads.ts: seeded inputs and a CLIP-style
 * residual attention block built from the project's own layers
 * (x + attn(ln_1(x)); x + c_proj(quickGelu(c_fc(ln_2(x))))), ViT-S sized by
 * default (width 384, 6 heads, 197 tokens, batch 2).
 */
import { tf, type Tensor } from '../core/runtime/tf.js';
import { Module } from '../core/nn/module.js';
import { seedInit } from '../core/nn/init.js';
import { LayerNorm } from '../core/nn/layers/layer-norm.js';
import { Linear } from '../core/nn/layers/linear.js';
import { MultiheadAttention } from '../core/nn/layers/multihead-attention.js';
import { quickGelu } from '../core/nn/functional.js';

export const BLOCK = { batch: 2, tokens: 197, width: 384, heads: 6 };

export function seeded(shape: number[], seed: number, scale = 1): Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
}

/** Run `f`, read its result(s) out and dispose them (not via tf.tidy's return value: tidy walks typed arrays element by element). */
export function readOut(f: () => Tensor | Tensor[]): Float32Array[] {
  const out = f();
  const list = Array.isArray(out) ? out : [out];
  const data = list.map((t) => t.dataSync() as Float32Array);
  for (const t of list) t.dispose();
  return data;
}

export class ResidualBlock extends Module {
  readonly ln1: LayerNorm;
  readonly attn: MultiheadAttention;
  readonly ln2: LayerNorm;
  readonly fc: Linear;
  readonly proj: Linear;
  constructor(width = BLOCK.width, heads = BLOCK.heads, seed = 100) {
    super();
    seedInit(seed);
    this.ln1 = this.child('ln_1', new LayerNorm(width));
    this.attn = this.child('attn', new MultiheadAttention(width, heads));
    this.ln2 = this.child('ln_2', new LayerNorm(width));
    const mlp = this.child('mlp', new Module());
    this.fc = mlp.child('c_fc', new Linear(width, 4 * width));
    this.proj = mlp.child('c_proj', new Linear(4 * width, width));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = tf.add(x, this.attn.selfAttention(this.ln1.forward(x)));
      return tf.add(y, this.proj.forward(quickGelu(this.fc.forward(this.ln2.forward(y)))));
    });
  }
}

/** Loss mean(block(x)²) and its gradients w.r.t. every parameter: [loss, ...grads]. */
export function blockForwardBackward(block: ResidualBlock, x: Tensor): Tensor[] {
  const vars = block.parameters().map((p) => p.variable);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(block.forward(x))) as tf.Scalar, vars);
  return [value, ...vars.map((v) => grads[v.name]!)];
}
