/**
 * Weight import: the tiny OpenAI-layout TorchScript archive, the torch.save
 * state dict and Hugging Face naming all give the fixture's outputs; dims are
 * inferred as build_model does; bad files and keys are reported by name.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { Hooks } from '../../../core/model/hooks.js';
import { ForwardContext } from '../../../core/model/context.js';
import { rawToTensor } from '../../../core/nn/module.js';
import { Fixture } from '../../../core/parity/fixture.js';
import { diffStats } from '../../../core/parity/report.js';
import { writeSafetensors } from '../../../core/io/safetensors.js';
import { FileFormatError, CheckpointMismatchError, ConfigError } from '../../../core/errors.js';
import type { RawTensor } from '../../../core/io/raw-tensor.js';
import { FIXTURES } from '../../../test/fixtures.js';
import { createClipBackbone } from './index.js';
import { HF_TO_OPENAI, huggingFaceToOpenAI, inferClipDims, readClipWeights } from './weights.js';
import { nchwToNhwc } from './parity.js';

const fx = new Fixture(join(FIXTURES, 'parity/clip_tiny.safetensors'));
const d = (fx.config as { dims: Record<string, number> }).dims;
const ctx = { where: 'model.backbone', input: { size: d.input_size!, wordLength: d.word_len! }, seed: 0 };

/** Build the backbone from a weights file (dims inferred from it) and compare encode_image/encode_text with the fixture. */
async function checkOutputs(weights: string) {
  const bb = createClipBackbone({ preset: 'custom', weights, stageLayers: [4, 8] }, ctx);
  expect(bb.loadPretrained!()).toMatch(/\d+ loaded, 0 missing, 0 unexpected/);
  bb.module.eval();
  const hooks = new Hooks();
  hooks.declare(bb.spec.hookPoints);
  tf.tidy(() => {
    const image = nchwToNhwc(fx.f32('in/img'));
    const text = rawToTensor(fx.raw('in/text'), 'int32');
    const out = bb.forward({ image, text }, hooks, new ForwardContext({ image, text }, false));
    const last = out.visStages[out.visStages.length - 1]!;
    expect(diffStats(last.dataSync(), fx.f32('out/encode_image').data).maxAbs).toBeLessThan(1e-4);
    expect(diffStats(out.state.dataSync(), fx.f32('out/encode_text.state').data).maxAbs).toBeLessThan(1e-4);
  });
  bb.module.dispose();
}

describe('CLIP weight import', () => {
  it('infers the architecture from the weights as build_model does', () => {
    const w = readClipWeights(join(FIXTURES, 'clip_tiny.jit.pt'));
    expect(w.format).toBe('torchscript');
    expect(w.dims).toMatchObject({ visionWidth: d.vision_width, visionLayers: d.vision_layers, patchSize: d.patch, pretrainedGrid: d.orig_grid, textWidth: d.text_width, textLayers: d.text_layers, embedDim: d.embed_dim, vocabSize: d.vocab, contextLength: d.context_length, visionHeads: d.vision_width! / 64 });
  });

  for (const file of ['clip_tiny.jit.pt', 'clip_tiny.state.pth']) {
    it(`${file} gives the fixture's encode_image and encode_text (cpu and wasm)`, async () => {
      for (const b of ['cpu', 'wasm'] as const) {
        await selectBackend(b);
        await checkOutputs(join(FIXTURES, file));
      }
    });
  }

  it('Hugging Face CLIPModel naming maps onto OpenAI names (q/k/v concatenated, projections transposed)', async () => {
    await selectBackend('wasm');
    // Write the fixture weights under HF names, then load them through the mapping table.
    const oa = new Map(fx.names('param/').map((n) => [n.slice(6), fx.raw(n)]));
    const hf = new Map<string, RawTensor>();
    const E = d.vision_width!;
    const T = d.text_width!;
    const split3 = (t: RawTensor, width: number) => {
      const v = rawToTensor(t);
      const parts = tf.split(v, 3, 0).map((p) => ({ dtype: 'float32' as const, shape: [...p.shape], data: Float32Array.from(p.dataSync()) }));
      tf.dispose(v);
      expect(parts[0]!.shape[0]).toBe(width);
      return parts;
    };
    const transpose = (t: RawTensor): RawTensor => {
      const v = rawToTensor(t);
      const r = tf.transpose(v);
      const out = { dtype: 'float32' as const, shape: [...r.shape], data: Float32Array.from(r.dataSync()) };
      tf.dispose([v, r]);
      return out;
    };
    for (const [k, v] of oa) {
      const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$/.exec(k);
      if (m) {
        const prefix = m[1] ? 'vision_model' : 'text_model';
        split3(v, m[1] ? E : T).forEach((p, i) => hf.set(`${prefix}.encoder.layers.${m[2]}.self_attn.${'qkv'[i]}_proj.${m[3]}`, p));
        continue;
      }
      const row = HF_TO_OPENAI.find(([, o]) => new RegExp('^' + o.replace(/\./g, '\\.').replace('{i}', '(\\d+)') + '$').test(k));
      if (!row) continue;
      const idx = /resblocks\.(\d+)\./.exec(k)?.[1];
      hf.set(row[0].replace('{i}', idx ?? ''), k === 'visual.proj' || k === 'text_projection' ? transpose(v) : v);
    }
    hf.set('text_model.embeddings.position_ids', { dtype: 'int64', shape: [1, d.context_length!], data: new BigInt64Array(d.context_length!) });
    const mapped = huggingFaceToOpenAI(hf);
    expect([...mapped.keys()].sort()).toEqual([...oa.keys()].sort());
    const dir = mkdtempSync(join(tmpdir(), 'hf-clip-'));
    writeSafetensors(join(dir, 'model.safetensors'), hf.entries());
    await checkOutputs(join(dir, 'model.safetensors'));
  });

  it('reports a wrong file type, a non-CLIP checkpoint, a missing file and a mis-shaped key by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-clip-'));
    writeFileSync(join(dir, 'notes.pt'), 'hello, I am text');
    expect(() => readClipWeights(join(dir, 'notes.pt'))).toThrow(FileFormatError);
    expect(() => readClipWeights(join(dir, 'notes.pt'))).toThrow(/is not a checkpoint/);
    writeSafetensors(join(dir, 'other.safetensors'), [['encoder.weight', { dtype: 'float32', shape: [2], data: new Float32Array(2) }]]);
    expect(() => readClipWeights(join(dir, 'other.safetensors'))).toThrow(/not a CLIP ViT checkpoint: missing "visual.conv1.weight"/);
    expect(() => createClipBackbone({ preset: 'custom', weights: join(dir, 'ViT-B-16.pt'), stageLayers: [4, 8] }, ctx)).toThrow(ConfigError);
    expect(() => createClipBackbone({ preset: 'custom', weights: join(dir, 'ViT-B-16.pt'), stageLayers: [4, 8] }, ctx)).toThrow(/file not found.*sha256 5806e77c/);
    const oa = new Map(fx.names('param/').map((n) => [n.slice(6), fx.raw(n)]));
    oa.set('ln_final.weight', { dtype: 'float32', shape: [3], data: new Float32Array(3) });
    writeSafetensors(join(dir, 'bad-shape.safetensors'), oa.entries());
    expect(() => inferClipDims(new Map([...oa].map(([k, v]) => [k, v.shape])))).not.toThrow();
    const bb = createClipBackbone({ preset: 'custom', weights: join(dir, 'bad-shape.safetensors'), stageLayers: [4, 8] }, ctx);
    expect(() => bb.loadPretrained!()).toThrow(CheckpointMismatchError);
    bb.module.dispose();
  });
});
