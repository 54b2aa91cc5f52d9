/** BarLeRIa GST side network (global shortcut tuning). */
export { GlobalShortcut, type GstForwardOptions, type GstOutputs } from './global-shortcut.js';
export { SideAdapterNetwork, AddFusion, FusionLayers, type CaptureFn, type SideInputs, type SideOutputs } from './side-adapter.js';
export { AbsVisionTransformer, SideBlock, SideAttention, SideMlp, DecodeBlock, PatchEmbed, SIDE_LN_EPS, type QkvWeights, type AbsViTOptions } from './absvit.js';
export { GstOptionsSchema, resolveGstOptions, parseFusionMap, gstOptionsFromParityConfig, type GstOptions, type GstOptionsInput, type ResolvedGstOptions } from './options.js';

import { Type, type Static } from '@sinclair/typebox';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import type { Adapter, AdapterContext, BackboneFeatures } from '../../../core/model/contracts.js';
import type { ForwardContext } from '../../../core/model/context.js';
import { GstOptionsSchema as FullSchema, parseFusionMap as parseMap } from './options.js';
import { GlobalShortcut as GST } from './global-shortcut.js';

/** Plugin options: the widths it plugs into come from the backbone and the head, not from the config. */
export const GstPluginOptions = Type.Omit(FullSchema, ['visWidth', 'textWidth', 'visDim'], { additionalProperties: false });
export type GstPluginOptions = Static<typeof GstPluginOptions>;

interface Streams {
  vision: { tokens: Tensor; prefix: number; grid: [number, number] };
}

interface Taps {
  patches: Map<number, Tensor>;
  words?: Tensor;
  padMask?: Tensor;
}

export function createGst(o: GstPluginOptions, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  if (!bb.towers.includes('text')) throw new ConfigError(`${ctx.where}: GST needs text features; the backbone has no text tower`);
  const neck = ctx.hooks.declared().find((p) => p.name === 'head.neck');
  if (!neck?.channels) throw new ConfigError(`${ctx.where}: GST adds its feature at the head's "head.neck" hook point; the head in this config does not publish one`);
  const sources = [...new Set(parseMap(o.fusionMap, o.depth, `${ctx.where}.fusionMap`).values())];
  for (const a of sources) if (a >= bb.visionLayers) throw new ConfigError(`${ctx.where}.fusionMap: CLIP block ${a} does not exist (${bb.visionLayers} vision blocks)`);
  const gst = new GST({ ...o, visWidth: bb.visionWidth, textWidth: bb.textWidth, visDim: neck.channels });
  gst.side_adapter_network.recompute = ctx.recompute ?? 'auto';
  const taps = (c: ForwardContext): Taps => {
    let t = c.scratch.get(gst) as Taps | undefined;
    if (!t) c.scratch.set(gst, (t = { patches: new Map() }));
    return t;
  };
  return {
    lrGroup: 'head',
    mounts: [
      ['side_adapter_network', gst.side_adapter_network],
      ['side_linear', gst.side_linear],
    ],
    requires: [...sources.map((a) => `block.${a}.after`), 'outputs', 'head.neck'],
    attach(hooks) {
      for (const a of sources) {
        hooks.on<Streams>(
          `block.${a}.after`,
          (s, c) => {
            const { tokens, prefix, grid } = s.vision;
            const [B, N, C] = tokens.shape as [number, number, number];
            taps(c).patches.set(a, tf.reshape(tf.slice(tokens, [0, prefix, 0], [B, N - prefix, C]), [B, grid[0], grid[1], C]));
            return s;
          },
          ctx.where,
        );
      }
      hooks.on<BackboneFeatures>(
        'outputs',
        (f, c) => {
          Object.assign(taps(c), { words: f.words, padMask: f.padMask });
          return f;
        },
        ctx.where,
      );
      hooks.on<Tensor>(
        'head.neck',
        (fq, c) => {
          const t = taps(c);
          const out = gst.forward({ image: c.inputs.image, clipPatches: t.patches, text: t.words!, padMask: t.padMask }, c.capturing ? { capture: (n, x) => c.capture(n, x) } : {});
          c.addLoss('var_loss', out.varLoss);
          return tf.add(fq, out.neckAdd);
        },
        ctx.where,
      );
    },
  };
}

export default definePlugin({
  kind: 'side',
  name: 'gst',
  description: 'BarLeRIa GST: side ViT with a text-derived global prior; adds to the neck output and reports var_loss',
  schema: GstPluginOptions,
  create: createGst,
});
