/**
 * Activation recomputation (checkpoint.ts): gradients through a checkpointed
 * function equal those of the plain call (inputs, variables read inside,
 * weights passed as inputs, seeded dropout replayed), the fallback for
 * undeclared outside tensors, the recompute policy, the recording predicate,
 * no leaked tensors, and fewer bytes held between forward and backward.
 */
import { describe, expect, it } from 'vitest';
import { tf, type Tensor, type Variable } from '../runtime/tf.js';
import { selectBackend } from '../runtime/backend.js';
import { Checkpoint, recomputation, recordingGradients, shouldRecompute } from './checkpoint.js';
import { dropout, gelu } from './functional.js';
import { layerNorm } from './layers/layer-norm.js';
import { memoryProbe } from '../../test/memory-probe.js';

const seeded = (shape: number[], seed: number, scale = 1) => tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
const C = 12;
const H = 24;

/** One residual MLP block's parameters, as trainable variables. */
function blockVars(seed: number): Variable[] {
  return tf.tidy(() => [
    tf.variable(tf.add(seeded([C], seed, 0.1), 1), true, `cp${seed}.ln.w`),
    tf.variable(seeded([C], seed + 1, 0.1), true, `cp${seed}.ln.b`),
    tf.variable(seeded([C, H], seed + 2, 0.3), true, `cp${seed}.w1`),
    tf.variable(seeded([H], seed + 3, 0.1), true, `cp${seed}.b1`),
    tf.variable(seeded([H, C], seed + 4, 0.3), true, `cp${seed}.w2`),
  ]);
}

/** x + W2·gelu(W1·LN(x) + b1), optionally with seeded dropout on the hidden layer; x: [B, N, C]. */
function block(vars: Variable[], dropSeed?: number) {
  const [g, b, w1, b1, w2] = vars as [Variable, Variable, Variable, Variable, Variable];
  return (x: Tensor): Tensor => {
    const [B, N] = x.shape as [number, number, number];
    let h = gelu(tf.add(tf.matMul(tf.reshape(layerNorm(x, g, b, 1e-5), [B * N, C]), w1), b1));
    if (dropSeed !== undefined) h = dropout(h, 0.3, dropSeed);
    return tf.add(x, tf.reshape(tf.matMul(h, w2), [B, N, C]));
  };
}

/** Value and gradients of `loss` for [x, ...vars] (read out); asserts nothing is left behind. */
function valueAndGrads(loss: (x: Tensor) => Tensor, x: Tensor, vars: Variable[]): Float32Array[] {
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const { value, grads } = tf.engine().gradients(() => loss(x), [x, ...vars]);
    return [value, ...(grads as Tensor[])];
  });
  const data = out.map((t) => (t.dataSync() as Float32Array).slice());
  tf.dispose(out);
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

/** Largest |got - want| relative to the largest |want|, over all outputs. */
function worstRel(got: Float32Array[], want: Float32Array[]): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  want.forEach((w, i) => {
    const g = got[i]!;
    expect(g.length).toBe(w.length);
    let scale = 0;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(g[j]! - w[j]!) / (scale || 1));
  });
  return worst;
}

function bitEqual(got: Float32Array[], want: Float32Array[]): boolean {
  return want.every((w, i) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(got[i]!.buffer, got[i]!.byteOffset, got[i]!.byteLength)));
}

/** A scalar loss of y that weights every element differently. */
const lossOf = (y: Tensor, seed = 99) => tf.sum(tf.mul(tf.tanh(y), seeded(y.shape, seed)));

describe('shouldRecompute', () => {
  it("'on' always, 'off' never, 'auto' strictly above the budget", () => {
    for (const bytes of [0, 1, 2 ** 30, 2 ** 40]) {
      expect(shouldRecompute('on', bytes, 2 ** 30)).toBe(true);
      expect(shouldRecompute('off', bytes, 2 ** 30)).toBe(false);
    }
    expect(shouldRecompute('auto', 2 ** 30 - 1, 2 ** 30)).toBe(false);
    expect(shouldRecompute('auto', 2 ** 30, 2 ** 30)).toBe(false);
    expect(shouldRecompute('auto', 2 ** 30 + 1, 2 ** 30)).toBe(true);
    expect(shouldRecompute('auto', 0, 0)).toBe(false);
  });
});

describe('recordingGradients', () => {
  it('is true inside a gradient forward only, and not inside a kernel (customGrad forward)', async () => {
    await selectBackend('cpu');
    const seen: Record<string, boolean> = {};
    seen.outside = recordingGradients();
    tf.tidy(() => {
      seen.tidy = recordingGradients();
    });
    const probe = tf.customGrad(((x: Tensor) => {
      seen.customGradForward = recordingGradients();
      return { value: tf.clone(x), gradFunc: (dy: Tensor) => dy };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    const v = tf.variable(tf.scalar(2));
    const { grads } = tf.variableGrads(() => {
      seen.gradForward = recordingGradients();
      return tf.sum(tf.square(probe(v) as Tensor));
    });
    seen.after = recordingGradients();
    tf.dispose([v, ...Object.values(grads)]);
    expect(seen).toEqual({ outside: false, tidy: false, customGradForward: false, gradForward: true, after: false });
  });
});

describe('Checkpoint', () => {
  it('outside a gradient is a plain call (one forward, nothing discovered)', async () => {
    await selectBackend('cpu');
    const vars = blockVars(1);
    const x = seeded([2, 3, C], 2);
    let calls = 0;
    const f = block(vars);
    const cp = new Checkpoint('plain');
    const [a, b] = [tf.tidy(() => f(x)), tf.tidy(() => cp.run((t) => (calls++, f(t)), x))];
    expect(calls).toBe(1);
    expect(Buffer.from((b.dataSync() as Float32Array).buffer).equals(Buffer.from((a.dataSync() as Float32Array).buffer))).toBe(true);
    expect(cp.fallback).toBeUndefined();
    tf.dispose([a, b, x, ...vars]);
  });

  it('one block: input and variable gradients bit-identical to the plain call; fn runs discovery + forward + recompute', async () => {
    await selectBackend('cpu');
    const vars = blockVars(10);
    const x = seeded([2, 5, C], 11);
    const f = block(vars);
    const plain = valueAndGrads((t) => lossOf(f(t)), x, vars);
    const cp = new Checkpoint('one');
    const depths: number[] = [];
    const fn = (t: Tensor) => {
      depths.push(recomputation.depth);
      return f(t);
    };
    const ck = valueAndGrads((t) => lossOf(cp.run(fn, t)), x, vars);
    expect(cp.fallback).toBeUndefined();
    expect(bitEqual(ck, plain)).toBe(true);
    // First call: the discovery forward (counted as recomputation), the forward, the recompute.
    expect(depths).toEqual([1, 0, 1]);
    expect(recomputation.depth).toBe(0);
    // Later calls skip the discovery.
    depths.length = 0;
    expect(bitEqual(valueAndGrads((t) => lossOf(cp.run(fn, t)), x, vars), plain)).toBe(true);
    expect(depths).toEqual([0, 1]);
    tf.dispose([x, ...vars]);
  });

  it('a stack of blocks with a variable also used outside them: gradients match the plain stack', async () => {
    await selectBackend('cpu');
    const stacks = [blockVars(20), blockVars(30), blockVars(40)];
    const vars = stacks.flat();
    const head = vars[2]!; // block 0's w1, read again after the stack
    const x = seeded([2, 4, C], 21);
    const fs = stacks.map((v) => block(v));
    const loss = (run: (i: number, t: Tensor) => Tensor) => (t: Tensor) => {
      let h = t;
      for (let i = 0; i < fs.length; i++) h = run(i, h);
      return tf.add(lossOf(h), tf.sum(tf.matMul(tf.reshape(h, [-1, C]), head)));
    };
    const plain = valueAndGrads(
      loss((i, t) => fs[i]!(t)),
      x,
      vars,
    );
    const cps = fs.map((_, i) => new Checkpoint(`stack ${i}`));
    const ck = valueAndGrads(
      loss((i, t) => cps[i]!.run(fs[i]!, t)),
      x,
      vars,
    );
    const rel = worstRel(ck, plain);
    expect(rel).toBeLessThanOrEqual(1e-6);
    console.log(`checkpointed 3-block stack vs plain: worst relative gradient difference ${rel.toExponential(2)}${bitEqual(ck, plain) ? ' (bit-identical)' : ''}`);
    tf.dispose([x, ...vars]);
  });

  it('seeded dropout inside the block is replayed by the recomputation', async () => {
    await selectBackend('cpu');
    const vars = blockVars(50);
    const x = seeded([2, 6, C], 51);
    const f = block(vars, 1234);
    const plain = valueAndGrads((t) => lossOf(f(t)), x, vars);
    const cp = new Checkpoint('dropout');
    const ck = valueAndGrads((t) => lossOf(cp.run(f, t)), x, vars);
    expect(bitEqual(ck, plain)).toBe(true);
    // The mask matters: another seed gives other gradients.
    const other = valueAndGrads((t) => lossOf(block(vars, 4321)(t)), x, vars);
    expect(bitEqual(other, plain)).toBe(false);
    tf.dispose([x, ...vars]);
  });

  it('runMany: weights computed outside fn passed as inputs, and a declared constant, get the plain gradients', async () => {
    await selectBackend('cpu');
    const packed = tf.variable(seeded([C, 2 * C], 60, 0.3), true, 'cp60.packed');
    const x = seeded([3, C], 61);
    const mask = tf.cast(tf.greater(seeded([3, C], 62), 0), 'float32'); // no gradient flows into it
    const fn = ([t, wa, wb]: Tensor[]) => tf.mul(tf.tanh(tf.matMul(tf.sigmoid(tf.matMul(t!, wa!)), wb!)), mask);
    const split = () => [tf.slice(packed, [0, 0], [C, C]), tf.slice(packed, [0, C], [C, C])];
    const plain = valueAndGrads((t) => lossOf(fn([t, ...split()])), x, [packed]);
    const cp = new Checkpoint('many');
    const ck = valueAndGrads((t) => lossOf(cp.runMany(fn, [t, ...split()], [mask])), x, [packed]);
    expect(cp.fallback).toBeUndefined();
    expect(bitEqual(ck, plain)).toBe(true);
    tf.dispose([x, mask, packed]);
  });

  it('an undeclared float tensor made outside fn: falls back to plain calls (and says why), gradients still right', async () => {
    await selectBackend('cpu');
    const w = tf.variable(seeded([C, C], 70, 0.3), true, 'cp70.w');
    const x = seeded([3, C], 71);
    const cp = new Checkpoint('leaky');
    let calls = 0;
    const loss = (useCp: boolean) => (t: Tensor) => {
      const scaled = tf.mul(w, 2); // made from a parameter outside fn, read inside it
      const fn = (u: Tensor) => (calls++, tf.tanh(tf.matMul(u, scaled)));
      return lossOf(useCp ? cp.run(fn, t) : fn(t));
    };
    const plain = valueAndGrads(loss(false), x, [w]);
    calls = 0;
    const ck = valueAndGrads(loss(true), x, [w]);
    expect(cp.fallback).toMatch(/^leaky: reads a float tensor \[12,12\] made outside it/);
    expect(calls).toBe(2); // the discovery forward, then the plain call
    expect(bitEqual(ck, plain)).toBe(true);
    calls = 0;
    valueAndGrads(loss(true), x, [w]);
    expect(calls).toBe(1); // fallback is sticky
    tf.dispose([x, w]);
  });

  it('no tensors leak over repeated training-style steps (variableGrads)', async () => {
    await selectBackend('cpu');
    const vars = blockVars(80);
    const x = seeded([2, 3, C], 81);
    const cps = [new Checkpoint('a'), new Checkpoint('b')];
    const step = () => {
      const { value, grads } = tf.variableGrads(() => lossOf(cps[1]!.run(block(vars, 7), cps[0]!.run(block(vars), x))) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(tf.engine().state.activeTape).toBeNull();
    tf.dispose([x, ...vars]);
  });

  it('holds fewer bytes between forward and backward than the plain stack', async () => {
    await selectBackend('cpu');
    const stacks = [blockVars(90), blockVars(100), blockVars(110), blockVars(120)];
    const x = seeded([4, 32, C], 91);
    /** Bytes alive when the backward pass starts (recorded by the first gradient to run). */
    const heldAtBackward = (useCp: boolean): number => {
      const { probe, seen } = memoryProbe();
      const cps = stacks.map((_, i) => new Checkpoint(`mem ${i}`));
      const base = tf.memory().numBytes;
      valueAndGrads(
        (t) => {
          let h = t;
          stacks.forEach((v, i) => (h = useCp ? cps[i]!.run(block(v), h) : block(v)(h)));
          return tf.sum(probe(h));
        },
        x,
        stacks.flat(),
      );
      return seen[0]!.numBytes - base;
    };
    const plain = heldAtBackward(false);
    const ck = heldAtBackward(true);
    console.log(`held at the start of the backward pass, 4 blocks on [4, 32, ${C}]: ${(plain / 1024).toFixed(1)} KiB plain vs ${(ck / 1024).toFixed(1)} KiB checkpointed`);
    expect(ck).toBeLessThan(plain / 3);
    tf.dispose([x, ...stacks.flat()]);
  });

  it('on wasm too: a checkpointed block with dropout matches the plain call', async () => {
    await selectBackend('wasm', { threads: 1 });
    const vars = blockVars(130);
    const x = seeded([2, 5, C], 131);
    const f = block(vars, 99);
    const plain = valueAndGrads((t) => lossOf(f(t)), x, vars);
    const ck = valueAndGrads((t) => lossOf(new Checkpoint('wasm').run(f, t)), x, vars);
    expect(bitEqual(ck, plain)).toBe(true);
    tf.dispose([x, ...vars]);
  });
});
