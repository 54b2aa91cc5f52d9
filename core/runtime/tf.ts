/**
 * The one place the project imports tfjs-core. Importing this module gives the
 * core API with every gradient registered and the cpu and wasm backends
 * available (the backend is chosen later, by `selectBackend`).
 */
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './wasm-kernels.js';
import { installLeanBackprop } from './tape.js';

// tfjs-core's CommonJS bundle (what Node loads for the bare import) omits the
// gradient registrations; they exist only as per-file ES modules whose
// specifiers Node cannot resolve. A scoped resolve hook fixes that. The ES
// copy shares the engine and the registries with the CommonJS copy (tfjs keeps
// them on the global object) and tensors duck-type across copies.
if (!tf.getGradient('Conv2D')) {
  register(new URL('./tfjs-esm-resolve.mjs', import.meta.url));
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
}
// Silence tfjs's "install tfjs-node" banner; backend choice is reported by us.
tf.env().set('PROD', true);
registerWasmKernels();
installLeanBackprop();

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
