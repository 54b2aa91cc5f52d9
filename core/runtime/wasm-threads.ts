/**
 * The multi-threaded tfjs wasm backend, in Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build (XNNPACK over an
 * emscripten pthread pool of web workers) but never uses it in Node:
 * 1. its `WASM_HAS_MULTITHREAD_SUPPORT` flag returns false when IS_NODE
 *    (tfjs issue #3830), so init() always picks the single-threaded build;
 * 2. forcing the flag on fails next: init()'s locateFile hands emscripten a
 *    blob: URL for the pthread worker script, and Node's worker_threads only
 *    takes file paths (ERR_WORKER_PATH);
 * 3. the worker's main script is a Blob of the bundled factory's toString(),
 *    which refers to bundle-scope helpers (require$$0, commonjsGlobal, tslib's
 *    __read...) that do not exist inside a worker;
 * 4. and even then the pool would have one thread on a 2-core machine:
 *    backend.cc caps the count at emscripten_num_logical_cores() / 2 (it
 *    assumes two hyperthreads per core), read once when the module starts.
 *
 * So this module starts the threaded build itself, with the emscripten
 * factory tfjs publishes (wasm-out/tfjs-backend-wasm-threaded-simd.js): a
 * worker script on disk (wasm-pthread-worker.cjs, which evaluates the worker
 * source tfjs ships), the glue file's own path as the workers' main script, an
 * `instantiateWasm` hook that reports 2·threads logical cores to the module, and
 * then wraps the module in tfjs's own `BackendWasm`, so every registered wasm
 * kernel (and ours from wasm-kernels.ts) runs unchanged. Nothing under
 * node_modules is modified.
 *
 * Process lifetime: emscripten refs a worker while it runs a pthread, and
 * XNNPACK's pool threads never return, so the running workers are unref'd
 * (a process that is done exits; Node then stops the workers). The idle part of
 * emscripten's fixed pool of 8 workers is terminated once the XNNPACK pool
 * exists (nothing creates threads after that).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import workerThreads, { type Worker as NodeWorker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** backend.cc caps XNNPACK's pool at 8 threads (emscripten pre-creates 8 workers). */
export const MAX_WASM_THREADS = 8;

const require = createRequire(import.meta.url);
const GLUE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
const WORKER_ENTRY = fileURLToPath(new URL('./wasm-pthread-worker.cjs', import.meta.url));

/** The parts of an emscripten pthread worker (a Node Worker plus emscripten's fields) touched here. */
interface PthreadWorker extends NodeWorker {
  onerror?: (e: unknown) => void;
}

interface ThreadedModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread: { unusedWorkers: PthreadWorker[]; runningWorkers: PthreadWorker[]; terminateAllThreads(): void };
  tfjs?: Record<string, (...a: number[]) => number>;
}

type Factory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

// The project's lib (ES2023, no DOM) types no WebAssembly JS API; the part used here:
type WasmModule = object;
type WasmInstance = object;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<WasmInstance>;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBufferLike };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface ThreadedWasm {
  /** tfjs's BackendWasm over the threaded module; register it as 'wasm'. */
  backend: tf.KernelBackend;
  /** Threads in XNNPACK's pool (the calling thread included). */
  threads: number;
  /** Start-up time: compile, 8 workers loaded, pool created. */
  startupMs: number;
}

export interface ThreadedWasmOptions {
  /** Give up (and fall back) if the pool's workers have not loaded by then. Default 60 s. */
  timeoutMs?: number;
  /** The pthread worker script (tests use a broken one to exercise the failure path). */
  workerEntry?: string;
}

let compiled: Promise<WasmModule> | undefined;

/** Why threaded wasm cannot work in this process (undefined if it can), from the synchronous checks. */
export function threadedWasmProblem(): string | undefined {
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
  try {
    const m = new WA.Memory({ initial: 1, maximum: 1, shared: true });
    if (!(m.buffer instanceof SharedArrayBuffer)) return 'shared WebAssembly.Memory is not backed by a SharedArrayBuffer';
  } catch (e) {
    return `shared WebAssembly.Memory is not supported (${(e as Error).message})`;
  }
  try {
    require.resolve(GLUE);
  } catch {
    return `${GLUE} not found (tfjs-backend-wasm layout changed?)`;
  }
  if (!existsSync(WORKER_ENTRY)) return `worker script ${WORKER_ENTRY} is missing`;
  return undefined;
}

/**
 * Start the threaded wasm module with `threads` XNNPACK threads and wrap it in
 * a BackendWasm. Rejects (and leaves no worker behind) if any step fails or
 * the workers do not load within `timeoutMs`.
 */
export async function createThreadedWasmBackend(threads: number, opts: ThreadedWasmOptions = {}): Promise<ThreadedWasm> {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new RangeError(`wasm threads must be an integer in [1, ${MAX_WASM_THREADS}], got ${threads}`);
  }
  const problem = threadedWasmProblem();
  if (problem) throw new Error(problem);
  const workerEntry = opts.workerEntry ?? WORKER_ENTRY;
  if (!existsSync(workerEntry)) throw new Error(`worker script ${workerEntry} is missing`);
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) throw new Error('WebAssembly SIMD is not supported (the threaded build is SIMD-only)');
  const t0 = performance.now();
  const gluePath = require.resolve(GLUE);
  const wasmPath = gluePath.replace(/\.js$/, '.wasm');
  if (!compiled) {
    const p = WA.compile(readFileSync(wasmPath));
    compiled = p;
    p.catch(() => (compiled = undefined));
  }
  const wasmModule = await compiled;
  const factory = require(gluePath) as Factory;

  let started = false;
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {}); // settles after start-up too (a late abort), when nobody awaits it
  let coresHooked = false;
  const config: Record<string, unknown> & { PThread?: ThreadedModule['PThread'] } = {
    locateFile: (file: string, prefix: string) => (file.endsWith('.worker.js') ? workerEntry : prefix + file),
    // Workers importScripts() this path (a Blob, as tfjs passes, cannot be loaded in Node).
    mainScriptUrlOrBlob: gluePath,
    instantiateWasm(imports: { env: Record<string, unknown> }, receive: (i: WasmInstance, m: WasmModule) => void) {
      // backend.cc: num_cores = emscripten_num_logical_cores() / 2, and the pool
      // is min(requested, 8, num_cores). Report 2·threads so it honours `threads`.
      for (const [k, f] of Object.entries(imports.env)) {
        if (typeof f === 'function' && f.name === '_emscripten_num_logical_cores') {
          imports.env[k] = () => 2 * threads;
          coresHooked = true;
        }
      }
      WA.instantiate(wasmModule, imports).then(
        (instance) => {
          receive(instance, wasmModule);
          // receive() gave every pooled worker emscripten's onerror, which throws
          // (an uncaught exception in the main thread); until start-up is done,
          // turn worker errors into a rejected start-up instead.
          for (const w of config.PThread?.unusedWorkers ?? []) {
            const original = w.onerror;
            w.onerror = (e) => (started ? original?.call(w, e) : fail(new Error(`pthread worker failed to load: ${(e as Error)?.message ?? e}`)));
          }
        },
        (e: Error) => fail(new Error(`instantiating ${wasmPath} failed: ${e.message}`)),
      );
      return {};
    },
    onAbort: (what: unknown) => fail(new Error(`the threaded module aborted: ${String(what)}`)),
  };

  const before = { u: process.listeners('uncaughtException'), r: process.listeners('unhandledRejection') };
  let ready: Promise<ThreadedModule>;
  let timer: NodeJS.Timeout | undefined;
  // The glue reads require('worker_threads').Worker once, inside this
  // synchronous call, and constructs workers with no options; for that call
  // only, make it a subclass that starts workers without the parent's
  // execArgv (under tsx or vitest each of the 8 workers would otherwise load
  // their loaders for a plain .cjs script: ~25 ms and memory apiece).
  const BaseWorker = workerThreads.Worker;
  const swapped = trySwapWorker(pthreadWorkerClass(BaseWorker));
  // The glue also sets globalThis.Worker (Node has none); it only needs it to
  // create the pool, during this call, so the global is put back afterwards.
  const hadGlobalWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  try {
    ready = factory(config);
  } finally {
    if (swapped) trySwapWorker(BaseWorker);
    if (hadGlobalWorker) Object.defineProperty(globalThis, 'Worker', hadGlobalWorker);
    else delete (globalThis as { Worker?: unknown }).Worker;
    // The glue installs process handlers that rethrow every uncaught exception
    // and unhandled rejection (for emscripten's exit()); they change how this
    // process reports errors and serve nothing here.
    for (const l of process.listeners('uncaughtException')) if (!before.u.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.r.includes(l)) process.removeListener('unhandledRejection', l);
  }
  ready.catch(() => {});
  // The pool's workers exist now (created synchronously by the factory); an
  // 'error' or early 'exit' before emscripten listens must not crash the process.
  for (const w of config.PThread?.unusedWorkers ?? []) {
    w.on('error', (e: Error) => !started && fail(new Error(`pthread worker failed: ${e.message}`)));
    w.on('exit', (code: number) => !started && fail(new Error(`pthread worker exited with code ${code} while loading`)));
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pthread workers did not load within ${timeoutMs} ms`)), timeoutMs);
  });

  let mod: ThreadedModule;
  try {
    mod = await Promise.race([ready, failed, timedOut]);
  } catch (e) {
    terminate(config.PThread);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  started = true;

  try {
    mod.tfjs = {
      init: mod.cwrap('init', null, []),
      initWithThreadsCount: mod.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: mod.cwrap('get_threads_count', 'number', []),
      registerTensor: mod.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: mod.cwrap('dispose_data', null, ['number']),
      dispose: mod.cwrap('dispose', null, []),
    };
    // BackendWasm's constructor calls init_with_threads_count(setThreadsCount's value).
    setThreadsCount(threads);
    const backend = new BackendWasm(mod as unknown as ConstructorParameters<typeof BackendWasm>[0]);
    const actual = mod.tfjs.getThreadsCount!();
    for (const w of mod.PThread.runningWorkers) w.unref();
    for (const w of mod.PThread.unusedWorkers.splice(0)) void w.terminate();
    if (actual !== threads) {
      backend.dispose();
      throw new Error(
        `XNNPACK started ${actual} thread${actual === 1 ? '' : 's'} instead of ${threads}` +
          (coresHooked ? '' : ' (the emscripten_num_logical_cores import was not found, so backend.cc capped the pool at logical cores / 2)'),
      );
    }
    return { backend, threads: actual, startupMs: performance.now() - t0 };
  } catch (e) {
    terminate(mod.PThread);
    throw e;
  }
}

type WorkerClass = typeof workerThreads.Worker;

function pthreadWorkerClass(Base: WorkerClass): WorkerClass {
  return class PthreadWorker extends Base {
    constructor(file: string | URL, options?: workerThreads.WorkerOptions) {
      super(file, { execArgv: [], ...options });
    }
  };
}

function trySwapWorker(cls: WorkerClass): boolean {
  try {
    (workerThreads as { Worker: WorkerClass }).Worker = cls;
    return workerThreads.Worker === cls;
  } catch {
    return false;
  }
}

function terminate(p: ThreadedModule['PThread'] | undefined): void {
  if (!p) return;
  try {
    p.terminateAllThreads();
  } catch {
    for (const w of [...p.unusedWorkers, ...p.runningWorkers]) void w.terminate();
  }
}
