/**
 * Parameter initialisation with PyTorch's default rules, drawn from a seeded
 * generator so that a model built twice with the same seed is identical.
 */
import { tf, type Tensor } from '../runtime/tf.js';
import { Rng } from './rng.js';

let initRng = new Rng(0);

/** Reset the generator used by every layer constructor. */
export function seedInit(seed: number): void {
  initRng = new Rng(seed);
}

export function currentInitRng(): Rng {
  return initRng;
}

export function uniform(shape: number[], bound: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(initRng.fillUniform(n, -bound, bound), shape, 'float32');
}

export function normal(shape: number[], std: number, mean = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(initRng.fillNormal(n, mean, std), shape, 'float32');
}

/** Truncated normal in [-2std, 2std] (timm's trunc_normal_ with default a, b scaled). */
export function truncNormal(shape: number[], std: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = initRng.normal() * std;
    while (Math.abs(v) > 2 * std);
    out[i] = v;
  }
  return tf.tensor(out, shape, 'float32');
}

/** PyTorch's kaiming_uniform_(a=sqrt(5)) default for Linear/Conv weights: U(±1/sqrt(fan_in)). */
export function defaultWeight(shape: number[], fanIn: number): Tensor {
  return uniform(shape, 1 / Math.sqrt(fanIn));
}

export function defaultBias(n: number, fanIn: number): Tensor {
  return uniform([n], 1 / Math.sqrt(fanIn));
}
