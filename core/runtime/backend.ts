/**
 * Backend selection. `auto` prefers native TensorFlow (tfjs-node-gpu, then
 * tfjs-node: optional dependencies whose install downloads libtensorflow and
 * may be absent), then wasm, then the pure-JS cpu backend, and reports why.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { tf } from './tf.js';
import { ConfigError } from '../errors.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendReport {
  backend: string;
  requested: BackendChoice;
  /** One line per candidate tried, in order. */
  reasons: string[];
  threads: number;
  versions: Record<string, string>;
}

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

/** Select and initialise a backend. Idempotent for the same choice. */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendReport> {
  if (!BACKEND_CHOICES.includes(choice)) throw new ConfigError(`runtime.backend: unknown backend "${choice}"; expected one of ${BACKEND_CHOICES.join(', ')}`);
  if (current && current.requested === choice && tf.getBackend() === current.backend) return current;
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
  try {
    tf.tidy(() => tf.matMul(a, b).dataSync()); // warm-up
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      tf.tidy(() => tf.matMul(a, b).dataSync());
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    return (2 * n * n * n) / (times[Math.floor(reps / 2)]! / 1000) / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}
