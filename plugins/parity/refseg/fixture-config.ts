/**
 * A run config (our JSON format) equivalent to an official BarLeRIa/ETRIS
 * fixture, built from the fixture's metadata alone: the official YAML values
 * (`cfg`), the tiny dims (`dims`, `derived`) and the documented patches.
 */
import type { JsonObject } from '../../../core/config/load.js';
import { gstOptionsFromParityConfig } from '../../adapters/gst/options.js';

export interface FixtureMeta {
  kind: 'barleria' | 'noglobal' | 'etris' | string;
  cfg: Record<string, unknown> & { SIDE_ADAPTER?: Record<string, unknown> };
  dims: Record<string, number | number[] | string[]>;
  derived: Record<string, number | number[]>;
}

export function fixtureRunConfig(meta: FixtureMeta, opts: { dropout?: number } = {}): JsonObject {
  const d = meta.dims as Record<string, number>;
  const dv = meta.derived as Record<string, number>;
  const cfg = meta.cfg as Record<string, unknown>;
  const useSide = meta.kind === 'barleria' || (meta.kind !== 'etris' && cfg.use_side === true);
  const backbone: JsonObject = {
    type: 'clip',
    preset: 'custom',
    visionWidth: d.vision_width!,
    visionLayers: d.vision_layers!,
    visionHeads: dv.vision_heads ?? Math.floor(d.vision_width! / 64),
    patchSize: d.patch!,
    pretrainedGrid: d.orig_grid!,
    textWidth: d.text_width!,
    textLayers: d.text_layers!,
    textHeads: dv.text_heads ?? Math.floor(d.text_width! / 64),
    vocabSize: d.vocab!,
    contextLength: d.context_length!,
    embedDim: d.embed_dim!,
    // The official code takes stage features after every 4th block (the first two).
    stageLayers: [4, 8].map((l) => Math.round((l * d.vision_layers!) / 12)),
  };
  const adapters: JsonObject[] = [];
  if (meta.kind === 'etris') {
    adapters.push({ type: 'bridger', dModel: d.ladder_dim!, nhead: d.nhead! });
  } else {
    if (cfg.use_snf !== false) adapters.push({ type: 'snf', flowLength: d.flow_length ?? (cfg.flow_length as number) });
    adapters.push({ type: 'lim', hidden: 32, reverse: cfg.use_txt_add === true });
    if (useSide) {
      const { visWidth: _v, textWidth: _t, visDim: _d, ...gst } = gstOptionsFromParityConfig(meta as never);
      adapters.push({ type: 'gst', ...(gst as unknown as JsonObject), promptNorm: 'batch' });
    }
  }
  const fpnOut = cfg.fpn_out as number[];
  return {
    input: { size: d.input_size!, wordLength: d.word_len! },
    runtime: { backend: 'auto', seed: 0 },
    model: {
      backbone,
      adapters,
      head: {
        type: 'cris',
        visDim: d.vis_dim!,
        fpnOut,
        strides: (cfg.stride as number[]) ?? [1, 1, 1],
        numLayers: d.num_layers!,
        numHeads: d.num_head!,
        dimFfn: d.dim_ffn!,
        dropout: opts.dropout ?? (cfg.dropout as number),
        neckHeads: d.neck_nhead ?? 8,
      },
      loss: { type: 'bce' },
      freeze: { backbone: 'pet' },
    },
    train: { optimizer: { type: 'adam', lr: (d.base_lr as number) ?? 1e-4, weightDecay: (d.weight_decay as number) ?? 0 } },
  };
}
