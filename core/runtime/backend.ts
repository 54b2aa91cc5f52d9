/**
 * Backend selection. `auto` prefers native TensorFlow (tfjs-node-gpu, then
 * tfjs-node: optional dependencies whose install downloads libtensorflow and
 * may be absent), then wasm, then the pure-JS cpu backend, and reports why.
 *
 * wasm threads: `threads` (option, else ZOO_WASM_THREADS, else 0 = all cores)
 * picks tfjs's single-threaded SIMD build for 1 and the threaded SIMD build
 * (wasm-threads.ts) otherwise; if the threaded build cannot start, the
 * single-threaded one is used and the reason is the report's first wasm line.
 * Changing the thread count replaces the 'wasm' backend: variables (module
 * parameters and buffers) on the old one are moved to the new one; other
 * tensors on it are released (the report says how many).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { tf } from './tf.js';
import { ConfigError } from '../errors.js';
import { createThreadedWasmBackend, MAX_WASM_THREADS, type ThreadedWasm } from './wasm-threads.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendReport {
  backend: string;
  requested: BackendChoice;
  /** One line per candidate tried, in order. */
  reasons: string[];
  /** Threads the backend computes with (wasm: XNNPACK's pool, calling thread included). */
  threads: number;
  /** Thread count asked for, after resolving 0 / the environment (wasm only). */
  requestedThreads?: number;
  /** Which tfjs wasm binary runs (wasm only). */
  wasmBuild?: 'simd' | 'threaded-simd';
  versions: Record<string, string>;
}

export interface SelectOptions {
  /**
   * wasm threads: 0 = all cores, 1 = tfjs's single-threaded SIMD build, n > 1 =
   * the threaded build with n threads (at most 8). Default: the ZOO_WASM_THREADS
   * environment variable, else 0. Ignored by the other backends.
   */
  threads?: number;
}

/** Environment variable that sets the default wasm thread count. */
export const THREADS_ENV = 'ZOO_WASM_THREADS';

const require = createRequire(import.meta.url);

function tryNative(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? String(e);
    return (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && msg.includes(pkg) ? 'not installed' : msg;
  }
}

function versionOf(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

let current: BackendReport | undefined;

export function currentBackend(): BackendReport | undefined {
  return current;
}

/** The thread count a wasm selection with these options uses (0 and the environment resolved, capped at 8). */
export function resolveWasmThreads(threads?: number): number {
  let n = threads;
  if (n === undefined) {
    const env = process.env[THREADS_ENV];
    if (env !== undefined && env.trim() !== '') {
      n = Number(env);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${THREADS_ENV}="${env}": expected a non-negative integer (0 = all cores)`);
    }
  }
  n ??= 0;
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`runtime.threads: expected a non-negative integer (0 = all cores), got ${n}`);
  if (n === 0) n = availableParallelism();
  return Math.max(1, Math.min(n, MAX_WASM_THREADS));
}

// tfjs's own 'wasm' factory (single-threaded build), captured before we ever replace it.
const tfjsWasmFactory = tf.findBackendFactory('wasm');
const WASM_PRIORITY = 2; // as tfjs-backend-wasm registers it
/** What the registered 'wasm' factory is: tfjs's (1 thread) or a threaded backend of n threads. */
let wasmRegistered: { threads: number; build: 'simd' | 'threaded-simd' } = { threads: 1, build: 'simd' };
/** Threaded start-up failures by thread count, so a process retries none. */
const threadedFailures = new Map<number, string>();
let startThreaded: typeof createThreadedWasmBackend = createThreadedWasmBackend;

/**
 * Tests only: replace the threaded start-up (e.g. with one that fails) and
 * forget remembered failures; call with no argument to restore the real one.
 */
export function setThreadedWasmStarterForTests(fn?: typeof createThreadedWasmBackend): void {
  startThreaded = fn ?? createThreadedWasmBackend;
  threadedFailures.clear();
}

/**
 * Register `next` as 'wasm' in place of the current one. Variables living on
 * an initialised previous 'wasm' backend move to `next` first; returns a note
 * when other tensors on it are released with it.
 */
function replaceWasm(next: tf.KernelBackend): string | undefined {
  const engine = tf.engine();
  const old = engine.registry['wasm'];
  let released = 0;
  if (old) {
    for (const v of Object.values(engine.state.registeredVariables)) {
      if (engine.state.tensorInfo.get(v.dataId)?.backend === old) engine.moveData(next, v.dataId);
    }
    released = old.numDataIds();
  }
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
  if (old) retire(old);
  tf.registerBackend('wasm', () => next, WASM_PRIORITY);
  return released ? `wasm: ${released} non-variable tensor${released === 1 ? '' : 's'} on the previous wasm backend released` : undefined;
}

/**
 * A disposed wasm backend crashes on any later call (its module is null).
 * Tensors released with it may still be disposed (a no-op) and fail clearly
 * when read or used.
 */
function retire(old: tf.KernelBackend): void {
  const gone = (): never => {
    throw new Error('this tensor lived on a wasm backend that selectBackend replaced when the thread count changed (only variables are carried over)');
  };
  Object.assign(old, {
    disposeData: () => true,
    refCount: () => 0,
    incRef: () => {},
    numDataIds: () => 0,
    readSync: gone,
    read: async () => gone(),
  });
}

/** Make the registered 'wasm' backend the variant for `threads`; returns notes for the report. */
async function prepareWasm(threads: number): Promise<string[]> {
  const notes: string[] = [];
  if (threads > 1 && wasmRegistered.build === 'threaded-simd' && wasmRegistered.threads === threads) return notes;
  if (threads > 1 && !threadedFailures.has(threads)) {
    let t: ThreadedWasm | undefined;
    try {
      t = await startThreaded(threads);
    } catch (e) {
      threadedFailures.set(threads, (e as Error).message);
    }
    if (t) {
      notes.push(`wasm: threaded SIMD build started with ${t.threads} threads in ${t.startupMs.toFixed(0)} ms`);
      const released = replaceWasm(t.backend);
      if (released) notes.push(released);
      wasmRegistered = { threads: t.threads, build: 'threaded-simd' };
      return notes;
    }
  }
  if (threads > 1) notes.push(`wasm: ${threads} threads unavailable (${threadedFailures.get(threads)}); using the single-threaded build`);
  if (wasmRegistered.build !== 'simd') {
    if (!tfjsWasmFactory) throw new ConfigError('runtime.backend "wasm": tfjs-backend-wasm registered no "wasm" backend');
    const released = replaceWasm(await tfjsWasmFactory());
    if (released) notes.push(released);
    wasmRegistered = { threads: 1, build: 'simd' };
  }
  return notes;
}

let selecting: Promise<unknown> = Promise.resolve();

/**
 * Select and initialise a backend. Idempotent for the same choice and thread
 * count. See SelectOptions for wasm threads. Concurrent calls run one after
 * the other (a wasm variant change must not interleave with another).
 */
export function selectBackend(choice: BackendChoice = 'auto', opts: SelectOptions = {}): Promise<BackendReport> {
  const run = selecting.then(() => select(choice, opts));
  selecting = run.catch(() => {});
  return run;
}

async function select(choice: BackendChoice, opts: SelectOptions): Promise<BackendReport> {
  if (!BACKEND_CHOICES.includes(choice)) throw new ConfigError(`runtime.backend: unknown backend "${choice}"; expected one of ${BACKEND_CHOICES.join(', ')}`);
  const wantThreads = choice === 'auto' || choice === 'wasm' ? resolveWasmThreads(opts.threads) : undefined;
  if (current && current.requested === choice && tf.getBackend() === current.backend && (current.backend !== 'wasm' || current.requestedThreads === wantThreads)) return current;
  const reasons: string[] = [];
  const candidates: string[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  let chosen: string | undefined;
  for (const c of candidates) {
    if (c === 'tensorflow') {
      let ok = false;
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        const err = tryNative(pkg);
        if (err === undefined && tf.findBackend('tensorflow')) {
          reasons.push(`${pkg}: loaded`);
          ok = true;
          break;
        }
        reasons.push(`${pkg}: ${err ?? 'loaded but registered no "tensorflow" backend'}`);
      }
      if (!ok) continue;
    }
    try {
      if (c === 'wasm') reasons.push(...(await prepareWasm(wantThreads!)));
      if (await tf.setBackend(c)) {
        await tf.ready();
        chosen = c;
        reasons.push(`${c}: initialised`);
        break;
      }
      reasons.push(`${c}: failed to initialise`);
    } catch (e) {
      reasons.push(`${c}: ${(e as Error).message}`);
    }
  }
  if (!chosen) {
    throw new ConfigError(`runtime.backend "${choice}" is not available:\n  ${reasons.join('\n  ')}`);
  }
  const versions: Record<string, string> = { node: process.versions.node };
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    const v = versionOf(p);
    if (v) versions[p] = v;
  }
  const threads = chosen === 'wasm' ? wasmThreads() : chosen === 'tensorflow' ? availableParallelism() : 1;
  current = { backend: chosen, requested: choice, reasons, threads, versions };
  if (chosen === 'wasm') {
    current.requestedThreads = wantThreads;
    current.wasmBuild = wasmRegistered.build;
  }
  return current;
}

function wasmThreads(): number {
  const b = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } };
  try {
    return b.wasm?.tfjs?.getThreadsCount?.() ?? 1;
  } catch {
    return 1;
  }
}

/** Dense matmul throughput of the current backend, in GFLOP/s (median of a few runs). */
export function matmulGflops(n = 512, reps = 5): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  // Not tf.tidy(() => ....dataSync()): tidy walks a returned TypedArray element
  // by element looking for tensors (~50 ms at n = 512, ~0.6 s at 1024), which
  // swamped the matmul itself.
  const run = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  try {
    run(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      run();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    return (2 * n * n * n) / (times[Math.floor(reps / 2)]! / 1000) / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}
