import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from './tf.js';
import { resolveWasmThreads, selectBackend, setThreadedWasmStarterForTests, THREADS_ENV } from './backend.js';
import { createThreadedWasmBackend, MAX_WASM_THREADS } from './wasm-threads.js';
import { ConfigError } from '../errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./wasm-threads.fixture.ts', import.meta.url));

function seeded(shape: number[], seed: number, scale = 1): Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
}

/** Read results out and dispose them (tf.tidy's return path walks typed arrays element by element). */
function readOut(f: () => Tensor | Tensor[]): Float32Array[] {
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = list.map((t) => t.dataSync() as Float32Array);
  for (const t of list) t.dispose();
  return data;
}

/** Matmuls (odd sizes, batched), convs, conv gradients and an attention + MLP loss with its gradients. */
function workloads(): Record<string, Float32Array[]> {
  const before = tf.memory().numTensors;
  const r: Record<string, Float32Array[]> = {
    matmul: readOut(() => tf.matMul(seeded([300, 517], 1), seeded([517, 263], 2))),
    matmul512: readOut(() => tf.matMul(seeded([512, 512], 3), seeded([512, 512], 4))),
    batchMatmul: readOut(() => tf.matMul(seeded([6, 97, 64], 5), seeded([6, 97, 64], 6), false, true)),
    conv: readOut(() => tf.conv2d(seeded([2, 28, 28, 32], 7) as tf.Tensor4D, seeded([3, 3, 32, 48], 8, 0.1) as tf.Tensor4D, 1, 'same')),
    convStride2: readOut(() => tf.conv2d(seeded([2, 28, 28, 32], 7) as tf.Tensor4D, seeded([3, 3, 32, 48], 8, 0.1) as tf.Tensor4D, 2, 'valid')),
    convGrads: readOut(() => {
      const w = seeded([2, 20, 20, 24], 11);
      const f = (x: Tensor, k: Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 'same'), w));
      return tf.grads(f)([seeded([2, 20, 20, 16], 9), seeded([3, 3, 16, 24], 10, 0.1)]);
    }),
    attentionGrads: readOut(() => {
      const [B, L, C, H] = [2, 50, 64, 4];
      const D = C / H;
      const loss = (x: Tensor, wqkv: Tensor, w1: Tensor, w2: Tensor) => {
        const qkv = tf.transpose(tf.reshape(tf.matMul(tf.reshape(x, [B * L, C]), wqkv), [B, L, 3, H, D]), [2, 0, 3, 1, 4]);
        const [q, k, v] = tf.unstack(qkv).map((t) => tf.reshape(t, [B * H, L, D])) as [Tensor, Tensor, Tensor];
        const o = tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D))), v);
        const y = tf.add(x, tf.reshape(tf.transpose(tf.reshape(o, [B, H, L, D]), [0, 2, 1, 3]), [B, L, C]));
        const m = tf.matMul(tf.relu(tf.matMul(tf.reshape(y, [B * L, C]), w1)), w2);
        return tf.mean(tf.square(m));
      };
      const { value, grads } = tf.valueAndGrads(loss)([seeded([B, L, C], 12), seeded([C, 3 * C], 13, 0.1), seeded([C, 4 * C], 14, 0.1), seeded([4 * C, C], 15, 0.05)]);
      return [value, ...grads];
    }),
  };
  expect(tf.memory().numTensors).toBe(before);
  return r;
}

/** Largest |a - b| relative to the largest |a| of each output. */
function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(b.length).toBe(a.length);
  let worst = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    expect(y.length).toBe(x.length);
    let scale = 0;
    for (const v of x) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j]! - y[j]!) / (scale || 1));
  });
  return worst;
}

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from the child's last output line to its exit. */
  exitLagMs: number;
}

function runChild(args: string[], timeoutMs = 60_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, [THREADS_ENV]: '' } });
    let stdout = '';
    let stderr = '';
    let lastOutput = performance.now();
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      lastOutput = performance.now();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${args.join(' ')} still running after ${timeoutMs} ms (live worker threads keep it alive?)\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, exitLagMs: performance.now() - lastOutput });
    });
  });
}

describe('threaded wasm backend (Node)', () => {
  afterAll(() => setThreadedWasmStarterForTests());

  it('initialises with 2 threads (no skip: failing to start threads fails this test)', async () => {
    const r = await selectBackend('wasm', { threads: 2 });
    expect(r.reasons.join('\n')).not.toMatch(/unavailable/);
    expect(r).toMatchObject({ backend: 'wasm', threads: 2, requestedThreads: 2, wasmBuild: 'threaded-simd' });
    expect(tf.getBackend()).toBe('wasm');
    // Idempotent: a second selection with the same count keeps the backend.
    const backendBefore = tf.backend();
    expect(await selectBackend('wasm', { threads: 2 })).toBe(r);
    expect(tf.backend()).toBe(backendBefore);
  });

  it('matches the single-threaded build on matmul, conv and gradients (within 1e-5 relative)', async () => {
    const one = await selectBackend('wasm', { threads: 1 });
    expect(one).toMatchObject({ threads: 1, wasmBuild: 'simd' });
    const single = workloads();
    const two = await selectBackend('wasm', { threads: 2 });
    expect(two).toMatchObject({ threads: 2, wasmBuild: 'threaded-simd' });
    const threaded = workloads();
    for (const k of Object.keys(single)) {
      const d = maxRelDiff(single[k]!, threaded[k]!);
      expect(d, k).toBeLessThanOrEqual(1e-5);
    }
    // XNNPACK splits work over output tiles, never a reduction, so its sums are the
    // same arithmetic on both builds; the differences come from small batched products
    // (attention), which the threaded build leaves to tfjs's own loop (wrapBatchMatMul:
    // waking the pool per entry costs more than it saves there), a different summation order.
  });

  it('keeps variables across a thread-count change and reports released tensors', async () => {
    await selectBackend('wasm', { threads: 2 });
    const v = tf.variable(seeded([64, 48], 21), true, 'wasm-threads-test-v');
    const plain = seeded([3], 22);
    const want = v.dataSync().slice();
    try {
      const r1 = await selectBackend('wasm', { threads: 1 });
      expect(r1.reasons).toContain('wasm: 1 non-variable tensor on the previous wasm backend released');
      expect(v.dataSync()).toEqual(want);
      const r2 = await selectBackend('wasm', { threads: 2 });
      expect(r2.reasons.some((l) => l.includes('released'))).toBe(false);
      expect(tf.tidy(() => tf.sum(tf.sub(tf.matMul(v, tf.eye(48)), v)).dataSync()[0])).toBe(0);
      expect(v.dataSync()).toEqual(want);
      expect(() => plain.dataSync()).toThrow(/replaced when the thread count changed/);
    } finally {
      v.dispose();
      plain.dispose(); // released with its backend: disposing is a no-op, not a crash
    }
  });

  it('falls back to the single-threaded build and reports why', async () => {
    setThreadedWasmStarterForTests(() => Promise.reject(new Error('simulated start-up failure')));
    try {
      const r = await selectBackend('wasm', { threads: 3 });
      expect(r).toMatchObject({ backend: 'wasm', threads: 1, requestedThreads: 3, wasmBuild: 'simd' });
      expect(r.reasons[0]).toBe('wasm: 3 threads unavailable (simulated start-up failure); using the single-threaded build');
      expect(tf.tidy(() => tf.matMul(tf.ones([4, 4]), tf.ones([4, 4])).arraySync())).toEqual(Array(4).fill(Array(4).fill(4)));
    } finally {
      setThreadedWasmStarterForTests();
    }
  });

  it('rejects a start-up whose workers fail, without crashing or leaking process handlers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zoo-wasm-'));
    try {
      const broken = join(dir, 'broken-worker.cjs');
      writeFileSync(broken, "throw new Error('broken pthread worker');\n");
      const hanging = join(dir, 'hanging-worker.cjs');
      writeFileSync(hanging, 'setInterval(() => {}, 1000);\n');
      const listeners = () => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
      const before = listeners();
      await expect(createThreadedWasmBackend(2, { workerEntry: broken, timeoutMs: 20_000 })).rejects.toThrow(/broken pthread worker/);
      await expect(createThreadedWasmBackend(2, { workerEntry: hanging, timeoutMs: 1500 })).rejects.toThrow(/did not load within 1500 ms/);
      expect(listeners()).toEqual(before);
      expect((globalThis as { Worker?: unknown }).Worker).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resolves thread counts: 0 = all cores, capped at 8, environment default', () => {
    const saved = process.env[THREADS_ENV];
    try {
      delete process.env[THREADS_ENV];
      expect(resolveWasmThreads()).toBe(Math.min(availableParallelism(), MAX_WASM_THREADS));
      expect(resolveWasmThreads(0)).toBe(Math.min(availableParallelism(), MAX_WASM_THREADS));
      expect(resolveWasmThreads(1)).toBe(1);
      expect(resolveWasmThreads(64)).toBe(MAX_WASM_THREADS);
      process.env[THREADS_ENV] = '1';
      expect(resolveWasmThreads()).toBe(1);
      expect(resolveWasmThreads(2)).toBe(2);
      process.env[THREADS_ENV] = 'many';
      expect(() => resolveWasmThreads()).toThrow(ConfigError);
      expect(() => resolveWasmThreads(-1)).toThrow(ConfigError);
    } finally {
      if (saved === undefined) delete process.env[THREADS_ENV];
      else process.env[THREADS_ENV] = saved;
    }
  });

  it('a process with live threads exits by itself, promptly', async () => {
    const r = await runChild(['--import', 'tsx', FIXTURE, 'threads']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { workersCreated: number };
    expect(out).toMatchObject({ mode: 'threads', backend: 'wasm', threads: 2 });
    expect(out.workersCreated).toBeGreaterThan(0); // emscripten's pool (8 in tfjs 4.22)
    expect(r.exitLagMs).toBeLessThan(5000);
  });

  it('a process that never selects wasm starts no worker', async () => {
    const r = await runChild(['--import', 'tsx', FIXTURE, 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ mode: 'none', backend: 'cpu', threads: 1, workersCreated: 0 });
  });

  it('zoo env reports all cores and returns promptly', async () => {
    const r = await runChild([join(ROOT, 'bin/zoo.js'), 'env', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^threads: ${Math.min(availableParallelism(), MAX_WASM_THREADS)} \\(`, 'm'));
    expect(r.exitLagMs).toBeLessThan(5000);
  });
});
