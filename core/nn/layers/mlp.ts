import type { Tensor } from '../../runtime/tf.js';
import { Module } from '../module.js';
import { Linear } from './linear.js';
import { gelu, quickGelu } from '../functional.js';
import { tf } from '../../runtime/tf.js';

export type Activation = 'gelu' | 'quick_gelu' | 'relu';

export function activate(x: Tensor, act: Activation): Tensor {
  return act === 'gelu' ? gelu(x) : act === 'quick_gelu' ? quickGelu(x) : tf.relu(x);
}

/** Two-layer MLP with PyTorch names of your choice (timm: fc1/fc2, CLIP: c_fc/c_proj). */
export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(
    inDim: number,
    hidden: number,
    outDim: number,
    readonly act: Activation = 'gelu',
    names: [string, string] = ['fc1', 'fc2'],
  ) {
    super();
    this.fc1 = this.child(names[0], new Linear(inDim, hidden));
    this.fc2 = this.child(names[1], new Linear(hidden, outDim));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.fc2.forward(activate(this.fc1.forward(x), this.act)));
  }
}
