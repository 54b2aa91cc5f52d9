/**
 * A leaner backward pass for tfjs-core 4.x: `engine.gradients` (behind
 * tf.grads, tf.variableGrads, ...) replaced by the same algorithm that frees
 * memory as it goes.
 *
 * tfjs's backpropagateGradients keeps the gradient of every intermediate
 * tensor, and every tensor saved for the backward pass, until the whole
 * backward pass is over: the peak of a training step is then all saved
 * activations plus one gradient per activation (the BarLeRIa ViT-B/16 step at
 * 416 px grew the 4 GiB wasm heap by over 2 GiB during its backward pass and
 * did not fit). Walking the tape in reverse, once a node's gradient function
 * has run, nothing needs that node's saved tensors nor the gradients of its
 * outputs (every consumer of an output comes later on the tape, so earlier in
 * the walk): here both are disposed right there, unless the gradient is one the
 * caller asked for (xs) or the seed `dy` the caller passed. Same node order,
 * same gradient functions, same accumulation order: bit-identical gradients.
 *
 * The engine internals used (state.activeTape, startTape/endTape, scopedRun,
 * tidy, node.saved/inputs/outputs/gradient) are those of tfjs-core 4.22;
 * tape.test.ts checks the results against tfjs's own implementation.
 */
import * as tf from '@tensorflow/tfjs-core';

type Tensor = tf.Tensor;

/** A node of the engine's gradient tape (tfjs-core 4.x internals). */
export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  saved?: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
}

/** The engine internals this module and core/nn/checkpoint.ts use (tfjs-core 4.x). */
export interface EngineLike {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; kernelDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean): { value: Tensor; grads: (Tensor | undefined)[] };
}

export const engineInternals = (): EngineLike => tf.engine() as unknown as EngineLike;

/** tfjs's getFilteredNodesXToY: the nodes on a path from xs to y, inputs pruned to those from xs. */
export function filteredNodes(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name]!.id)) {
        for (const o of node.outputs) fromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) toY.add(node.inputs[name]!.id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name]!.id)) inputs[name] = node.inputs[name]!;
    out.push({ ...node, inputs, outputs: node.outputs });
  }
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Gradients by tensor id; a tensor object stored under several ids is disposed only when the last one lets go. */
export class GradientMap {
  private readonly byId = new Map<number, Tensor>();
  private readonly uses = new Map<Tensor, number>();
  get(id: number): Tensor | undefined {
    return this.byId.get(id);
  }
  set(id: number, t: Tensor): void {
    const prev = this.byId.get(id);
    this.byId.set(id, t);
    this.uses.set(t, (this.uses.get(t) ?? 0) + 1);
    if (prev) this.release(prev);
  }
  /** Whether `t` is stored under some id. */
  holds(t: Tensor): boolean {
    return this.uses.has(t);
  }
  /** Forget id's gradient; dispose it if nothing else holds it. */
  drop(id: number): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    this.release(t);
  }
  private release(t: Tensor): void {
    const n = (this.uses.get(t) ?? 1) - 1;
    if (n > 0) this.uses.set(t, n);
    else {
      this.uses.delete(t);
      t.dispose();
    }
  }
}

/**
 * Reverse walk of `tape` accumulating gradients in `grads`; frees what each node no longer needs (see above).
 * `freeSaved` false (a gradient taken inside another's forward: higher-order gradients) keeps the saved
 * tensors: the outer backward pass may run these nodes' gradients again (tfjs frees them only at depth 0).
 */
export function backpropagate(grads: GradientMap, tape: TapeNode[], tidy: (f: () => Tensor) => Tensor, keep: Set<number>, freeSaved = true): void {
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const inputGradients = node.gradient(dys);
    for (const name in node.inputs) {
      if (!(name in inputGradients)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
      const dx = tidy(() => inputGradients[name]!());
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      const x = node.inputs[name]!;
      if (!sameShape(dx.shape, x.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      const cur = grads.get(x.id);
      grads.set(x.id, cur == null ? dx : tf.add(cur, dx)); // set() releases cur
      if (cur != null && !grads.holds(dx)) dx.dispose();
    }
    // Done with this node: the gradients of its outputs (unless asked for) and its saved tensors.
    for (const o of node.outputs) if (!keep.has(o.id)) grads.drop(o.id);
    if (freeSaved) for (const t of node.saved ?? []) t.dispose();
  }
}

let installed = false;

/** Replace the engine's `gradients` by the lean version (idempotent). */
export function installLeanBackprop(): void {
  if (installed) return;
  installed = true;
  const engine = engineInternals();
  engine.gradients = function gradients(this: EngineLike, f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients = false) {
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = this.scopedRun(
      () => this.startTape(),
      () => this.endTape(),
      () => this.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = filteredNodes(this.state.activeTape ?? [], xs, y);
    if (!allowNoGradients && tape.length === 0 && xs.length > 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return this.tidy('backward', () => {
      const grads = new GradientMap();
      grads.set(y.id, dy == null ? tf.ones(y.shape) : dy);
      backpropagate(grads, tape, (g) => this.tidy(g), new Set([y.id, ...xs.map((x) => x.id)]), this.state.gradientDepth === 0);
      const out = xs.map((x) => grads.get(x.id)!);
      if (this.state.gradientDepth === 0) {
        for (const node of this.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
        this.state.activeTape = null;
      }
      return { value: y, grads: out } as unknown as tf.TensorContainer;
    }) as unknown as { value: Tensor; grads: Tensor[] };
  } as EngineLike['gradients'];
}
