/**
 * Importing CLIP weights: OpenAI TorchScript archives and torch.save state
 * dicts (OpenAI names), safetensors, and Hugging Face `openai/clip-vit-*`
 * naming mapped onto OpenAI names in one table. Dimensions are inferred from
 * the weights exactly as OpenAI's `build_model` does.
 */
import { CheckpointMismatchError, FileFormatError } from '../../../core/errors.js';
import { readCheckpoint } from '../../../core/io/checkpoint.js';
import { numel, toFloat32, type RawTensor } from '../../../core/io/raw-tensor.js';
import type { ClipDims } from './presets.js';
export { resizePositionalEmbedding } from './pos-embed.js';

type Shapes = Map<string, number[]>;

/** OpenAI's build_model inference of the architecture from a state dict. */
export function inferClipDims(shapes: Shapes, file = 'checkpoint'): ClipDims {
  const need = (k: string): number[] => {
    const s = shapes.get(k);
    if (!s) throw new CheckpointMismatchError(`${file}: not a CLIP ViT checkpoint: missing "${k}"${shapes.has('visual.layer1.0.conv1.weight') ? ' (this is a ResNet CLIP, which is not supported)' : ''}`);
    return s;
  };
  const count = (re: RegExp) => new Set([...shapes.keys()].map((k) => re.exec(k)?.[1]).filter((x): x is string => x !== undefined)).size;
  const conv1 = need('visual.conv1.weight');
  const visionWidth = conv1[0]!;
  const patchSize = conv1[3]!;
  const visionLayers = count(/^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$/);
  const posRows = need('visual.positional_embedding')[0]!;
  const pretrainedGrid = Math.round(Math.sqrt(posRows - 1));
  if (pretrainedGrid * pretrainedGrid + 1 !== posRows) throw new CheckpointMismatchError(`${file}: visual.positional_embedding has ${posRows} rows, not 1 + a square grid`);
  const embedDim = need('text_projection')[1]!;
  const contextLength = need('positional_embedding')[0]!;
  const vocabSize = need('token_embedding.weight')[0]!;
  const textWidth = need('ln_final.weight')[0]!;
  const textLayers = count(/^transformer\.resblocks\.(\d+)\./);
  return {
    visionWidth,
    visionLayers,
    visionHeads: Math.max(1, Math.floor(visionWidth / 64)),
    patchSize,
    pretrainedGrid,
    textWidth,
    textLayers,
    textHeads: Math.max(1, Math.floor(textWidth / 64)),
    vocabSize,
    contextLength,
    embedDim,
  };
}

/**
 * Hugging Face CLIPModel names -> OpenAI names. `{i}` is a layer index.
 * q/k/v projections are concatenated into in_proj; projections are transposed.
 */
export const HF_TO_OPENAI: readonly [hf: string, openai: string][] = [
  ['vision_model.embeddings.patch_embedding.weight', 'visual.conv1.weight'],
  ['vision_model.embeddings.class_embedding', 'visual.class_embedding'],
  ['vision_model.embeddings.position_embedding.weight', 'visual.positional_embedding'],
  ['vision_model.pre_layrnorm.weight', 'visual.ln_pre.weight'],
  ['vision_model.pre_layrnorm.bias', 'visual.ln_pre.bias'],
  ['vision_model.post_layernorm.weight', 'visual.ln_post.weight'],
  ['vision_model.post_layernorm.bias', 'visual.ln_post.bias'],
  ['visual_projection.weight', 'visual.proj'],
  ['vision_model.encoder.layers.{i}.self_attn.{qkv}_proj.weight', 'visual.transformer.resblocks.{i}.attn.in_proj_weight'],
  ['vision_model.encoder.layers.{i}.self_attn.{qkv}_proj.bias', 'visual.transformer.resblocks.{i}.attn.in_proj_bias'],
  ['vision_model.encoder.layers.{i}.self_attn.out_proj.weight', 'visual.transformer.resblocks.{i}.attn.out_proj.weight'],
  ['vision_model.encoder.layers.{i}.self_attn.out_proj.bias', 'visual.transformer.resblocks.{i}.attn.out_proj.bias'],
  ['vision_model.encoder.layers.{i}.layer_norm1.weight', 'visual.transformer.resblocks.{i}.ln_1.weight'],
  ['vision_model.encoder.layers.{i}.layer_norm1.bias', 'visual.transformer.resblocks.{i}.ln_1.bias'],
  ['vision_model.encoder.layers.{i}.layer_norm2.weight', 'visual.transformer.resblocks.{i}.ln_2.weight'],
  ['vision_model.encoder.layers.{i}.layer_norm2.bias', 'visual.transformer.resblocks.{i}.ln_2.bias'],
  ['vision_model.encoder.layers.{i}.mlp.fc1.weight', 'visual.transformer.resblocks.{i}.mlp.c_fc.weight'],
  ['vision_model.encoder.layers.{i}.mlp.fc1.bias', 'visual.transformer.resblocks.{i}.mlp.c_fc.bias'],
  ['vision_model.encoder.layers.{i}.mlp.fc2.weight', 'visual.transformer.resblocks.{i}.mlp.c_proj.weight'],
  ['vision_model.encoder.layers.{i}.mlp.fc2.bias', 'visual.transformer.resblocks.{i}.mlp.c_proj.bias'],
  ['text_model.embeddings.token_embedding.weight', 'token_embedding.weight'],
  ['text_model.embeddings.position_embedding.weight', 'positional_embedding'],
  ['text_model.final_layer_norm.weight', 'ln_final.weight'],
  ['text_model.final_layer_norm.bias', 'ln_final.bias'],
  ['text_projection.weight', 'text_projection'],
  ['logit_scale', 'logit_scale'],
  ['text_model.encoder.layers.{i}.self_attn.{qkv}_proj.weight', 'transformer.resblocks.{i}.attn.in_proj_weight'],
  ['text_model.encoder.layers.{i}.self_attn.{qkv}_proj.bias', 'transformer.resblocks.{i}.attn.in_proj_bias'],
  ['text_model.encoder.layers.{i}.self_attn.out_proj.weight', 'transformer.resblocks.{i}.attn.out_proj.weight'],
  ['text_model.encoder.layers.{i}.self_attn.out_proj.bias', 'transformer.resblocks.{i}.attn.out_proj.bias'],
  ['text_model.encoder.layers.{i}.layer_norm1.weight', 'transformer.resblocks.{i}.ln_1.weight'],
  ['text_model.encoder.layers.{i}.layer_norm1.bias', 'transformer.resblocks.{i}.ln_1.bias'],
  ['text_model.encoder.layers.{i}.layer_norm2.weight', 'transformer.resblocks.{i}.ln_2.weight'],
  ['text_model.encoder.layers.{i}.layer_norm2.bias', 'transformer.resblocks.{i}.ln_2.bias'],
  ['text_model.encoder.layers.{i}.mlp.fc1.weight', 'transformer.resblocks.{i}.mlp.c_fc.weight'],
  ['text_model.encoder.layers.{i}.mlp.fc1.bias', 'transformer.resblocks.{i}.mlp.c_fc.bias'],
  ['text_model.encoder.layers.{i}.mlp.fc2.weight', 'transformer.resblocks.{i}.mlp.c_proj.weight'],
  ['text_model.encoder.layers.{i}.mlp.fc2.bias', 'transformer.resblocks.{i}.mlp.c_proj.bias'],
];
/** HF stores these as Linear weights [out, in]; OpenAI uses `x @ P` with P [in, out]. */
const TRANSPOSED = new Set(['visual.proj', 'text_projection']);
/** HF-only buffers with no OpenAI counterpart. */
const HF_IGNORED = [/position_ids$/];

function transpose2d(t: RawTensor): RawTensor {
  const [r, c] = t.shape as [number, number];
  const src = toFloat32(t);
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return { dtype: 'float32', shape: [c, r], data: out };
}

function concat0(parts: RawTensor[]): RawTensor {
  const fl = parts.map(toFloat32);
  const out = new Float32Array(fl.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of fl) {
    out.set(p, o);
    o += p.length;
  }
  return { dtype: 'float32', shape: [parts.reduce((a, p) => a + p.shape[0]!, 0), ...parts[0]!.shape.slice(1)], data: out };
}

export function isHuggingFaceClip(names: Iterable<string>): boolean {
  for (const n of names) if (n.startsWith('vision_model.') || n.startsWith('text_model.')) return true;
  return false;
}

/** Rename a Hugging Face CLIP state dict to OpenAI names (strips a leading `clip.` / `model.` wrapper if present). */
export function huggingFaceToOpenAI(src: Map<string, RawTensor>, file = 'checkpoint'): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const used = new Set<string>();
  const strip = (k: string) => k.replace(/^(clip|model)\./, '');
  const byName = new Map([...src].map(([k, v]) => [strip(k), v]));
  for (const [hf, oa] of HF_TO_OPENAI) {
    if (!hf.includes('{i}')) {
      const t = byName.get(hf);
      if (!t) continue;
      used.add(hf);
      out.set(oa, TRANSPOSED.has(oa) ? transpose2d(t) : t);
      continue;
    }
    const re = new RegExp('^' + hf.replace(/\./g, '\\.').replace('{i}', '(\\d+)').replace('{qkv}', '([qkv])') + '$');
    const groups = new Map<string, Map<string, RawTensor>>();
    for (const [k, v] of byName) {
      const m = re.exec(k);
      if (!m) continue;
      used.add(k);
      const i = m[1]!;
      const part = hf.includes('{qkv}') ? m[2]! : '';
      const g = groups.get(i) ?? new Map<string, RawTensor>();
      g.set(part, v);
      groups.set(i, g);
    }
    for (const [i, g] of groups) {
      const name = oa.replace('{i}', i);
      if (hf.includes('{qkv}')) {
        const parts = ['q', 'k', 'v'].map((p) => g.get(p));
        if (parts.some((p) => !p)) throw new CheckpointMismatchError(`${file}: layer ${i} lacks one of the q/k/v projections for ${name}`);
        out.set(name, concat0(parts as RawTensor[]));
      } else out.set(name, g.get('')!);
    }
  }
  for (const k of byName.keys()) if (!used.has(k) && !HF_IGNORED.some((re) => re.test(k))) out.set(k, byName.get(k)!); // reported as unexpected by the loader
  return out;
}

/**
 * Head counts are not in the tensors: OpenAI's build_model takes width / 64. A file may say
 * otherwise in its metadata (`vision_heads`, `text_heads`; safetensors written by
 * `zoo pretrain-clip` for widths under 64 per head do).
 */
export function headsFromMetadata(dims: ClipDims, metadata: Record<string, unknown>, file = 'checkpoint'): ClipDims {
  const out = { ...dims };
  for (const [key, field, width] of [['vision_heads', 'visionHeads', dims.visionWidth], ['text_heads', 'textHeads', dims.textWidth]] as const) {
    const raw = metadata[key];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || width % n) throw new CheckpointMismatchError(`${file}: metadata ${key} = ${JSON.stringify(raw)} is not a head count that divides the width ${width}`);
    out[field] = n;
  }
  return out;
}

export interface ClipWeights {
  tensors: Map<string, RawTensor>;
  dims: ClipDims;
  format: string;
}

/** Read a CLIP checkpoint in any supported format, with OpenAI names and inferred dims. */
export function readClipWeights(path: string): ClipWeights {
  const ck = readCheckpoint(path, { strip: ['module.', 'backbone.'] });
  let tensors = ck.tensors;
  if (isHuggingFaceClip(tensors.keys())) tensors = huggingFaceToOpenAI(tensors, path);
  if (!tensors.size) throw new FileFormatError(path, 'contains no tensors');
  const shapes = new Map([...tensors].map(([k, v]) => [k, v.shape]));
  const dims = headsFromMetadata(inferClipDims(shapes, path), ck.metadata, path);
  for (const [k, v] of tensors) if (numel(v.shape) && v.data.length !== numel(v.shape) && v.dtype !== 'bool') throw new FileFormatError(path, `tensor ${k} is truncated`);
  return { tensors, dims, format: ck.format };
}
