/**
 * Memory seen by the backward pass, for tests: an identity op whose gradient records
 * tf.memory() each time the backward pass reaches it.
 */
import { tf, type Tensor } from '../core/runtime/tf.js';

export interface MemoryProbe {
  /** Identity in the forward pass; records tf.memory() when its gradient runs. */
  probe(t: Tensor): Tensor;
  /** tf.memory() at each gradient call, in backward order. */
  readonly seen: { numTensors: number; numBytes: number }[];
}

export function memoryProbe(): MemoryProbe {
  const seen: { numTensors: number; numBytes: number }[] = [];
  const op = tf.customGrad(((t: Tensor) => ({
    value: tf.clone(t),
    gradFunc: (dy: Tensor) => {
      const m = tf.memory();
      seen.push({ numTensors: m.numTensors, numBytes: m.numBytes });
      return tf.clone(dy);
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return { probe: (t) => op(t) as Tensor, seen };
}
