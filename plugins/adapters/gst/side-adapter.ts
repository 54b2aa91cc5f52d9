/**
 * The official `RegionwiseSideAdapterNetwork` (model/side_adapter/side_adapter.py)
 * as BarLeRIa uses it: query tokens + prompt tokens + side patches, CLIP
 * feature fusion, two passes through the absvit blocks with the global prior /
 * top-down feedback in between, deep-supervision outputs and var_loss. The
 * MLPMaskDecoder and the attention-bias branch are not built officially either.
 *
 * Layouts: image NHWC, CLIP features NHWC [B, h, w, Wv], tokens [B, N, C].
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module, type Parameter } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { LayerNorm2d } from '../../../core/nn/layers/layer-norm.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { Sequential } from '../../../core/nn/layers/sequential.js';
import { ReLU } from '../../../core/nn/layers/activations.js';
import { detach, normalize } from '../../../core/nn/functional.js';
import { interpolate } from '../../../core/nn/resize.js';
import { normal } from '../../../core/nn/init.js';
import { Checkpoint, shouldRecompute, type RecomputePolicy } from '../../../core/nn/checkpoint.js';
import { DataError } from '../../../core/errors.js';
import { AbsVisionTransformer, SIDE_LN_EPS } from './absvit.js';
import type { ResolvedGstOptions } from './options.js';

/** Called with every intermediate while it is alive (inside the forward's tidy): tf.keep or clone what you store. */
export type CaptureFn = (name: string, t: Tensor) => void;

/**
 * Official `AddFusion`: channels-first LayerNorm (eps 1e-6, biased variance over
 * channels per pixel) -> 1x1 conv with bias -> bilinear resize
 * (align_corners=False) to the side grid when the grids differ.
 */
export class AddFusion extends Module {
  readonly input_proj: Sequential;
  constructor(inChannels: number, outChannels: number) {
    super();
    this.input_proj = this.child('input_proj', new Sequential(new LayerNorm2d(inChannels, SIDE_LN_EPS), new Conv2d(inChannels, outChannels, 1)));
  }
  /** y NHWC [B, h', w', Wv] -> [B, h, w, Es] to add to the side patches. */
  forward(y: Tensor, grid: [number, number]): Tensor {
    return tf.tidy(() => {
      const z = this.input_proj.forward(y);
      const [, zh, zw] = z.shape as number[];
      return zh === grid[0] && zw === grid[1] ? z : interpolate(z, grid, 'bilinear', false);
    });
  }
}

/** `fusion_layers` (an nn.ModuleDict): children `layer_{k}`. */
export class FusionLayers extends Module {
  readonly layers = new Map<number, AddFusion>();
  constructor(targets: Iterable<number>, inChannels: number, outChannels: number) {
    super();
    for (const k of targets) this.layers.set(k, this.child(`layer_${k}`, new AddFusion(inChannels, outChannels)));
  }
}

export interface SideInputs {
  /** NHWC [B, S, S, 3], normalised as for CLIP. */
  image: Tensor;
  /** CLIP block index a -> NHWC [B, h', w', Wv] patch features after that block. */
  clipPatches: Map<number, Tensor>;
  /** [B, L, Wt]: CLIP text tokens after ln_final, padded positions included. */
  text: Tensor;
  /** [B, L] bool, true at padding; used only with `maskPadding`. */
  padMask?: Tensor;
}

export interface SideOutputs {
  /** Deep-supervision patch features, NHWC [B, h, w, Es], ascending block index. */
  xs: Tensor[];
  varLoss: Tensor;
}

export class SideAdapterNetwork extends Module {
  readonly vit_model: AbsVisionTransformer;
  readonly query_embed: Parameter;
  readonly query_pos_embed: Parameter;
  readonly fusion_layers: FusionLayers;
  readonly proj: Sequential;
  /** Recompute the side blocks in the backward pass (config `runtime.recompute`; auto above 400 MiB). */
  recompute: RecomputePolicy = 'auto';
  /** One per (pass, block). */
  private readonly checkpoints = new Map<string, Checkpoint>();
  constructor(readonly o: ResolvedGstOptions) {
    super();
    const C = o.embedDim;
    this.vit_model = this.child('vit_model', new AbsVisionTransformer({ embedDim: C, depth: o.depth, heads: o.heads, mlpHidden: o.mlpHidden, patchSize: o.patchSize, posGrid: o.posGrid }));
    this.query_embed = this.param('query_embed', () => normal([1, o.numQueries, C], 0.02));
    this.query_pos_embed = this.param('query_pos_embed', () => normal([1, o.numQueries, C], 0.02));
    this.fusion_layers = this.child('fusion_layers', new FusionLayers(o.fusion.keys(), o.visWidth, C));
    this.proj = this.child('proj', new Sequential(new Linear(o.textWidth, o.promptHidden), new ReLU(), new Linear(o.promptHidden, C)));
  }

  /** Runs inside the caller's tidy: every tensor it creates is collected there. */
  forwardFeatures(inp: SideInputs, capture?: CaptureFn): SideOutputs {
    const o = this.o;
    const vit = this.vit_model;
    const C = o.embedDim;
    const Q = o.numQueries;
    const [B] = inp.image.shape as number[];
    const [tb, L, tw] = inp.text.shape as number[];
    if (inp.image.rank !== 4 || inp.image.shape[3] !== 3) throw new DataError(`gst: image must be NHWC [B, S, S, 3], got [${inp.image.shape.join(', ')}]`);
    if (inp.text.rank !== 3 || tb !== B || tw !== o.textWidth) throw new DataError(`gst: text must be [${B}, L, ${o.textWidth}], got [${inp.text.shape.join(', ')}]`);

    // Patch tokens + position table (bicubic-resized when the grid differs from the configured one).
    const grid = vit.patch_embed.forward(inp.image); // [B, h, w, C]
    const [, h, w] = grid.shape as number[];
    const HW = h * w;
    let pos: Tensor = vit.pos_embed.value;
    if (h !== o.posGrid || w !== o.posGrid) {
      pos = tf.reshape(interpolate(tf.reshape(pos, [1, o.posGrid, o.posGrid, C]), [h, w], 'bicubic', false), [1, HW, C]);
    }
    const patches = tf.add(tf.reshape(grid, [B, HW, C]), pos);
    const queries = tf.tile(tf.add(this.query_embed.value, this.query_pos_embed.value), [B, 1, 1]);
    const prompt = this.proj.forward(inp.text); // [B, L, C]
    const prefix = Q + L;
    // Corrected behaviour (`maskPadding`, off in the paper configs): padded text positions
    // are left out of the prompt mean and masked as attention keys.
    const valid = o.maskPadding && inp.padMask ? tf.expandDims(tf.cast(tf.logicalNot(inp.padMask), 'float32'), 2) : undefined; // [B, L, 1]
    const keyBias = valid
      ? tf.reshape(tf.concat([tf.zeros([B, Q]), tf.mul(tf.sub(1, tf.squeeze(valid, [2])), -1e9), tf.zeros([B, HW])], 1), [B, 1, 1, Q + L + HW])
      : undefined;
    const N = prefix + HW;

    const fuse = (k: number, x: Tensor): Tensor => {
      const layer = this.fusion_layers.layers.get(k);
      if (!layer) return x;
      const a = o.fusion.get(k)!;
      const feat = inp.clipPatches.get(a);
      if (!feat) throw new DataError(`gst: fusion "${a}->${k}" needs the CLIP patch features after block ${a}, which were not given (have: ${[...inp.clipPatches.keys()].join(', ') || 'none'})`);
      if (feat.rank !== 4 || feat.shape[0] !== B || feat.shape[3] !== o.visWidth) throw new DataError(`gst: CLIP features of block ${a} must be NHWC [${B}, h, w, ${o.visWidth}], got [${feat.shape.join(', ')}]`);
      const add = tf.reshape(layer.forward(feat, [h, w]), [B, HW, C]);
      // Adding the zero-padded fusion output equals concat(prefix, patches + f) without slicing.
      return tf.add(x, tf.pad(add, [[0, 0], [prefix, 0], [0, 0]]));
    };

    const input = fuse(0, tf.concat([queries, prompt, patches], 1)); // [B, N, C]
    capture?.('side.pass1.in', input);

    // Pass 1: bottom-up, no top-down signal, no fusion after blocks.
    const blocks = vit.blocks.items;
    const qkvW = blocks.map((b) => b.attn.weights()); // sliced once, used by both passes
    // Checkpointed blocks (training memory): ~60 tensors of the tokens' size per block and pass.
    const recompute = capture === undefined && shouldRecompute(this.recompute, input.size * 4 * 60 * blocks.length * 2, 400 * 2 ** 20);
    const block = (pass: number, i: number, x: Tensor, td?: Tensor): Tensor => {
      if (!recompute) return blocks[i]!.forward(x, td, qkvW[i], keyBias);
      const w = qkvW[i]!;
      const ws = [w.wq, w.wk, w.wv, ...(w.bq ? [w.bq, w.bk!, w.bv!] : [])];
      const key = `${pass}.${i}`;
      let cp = this.checkpoints.get(key);
      if (!cp) this.checkpoints.set(key, (cp = new Checkpoint(`gst pass ${pass} block ${i}`)));
      return cp.runMany(
        (t) => {
          const [xi, tdi, wq, wk, wv, bq, bk, bv] = td ? t : [t[0]!, undefined, ...t.slice(1)];
          return blocks[i]!.forward(xi!, tdi, { wq: wq!, wk: wk!, wv: wv!, ...(bq ? { bq, bk, bv } : {}) }, keyBias);
        },
        td ? [x, td, ...ws] : [x, ...ws],
        [keyBias],
      );
    };
    let x = input;
    blocks.forEach((_, i) => {
      x = block(1, i, x);
      capture?.(`side.pass1.block${i}`, x);
    });

    // Global prior (official, quirk included): p = mean prompt; cosine mask with p
    // normalised over the batch axis ('batch') or per sample ('sample');
    // y = topDownScale · (x ⊙ mask) @ (p pᵀ) with the unnormalised p, computed as the
    // rank-1 product ((x ⊙ mask)·p) pᵀ (never forms the [B, C, C] matrix).
    const p = valid ? tf.div(tf.sum(tf.mul(prompt, valid), 1), tf.maximum(tf.sum(valid, 1), 1)) : tf.mean(prompt, 1); // [B, C]
    const pn = normalize(p, o.promptNorm === 'batch' ? 0 : 1);
    const p3 = tf.reshape(p, [B, 1, C]);
    const cos = tf.sum(tf.mul(normalize(x, 2), tf.reshape(pn, [B, 1, C])), 2, true); // [B, N, 1]
    const xm = tf.mul(x, tf.clipByValue(cos, 0, 1));
    const y = tf.mul(tf.mul(tf.sum(tf.mul(xm, p3), 2, true), p3), o.topDownScale);
    const td = vit.feedback(y);
    td.forEach((t, i) => capture?.(`side.td.${i}`, t));

    // Pass 2: from the fused input, block i gets td[i]; fusion k after the k-th block.
    x = input;
    const inVar: Tensor[] = [];
    const outVar: Tensor[] = [];
    const xs: Tensor[] = [];
    blocks.forEach((_, i) => {
      inVar.push(x);
      x = block(2, i, x, td[i]);
      outVar.push(x);
      capture?.(`side.pass2.block${i}`, x);
      const idx = i + 1;
      x = fuse(idx, x);
      if (o.deepSup.includes(idx)) {
        const j = xs.length;
        const patchTokens = tf.slice(x, [0, prefix, 0], [B, HW, C]);
        xs.push(tf.reshape(patchTokens, [B, h, w, C]));
        if (capture) {
          capture(`side.x.${j}`, xs[j]!);
          capture(`side.query.${j}`, tf.slice(x, [0, 0, 0], [B, Q, C]));
        }
      }
    });

    // var_loss = Σ_d mean((decoders[d].linear(out_d) − in_d)²), inputs detached:
    // only the decoders' `linear` weights receive gradient from it.
    let varLoss: Tensor = tf.scalar(0);
    for (let d = blocks.length - 1; d >= 0; d--) {
      const recon = tf.matMul(tf.reshape(detach(outVar[d]!), [B * N, C]), vit.decoders.at(d).linear.weight.value);
      varLoss = tf.add(varLoss, tf.mean(tf.squaredDifference(recon, tf.reshape(detach(inVar[d]!), [B * N, C]))));
    }
    capture?.('side.var_loss', varLoss);
    return { xs, varLoss };
  }
}
