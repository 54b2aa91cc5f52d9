/**
 * adapter/bridger: ETRIS's Bridger. After every `interval`-th CLIP block it
 * zooms the patch tokens and the text tokens into a small space, lets them
 * attend to each other (InteractorT, product gating), zooms out and adds the
 * results back into both streams (the class token and any inserted prefix
 * tokens are untouched), via the backbone's `block.<i>.after` hook points.
 */
import { Type, type Static } from '@sinclair/typebox';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import type { Adapter, AdapterContext } from '../../../core/model/contracts.js';
import type { ForwardContext } from '../../../core/model/context.js';
import { Bridger, fusionBlocks, type BridgerCarry } from './bridger.js';

export const BridgerOptionsSchema = Type.Object(
  {
    dModel: Type.Integer({ minimum: 1, default: 64, description: 'Width of the bridge (official ladder_dim 64).' }),
    nhead: Type.Integer({ minimum: 1, default: 8, description: 'Heads of the interactors (official nhead 8).' }),
    interval: Type.Integer({ minimum: 1, default: 4, description: 'Fuse after every interval-th vision block (official 4: blocks 3, 7, 11).' }),
    blocks: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { description: 'Explicit 0-based blocks to fuse after (overrides interval).' })),
    strides: Type.Integer({ minimum: 1, default: 1, description: 'Zoom kernel = stride (official 1 for ViT).' }),
    maskPadding: Type.Boolean({
      default: false,
      description: 'Corrected behaviour (off in the paper configs): padded text positions are masked out of the vision-to-text interaction. The official Bridger attends to them.',
    }),
  },
  { additionalProperties: false },
);
export type BridgerPluginOptions = Static<typeof BridgerOptionsSchema>;

interface Streams {
  vision: { tokens: Tensor; prefix: number; grid: [number, number] };
  text: { tokens: Tensor; prefix: number; ids: Tensor; padMask: Tensor };
}

/** Add `add` [B, n, C] to the last n rows of tokens [B, P + n, C]. */
function addToTail(tokens: Tensor, add: Tensor): Tensor {
  const P = tokens.shape[1]! - add.shape[1]!;
  return tf.add(tokens, P ? tf.pad(add, [[0, 0], [P, 0], [0, 0]]) : add);
}

export function createBridger(o: BridgerPluginOptions, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  if (!bb.towers.includes('text')) throw new ConfigError(`${ctx.where}: the Bridger needs a backbone with a text tower`);
  const stages = o.blocks ?? fusionBlocks(bb.visionLayers, o.interval);
  for (const b of stages) if (b >= bb.visionLayers) throw new ConfigError(`${ctx.where}.blocks: ${b} is past the ${bb.visionLayers} vision blocks`);
  const bridger = new Bridger({ visWidth: bb.visionWidth, textWidth: bb.textWidth, dModel: o.dModel, nhead: o.nhead, stages, strides: o.strides });
  const handler = (s: number) => (st: Streams, fctx: ForwardContext): Streams => {
    const carry = s > 0 ? (fctx.scratch.get(bridger) as BridgerCarry | undefined) : undefined;
    const { vision, text } = st;
    const [B, N, C] = vision.tokens.shape as [number, number, number];
    const [gh, gw] = vision.grid;
    const patches = tf.reshape(tf.slice(vision.tokens, [0, vision.prefix, 0], [B, N - vision.prefix, C]), [B, gh, gw, C]);
    const words = text.prefix ? tf.slice(text.tokens, [0, text.prefix, 0], [B, text.tokens.shape[1]! - text.prefix, text.tokens.shape[2]!]) : text.tokens;
    const r = bridger.stage(s, patches, words, carry, fctx.capturing ? (tap, i, t) => fctx.capture(`bridger.${tap}.${i}`, t) : undefined, o.maskPadding ? text.padMask : undefined);
    if (r.carry) fctx.scratch.set(bridger, r.carry);
    return {
      vision: { ...vision, tokens: addToTail(vision.tokens, tf.reshape(r.visAdd, [B, gh * gw, C])) },
      text: { ...text, tokens: addToTail(text.tokens, r.textAdd) },
    };
  };
  return {
    lrGroup: 'backbone',
    mounts: [['bridger', bridger]],
    requires: stages.map((b) => `block.${b}.after`),
    attach(hooks) {
      stages.forEach((b, s) => hooks.on<Streams>(`block.${b}.after`, handler(s), ctx.where));
    },
  };
}

export default definePlugin({
  kind: 'adapter',
  name: 'bridger',
  description: 'ETRIS Bridger: vision-text interaction every 4th CLIP block, added back into both streams',
  schema: BridgerOptionsSchema,
  create: createBridger,
});
