/**
 * adapter/lim: BarLeRIa's local intertwined module. The text input embeddings
 * (token + positional, padding positions included) are projected
 * Linear(Wt, hidden) -> ReLU -> Linear(hidden, Wv) and inserted into the vision
 * sequence between the class token and the patches; both towers then run layer
 * by layer (the backbone's joint walk). Optional reverse direction: the vision
 * class token projected into the text stream (official `use_txt_add`, off).
 */
import { Type, type Static } from '@sinclair/typebox';
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { ConfigError } from '../../../core/errors.js';
import { Module } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { ReLU } from '../../../core/nn/layers/activations.js';
import { Sequential } from '../../../core/nn/layers/sequential.js';
import { normal } from '../../../core/nn/init.js';
import type { Adapter, AdapterContext } from '../../../core/model/contracts.js';

export const LimOptions = Type.Object(
  {
    hidden: Type.Integer({ minimum: 1, default: 32, description: 'Bottleneck width of the prompt projection.' }),
    reverse: Type.Boolean({ default: false, description: 'Also project the vision class token into the text stream (official use_txt_add; off in the paper).' }),
    initStd: Type.Number({ minimum: 0, default: 0.02, description: 'Linear weights start N(0, std), biases 0 (official).' }),
    maskPadding: Type.Boolean({
      default: false,
      description: 'Corrected behaviour (off in the paper configs): prompts made from padded text positions are zeroed and masked out of the vision attention. The official code inserts them like real words.',
    }),
  },
  { additionalProperties: false },
);
export type LimOptions = Static<typeof LimOptions>;

/** Values of the backbone's `embed` hook point (see plugins/backbones/clip/README.md). */
interface Streams {
  vision: { tokens: Tensor; prefix: number; grid: [number, number]; keyPaddingMask?: Tensor };
  text: { tokens: Tensor; prefix: number; ids: Tensor; padMask: Tensor };
}

function projection(inDim: number, hidden: number, outDim: number, std: number): Sequential {
  const a = new Linear(inDim, hidden);
  const b = new Linear(hidden, outDim);
  for (const l of [a, b]) {
    tf.tidy(() => {
      l.weight.variable.assign(tf.transpose(normal([l.outFeatures, l.inFeatures], std)));
      l.bias!.variable.assign(tf.zeros([l.outFeatures]));
    });
  }
  return new Sequential(a, new ReLU(), b);
}

export class Intertwiner extends Module {
  readonly proj: Sequential;
  readonly proj_txt?: Sequential;
  private readonly maskPadding: boolean;
  constructor(textWidth: number, visionWidth: number, o: LimOptions) {
    super();
    this.maskPadding = o.maskPadding;
    this.proj = this.child('proj', projection(textWidth, o.hidden, visionWidth, o.initStd));
    if (o.reverse) this.proj_txt = this.child('proj_txt', projection(visionWidth, o.hidden, textWidth, o.initStd));
  }

  /** Insert the projected text embeddings after the class token. */
  intertwine(s: Streams): Streams {
    const { tokens, prefix, grid } = s.vision;
    const [B, N, W] = tokens.shape as [number, number, number];
    let prompts = this.proj.forward(s.text.tokens);
    let keyPaddingMask = s.vision.keyPaddingMask;
    if (this.maskPadding) {
      const pad = s.text.padMask; // [B, L] bool
      prompts = tf.mul(prompts, tf.expandDims(tf.cast(tf.logicalNot(pad), 'float32'), 2));
      const none = (n: number) => tf.zeros([B, n], 'bool');
      const before = keyPaddingMask ? tf.slice(keyPaddingMask, [0, 0], [B, 1]) : none(1);
      const after = keyPaddingMask ? tf.slice(keyPaddingMask, [0, 1], [B, N - 1]) : none(N - 1);
      keyPaddingMask = tf.concat([before, pad, after], 1);
    }
    const head = tf.slice(tokens, [0, 0, 0], [B, 1, W]);
    const rest = tf.slice(tokens, [0, 1, 0], [B, N - 1, W]);
    let text = s.text;
    if (this.proj_txt) {
      // Reverse direction (official use_txt_add): the class token, projected, is
      // prepended to the text stream; the backbone drops it before ln_final so
      // word features and the EOT state keep their positions.
      const add = this.proj_txt.forward(head);
      text = { ...text, tokens: tf.concat([add, text.tokens], 1), prefix: text.prefix + 1 };
    }
    return { vision: { tokens: tf.concat([head, prompts, rest], 1), prefix: prefix + prompts.shape[1]!, grid, ...(keyPaddingMask ? { keyPaddingMask } : {}) }, text };
  }
}

export function createLim(o: LimOptions, ctx: AdapterContext): Adapter {
  const bb = ctx.backbone;
  if (!bb.towers.includes('text') || !bb.towers.includes('vision')) {
    throw new ConfigError(`${ctx.where}: LIM intertwines text into the vision stream and needs a backbone with both towers (this one has: ${bb.towers.join(', ')})`);
  }
  const module = new Intertwiner(bb.textWidth, bb.visionWidth, o);
  return {
    lrGroup: 'backbone',
    mounts: [['intertwiner', module]],
    requires: ['embed'],
    attach(hooks) {
      hooks.on<Streams>('embed', (s) => module.intertwine(s), ctx.where);
    },
  };
}

export default definePlugin({
  kind: 'adapter',
  name: 'lim',
  description: 'BarLeRIa LIM: text embeddings intertwined into the vision stream, towers run layer by layer',
  schema: LimOptions,
  create: createLim,
});
