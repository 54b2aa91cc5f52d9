/** Turning a pipeline batch into model inputs. */
import { tf, type Tensor } from '../runtime/tf.js';
import type { Batch } from '../data/contracts.js';

export function batchTensors(b: Batch, inputSize: number): { image: Tensor; text: Tensor; mask: Tensor } {
  const S = inputSize;
  const L = b.text.length / b.size;
  return {
    image: tf.tensor4d(b.image, [b.size, S, S, 3]),
    text: tf.tensor2d(b.text, [b.size, L], 'int32'),
    mask: tf.tensor4d(b.mask, [b.size, S, S, 1]),
  };
}
