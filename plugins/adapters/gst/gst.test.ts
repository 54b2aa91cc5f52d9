/**
 * GST side network against the golden parity fixtures (official BarLeRIa code):
 * every fixture in shared/fixtures/parity whose config has `use_side` is built
 * from its config, loaded with its `param/side_adapter_network.*` and
 * `param/side_linear.*` tensors, fed `in/img`, the CLIP patch tokens of
 * `mid/vis_tokens.{a}` and `mid/txt`, and compared with every `mid/side.*`
 * intermediate, `mid/fq_side`, `mid/train.fq_side` and `mid/side.var_loss`
 * (README section 7 tolerances), on the cpu and wasm backends. Also: tensor
 * count after forward + backward, non-zero gradient for every parameter, and
 * var_loss giving gradient only to the decoders' `linear` weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { readSafetensors, type SafetensorsFile } from '../../../core/io/safetensors.js';
import { rawToTensor } from '../../../core/nn/module.js';
import type { RawTensor } from '../../../core/io/raw-tensor.js';
import { FIXTURES } from '../../../test/fixtures.js';
import { GlobalShortcut } from './global-shortcut.js';
import { SideAttention } from './absvit.js';
import { ConfigError, DataError } from '../../../core/errors.js';
import { gstOptionsFromParityConfig, resolveGstOptions, type GstOptionsInput } from './options.js';

const PARITY = join(FIXTURES, 'parity');
const PREFIXES = ['side_adapter_network.', 'side_linear.'];
const RESIZE_REF = join(dirname(fileURLToPath(import.meta.url)), 'reference', 'resize.safetensors');

interface Fixture {
  name: string;
  main: SafetensorsFile;
  mid: SafetensorsFile;
  config: { dims: Record<string, unknown>; cfg: Record<string, unknown>; derived?: Record<string, unknown>; patches?: unknown };
}

function discover(): Fixture[] {
  const out: Fixture[] = [];
  for (const f of readdirSync(PARITY).sort()) {
    if (!f.endsWith('.safetensors') || /\.(mid|train)\.safetensors$/.test(f)) continue;
    const main = readSafetensors(join(PARITY, f));
    if (!main.metadata.config) continue;
    const config = JSON.parse(main.metadata.config) as Fixture['config'];
    if (config.cfg?.use_side !== true) continue;
    const name = f.replace(/\.safetensors$/, '');
    out.push({ name, main, mid: readSafetensors(join(PARITY, `${name}.mid.safetensors`)), config });
  }
  return out;
}

const fixtures = discover();
const nchwToNhwc = (t: Tensor) => tf.transpose(t, [0, 2, 3, 1]);
const maxAbs = (t: Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);

/** Fixture inputs in our layouts: image NHWC, CLIP patches NHWC per source block, text [B, L, Wt]. */
function inputs(fx: Fixture, fusionSources: Iterable<number>): { image: Tensor; clipPatches: Map<number, Tensor>; text: Tensor } {
  const d = fx.config.dims;
  const grid = (fx.config.derived?.grid as number | undefined) ?? Math.floor((d.input_size as number) / (d.patch as number));
  const clipPatches = new Map<number, Tensor>();
  for (const a of new Set(fusionSources)) {
    clipPatches.set(
      a,
      tf.tidy(() => {
        const seq = rawToTensor(fx.mid.get(`mid/vis_tokens.${a}`)); // [1+L+HW, B, Wv]: [CLS, prompts, patches]
        const [S, B, Wv] = seq.shape as number[];
        const HW = grid * grid;
        const patches = tf.slice(seq, [S - HW, 0, 0], [HW, B, Wv]);
        return tf.reshape(tf.transpose(patches, [1, 0, 2]), [B, grid, grid, Wv]);
      }),
    );
  }
  const image = tf.tidy(() => nchwToNhwc(rawToTensor(fx.main.get('in/img'))));
  const text = rawToTensor(fx.mid.get('mid/txt'));
  return { image, clipPatches, text };
}

/** Reference for one of our capture names, in our layout. */
function reference(fx: Fixture, name: string): Tensor | undefined {
  const key = `mid/${name}`;
  if (!fx.mid.has(key)) return undefined;
  return tf.tidy(() => {
    const t = rawToTensor(fx.mid.get(key));
    if (name.startsWith('side.td.')) return tf.reshape(t, t.shape.slice(1)); // [1, B, N, C] -> [B, N, C]
    if (t.rank === 4) return nchwToNhwc(t);
    return t;
  });
}

function paramSource(fx: Fixture): Map<string, RawTensor> {
  const m = new Map<string, RawTensor>();
  for (const n of fx.main.names) {
    if (!n.startsWith('param/')) continue;
    const k = n.slice(6);
    if (PREFIXES.some((p) => k.startsWith(p))) m.set(k, fx.main.get(n));
  }
  return m;
}

const report: Record<string, Record<string, number>> = {};

afterAll(() => {
  const cols = Object.keys(report);
  if (!cols.length) return;
  const rows = [...new Set(cols.flatMap((c) => Object.keys(report[c]!)))];
  const w = Math.max(...rows.map((r) => r.length));
  const lines = [`${'max |Δ| (relative for losses)'.padEnd(w)}  ${cols.map((c) => c.padStart(24)).join('  ')}`];
  for (const r of rows) lines.push(`${r.padEnd(w)}  ${cols.map((c) => (report[c]![r] === undefined ? '-' : report[c]![r]!.toExponential(2)).padStart(24)).join('  ')}`);
  console.log(lines.join('\n'));
});

describe('gst fixtures and options', () => {
  it('finds at least one use_side fixture', () => {
    expect(fixtures.map((f) => f.name)).toContain('barleria_tiny');
  });

  it('rejects inconsistent options with ConfigError', () => {
    const base: GstOptionsInput = { embedDim: 48, depth: 4, heads: 3, imageSize: 96, numQueries: 2, fusionMap: ['0->0'], deepSupervision: [4], visWidth: 8, textWidth: 8, visDim: 8 };
    expect(resolveGstOptions(base).fusion).toEqual(new Map([[0, 0]]));
    expect(resolveGstOptions({ ...base, fusionMap: ['9->3', ' 3 -> 1'] }).fusion).toEqual(new Map([[1, 3], [3, 9]]));
    const bad: Partial<GstOptionsInput>[] = [
      { heads: 5 },
      { fusionMap: ['0-0'] },
      { fusionMap: ['0->5'] },
      { fusionMap: ['0->1', '3->1'] },
      { deepSupervision: [0] },
      { deepSupervision: [5] },
      { deepSupervision: [] },
      { deepSupervision: [2, 2] },
      { promptNorm: 'channel' as 'batch' },
      { imageSize: 8 },
    ];
    for (const b of bad) expect(() => resolveGstOptions({ ...base, ...b }), JSON.stringify(b)).toThrow(ConfigError);
  });
});

/** Plain per-head attention with the absvit top-down value, from the packed torch-layout weights. */
function referenceAttention(m: SideAttention, x: Tensor, td: Tensor | undefined): Tensor {
  return tf.tidy(() => {
    const [B, N, C] = x.shape as number[];
    const hd = C / m.heads;
    const W = m.qkv.weight.value; // [C, 3C] native
    const bias = m.qkv.bias!.value;
    const proj = (t: Tensor) => tf.add(tf.matMul(tf.reshape(t, [B * N, C]), W), bias); // [B·N, 3C]
    const qkv = proj(x);
    const qkvTd = td ? proj(td) : undefined;
    const outs: Tensor[] = [];
    for (let b = 0; b < B; b++) {
      const heads: Tensor[] = [];
      for (let hh = 0; hh < m.heads; hh++) {
        const part = (t: Tensor, j: number) => tf.slice(t, [b * N, j * C + hh * hd], [N, hd]);
        let v = part(qkv, 2);
        if (qkvTd) v = tf.add(v, part(qkvTd, 2));
        const attn = tf.softmax(tf.mul(tf.matMul(part(qkv, 0), part(qkv, 1), false, true), m.scale));
        heads.push(tf.matMul(attn, v));
      }
      outs.push(tf.concat(heads, 1));
    }
    return tf.reshape(tf.add(tf.matMul(tf.concat(outs, 0), m.proj.weight.value), m.proj.bias!.value), [B, N, C]);
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`GST building blocks on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend);
    });

    it('attention (1, 2, 4 heads; with and without top-down value) equals a plain per-head computation', () => {
      for (const heads of [1, 2, 4]) {
        const m = new SideAttention(8, heads);
        tf.tidy(() => {
          m.qkv.bias!.variable.assign(tf.randomNormal([24], 0, 0.3, 'float32', 1));
          const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 2);
          const td = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 3);
          for (const t of [undefined, td]) {
            const d = maxAbs(tf.sub(m.forward(x, t), referenceAttention(m, x, t)));
            expect(d, `heads ${heads} td ${!!t}`).toBeLessThan(1e-5);
          }
        });
        m.dispose();
      }
    });

    it('other layouts: 1 head, several deep-supervision outputs, fusion after the last block, missing CLIP features', () => {
      const o: GstOptionsInput = { embedDim: 8, depth: 3, heads: 1, patchSize: 8, imageSize: 32, numQueries: 2, fusionMap: ['1->0', '4->3', '2->2'], deepSupervision: [3, 1], visWidth: 6, textWidth: 5, visDim: 7, mlpRatio: 2 };
      const m = new GlobalShortcut(o);
      expect(m.side_linear.inFeatures).toBe(16);
      expect([...m.stateShapes().keys()].filter((k) => k.includes('fusion_layers')).map((k) => k.split('.')[2])).toEqual(expect.arrayContaining(['layer_0', 'layer_2', 'layer_3']));
      const before = tf.memory().numTensors;
      const image = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 4);
      const text = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 5);
      const clipPatches = new Map([1, 2, 4].map((a) => [a, tf.randomNormal([2, 2, 2, 6], 0, 1, 'float32', 6 + a)] as [number, Tensor]));
      const seen: string[] = [];
      const r = m.forward({ image, text, clipPatches }, { capture: (n) => void seen.push(n) });
      expect(r.neckAdd.shape).toEqual([2, 4, 4, 7]);
      expect(seen).toEqual(expect.arrayContaining(['side.x.0', 'side.x.1', 'side.query.1', 'side.td.2', 'side.pass2.block2', 'side.var_loss', 'fq_side']));
      r.neckAdd.dispose();
      r.varLoss.dispose();
      const vars = m.parameters().map((p) => p.variable);
      const { value, grads } = tf.variableGrads(() => {
        const y = m.forward({ image, text, clipPatches });
        return tf.add(tf.sum(y.neckAdd), y.varLoss) as tf.Scalar;
      }, vars);
      const zero = [...m.namedParameters()].filter(([, p]) => !grads[p.variable.name] || maxAbs(grads[p.variable.name]!) === 0).map(([n]) => n);
      expect(zero).toEqual([]);
      value.dispose();
      Object.values(grads).forEach((g) => g.dispose());
      expect(() => m.forward({ image, text, clipPatches: new Map([[1, clipPatches.get(1)!]]) })).toThrow(DataError);
      [image, text, ...clipPatches.values()].forEach((t) => t.dispose());
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });
  });

  for (const fx of fixtures) {
    describe(`GST ${fx.name} on ${backend}`, () => {
      let model: GlobalShortcut;
      let inp: ReturnType<typeof inputs>;
      const errs: Record<string, number> = {};
      report[`${fx.name}/${backend}`] = errs;

      beforeAll(async () => {
        await selectBackend(backend);
        model = new GlobalShortcut(gstOptionsFromParityConfig(fx.config));
        model.loadStateDict(paramSource(fx));
        inp = inputs(fx, model.options.fusion.values());
      });

      afterAll(() => {
        model?.dispose();
        if (inp) [inp.image, inp.text, ...inp.clipPatches.values()].forEach((t) => t.dispose());
      });

      it('state dict names and shapes equal the official ones', () => {
        const ours = model.stateShapes();
        const theirs = paramSource(fx);
        expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
        for (const [k, s] of ours) expect(s, k).toEqual(theirs.get(k)!.shape);
      });

      it('eval forward matches every intermediate, fq_side and var_loss', () => {
        model.eval();
        const before = tf.memory().numTensors;
        const { neckAdd, varLoss, captures } = model.forward(inp, { capture: true });
        const caps = captures!;
        const names = fx.mid.names.filter((n) => n.startsWith('mid/side.') || n === 'mid/fq_side').map((n) => n.slice(4));
        expect(names.length).toBeGreaterThan(4);
        for (const name of names) {
          const ours = name === 'side.pass2.in' ? caps['side.pass1.in'] : caps[name];
          expect(ours, `capture ${name}`).toBeDefined();
          const ref = reference(fx, name)!;
          expect(ours!.shape, name).toEqual(ref.shape);
          const refMax = maxAbs(ref);
          const diff = tf.tidy(() => maxAbs(tf.sub(ours!, ref)));
          if (name === 'side.var_loss') {
            errs[name] = diff / refMax;
            expect(diff, name).toBeLessThanOrEqual(1e-5 * refMax);
          } else {
            errs[name] = diff;
            expect(diff, name).toBeLessThanOrEqual(1e-4 * Math.max(1, refMax));
          }
          ref.dispose();
        }
        // The returned outputs are the captured ones.
        expect(tf.tidy(() => maxAbs(tf.sub(neckAdd, caps.fq_side!)))).toBe(0);
        expect(tf.tidy(() => maxAbs(tf.sub(varLoss, caps['side.var_loss']!)))).toBe(0);
        neckAdd.dispose();
        varLoss.dispose();
        Object.values(caps).forEach((t) => t.dispose());
        expect(tf.memory().numTensors).toBe(before);
      });

      it('train-mode forward matches mid/train.fq_side (no dropout in the side network)', () => {
        const ref = reference(fx, 'train.fq_side');
        if (!ref) return;
        model.train();
        const { neckAdd, varLoss } = model.forward(inp);
        const diff = tf.tidy(() => maxAbs(tf.sub(neckAdd, ref)));
        errs['train.fq_side'] = diff;
        expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(ref)));
        [neckAdd, varLoss, ref].forEach((t) => t.dispose());
        model.eval();
      });

      it('backward of sum(fq_side) + var_loss: every parameter gets gradient, no tensor leaks', () => {
        model.train();
        const before = tf.memory().numTensors;
        const params = [...model.namedParameters()];
        const { value, grads } = tf.variableGrads(() => {
          const { neckAdd, varLoss } = model.forward(inp);
          return tf.add(tf.sum(neckAdd), varLoss) as tf.Scalar;
        }, params.map(([, p]) => p.variable));
        const zero = params.filter(([, p]) => !grads[p.variable.name] || maxAbs(grads[p.variable.name]!) === 0).map(([n]) => n);
        expect(zero).toEqual([]);
        for (const [, p] of params) expect(grads[p.variable.name]!.shape).toEqual(p.variable.shape);
        value.dispose();
        Object.values(grads).forEach((g) => g.dispose());
        expect(tf.memory().numTensors).toBe(before);
        model.eval();
      });

      it('var_loss alone gives gradient only to decoders.*.linear.weight', () => {
        const before = tf.memory().numTensors;
        const params = [...model.namedParameters()];
        const { value, grads } = tf.variableGrads(() => model.forward(inp).varLoss, params.map(([, p]) => p.variable));
        const withGrad = params.filter(([, p]) => grads[p.variable.name] && maxAbs(grads[p.variable.name]!) > 0).map(([n]) => n);
        const expected = Array.from({ length: model.options.depth }, (_, d) => `side_adapter_network.vit_model.decoders.${d}.linear.weight`);
        expect(withGrad.sort()).toEqual(expected.sort());
        value.dispose();
        Object.values(grads).forEach((g) => g.dispose());
        expect(tf.memory().numTensors).toBe(before);
      });

      it("promptNorm 'batch' couples the samples of a batch, 'sample' does not", () => {
        const B = inp.image.shape[0]!;
        if (B < 2) return;
        const first = (t: Tensor) => tf.slice(t, 0, 1);
        const alone = { image: first(inp.image), text: first(inp.text), clipPatches: new Map([...inp.clipPatches].map(([a, t]) => [a, first(t)])) };
        const sampleModel = new GlobalShortcut({ ...gstOptionsFromParityConfig(fx.config), promptNorm: 'sample' });
        sampleModel.loadStateDict(paramSource(fx));
        const gap = (m: GlobalShortcut) => {
          const full = m.forward(inp);
          const one = m.forward(alone);
          const d = tf.tidy(() => maxAbs(tf.sub(first(full.neckAdd), one.neckAdd)));
          [full.neckAdd, full.varLoss, one.neckAdd, one.varLoss].forEach((t) => t.dispose());
          return d;
        };
        const official = gap(model);
        const perSample = gap(sampleModel);
        errs['batch-coupling gap (batch norm)'] = official;
        errs['batch-coupling gap (sample norm)'] = perSample;
        expect(official).toBeGreaterThan(1e-3);
        expect(perSample).toBeLessThan(1e-4);
        sampleModel.dispose();
        [alone.image, alone.text, ...alone.clipPatches.values()].forEach((t) => t.dispose());
      });

      it('grid resize paths (pos_embed bicubic, fusion bilinear) match PyTorch', () => {
        if (fx.name !== 'barleria_tiny' || !existsSync(RESIZE_REF)) return;
        const ref = readSafetensors(RESIZE_REF);
        const S = Number(ref.metadata.size);
        const g = Number(ref.metadata.grid);
        const B = inp.image.shape[0]!;
        const data = new Float32Array(B * S * S * 3);
        for (let b = 0; b < B; b++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) data[((b * S + y) * S + x) * 3 + c] = Math.sin(0.05 * x + 0.11 * y + 0.7 * c + 1.3 * b);
        const image = tf.tensor4d(data, [B, S, S, 3]);
        const before = tf.memory().numTensors;
        const out = model.forward({ image, clipPatches: inp.clipPatches, text: inp.text }, { capture: true });
        expect(out.neckAdd.shape).toEqual([B, g, g, model.options.visDim]);
        const seq = out.captures!['side.pass1.in']!;
        const prefix = seq.shape[1]! - g * g;
        const want = rawToTensor(ref.get('patches'));
        const diff = tf.tidy(() => maxAbs(tf.sub(tf.slice(seq, [0, prefix, 0], [B, g * g, seq.shape[2]!]), want)));
        errs[`resize ${S}px: side.pass1.in patches`] = diff;
        expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(want)));
        want.dispose();
        out.neckAdd.dispose();
        out.varLoss.dispose();
        Object.values(out.captures!).forEach((t) => t.dispose());
        // The resized table and the upsampled fusion still pass gradient.
        const net = model.side_adapter_network;
        const vars = [net.vit_model.pos_embed.variable, ...[...net.fusion_layers.layers.values()].flatMap((l) => l.parameters().map((p) => p.variable))];
        const { value, grads } = tf.variableGrads(() => tf.sum(model.forward({ image, clipPatches: inp.clipPatches, text: inp.text }).neckAdd) as tf.Scalar, vars);
        for (const v of vars) expect(maxAbs(grads[v.name]!), v.name).toBeGreaterThan(0);
        value.dispose();
        Object.values(grads).forEach((t) => t.dispose());
        expect(tf.memory().numTensors).toBe(before);
        image.dispose();
      });
    });
  }
}
