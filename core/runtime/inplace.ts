/**
 * Writable views of a float32 tensor's own memory on backends that keep it in
 * JS-visible memory (wasm heap, cpu arrays), for updates that would otherwise
 * cost a dozen tensor ops per parameter (the optimiser step). Only for tensors
 * that own their data (variables): no other tensor may alias it.
 */
import { tf, type Tensor } from './tf.js';

interface WasmLike {
  typedArrayFromHeap(t: { dataId: object; shape: number[]; dtype: string }): Float32Array;
}
interface CpuLike {
  data: { get(id: object): { values?: Float32Array } };
}

/** A view valid until the next tensor allocation (the wasm heap may grow); undefined on other backends. */
export function mutableView(t: Tensor): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const name = tf.getBackend();
  const b = tf.backend() as unknown;
  if (name === 'wasm') return (b as WasmLike).typedArrayFromHeap({ dataId: t.dataId, shape: [...t.shape], dtype: 'float32' });
  if (name === 'cpu') {
    const v = (b as CpuLike).data.get(t.dataId)?.values;
    return v instanceof Float32Array ? v : undefined;
  }
  return undefined;
}

export function supportsInPlace(): boolean {
  return tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
}
