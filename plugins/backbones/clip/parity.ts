/**
 * `zoo parity` for plain-CLIP fixtures (clip_tiny format): the resized
 * positional embedding, every block's output of both towers, encode_image and
 * encode_text, from a model built from the fixture's `dims` alone.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { rawToTensor } from '../../../core/nn/module.js';
import { Hooks } from '../../../core/model/hooks.js';
import { ForwardContext } from '../../../core/model/context.js';
import type { Fixture } from '../../../core/parity/fixture.js';
import type { ParityReport } from '../../../core/parity/report.js';
import type { ParityHandler } from '../../../core/parity/handler.js';
import { ClipModel } from './clip-model.js';
import { resizePositionalEmbedding } from './pos-embed.js';
import type { ClipDims } from './presets.js';

interface FixtureDims {
  vision_width: number;
  vision_layers: number;
  patch: number;
  orig_grid: number;
  input_size: number;
  text_width: number;
  text_layers: number;
  embed_dim: number;
  vocab: number;
  context_length: number;
  word_len: number;
}

export function clipDimsFromFixture(d: FixtureDims, heads?: { vision?: number; text?: number }): ClipDims {
  return {
    visionWidth: d.vision_width,
    visionLayers: d.vision_layers,
    visionHeads: heads?.vision ?? Math.max(1, Math.floor(d.vision_width / 64)),
    patchSize: d.patch,
    pretrainedGrid: d.orig_grid,
    textWidth: d.text_width,
    textLayers: d.text_layers,
    textHeads: heads?.text ?? Math.max(1, Math.floor(d.text_width / 64)),
    vocabSize: d.vocab,
    contextLength: d.context_length,
    embedDim: d.embed_dim,
  };
}

/** Sequence-first fixture tensor [N, B, C] -> our [B, N, C] values. */
export function seqFirstToBatchFirst(t: { data: Float32Array; shape: number[] }): Float32Array {
  const [N, B, C] = t.shape as [number, number, number];
  const out = new Float32Array(t.data.length);
  for (let n = 0; n < N; n++) for (let b = 0; b < B; b++) out.set(t.data.subarray((n * B + b) * C, (n * B + b + 1) * C), (b * N + n) * C);
  return out;
}

export function nchwToNhwc(t: { data: Float32Array; shape: number[] }): Tensor {
  return tf.tidy(() => tf.transpose(tf.tensor(t.data, t.shape), [0, 2, 3, 1]));
}

export function values(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

export const clipParity: ParityHandler = {
  matches: (f: Fixture) => f.config.kind === undefined && f.has('out/encode_image'),
  run(f: Fixture, report: ParityReport) {
    const cfg = f.config as { dims: FixtureDims; vision_heads?: number; text_heads?: number };
    const d = cfg.dims;
    const dims = clipDimsFromFixture(d, { vision: cfg.vision_heads, text: cfg.text_heads });
    const grid = Math.floor(d.input_size / d.patch);
    const model = new ClipModel(dims, grid, []);
    try {
      const state = new Map(f.names('param/').map((n) => [n.slice(6), f.raw(n)]));
      const resized = resizePositionalEmbedding(state.get('visual.positional_embedding')!, grid);
      report.tensor('intermediates', 'visual.positional_embedding.resized', resized.data as Float32Array, f.f32('mid/visual.positional_embedding.resized').data);
      state.set('visual.positional_embedding', resized);
      model.loadStateDict(state, { strict: true });
      model.eval();
      const hooks = new Hooks();
      hooks.declare(model.hookPoints());
      tf.tidy(() => {
        const image = nchwToNhwc(f.f32('in/img'));
        const ids = rawToTensor(f.raw('in/text'), 'int32');
        const ctx = new ForwardContext({ image, text: ids }, false, { capture: true });
        const out = model.forward(image, ids, hooks, ctx);
        for (const [name, t] of ctx.captures!) {
          const ref = `mid/${name}`;
          if (f.has(ref)) report.tensor('intermediates', name, values(t), seqFirstToBatchFirst(f.f32(ref)));
        }
        ctx.disposeCaptures();
        const last = out.visStages[out.visStages.length - 1]!;
        report.tensor('outputs', 'encode_image', values(last), f.f32('out/encode_image').data);
        report.tensor('outputs', 'encode_text.x', values(out.words), f.f32('out/encode_text.x').data);
        report.tensor('outputs', 'encode_text.state', values(out.state), f.f32('out/encode_text.state').data);
      });
    } finally {
      model.dispose();
    }
  },
};
