/**
 * Options of BarLeRIa's GST (global shortcut tuning) side network: one TypeBox
 * schema (JSON Schema with defaults and descriptions) and its static type, plus
 * validation and the derived, ready-to-use form the modules are built from.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../../../core/errors.js';

const Int = (description: string, o: { minimum?: number; default?: number } = {}) => Type.Integer({ minimum: 1, ...o, description });

export const GstOptionsSchema = Type.Object(
  {
    embedDim: Int('Side ViT width Es (official absvit_tiny: 144).', { default: 144 }),
    depth: Int('Number of side ViT blocks (official: 8).', { default: 8 }),
    heads: Int('Attention heads of the side ViT (official: 3); must divide embedDim.', { default: 3 }),
    mlpRatio: Type.Number({ exclusiveMinimum: 0, default: 4, description: 'MLP hidden width = floor(embedDim · mlpRatio).' }),
    patchSize: Int('Side ViT patch size (conv kernel = stride).', { default: 16 }),
    imageSize: Int('cfg.SIDE_ADAPTER.IMAGE_SIZE: the grid of pos_embed is floor(imageSize / patchSize) squared; other input grids get a bicubic resize of it.', { default: 416 }),
    numQueries: Int('cfg.SIDE_ADAPTER.NUM_QUERIES: learned query tokens in front of the side sequence.', { default: 128 }),
    fusionMap: Type.Array(Type.String({ pattern: '^\\s*\\d+\\s*->\\s*\\d+\\s*$' }), {
      default: ['0->0', '3->1', '6->2', '9->3'],
      description: 'cfg.SIDE_ADAPTER.FUSION_MAP: "a->k" adds the CLIP patch features after CLIP block a to the side patches before side block k (k = 0: the input sequence; k >= 1: after the k-th block of the second pass).',
    }),
    deepSupervision: Type.Array(Type.Integer({ minimum: 1 }), {
      default: [8],
      description: 'cfg.SIDE_ADAPTER.DEEP_SUPERVISION_IDXS (1-based side block indexes) whose patch tokens are concatenated and projected by side_linear.',
    }),
    visWidth: Int('CLIP vision width Wv: input channels of the fusion layers.', { default: 768 }),
    textWidth: Int('CLIP text width Wt: input width of the prompt projection `proj`.', { default: 512 }),
    visDim: Int('Output channels of side_linear (the head neck width, cfg.vis_dim).', { default: 512 }),
    promptHidden: Int('Hidden width of the prompt projection Linear(Wt, h)–ReLU–Linear(h, Es).', { default: 32 }),
    topDownScale: Type.Number({ default: 5, description: 'Scale of the top-down transform y = s · (x ⊙ mask) @ (p pᵀ).' }),
    maskPadding: Type.Boolean({
      default: false,
      description: 'Corrected behaviour (off in the paper configs): padded text positions are left out of the prompt mean and masked as attention keys. The official code uses them like words.',
    }),
    promptNorm: Type.Union([Type.Literal('batch'), Type.Literal('sample')], {
      default: 'batch',
      description:
        "How the pooled prompt p is normalised for the cosine mask. 'batch' (official): over the batch axis, so each sample's output depends on the others in its batch. 'sample': per sample over channels (the evident intent; differs from the official numbers).",
    }),
  },
  { additionalProperties: false, description: 'BarLeRIa GST side network (official RegionwiseSideAdapterNetwork + absvit VisionTransformer).' },
);

export type GstOptions = Static<typeof GstOptionsSchema>;
/** Options as a caller may write them: the fields with defaults are optional. */
export type GstOptionsInput = Partial<GstOptions> & Pick<GstOptions, 'embedDim' | 'depth' | 'heads' | 'imageSize' | 'numQueries' | 'fusionMap' | 'deepSupervision' | 'visWidth' | 'textWidth' | 'visDim'>;

/** Validated options plus the structures derived from them. */
export interface ResolvedGstOptions extends GstOptions {
  headDim: number;
  mlpHidden: number;
  /** Configured pos_embed grid (floor(imageSize / patchSize), square). */
  posGrid: number;
  /** Side target index k -> CLIP source block a, in ascending k. */
  fusion: Map<number, number>;
  /** Deep-supervision block indexes (1-based), ascending: the order of the side_linear input channels. */
  deepSup: number[];
}

const DEFAULTS = { mlpRatio: 4, patchSize: 16, promptHidden: 32, topDownScale: 5, promptNorm: 'batch' as const, maskPadding: false };

/** Parse "a->k" entries into k -> a (the official `x2side_map`). */
export function parseFusionMap(entries: readonly string[], depth: number, where = 'fusionMap'): Map<number, number> {
  const out = new Map<number, number>();
  for (const [i, e] of entries.entries()) {
    const m = /^\s*(\d+)\s*->\s*(\d+)\s*$/.exec(e);
    if (!m) throw new ConfigError(`${where}[${i}]: "${e}" is not of the form "a->k" (CLIP block a -> side index k)`);
    const a = Number(m[1]);
    const k = Number(m[2]);
    if (k > depth) throw new ConfigError(`${where}[${i}]: side index ${k} in "${e}" exceeds depth ${depth}; the fusion layer would never be applied`);
    if (out.has(k)) throw new ConfigError(`${where}[${i}]: side index ${k} appears twice (the official map keeps only the last entry; write it once)`);
    out.set(k, a);
  }
  return new Map([...out.entries()].sort((x, y) => x[0] - y[0]));
}

export function resolveGstOptions(input: GstOptionsInput): ResolvedGstOptions {
  const o: GstOptions = { ...DEFAULTS, ...input } as GstOptions;
  const posInt = (k: keyof GstOptions) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`gst.${k}: expected a positive integer, got ${JSON.stringify(v)}`);
  };
  for (const k of ['embedDim', 'depth', 'heads', 'patchSize', 'imageSize', 'numQueries', 'visWidth', 'textWidth', 'visDim', 'promptHidden'] as const) posInt(k);
  if (!(o.mlpRatio > 0)) throw new ConfigError(`gst.mlpRatio: expected a positive number, got ${o.mlpRatio}`);
  if (!Number.isFinite(o.topDownScale)) throw new ConfigError(`gst.topDownScale: expected a number, got ${o.topDownScale}`);
  if (o.promptNorm !== 'batch' && o.promptNorm !== 'sample') throw new ConfigError(`gst.promptNorm: expected "batch" or "sample", got ${JSON.stringify(o.promptNorm)}`);
  if (o.embedDim % o.heads) throw new ConfigError(`gst.heads: ${o.heads} does not divide embedDim ${o.embedDim}`);
  const posGrid = Math.floor(o.imageSize / o.patchSize);
  if (posGrid < 1) throw new ConfigError(`gst.imageSize ${o.imageSize} is smaller than patchSize ${o.patchSize}`);
  const fusion = parseFusionMap(o.fusionMap, o.depth, 'gst.fusionMap');
  if (!o.deepSupervision.length) throw new ConfigError('gst.deepSupervision: at least one block index is needed (side_linear has no input otherwise)');
  const seen = new Set<number>();
  for (const d of o.deepSupervision) {
    if (!Number.isInteger(d) || d < 1 || d > o.depth) throw new ConfigError(`gst.deepSupervision: ${d} is not a block index in 1..${o.depth} (indexes count from 1)`);
    if (seen.has(d)) throw new ConfigError(`gst.deepSupervision: ${d} appears twice`);
    seen.add(d);
  }
  return {
    ...o,
    headDim: o.embedDim / o.heads,
    mlpHidden: Math.floor(o.embedDim * o.mlpRatio),
    posGrid,
    fusion,
    deepSup: [...seen].sort((a, b) => a - b),
  };
}

/**
 * Options from a golden-fixture / official config (`config` metadata of the
 * parity fixtures: `dims` plus the official `cfg`). Side patch size and MLP
 * ratio are not separate config keys in the official code (they come with the
 * timm model name): `dims.side_patch` / `dims.side_mlp_ratio` if present, else
 * parsed from `cfg.SIDE_ADAPTER.VIT_NAME` ("...patch16") and the recorded patch
 * text ("mlp_ratio=4"), else the absvit defaults 16 / 4.
 */
export function gstOptionsFromParityConfig(config: { dims: Record<string, unknown>; cfg: Record<string, unknown>; patches?: unknown }): GstOptionsInput {
  const d = config.dims;
  const sa = (config.cfg.SIDE_ADAPTER ?? {}) as Record<string, unknown>;
  const num = (v: unknown, key: string): number => {
    if (typeof v !== 'number') throw new ConfigError(`fixture config: ${key} missing or not a number`);
    return v;
  };
  const vitName = typeof sa.VIT_NAME === 'string' ? sa.VIT_NAME : '';
  const patchText = JSON.stringify(config.patches ?? []);
  const patchFromName = /patch(\d+)/.exec(vitName);
  const ratioFromText = /mlp_ratio=([\d.]+)/.exec(patchText);
  return {
    embedDim: num(d.side_embed, 'dims.side_embed'),
    depth: num(d.side_depth, 'dims.side_depth'),
    heads: num(d.side_heads, 'dims.side_heads'),
    mlpRatio: typeof d.side_mlp_ratio === 'number' ? d.side_mlp_ratio : ratioFromText ? Number(ratioFromText[1]) : 4,
    patchSize: typeof d.side_patch === 'number' ? d.side_patch : patchFromName ? Number(patchFromName[1]) : 16,
    imageSize: num(sa.IMAGE_SIZE ?? d.input_size, 'cfg.SIDE_ADAPTER.IMAGE_SIZE'),
    numQueries: num(d.num_queries ?? sa.NUM_QUERIES, 'dims.num_queries'),
    fusionMap: (d.fusion_map ?? sa.FUSION_MAP) as string[],
    deepSupervision: (d.deep_sup ?? sa.DEEP_SUPERVISION_IDXS) as number[],
    visWidth: num(d.vision_width, 'dims.vision_width'),
    textWidth: num(d.text_width, 'dims.text_width'),
    visDim: num(d.vis_dim, 'dims.vis_dim'),
    promptHidden: 32,
    topDownScale: 5,
    promptNorm: 'batch',
  };
}
