/**
 * Child process for wasm-threads.test.ts (run with `node --import tsx`):
 * counts the worker threads the process creates and then simply ends, so the
 * parent can check that live XNNPACK threads do not keep a finished process
 * alive, and that a process that never selects wasm starts no worker.
 *
 *   threads  select wasm with 2 threads, run a matmul
 *   none     run ops on tfjs's default backend (wasm, auto-initialised), then select cpu
 *
 * Prints one JSON line: { mode, backend, threads, workersCreated }.
 */
import workerThreads from 'node:worker_threads';

let workersCreated = 0;
const Base = workerThreads.Worker;
(workerThreads as { Worker: typeof Base }).Worker = class CountingWorker extends Base {
  constructor(...args: ConstructorParameters<typeof Base>) {
    super(...args);
    workersCreated++;
  }
};

const mode = process.argv[2];
const { tf } = await import('./tf.js');
const { selectBackend } = await import('./backend.js');

let backend: string;
let threads: number;
if (mode === 'threads') {
  const r = await selectBackend('wasm', { threads: 2 });
  backend = r.backend;
  threads = r.threads;
  const c = tf.matMul(tf.ones([256, 256]), tf.ones([256, 256]));
  if (c.dataSync()[0] !== 256) throw new Error('matmul gave a wrong result');
  c.dispose();
} else if (mode === 'none') {
  // Without a selection, tfjs initialises its best registered backend: wasm, single-threaded build.
  await tf.ready();
  tf.tidy(() => tf.matMul(tf.ones([8, 8]), tf.ones([8, 8])).dataSync());
  const r = await selectBackend('cpu');
  backend = r.backend;
  threads = r.threads;
  tf.tidy(() => tf.matMul(tf.ones([8, 8]), tf.ones([8, 8])).dataSync());
} else {
  throw new Error(`wasm-threads.fixture: unknown mode "${mode}" (threads | none)`);
}
console.log(JSON.stringify({ mode, backend, threads, workersCreated }));
