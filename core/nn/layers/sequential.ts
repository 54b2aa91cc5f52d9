import type { Tensor } from '../../runtime/tf.js';
import { Module } from '../module.js';

/** A module with a single-tensor forward, the unit Sequential composes. */
export interface Forward {
  forward(x: Tensor): Tensor;
}

/** Children named "0", "1", ... as in PyTorch; forward threads x through them. */
export class Sequential extends Module {
  readonly layers: (Module & Forward)[];
  constructor(...layers: (Module & Forward)[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.child(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) y = l.forward(y);
    return y;
  }
}

/** An indexed list of modules ("0", "1", ...) without a forward of its own. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
}
