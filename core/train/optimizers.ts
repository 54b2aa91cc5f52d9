/**
 * Optimisers with PyTorch 1.13 semantics (the parity fixtures' Adam step is
 * matched to float32 precision): Adam (L2 weight decay added to the
 * gradient) and AdamW (decoupled decay). State lives in tf.Variables and can
 * be saved to and restored from checkpoints by parameter name.
 */
import { Type, type Static } from '@sinclair/typebox';
import { tf, type Tensor, type Variable } from '../runtime/tf.js';
import type { Parameter } from '../nn/module.js';

import { definePlugin } from '../registry/manifest.js';

/** Backends whose tensors live in host memory, where a JS loop beats a dozen small ops. */
function hostMemoryBackend(): boolean {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu';
}

export interface ParamGroup {
  name: string;
  params: [string, Parameter][];
  /** Multiplier of the scheduled learning rate for this group. */
  lrMultiplier: number;
}

export interface OptimizerState {
  step: number;
  /** Per parameter name: moment tensors as flat float32 arrays. */
  slots: Record<string, Record<string, Float32Array>>;
}

export interface Optimizer {
  readonly groups: ParamGroup[];
  /** Apply one update with the given gradients (by parameter name) at learning rate `lr` (before group multipliers). */
  step(grads: Map<string, Tensor>, lr: number): void;
  readonly stepCount: number;
  exportState(): OptimizerState;
  importState(s: OptimizerState): void;
  dispose(): void;
}

export const AdamOptions = Type.Object(
  {
    lr: Type.Number({ exclusiveMinimum: 0, default: 1e-4, description: 'Base learning rate (official base_lr 1e-4).' }),
    betas: Type.Tuple([Type.Number({ minimum: 0, exclusiveMaximum: 1 }), Type.Number({ minimum: 0, exclusiveMaximum: 1 })], { default: [0.9, 0.999] }),
    eps: Type.Number({ exclusiveMinimum: 0, default: 1e-8 }),
    weightDecay: Type.Number({ minimum: 0, default: 0, description: 'Adam: L2 added to the gradient; AdamW: decoupled decay.' }),
  },
  { additionalProperties: false },
);
export type AdamOptions = Static<typeof AdamOptions>;

class AdamFamily implements Optimizer {
  private t = 0;
  private readonly m = new Map<string, Variable>();
  private readonly v = new Map<string, Variable>();
  constructor(
    readonly groups: ParamGroup[],
    readonly o: AdamOptions,
    readonly decoupled: boolean,
  ) {}

  get stepCount(): number {
    return this.t;
  }

  private slot(map: Map<string, Variable>, name: string, like: Tensor): Variable {
    let s = map.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      map.set(name, s);
    }
    return s;
  }

  /** Moments kept in JS memory by the in-place path (wasm, cpu). */
  private readonly mh = new Map<string, Float32Array>();
  private readonly vh = new Map<string, Float32Array>();

  step(grads: Map<string, Tensor>, lr: number): void {
    if (hostMemoryBackend() && !this.m.size) return this.stepOnHost(grads, lr);
    this.stepOps(grads, lr);
  }

  /**
   * The same arithmetic as `stepOps` (float32 at every operation, as PyTorch's
   * Adam) in one loop per parameter on host memory, then one assign: two tensor
   * operations per parameter instead of a dozen. (Parameters are replaced, not
   * mutated: the wasm backend caches XNNPACK operators with packed weights per
   * tensor, so a weight changed in place would keep being used stale.)
   */
  private stepOnHost(grads: Map<string, Tensor>, lr: number): void {
    this.t += 1;
    const f = Math.fround;
    const [b1, b2] = this.o.betas.map(f) as [number, number];
    // PyTorch computes 1 - beta in double, then the kernel sees it as float32.
    const c1 = f(1 - this.o.betas[0]);
    const c2 = f(1 - this.o.betas[1]);
    const bc1 = 1 - this.o.betas[0] ** this.t;
    const bc2sqrt = f(Math.sqrt(1 - this.o.betas[1] ** this.t));
    const eps = f(this.o.eps);
    const wd = f(this.o.weightDecay);
    for (const g of this.groups) {
      const glr = lr * g.lrMultiplier;
      const stepSize = f(glr / bc1);
      const decay = f(1 - glr * this.o.weightDecay);
      for (const [name, p] of g.params) {
        const grad0 = grads.get(name);
        if (!grad0) continue;
        const n = p.variable.size;
        let m = this.mh.get(name);
        let v = this.vh.get(name);
        if (!m) this.mh.set(name, (m = new Float32Array(n)));
        if (!v) this.vh.set(name, (v = new Float32Array(n)));
        const gv = grad0.dataSync() as Float32Array;
        const pv = Float32Array.from(p.variable.dataSync() as Float32Array);
        for (let i = 0; i < n; i++) {
          let gi = gv[i]!;
          let pi = pv[i]!;
          if (wd) {
            if (this.decoupled) pi = f(pi * decay);
            else gi = f(gi + f(pi * wd));
          }
          const mi = f(f(m[i]! * b1) + f(gi * c1));
          const vi = f(f(v[i]! * b2) + f(f(gi * gi) * c2));
          m[i] = mi;
          v[i] = vi;
          const denom = f(f(f(Math.sqrt(vi)) / bc2sqrt) + eps);
          pv[i] = f(pi - f(f(mi / denom) * stepSize));
        }
        tf.tidy(() => p.variable.assign(tf.tensor(pv, p.variable.shape, 'float32')));
      }
    }
  }

  private stepOps(grads: Map<string, Tensor>, lr: number): void {
    this.t += 1;
    const [b1, b2] = this.o.betas;
    const bc1 = 1 - b1 ** this.t;
    const bc2sqrt = Math.sqrt(1 - b2 ** this.t);
    const wd = this.o.weightDecay;
    for (const g of this.groups) {
      const glr = lr * g.lrMultiplier;
      for (const [name, p] of g.params) {
        const grad0 = grads.get(name);
        if (!grad0) continue; // PyTorch skips parameters whose .grad is None
        const m = this.slot(this.m, name, p.variable);
        const v = this.slot(this.v, name, p.variable);
        tf.tidy(() => {
          let grad = grad0;
          let param: Tensor = p.variable;
          if (wd) {
            if (this.decoupled) param = tf.mul(param, 1 - glr * wd);
            else grad = tf.add(grad, tf.mul(param, wd));
          }
          const mNew = tf.add(tf.mul(m, b1), tf.mul(grad, 1 - b1));
          const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), 1 - b2));
          const denom = tf.add(tf.div(tf.sqrt(vNew), bc2sqrt), this.o.eps);
          const update = tf.mul(tf.div(mNew, denom), glr / bc1);
          m.assign(mNew);
          v.assign(vNew);
          p.variable.assign(tf.sub(param, update));
        });
      }
    }
  }

  exportState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [name, m] of this.mh) slots[name] = { exp_avg: Float32Array.from(m), exp_avg_sq: Float32Array.from(this.vh.get(name)!) };
    for (const [name, m] of this.m) slots[name] = { exp_avg: Float32Array.from(m.dataSync() as Float32Array), exp_avg_sq: Float32Array.from(this.v.get(name)!.dataSync() as Float32Array) };
    return { step: this.t, slots };
  }

  importState(s: OptimizerState): void {
    this.t = s.step;
    const shapes = new Map(this.groups.flatMap((g) => g.params.map(([n, p]) => [n, p.variable] as const)));
    for (const [name, sl] of Object.entries(s.slots)) {
      const like = shapes.get(name);
      if (!like) continue; // parameter no longer trainable
      if (hostMemoryBackend() && !this.m.size) {
        this.mh.set(name, Float32Array.from(sl.exp_avg!));
        this.vh.set(name, Float32Array.from(sl.exp_avg_sq!));
        continue;
      }
      this.slot(this.m, name, like).assign(tf.tensor(sl.exp_avg!, like.shape));
      this.slot(this.v, name, like).assign(tf.tensor(sl.exp_avg_sq!, like.shape));
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
    this.mh.clear();
    this.vh.clear();
  }
}

export function createAdam(o: AdamOptions, groups: ParamGroup[]): Optimizer {
  return new AdamFamily(groups, o, false);
}

export function createAdamW(o: AdamOptions, groups: ParamGroup[]): Optimizer {
  return new AdamFamily(groups, o, true);
}

export interface OptimizerPlugin {
  baseLr: number;
  create(groups: ParamGroup[]): Optimizer;
}

export const adamPlugin = definePlugin({
  kind: 'optimizer',
  name: 'adam',
  description: 'Adam (PyTorch semantics, L2 weight decay); the official optimiser',
  schema: AdamOptions,
  create: (o: AdamOptions): OptimizerPlugin => ({ baseLr: o.lr, create: (groups) => createAdam(o, groups) }),
});

export const adamwPlugin = definePlugin({
  kind: 'optimizer',
  name: 'adamw',
  description: 'AdamW (PyTorch semantics, decoupled weight decay)',
  schema: Type.Object({ ...AdamOptions.properties, weightDecay: Type.Number({ minimum: 0, default: 0.01 }) }, { additionalProperties: false }),
  create: (o: AdamOptions): OptimizerPlugin => ({ baseLr: o.lr, create: (groups) => createAdamW(o, groups) }),
});
