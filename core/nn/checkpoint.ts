/**
 * Activation checkpointing (recomputation) for tfjs training: `y = fn(x)`
 * keeps only `x` for the backward pass; when the gradient reaches `y`, `fn` is
 * run again under a tape and differentiated. Memory for a stack of blocks
 * drops from every block's saved activations to one block's (a ViT-B/16
 * block at 416 px keeps ~160 MB per sample for its backward), at the price of
 * one more forward of `fn`. The gradients are those of the plain call: the
 * same kernels run on the same inputs.
 *
 * Requirements on `fn`: deterministic (no dropout or other random op: the
 * recomputation must see the same values), and the only tensors it reads that
 * were made before the call are `x`, variables and the `constants` given
 * (masks: no gradient flows into those). Which trainable variables it reads is
 * found once per Checkpoint (a first call runs `fn` under a private tape and
 * looks at its inputs); anything else it reads (a tensor computed from
 * parameters outside `fn`) would lose its gradient, so then the Checkpoint
 * runs `fn` plainly from then on and says why in `fallback`.
 *
 * tfjs has no nested-gradient support for this: `engine.gradients` called
 * inside a backward pass replaces the engine's active tape. The private tapes
 * here are set up and the outer tape put back around each use (engine state
 * of tfjs-core 4.x: `state.activeTape`, `state.gradientDepth`,
 * `state.kernelDepth`).
 */
import { tf, type Tensor, type Variable } from '../runtime/tf.js';
import { engineInternals as engine, type TapeNode } from '../runtime/tape.js';

/** Whether ops run now are recorded for a gradient (tf.grads / variableGrads forward, outside kernels). */
export function recordingGradients(): boolean {
  const s = engine().state;
  return s.gradientDepth > 0 && s.kernelDepth === 0;
}

export type RecomputePolicy = 'auto' | 'on' | 'off';

/** Whether a stack that would keep `bytes` for the backward pass recomputes: `on`, or `auto` above `autoBytes`. */
export function shouldRecompute(policy: RecomputePolicy, bytes: number, autoBytes: number): boolean {
  return policy === 'on' || (policy === 'auto' && bytes > autoBytes);
}

/** Recomputation (or the first call's discovery forward) in progress: benchmarks read it to tell recomputed FLOPs from the model's. */
export const recomputation = { depth: 0 };

/** Run `f` with a fresh tape of its own; the caller's tape is put back afterwards. Returns f's value and the tape. */
function withPrivateTape<T>(f: () => T): { value: T; tape: TapeNode[] } {
  const s = engine().state;
  const outer = s.activeTape;
  s.activeTape = [];
  try {
    const value = f();
    return { value, tape: s.activeTape ?? [] };
  } finally {
    s.activeTape = outer;
  }
}

export class Checkpoint {
  /** Trainable variables `fn` reads (found by the first recorded call). */
  private vars?: Variable[];
  /** Why checkpointing is off for this call site (set once; then `fn` runs plainly). */
  fallback?: string;

  constructor(readonly name = 'checkpoint') {}

  /** y = fn(x), checkpointed when a gradient is being recorded, else a plain call. */
  run(fn: (x: Tensor) => Tensor, x: Tensor, constants: readonly (Tensor | undefined)[] = []): Tensor {
    return this.runMany((xs) => fn(xs[0]!), [x], constants);
  }

  /**
   * y = fn(inputs), checkpointed: every input is kept and receives a gradient
   * (pass tensors computed from parameters outside `fn` as inputs).
   */
  runMany(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], constants: readonly (Tensor | undefined)[] = []): Tensor {
    if (!recordingGradients() || this.fallback) return fn(inputs);
    if (!this.vars) {
      this.discover(fn, inputs, constants);
      if (this.fallback) return fn(inputs);
    }
    const vars = this.vars!;
    const n = inputs.length;
    const call = tf.customGrad(((...args: unknown[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const xs = args.slice(0, n) as Tensor[];
      const value = fn(xs);
      save(xs);
      return { value, gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => this.backward(fn, saved, vars, Array.isArray(dy) ? dy[0]! : dy) };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return call(...inputs, ...vars);
  }

  private discover(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], constants: readonly (Tensor | undefined)[]): void {
    const mark = tf.scalar(0);
    const firstInside = mark.id;
    mark.dispose();
    const ins = new Set(inputs.map((t) => t.id));
    const consts = new Set(constants.filter((t): t is Tensor => !!t).map((t) => t.id));
    const vars = new Map<number, Variable>();
    let problem: string | undefined;
    recomputation.depth++; // an extra forward, not the model's
    tf.tidy(() => {
      const { value, tape } = withPrivateTape(() => fn(inputs));
      const produced = new Set<number>();
      for (const n of tape) for (const o of n.outputs) produced.add(o.id);
      for (const n of tape) {
        for (const t of Object.values(n.inputs)) {
          if (!t || ins.has(t.id) || produced.has(t.id) || consts.has(t.id)) continue;
          if (t instanceof tf.Variable) {
            if (t.trainable) vars.set(t.id, t);
            continue;
          }
          if (t.id >= firstInside || t.dtype !== 'float32') continue; // made inside fn (constants of ops) or not differentiable
          problem ??= `${this.name}: reads a float tensor [${t.shape}] made outside it that is neither an input, a variable nor a declared constant; running it without recomputation`;
        }
      }
      for (const n of tape) for (const t of n.saved ?? []) t.dispose();
      value.dispose();
    });
    recomputation.depth--;
    if (problem) this.fallback = problem;
    else this.vars = [...vars.values()];
  }

  private backward(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], vars: Variable[], dy: Tensor): Tensor[] {
    const s = engine().state;
    const outer = s.activeTape;
    const depth = s.gradientDepth;
    try {
      s.gradientDepth = 0; // engine.gradients starts a fresh tape only at depth 0
      const xs = [...inputs, ...vars];
      recomputation.depth++;
      const { value, grads } = engine().gradients(
        () => {
          try {
            return fn(inputs);
          } finally {
            recomputation.depth--; // the backward of the recomputed forward is the model's own
          }
        },
        xs,
        dy,
        true,
      );
      value.dispose();
      return xs.map((t, i) => grads[i] ?? tf.zerosLike(t));
    } finally {
      s.activeTape = outer;
      s.gradientDepth = depth;
    }
  }
}
