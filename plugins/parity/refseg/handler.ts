/**
 * `zoo parity` for BarLeRIa / BarLeRIa-without-GST / ETRIS model fixtures:
 * the model is built through the normal config path from the fixture's
 * metadata (see fixture-config.ts), loaded with the official state dict, and
 * compared in eval mode (prediction and every captured intermediate) and in
 * train mode (loss parts, prediction, intermediates, the gradient of every
 * trainable parameter, one Adam step, BatchNorm running statistics).
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { rawToTensor, toTorchLayout } from '../../../core/nn/module.js';
import { inlineConfig } from '../../../core/config/load.js';
import { validateConfig } from '../../../core/config/validate.js';
import { buildModel } from '../../../core/model/build.js';
import type { SegmentationModel } from '../../../core/model/model.js';
import type { BackboneFeatures } from '../../../core/model/contracts.js';
import type { ForwardContext } from '../../../core/model/context.js';
import { createAdam, type ParamGroup } from '../../../core/train/optimizers.js';
import type { Fixture } from '../../../core/parity/fixture.js';
import type { ParityReport } from '../../../core/parity/report.js';
import type { ParityHandler, ParityOptions } from '../../../core/parity/handler.js';
import { fixtureRunConfig, type FixtureMeta } from './fixture-config.js';

const SEQ_FIRST = /^(vis_tokens|txt_tokens)\.|^bridger\.(fusion_v|fusion_t|linear2)\./;
const NCHW = /^(vis_outs\.|fq_neck$|fq_side$|side\.x\.|bridger\.zoom_(in|out)\.)/;

/** Convert an official intermediate to our layout (batch-first, NHWC), as float32 values. */
export function toOurLayout(name: string, data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  const base = name.replace(/^train\./, '');
  if (SEQ_FIRST.test(base)) {
    const [N, B, C] = shape as [number, number, number];
    const out = new Float32Array(data.length);
    for (let n = 0; n < N; n++) for (let b = 0; b < B; b++) out.set(data.subarray((n * B + b) * C, (n * B + b + 1) * C), (b * N + n) * C);
    return { data: out, shape: [B, N, C] };
  }
  if (NCHW.test(base)) {
    const [B, C, H, W] = shape as [number, number, number, number];
    const out = new Float32Array(data.length);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) out[(b * H * W + p) * C + c] = data[(b * C + c) * H * W + p]!;
    return { data: out, shape: [B, H, W, C] };
  }
  if (base === 'decoder_out') {
    const [B, C, N] = shape as [number, number, number];
    const out = new Float32Array(data.length);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let n = 0; n < N; n++) out[(b * N + n) * C + c] = data[(b * C + c) * N + n]!;
    return { data: out, shape: [B, N, C] };
  }
  if (/^side\.td\./.test(base)) return { data, shape: shape.slice(1) };
  return { data, shape };
}

function meta(f: Fixture): FixtureMeta {
  return f.config as unknown as FixtureMeta;
}

function build(f: Fixture, opts: ParityOptions): SegmentationModel {
  const doc = fixtureRunConfig(meta(f), { dropout: 0 });
  const v = validateConfig(inlineConfig(doc, `${f.name} (from fixture metadata)`), opts.registry);
  const model = buildModel(v, opts.registry, { skipPretrained: true, skipCheckpoint: true });
  const state = new Map(f.names('param/').map((n) => [n.slice(6), f.raw(n)]));
  model.loadStateDict(state, { strict: true, ignore: ['*.log_jacobians.*'] });
  return model;
}

/** Capture the backbone outputs under the official names. */
function captureOutputs(model: SegmentationModel): void {
  if (model.hooks.owners('outputs').includes('parity')) return;
  model.hooks.on<BackboneFeatures>(
    'outputs',
    (f, ctx: ForwardContext) => {
      f.visStages.forEach((t, i) => ctx.capture(`vis_outs.${i}`, t));
      ctx.capture('txt', f.words);
      ctx.capture('state', f.state);
      return f;
    },
    'parity',
  );
}

function compareCaptures(f: Fixture, report: ParityReport, captures: Map<string, Tensor>, prefix: string): void {
  for (const [name, t] of captures) {
    const ref = `mid/${prefix}${name}`;
    if (!f.has(ref)) continue;
    const r = f.f32(ref);
    const conv = toOurLayout(prefix + name, r.data, r.shape);
    report.tensor('intermediates', prefix + name, t.dataSync() as Float32Array, conv.data);
  }
}

/**
 * Max |Δ| per parameter between `grads` and the gradients of the same loss with
 * the image multiplied by (1 + 1e-7·n), n ~ N(0, 1): the float32 noise floor.
 * BatchNorm running statistics are restored afterwards.
 */
function gradientNoise(model: SegmentationModel, params: [string, import('../../../core/nn/module.js').Parameter][], image: Tensor, text: Tensor, mask: Tensor, grads: Map<string, Tensor>): Map<string, number> {
  const saved = [...model.namedBuffers()].map(([, b]) => [b, tf.clone(b.variable)] as const);
  const nudged = tf.tidy(() => tf.mul(image, tf.add(1, tf.mul(tf.randomNormal(image.shape, 0, 1, 'float32', 7), 1e-7))));
  const vars = params.map(([, p]) => p.variable);
  const byVar = new Map(params.map(([n, p]) => [p.variable.name, n]));
  const { value, grads: g2 } = tf.variableGrads(() => model.loss({ image: nudged, text }, mask).total as tf.Scalar, vars);
  const out = new Map<string, number>();
  for (const [vn, g] of Object.entries(g2)) {
    const name = byVar.get(vn)!;
    const g0 = grads.get(name);
    if (g0) out.set(name, tf.tidy(() => tf.max(tf.abs(tf.sub(g0, g))).dataSync()[0]!));
    g.dispose();
  }
  value.dispose();
  nudged.dispose();
  for (const [b, t] of saved) {
    b.variable.assign(t);
    t.dispose();
  }
  return out;
}

export const refsegParity: ParityHandler = {
  matches: (f) => ['barleria', 'noglobal', 'etris'].includes(String(f.config.kind)),
  run(f: Fixture, report: ParityReport, opts: ParityOptions) {
    const model = build(f, opts);
    captureOutputs(model);
    try {
      const image = tf.tidy(() => tf.transpose(rawToTensor(f.raw('in/img')), [0, 2, 3, 1]));
      const text = rawToTensor(f.raw('in/text'), 'int32');
      const mask = tf.tidy(() => tf.transpose(rawToTensor(f.raw('in/mask')), [0, 2, 3, 1]));
      const inputs = { image, text };
      // Trainable set must equal the official rule's.
      const official = new Set(f.json<string[]>('trainable') ?? []);
      const ours = new Set(model.trainableParameters().map(([n]) => n));
      const missing = [...official].filter((n) => !ours.has(n));
      const extra = [...ours].filter((n) => !official.has(n));
      report.custom('gradients', 'trainable set equals the official one', missing.length + extra.length, 0, missing.length + extra.length ? `missing ${missing.slice(0, 3).join(', ')} extra ${extra.slice(0, 3).join(', ')}` : undefined);

      // Eval mode.
      model.eval();
      tf.tidy(() => {
        const r = model.loss(inputs, mask, { capture: true });
        report.tensor('outputs', 'pred', r.logits.dataSync() as Float32Array, f.f32('out/pred').data);
        compareCaptures(f, report, r.ctx.captures!, '');
        const vl = r.parts.get('var_loss');
        if (vl && f.has('mid/side.var_loss')) report.loss('side.var_loss (eval)', vl.dataSync()[0]!, f.f32('mid/side.var_loss').data[0]!);
        r.ctx.disposeCaptures();
      });

      // Train mode: loss, gradients (BatchNorm updates its running stats once, as the fixture's single forward).
      model.train();
      const groups = model.parameterGroups();
      const params = [...groups.backbone, ...groups.head];
      const before = new Map(params.map(([n, p]) => [n, Float32Array.from(toTorchLayout(p.variable, p.layout).dataSync() as Float32Array)]));
      let captured = new Map<string, Tensor>();
      let logits: Tensor | undefined;
      let parts: Record<string, number> = {};
      const { grads } = (() => {
        const vars = params.map(([, p]) => p.variable);
        const byVar = new Map(params.map(([n, p]) => [p.variable.name, n]));
        const { value, grads } = tf.variableGrads(() => {
          const r = model.loss(inputs, mask, { capture: true });
          captured = r.ctx.captures!;
          logits = tf.keep(r.logits.clone());
          parts = Object.fromEntries([...r.parts].map(([k, t]) => [k, t.dataSync()[0]!]));
          return r.total as tf.Scalar;
        }, vars);
        const total = value.dataSync()[0]!;
        value.dispose();
        report.loss('loss', total, f.f32('out/loss').data[0]!);
        return { grads: new Map(Object.entries(grads).map(([vn, g]) => [byVar.get(vn)!, g])) };
      })();
      // Our own float32 spread: the same gradients with the input image nudged at
      // rounding level (±1e-7 relative). Gradients that are discontinuous at float32
      // resolution (ReLU after train-mode BatchNorm) show it here.
      const noise = gradientNoise(model, params, image, text, mask, grads);
      report.loss('bce', parts.mask!, f.f32('out/bce').data[0]!);
      if (f.has('out/var_loss') && parts.var_loss !== undefined) report.loss('var_loss', parts.var_loss, f.f32('out/var_loss').data[0]!);
      report.tensor('outputs', 'train_pred', logits!.dataSync() as Float32Array, f.f32('out/train_pred').data);
      logits!.dispose();
      compareCaptures(f, report, captured, 'train.');
      captured.forEach((t) => t.dispose());
      for (const [name, p] of params) {
        const refName = `grad/${name}`;
        const g = grads.get(name);
        if (!f.has(refName)) continue;
        const ours = g ? (tf.tidy(() => toTorchLayout(g, p.layout)).dataSync() as Float32Array) : new Float32Array(p.size);
        report.gradient(name, ours, f.f32(refName).data, noise.get(name));
      }
      for (const [n, b] of model.namedBuffers()) {
        if (!/running_(mean|var)$/.test(n) || !f.has(`step/${n}`)) continue;
        report.running(n, b.variable.dataSync() as Float32Array, f.f32(`step/${n}`).data);
      }
      // One Adam step with the official groups and hyper-parameters.
      const toGroup = (name: string, list: typeof params): ParamGroup => ({ name, params: list, lrMultiplier: 1 });
      const lr = 1e-4;
      const adam = createAdam({ lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [toGroup('backbone', groups.backbone), toGroup('head', groups.head)]);
      adam.step(grads, lr);
      grads.forEach((g) => g.dispose());
      for (const [name, p] of params) {
        if (!f.has(`step/${name}`)) continue;
        const after = tf.tidy(() => toTorchLayout(p.variable, p.layout)).dataSync() as Float32Array;
        report.step(name, after, f.f32(`step/${name}`).data, before.get(name)!, f.f32(`grad/${name}`).data, lr, noise.get(name));
      }
      adam.dispose();
      tf.dispose([image, text, mask]);
    } finally {
      model.dispose();
    }
  },
};
