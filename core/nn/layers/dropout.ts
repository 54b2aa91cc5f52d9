import type { Tensor } from '../../runtime/tf.js';
import { Module } from '../module.js';
import { dropout } from '../functional.js';
import type { Rng } from '../rng.js';

/** Inverted dropout in training; identity in eval or when p = 0. Seeded for reproducibility. */
export class Dropout extends Module {
  private readonly rng: Rng;
  /** Without a seed, one is drawn from the init generator, so every dropout site has its own stream. */
  constructor(
    public p = 0.5,
    seed?: number,
  ) {
    super();
    this.rng = this.randomStream('mask', seed);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p <= 0) return x;
    return dropout(x, this.p, this.rng.seed());
  }
}
