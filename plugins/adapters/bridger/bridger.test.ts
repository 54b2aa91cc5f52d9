/**
 * The ETRIS Bridger against the golden fixtures of kind "etris"
 * (../shared/fixtures/parity, README sections 5.3, 6.6, 7), on the cpu and
 * wasm backends. Each stage is fed the official raw CLIP block outputs
 * (`mid/vis_tokens.{i}`, `mid/txt_tokens.{i}`) and its five intermediates are
 * compared; the stage outputs are also checked against `vis_outs` and, in
 * train mode, against the BatchNorm running statistics in `step/`.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { readSafetensors, type SafetensorsFile } from '../../../core/io/safetensors.js';
import { rawToTensor } from '../../../core/nn/module.js';
import type { RawTensor } from '../../../core/io/raw-tensor.js';
import { FIXTURES } from '../../../test/fixtures.js';
import { Bridger, ETRIS_FUSION_INTERVAL, fusionBlocks, type BridgerCarry, type BridgerTap } from './bridger.js';

const PARITY = join(FIXTURES, 'parity');

interface FixtureConfig {
  fixture: string;
  kind: string;
  dims: { vision_width: number; text_width: number; vision_layers: number; text_layers: number; ladder_dim: number; nhead: number };
  derived?: { grid?: number };
}

/** safetensors metadata only (the 8-byte length and the JSON header), without reading the data. */
function readMetadata(path: string): Record<string, string> {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const head = Buffer.alloc(n);
    readSync(fd, head, 0, n, 8);
    return (JSON.parse(head.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__ ?? {};
  } finally {
    closeSync(fd);
  }
}

const fixtures = readdirSync(PARITY)
  .filter((f) => f.endsWith('.safetensors') && !/\.(mid|train)\.safetensors$/.test(f))
  .map((f) => {
    const md = readMetadata(join(PARITY, f));
    if (!md.config) return undefined;
    const config = JSON.parse(md.config) as FixtureConfig;
    const files = md.files ? (JSON.parse(md.files) as { main: string; mid: string; train: string }) : undefined;
    return { file: f, config, files };
  })
  .filter((x): x is NonNullable<typeof x> => x !== undefined && x.config.kind === 'etris')
  .sort((a, b) => a.file.localeCompare(b.file));

const tol = (ref: Tensor) => 1e-4 * Math.max(1, tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]!));
const maxAbsDiff = (a: Tensor, b: Tensor): number => {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
};

/** Max errors per fixture/backend/tensor, printed once at the end for the report. */
const errors: Record<string, number> = {};

it('finds at least one etris fixture', () => {
  expect(fixtures.length).toBeGreaterThan(0);
});

for (const fx of fixtures) {
  const name = fx.config.fixture;
  const files = fx.files ?? { main: fx.file, mid: fx.file.replace(/\.safetensors$/, '.mid.safetensors'), train: fx.file.replace(/\.safetensors$/, '.train.safetensors') };
  let main: SafetensorsFile;
  let mid: SafetensorsFile;
  let train: SafetensorsFile;
  let params: Map<string, RawTensor>;
  let stages: number[];
  let grid: [number, number];
  let batch: number;

  const build = () => {
    const d = fx.config.dims;
    const b = new Bridger({ visWidth: d.vision_width, textWidth: d.text_width, dModel: d.ladder_dim, nhead: d.nhead, stages });
    b.loadStateDict(params);
    return b;
  };
  /** [L, B, C] -> [B, L, C] */
  const tokens = (key: string) => tf.tidy(() => tf.transpose(rawToTensor(mid.get(key)), [1, 0, 2]));
  /** patch tokens of mid/vis_tokens.{i} [1+HW, B, C] -> NHWC [B, H, W, C] */
  const patches = (block: number) =>
    tf.tidy(() => {
      const t = rawToTensor(mid.get(`mid/vis_tokens.${block}`));
      const [N1, B, C] = t.shape as [number, number, number];
      return tf.reshape(tf.transpose(tf.slice(t, [1, 0, 0], [N1 - 1, B, C]), [1, 0, 2]), [B, grid[0], grid[1], C]);
    });
  const nchwToNhwc = (key: string, f = mid) => tf.tidy(() => tf.transpose(rawToTensor(f.get(key)), [0, 2, 3, 1]));
  /** The reference of a tap in our layout. */
  const reference = (tap: BridgerTap, s: number): Tensor => {
    const key = `mid/bridger.${tap}.${s}`;
    return tap === 'zoom_in' || tap === 'zoom_out' ? nchwToNhwc(key) : tokens(key);
  };

  describe(`bridger vs ${name}`, () => {
    beforeAll(async () => {
      await selectBackend('cpu');
      main = readSafetensors(join(PARITY, files.main));
      mid = readSafetensors(join(PARITY, files.mid));
      train = readSafetensors(join(PARITY, files.train));
      params = new Map();
      for (const k of main.names) if (k.startsWith('param/bridger.')) params.set(k.slice('param/bridger.'.length), main.get(k));
      const d = fx.config.dims;
      stages = fusionBlocks(d.vision_layers, ETRIS_FUSION_INTERVAL);
      // The text tower fuses after the same block indices (the towers run in lockstep).
      expect(d.text_layers).toBeGreaterThan(stages[stages.length - 1]!);
      // The fixture's own parameter list must agree with the derived stage count.
      const nLinear1 = main.names.filter((k) => /^param\/bridger\.linear1\.\d+\.weight$/.test(k)).length;
      expect(nLinear1, 'stages in the fixture').toBe(stages.length);
      const n1 = mid.info('mid/vis_tokens.in').shape[0]! - 1;
      const g = fx.config.derived?.grid ?? Math.round(Math.sqrt(n1));
      grid = [g, n1 / g];
      batch = mid.info('mid/vis_tokens.in').shape[1]!;
    });

    it('children carry the official names and load strictly', () => {
      const b = build();
      const ours = [...b.stateShapes().keys()].sort();
      expect(ours).toEqual([...params.keys()].sort());
      for (const [k, shape] of b.stateShapes()) expect(shape, k).toEqual(params.get(k)!.shape);
      // The last stage zooms in with a ConvTranspose ([in, out, 1, 1] = [Wv, d]).
      const S = stages.length;
      expect(params.get(`zoom_in.${S - 1}.0.weight`)!.shape.slice(0, 2)).toEqual([fx.config.dims.vision_width, fx.config.dims.ladder_dim]);
      b.dispose();
    });

    for (const backend of ['cpu', 'wasm'] as const) {
      describe(backend, () => {
        beforeAll(async () => {
          await selectBackend(backend);
        });

        it('eval: zoom_in / fusion_v / fusion_t / zoom_out / linear2 of every stage', () => {
          const before = tf.memory().numTensors;
          const b = build().eval();
          let carry: BridgerCarry | undefined;
          for (let s = 0; s < stages.length; s++) {
            const got = new Map<BridgerTap, Tensor>();
            const v = patches(stages[s]!);
            const t = tokens(`mid/txt_tokens.${stages[s]}`);
            const r = b.stage(s, v, t, carry, (tap, st, x) => {
              expect(st).toBe(s);
              got.set(tap, tf.keep(x.clone()));
            });
            expect(r.visAdd.shape).toEqual(v.shape);
            expect(r.textAdd.shape).toEqual(t.shape);
            expect(maxAbsDiff(r.visAdd, got.get('zoom_out')!)).toBe(0);
            expect(maxAbsDiff(r.textAdd, got.get('linear2')!)).toBe(0);
            for (const tap of ['zoom_in', 'fusion_v', 'fusion_t', 'zoom_out', 'linear2'] as const) {
              const ref = reference(tap, s);
              const e = maxAbsDiff(got.get(tap)!, ref);
              errors[`${name} ${backend} eval ${tap}.${s}`] = e;
              expect(e, `${tap}.${s}`).toBeLessThanOrEqual(tol(ref));
              ref.dispose();
            }
            got.forEach((x) => x.dispose());
            if (carry) tf.dispose([carry.v, carry.t]);
            expect(r.carry === undefined).toBe(s === stages.length - 1);
            carry = r.carry;
            tf.dispose([v, t, r.visAdd, r.textAdd]);
          }
          b.dispose();
          expect(tf.memory().numTensors).toBe(before);
        });

        it('eval: fuseTokens updates the patch tokens in place (vis_outs), CLS untouched', () => {
          const before = tf.memory().numTensors;
          const b = build().eval();
          let carry: BridgerCarry | undefined;
          for (let s = 0; s < stages.length; s++) {
            const vt = tokens(`mid/vis_tokens.${stages[s]}`);
            const t = tokens(`mid/txt_tokens.${stages[s]}`);
            const r = b.fuseTokens(s, vt, t, carry);
            const [B, N1, C] = vt.shape as [number, number, number];
            const cls = tf.tidy(() => maxAbsDiff(tf.slice(r.vis, [0, 0, 0], [B, 1, C]), tf.slice(vt, [0, 0, 0], [B, 1, C])));
            expect(cls).toBe(0);
            const textRef = tf.tidy(() => tf.add(t, reference('linear2', s)));
            expect(maxAbsDiff(r.text, textRef)).toBeLessThanOrEqual(tol(textRef));
            textRef.dispose();
            if (s < stages.length - 1) {
              // vis_outs.s = patch tokens after the fusion of stage s (raw residual stream).
              const ref = nchwToNhwc(`mid/vis_outs.${s}`);
              const ours = tf.tidy(() => tf.reshape(tf.slice(r.vis, [0, 1, 0], [B, N1 - 1, C]), [B, grid[0], grid[1], C]));
              const e = maxAbsDiff(ours, ref);
              errors[`${name} ${backend} eval vis_outs.${s}`] = e;
              expect(e, `vis_outs.${s}`).toBeLessThanOrEqual(tol(ref));
              tf.dispose([ref, ours]);
            }
            if (carry) tf.dispose([carry.v, carry.t]);
            carry = r.carry;
            tf.dispose([vt, t, r.vis, r.text]);
          }
          b.dispose();
          expect(tf.memory().numTensors).toBe(before);
        });

        it('train: batch-statistics BatchNorm, running stats and train.vis_outs.0', () => {
          const before = tf.memory().numTensors;
          const b = build().train();
          const initial = new Map<string, Tensor>();
          for (const [n, buf] of b.namedBuffers()) if (/running_(mean|var)$/.test(n)) initial.set(n, tf.clone(buf.variable));
          let carry: BridgerCarry | undefined;
          for (let s = 0; s < stages.length; s++) {
            const vt = tokens(`mid/vis_tokens.${stages[s]}`);
            const t = tokens(`mid/txt_tokens.${stages[s]}`);
            const r = b.fuseTokens(s, vt, t, carry);
            if (s === 0 && mid.has('mid/train.vis_outs.0')) {
              // Blocks 0..stages[0] do not depend on the bridger, so stage 0 sees the same tokens in train mode.
              const [B, N1, C] = vt.shape as [number, number, number];
              const ref = nchwToNhwc('mid/train.vis_outs.0');
              const ours = tf.tidy(() => tf.reshape(tf.slice(r.vis, [0, 1, 0], [B, N1 - 1, C]), [B, grid[0], grid[1], C]));
              const e = maxAbsDiff(ours, ref);
              errors[`${name} ${backend} train vis_outs.0`] = e;
              expect(e).toBeLessThanOrEqual(tol(ref));
              // ...and differs from eval mode (batch statistics are in use).
              const evalRef = nchwToNhwc('mid/vis_outs.0');
              expect(maxAbsDiff(ours, evalRef)).toBeGreaterThan(1e-3);
              tf.dispose([ref, ours, evalRef]);
            }
            if (carry) tf.dispose([carry.v, carry.t]);
            carry = r.carry;
            tf.dispose([vt, t, r.vis, r.text]);
          }
          for (const [n, buf] of b.namedBuffers()) {
            if (!/running_(mean|var)$/.test(n)) continue;
            const init = initial.get(n)!;
            expect(maxAbsDiff(buf.variable, init), `${n} updated`).toBeGreaterThan(0);
            // Stage 0's statistics come from tokens that equal the eval ones: exact check against step/.
            if (n.startsWith('zoom_in.0.') || n.startsWith('zoom_out.0.')) {
              const ref = rawToTensor(train.get(`step/bridger.${n}`));
              const e = maxAbsDiff(buf.variable, ref);
              errors[`${name} ${backend} step ${n}`] = e;
              expect(e, n).toBeLessThanOrEqual(1e-5 * tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]!));
              ref.dispose();
            }
            init.dispose();
          }
          for (const [n, buf] of b.namedBuffers()) if (n.endsWith('num_batches_tracked')) expect(buf.variable.dataSync()[0]).toBe(1);
          b.dispose();
          expect(tf.memory().numTensors).toBe(before);
        });

        it('train: every parameter gets a gradient, no tensor leaks over forward + backward', () => {
          const b = build().train();
          const inputs = stages.map((blk) => ({ v: patches(blk), t: tokens(`mid/txt_tokens.${blk}`) }));
          const named = [...b.namedParameters()];
          const before = tf.memory().numTensors;
          const { value, grads } = tf.variableGrads(() => {
            let carry: BridgerCarry | undefined;
            let loss: Tensor = tf.scalar(0);
            inputs.forEach(({ v, t }, s) => {
              const r = b.stage(s, v, t, carry);
              loss = tf.add(loss, tf.add(tf.sum(r.visAdd), tf.sum(r.textAdd)));
              carry = r.carry;
            });
            return loss as tf.Scalar;
          }, named.map(([, p]) => p.variable));
          expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
          for (const [n, p] of named) {
            const g = grads[p.variable.name];
            expect(g, `${n} has a gradient`).toBeDefined();
            expect(g!.shape, n).toEqual(p.variable.shape);
            const m = tf.tidy(() => tf.max(tf.abs(g!)).dataSync()[0]!);
            expect(m, `${n} gradient is non-zero`).toBeGreaterThan(0);
            expect(Number.isFinite(m), n).toBe(true);
          }
          value.dispose();
          Object.values(grads).forEach((g) => g.dispose());
          expect(tf.memory().numTensors).toBe(before);
          inputs.forEach(({ v, t }) => tf.dispose([v, t]));
          b.dispose();
        });
      });
    }

    it('options validation and stage lookup', () => {
      const d = fx.config.dims;
      const b = build();
      stages.forEach((blk, s) => expect(b.stageAfterBlock(blk)).toBe(s));
      expect(b.stageAfterBlock(0)).toBe(-1);
      const v = tf.zeros([batch, grid[0], grid[1], d.vision_width]);
      const t = tf.zeros([batch, 3, d.text_width]);
      expect(() => b.stage(1, v, t)).toThrow(/carry/);
      expect(() => b.stage(stages.length, v, t)).toThrow(/out of range/);
      expect(() => b.stage(0, t, t)).toThrow(/NHWC/);
      tf.dispose([v, t]);
      b.dispose();
      expect(() => new Bridger({ visWidth: [8, 8], textWidth: 8, dModel: 8, nhead: 2, stages: [3, 7, 11] })).toThrow(/visWidth/);
      expect(() => new Bridger({ visWidth: 8, textWidth: 8, dModel: 8, nhead: 3, stages: [3] })).toThrow(/divisible/);
      expect(() => new Bridger({ visWidth: 8, textWidth: 8, dModel: 8, nhead: 2, stages: [7, 3] })).toThrow(/increasing/);
    });
  });
}

it('fusionBlocks follows the official (i + 1) % interval rule', () => {
  expect(fusionBlocks(12)).toEqual([3, 7, 11]);
  expect(fusionBlocks(24)).toEqual([3, 7, 11, 15, 19, 23]);
  expect(fusionBlocks(12, 6)).toEqual([5, 11]);
  expect(fusionBlocks(10)).toEqual([3, 7]);
  expect(() => fusionBlocks(3)).toThrow(/no fusion stage/);
});

it('general strides: the last stage zooms in with ConvTranspose2d, earlier stages with Conv2d', async () => {
  await selectBackend('cpu');
  const before = tf.memory().numTensors;
  const b = new Bridger({ visWidth: [6, 6, 6], textWidth: 5, dModel: 4, nhead: 2, stages: [1, 3, 5], strides: [2, 1, 2] }).eval();
  const shapes = b.stateShapes();
  expect(shapes.get('zoom_in.0.0.weight')).toEqual([4, 6, 2, 2]); // Conv2d [out, in, k, k]
  expect(shapes.get('zoom_out.0.0.weight')).toEqual([4, 6, 2, 2]); // ConvTranspose2d [in, out, k, k]
  expect(shapes.get('zoom_in.2.0.weight')).toEqual([6, 4, 2, 2]); // ConvTranspose2d [in, out, k, k]
  expect(shapes.get('zoom_out.2.0.weight')).toEqual([6, 4, 2, 2]); // Conv2d [out, in, k, k]
  expect(shapes.has('ln_v.2')).toBe(false);
  const v = tf.randomNormal([2, 4, 4, 6], 0, 1, 'float32', 1);
  const t = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 2);
  const taps = new Map<string, number[]>();
  const r0 = b.stage(0, v, t, undefined, (n, _s, x) => taps.set(n, x.shape));
  expect(taps.get('zoom_in')).toEqual([2, 2, 2, 4]);
  expect(r0.visAdd.shape).toEqual([2, 4, 4, 6]);
  // Stage 1 (stride 1) has 16 tokens where stage 0 had 4: the official code fails there too.
  expect(() => b.stage(1, v, t, r0.carry)).toThrow(/carry has/);
  tf.dispose([r0.visAdd, r0.textAdd, r0.carry!.v, r0.carry!.t]);
  const odd = tf.zeros([2, 3, 3, 6]);
  expect(() => b.stage(0, odd, t)).toThrow(/divisible/);
  odd.dispose();
  tf.dispose([v, t]);
  b.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('prints the max errors', () => {
  const rows = Object.entries(errors).map(([k, e]) => `${k.padEnd(52)} ${e.toExponential(2)}`);
  console.log(`bridger max |Δ|:\n${rows.join('\n')}`);
});
