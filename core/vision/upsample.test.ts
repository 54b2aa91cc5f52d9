import { describe, expect, it } from 'vitest';
import { expF32, fmaF32, resizeBicubic, sigmoid } from './upsample.js';
import { diff, evalPost, f32, visionReference } from './test-data.js';

interface ResizeRef {
  name: string;
  in_h: number;
  in_w: number;
  out_h: number;
  out_w: number;
  align_corners: boolean;
}

describe('resizeBicubic vs PyTorch 1.13 CPU', () => {
  const ref = visionReference();
  for (const r of JSON.parse(ref.metadata.resize!) as ResizeRef[]) {
    it(`${r.name} is bit-identical`, () => {
      const out = resizeBicubic(f32(ref, `resize/${r.name}/in`), { height: r.in_h, width: r.in_w }, { height: r.out_h, width: r.out_w }, r.align_corners);
      expect(diff(out, f32(ref, `resize/${r.name}/out`))).toEqual({ max: 0, count: 0 });
    });
  }

  it('sigmoid is bit-identical to torch.sigmoid (vectorised path)', () => {
    expect(diff(sigmoid(f32(ref, 'sigmoid/in')), f32(ref, 'sigmoid/out'))).toEqual({ max: 0, count: 0 });
    expect(expF32(0)).toBe(1);
    expect(expF32(-105)).toBe(0);
    expect(expF32(101)).toBe(Infinity);
    expect(Number.isNaN(expF32(Number.NaN))).toBe(true);
  });

  it('rejects inconsistent sizes', () => {
    expect(() => resizeBicubic(new Float32Array(5), { height: 2, width: 3 }, { height: 4, width: 4 })).toThrow(/needs 6 values/);
    expect(() => resizeBicubic(new Float32Array(6), { height: 2, width: 3 }, { height: 0, width: 4 })).toThrow(/output height/);
  });
});

describe('eval_post fixture: sigmoid → bicubic (align_corners) to the input size', () => {
  it('mid/prob96 ≤ 1e-5 (measured: bit-identical)', () => {
    const { file, config } = evalPost();
    const P = config.pred_size;
    const S = config.input_size;
    const logits = f32(file, 'in/logits');
    for (const s of config.samples) {
      const prob = resizeBicubic(sigmoid(logits.subarray(s.index * P * P, (s.index + 1) * P * P)), { height: P, width: P }, { height: S, width: S });
      // Bit-identical on the public set (PyTorch's AVX2 kernels); another CPU path differs by ulps.
      expect(diff(prob, f32(file, `mid/prob96.${s.index}`)).max, `sample ${s.index}`).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('fmaF32', () => {
  /** Exact a·b + c rounded once to float32, by BigInt arithmetic on the binary expansions. */
  function exactFma(a: number, b: number, c: number): number {
    const toFrac = (x: number): [bigint, number] => {
      // x = m · 2^e exactly with integer m
      if (x === 0) return [0n, 0];
      let e = 0;
      let m = x;
      while (!Number.isInteger(m)) {
        m *= 2;
        e--;
      }
      return [BigInt(m), e];
    };
    const [ma, ea] = toFrac(a);
    const [mb, eb] = toFrac(b);
    const [mc, ec] = toFrac(c);
    const ep = ea + eb;
    const e = Math.min(ep, ec);
    const sum = ma * mb * 2n ** BigInt(ep - e) + mc * 2n ** BigInt(ec - e);
    // Round sum · 2^e to float32 via a float64 of enough precision: split into high part and sticky remainder.
    const neg = sum < 0n;
    let mag = neg ? -sum : sum;
    let exp = e;
    const bits = mag.toString(2).length;
    if (bits > 60) {
      const drop = BigInt(bits - 60);
      const rem = mag & ((1n << drop) - 1n);
      mag >>= drop;
      if (rem !== 0n) mag |= 1n; // sticky bit keeps ties honest
      exp += Number(drop);
    }
    // mag has ≤ 60 bits: convert with 2 float64 steps (exact high part + sticky) before the float32 rounding.
    const hi = Number(mag >> 30n) * 2 ** 30;
    const lo = Number(mag & ((1n << 30n) - 1n));
    // hi + lo may round in float64 but only below bit 53 > 24 + 2 guard bits, with the sticky bit preserved in lo's last bit.
    const v = Math.fround((hi + lo) * 2 ** exp);
    return neg ? -v : v;
  }

  it('matches an exact rounding on hard cases and random float32 triples', () => {
    const f = Math.fround;
    const cases: [number, number, number][] = [
      [f(1 + 2 ** -23), f(1 + 2 ** -23), -1],
      [f(1 + 2 ** -12), f(1 + 2 ** -12), f(-(1 + 2 ** -11))],
      [3, f(1 / 3), -1],
      [f(0.1), 10, -1],
      [1, 1, f(2 ** -25)],
    ];
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let i = 0; i < 3000; i++) cases.push([f((rand() - 0.5) * 8), f((rand() - 0.5) * 8), f((rand() - 0.5) * 8)]);
    for (const [a, b, c] of cases) expect(fmaF32(a, b, c), `${a}·${b} + ${c}`).toBe(exactFma(a, b, c));
  });
});
