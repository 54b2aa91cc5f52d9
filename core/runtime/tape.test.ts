/**
 * The lean backward pass (tape.ts) against tfjs-core's own `engine.gradients`
 * (still on the Engine prototype: installLeanBackprop sets an own property on
 * the engine instance): bit-identical values and gradients on the cpu and wasm
 * backends, no leaked tensors, and a lower memory peak during the backward
 * pass of a deep chain (saved tensors and intermediate gradients freed as the
 * walk goes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tf, type Tensor } from './tf.js';
import { selectBackend } from './backend.js';
import { GradientMap, filteredNodes } from './tape.js';
import { memoryProbe } from '../../test/memory-probe.js';

type GradientsFn = (f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean) => { value: Tensor; grads: (Tensor | undefined)[] };
const engine = tf.engine() as unknown as { gradients: GradientsFn };
const lean = engine.gradients;
const original = (Object.getPrototypeOf(engine) as { gradients: GradientsFn }).gradients;

/** Run f with `impl` as engine.gradients (tf.grads, tf.variableGrads, ... all go through it). */
function withImpl<T>(impl: GradientsFn, f: () => T): T {
  engine.gradients = impl;
  try {
    return f();
  } finally {
    engine.gradients = lean;
  }
}

afterAll(() => {
  engine.gradients = lean;
});

const seeded = (shape: number[], seed: number, mean = 0) => tf.randomNormal(shape, mean, 1, 'float32', seed);

/** Run `f` (which returns tensors or undefined holes) and read everything out; asserts no tensor is left behind. */
function collect(f: () => (Tensor | undefined)[]): (Float32Array | undefined)[] {
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => f() as tf.Tensor[]) as (Tensor | undefined)[];
  const data = out.map((t) => (t ? (t.dataSync() as Float32Array).slice() : undefined));
  tf.dispose(out.filter((t): t is Tensor => !!t));
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

/** Bit-for-bit equality of float32 arrays (so -0 vs 0 and NaN payloads count). */
function expectBitEqual(got: (Float32Array | undefined)[], want: (Float32Array | undefined)[]): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i];
    if (!w || !g) {
      expect(g === undefined, `output ${i}: hole`).toBe(w === undefined);
      return;
    }
    expect(g.length, `output ${i}: length`).toBe(w.length);
    const gb = new Uint32Array(g.buffer, g.byteOffset, g.length);
    const wb = new Uint32Array(w.buffer, w.byteOffset, w.length);
    const j = wb.findIndex((v, k) => v !== gb[k]);
    expect(j, j < 0 ? '' : `output ${i}, element ${j}: ${g[j]} vs ${w[j]}`).toBe(-1);
  });
}

/** A small op whose gradient is given (uses its saved tensors and both inputs). */
const scaledProduct = tf.customGrad(((a: Tensor, b: Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.mul(tf.mul(a, b), 2),
    gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [tf.mul(tf.mul(dy, sb!), 2), tf.sum(tf.mul(tf.mul(dy, sa!), 2), 0)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/** Graphs to differentiate: each returns the value and gradients (undefined where there is none). */
const cases: Record<string, () => (Tensor | undefined)[]> = {
  'matmul + bias + relu + softmax chain': () => {
    const target = tf.softmax(seeded([6, 5], 9));
    const loss = (x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor) => {
      const h = tf.relu(tf.add(tf.matMul(x, w1), b1));
      const p = tf.softmax(tf.matMul(h, w2));
      return tf.neg(tf.sum(tf.mul(target, tf.log(p))));
    };
    const { value, grads } = tf.valueAndGrads(loss)([seeded([6, 10], 1), seeded([10, 16], 2), seeded([16], 3), seeded([16, 5], 4)]);
    return [value, ...grads];
  },
  'a tensor used several times (gradients accumulate)': () => {
    const f = (x: Tensor) => {
      const t = tf.tanh(x);
      return tf.add(tf.sum(tf.add(tf.mul(t, t), tf.sin(t))), tf.sum(tf.mul(x, tf.exp(tf.mul(x, 0.5)))));
    };
    const { value, grads } = tf.valueAndGrads(f)([seeded([5, 7], 5)]);
    return [value, ...grads];
  },
  'a dead branch and an x not on the path (engine.gradients, allowNoGradients)': () => {
    const [x, w, unused] = [seeded([4, 6], 6), seeded([6, 3], 7), seeded([3], 8)];
    const { value, grads } = tf.engine().gradients(
      () => {
        tf.exp(tf.mul(x, 3)); // on the tape, not on the path to y
        tf.sum(tf.square(unused)); // computed, not used for y
        return tf.sum(tf.sigmoid(tf.matMul(x, w)));
      },
      [x, w, unused],
      undefined,
      true,
    ) as { value: Tensor; grads: (Tensor | undefined)[] };
    return [value, ...grads];
  },
  'tf.customGrad op (saved tensors, broadcast input)': () => {
    const f = (x: Tensor, w: Tensor) => tf.sum(tf.mul(scaledProduct(tf.tanh(x), w) as Tensor, x));
    const { value, grads } = tf.valueAndGrads(f)([seeded([4, 5], 10), seeded([5], 11)]);
    return [value, ...grads];
  },
  'multi-output op with an unused output (split)': () => {
    const f = (x: Tensor) => {
      const [a, , c] = tf.split(x, [2, 3, 1], 1);
      return tf.add(tf.sum(tf.mul(a!, 3)), tf.sum(tf.exp(c!)));
    };
    const { value, grads } = tf.valueAndGrads(f)([seeded([4, 6], 12)]);
    return [value, ...grads];
  },
  'dy seed for a non-scalar y': () => {
    const dy = seeded([3, 4], 13);
    const grads = tf.grads((a: Tensor, b: Tensor) => tf.relu(tf.matMul(a, b)))([seeded([3, 5], 14), seeded([5, 4], 15)], dy);
    expect(dy.isDisposed).toBe(false);
    return grads;
  },
  'dy seed through reshapes only (y = reshape(reshape(x)))': () => {
    const dy = seeded([2, 6], 16);
    const grads = tf.grads((a: Tensor) => tf.reshape(tf.reshape(a, [12]), [2, 6]))([seeded([2, 6], 17)], dy);
    return grads;
  },
  'variableGrads with an unused and a frozen variable': () => {
    const v1 = tf.variable(seeded([5, 3], 18), true, 'tape-test-v1');
    const v2 = tf.variable(seeded([3], 19), true, 'tape-test-v2');
    const unused = tf.variable(seeded([7], 20), true, 'tape-test-unused');
    const frozen = tf.variable(seeded([3], 21), false, 'tape-test-frozen');
    try {
      const x = seeded([4, 5], 22);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.add(tf.mul(tf.matMul(x, v1), frozen), v2))) as tf.Scalar);
      expect(Object.keys(grads).sort()).toEqual(['tape-test-v1', 'tape-test-v2']);
      return [value, grads['tape-test-v1'], grads['tape-test-v2']];
    } finally {
      tf.dispose([v1, v2, unused, frozen]);
    }
  },
  'second-order gradient (tf.grad of tf.grad)': () => {
    const g2 = tf.grad((x: Tensor) => tf.sum(tf.grad((z: Tensor) => tf.sum(tf.mul(tf.pow(z, 3), tf.sin(z))))(x)));
    return [g2(seeded([6], 23))];
  },
};

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`lean backward pass on ${backend}: same results as tfjs's engine.gradients`, () => {
    it('is installed (an own property shadowing the prototype method)', async () => {
      await selectBackend(backend, { threads: 1 });
      expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'gradients')).toBe(true);
      expect(lean).not.toBe(original);
    });
    for (const [name, f] of Object.entries(cases)) {
      it(`${name}: bit-identical, nothing leaked`, async () => {
        await selectBackend(backend, { threads: 1 });
        const want = withImpl(original, () => collect(f));
        const got = withImpl(lean, () => collect(f));
        expectBitEqual(got, want);
        // Repeated calls stay balanced (no saved tensor or gradient left on the engine).
        const before = tf.memory();
        withImpl(lean, () => collect(f));
        expect(tf.memory().numTensors).toBe(before.numTensors);
        expect(tf.memory().numBytes).toBe(before.numBytes);
      });
    }
  });
}

describe('lean backward pass: behaviour of its own', () => {
  it('reports no gradient as tfjs does (tf.grads throws, engine.gradients without allowNoGradients throws)', async () => {
    await selectBackend('cpu');
    const x = tf.scalar(2);
    const y = tf.scalar(3);
    expect(() => tf.grads(() => tf.mul(y, 2))([x])).toThrow(/Cannot compute gradient/);
    expect(() => tf.engine().gradients(() => tf.mul(y, 2), [x])).toThrow(/Cannot compute gradient/);
    expect(() => tf.engine().gradients(() => tf.mul(x, 2), [])).toThrow(/empty list/);
    expect(() => tf.grads((a: Tensor) => tf.mul(a, 2))([x], tf.scalar(1, 'int32'))).toThrow(/float32/);
    tf.dispose([x, y]);
  });

  it('a gradient shared by two inputs (customGrad returning dy twice) accumulates correctly', async () => {
    await selectBackend('cpu');
    // f(a, b) = a + b with gradient dy for both, the same tensor object; a = b = x, so x gets 2·dy, then ·3.
    const addShared = tf.customGrad(((a: Tensor, b: Tensor) => ({ value: tf.add(a, b), gradFunc: (dy: Tensor) => [dy, dy] })) as unknown as Parameters<typeof tf.customGrad>[0]);
    const got = collect(() => tf.grads((x: Tensor) => tf.sum(tf.mul(addShared(x, x) as Tensor, 3)))([tf.tensor1d([1, 2, 3])]));
    expect(Array.from(got[0]!)).toEqual([6, 6, 6]);
  });

  it('GradientMap disposes a tensor stored under two ids only when both let go', () => {
    const t = tf.tensor1d([1, 2]);
    const u = tf.tensor1d([3]);
    const m = new GradientMap();
    m.set(1, t);
    m.set(2, t);
    m.drop(1);
    expect(t.isDisposed).toBe(false);
    expect(m.holds(t)).toBe(true);
    m.set(2, u); // replaces t under id 2: t released
    expect(t.isDisposed).toBe(true);
    expect(m.get(2)).toBe(u);
    m.drop(2);
    expect(u.isDisposed).toBe(true);
    m.drop(3); // unknown id: no-op
  });

  it('filteredNodes keeps the nodes from xs to y and prunes inputs not from xs', () => {
    const T = (id: number) => ({ id }) as unknown as Tensor;
    const node = (id: number, inputs: Record<string, number>, outputs: number[]) => ({
      id,
      kernelName: `k${id}`,
      inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, T(v)])),
      outputs: outputs.map(T),
    });
    // x=1, c=2 (constant). n1: a=3 = f(x, c); n2: dead=4 = f(x); n3: b=5 = f(c); n4: y=6 = f(a, b)
    const tape = [node(1, { x: 1, c: 2 }, [3]), node(2, { x: 1 }, [4]), node(3, { c: 2 }, [5]), node(4, { a: 3, b: 5 }, [6])];
    const out = filteredNodes(tape, [T(1)], T(6));
    expect(out.map((n) => n.id)).toEqual([1, 4]);
    expect(Object.keys(out[0]!.inputs)).toEqual(['x']);
    expect(Object.keys(out[1]!.inputs)).toEqual(['a']);
    expect(tape[0]!.inputs.c).toBeDefined(); // the tape itself is not modified
  });
});

describe('lean backward pass frees memory as it goes', () => {
  /**
   * A chain of `depth` blocks h = tanh(h·w + h) on [64, 256] with a probe after
   * each block; the probe's gradient records the engine's tensor count and
   * bytes when the backward pass reaches it.
   */
  function probeChain(depth: number): { tensors: number[]; bytes: number[]; grads: Float32Array } {
    const { probe, seen } = memoryProbe();
    const x = seeded([64, 256], 30);
    const w = tf.mul(seeded([256, 256], 31), 0.05);
    const base = tf.memory().numTensors;
    const grads = tf.tidy(() => {
      const [gx, gw] = tf.grads((x0: Tensor, w0: Tensor) => {
        let h = x0;
        for (let i = 0; i < depth; i++) h = probe(tf.tanh(tf.add(tf.matMul(h, w0), h)));
        return tf.sum(h);
      })([x, w]);
      return tf.concat([tf.reshape(gx!, [-1]), tf.reshape(gw!, [-1])]);
    });
    const data = grads.dataSync() as Float32Array;
    tf.dispose([grads, x, w]);
    return { tensors: seen.map((m) => m.numTensors - base), bytes: seen.map((m) => m.numBytes), grads: data };
  }

  it('same gradients, a lower peak, and a backward whose live tensors shrink to a constant', async () => {
    await selectBackend('cpu');
    const depth = 16;
    const o = withImpl(original, () => probeChain(depth));
    const l = withImpl(lean, () => probeChain(depth));
    expectBitEqual([l.grads], [o.grads]);
    const peak = (a: number[]) => Math.max(...a);
    // The probes fire from the top block down: tfjs's count grows (gradients
    // pile up, saved tensors stay); the lean one falls.
    expect(o.tensors[depth - 1]!).toBeGreaterThan(o.tensors[0]!);
    expect(l.tensors[depth - 1]!).toBeLessThan(l.tensors[0]!);
    expect(peak(l.bytes)).toBeLessThan(peak(o.bytes));
    // At the bottom of the chain, the lean pass holds what it holds for depth 4.
    const shallow = withImpl(lean, () => probeChain(4));
    expect(l.tensors[depth - 1]).toBe(shallow.tensors[3]);
    const mb = (n: number) => (n / 2 ** 20).toFixed(2);
    console.log(
      `backward of a ${depth}-block chain on [64, 256]: peak ${mb(peak(o.bytes))} MiB (tfjs) vs ${mb(peak(l.bytes))} MiB (lean); ` +
        `at the bottom block ${o.tensors[depth - 1]} vs ${l.tensors[depth - 1]} tensors, ${mb(o.bytes[depth - 1]!)} vs ${mb(l.bytes[depth - 1]!)} MiB`,
    );
  });
});
