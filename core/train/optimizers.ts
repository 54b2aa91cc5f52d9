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

  step(grads: Map<string, Tensor>, lr: number): void {
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
    for (const [name, m] of this.m) slots[name] = { exp_avg: Float32Array.from(m.dataSync() as Float32Array), exp_avg_sq: Float32Array.from(this.v.get(name)!.dataSync() as Float32Array) };
    return { step: this.t, slots };
  }

  importState(s: OptimizerState): void {
    this.t = s.step;
    const shapes = new Map(this.groups.flatMap((g) => g.params.map(([n, p]) => [n, p.variable] as const)));
    for (const [name, sl] of Object.entries(s.slots)) {
      const like = shapes.get(name);
      if (!like) continue; // parameter no longer trainable
      this.slot(this.m, name, like).assign(tf.tensor(sl.exp_avg!, like.shape));
      this.slot(this.v, name, like).assign(tf.tensor(sl.exp_avg_sq!, like.shape));
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
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
