/**
 * ETRIS Bridger (official `model/bridger.py` `Bridger_ViT`, ICCV 2023): a
 * lightweight side module that fuses the frozen CLIP vision and text streams
 * after every few blocks.
 *
 * At fusion stage s (after CLIP block `stages[s]`):
 *   v = zoom_in[s](patch tokens as an image)            -> [B, h, w, d]
 *   t = linear1[s](text tokens)                          -> [B, L, d]
 *   s > 0: v = ln_v[s-1](v + v_prev), t = ln_t[s-1](t + t_prev)
 *   (v_prev, t_prev) = (v, t)                            -- the carry to stage s+1
 *   v' = v ⊙ MHA_v(q = v, k = v = t), t' = t ⊙ MHA_t(q = t, k = v = v)   (simultaneous)
 *   patch tokens += zoom_out[s](v'),  text tokens += linear2[s](t')
 * No attention masks: padded text positions take part, as in the official code.
 *
 * zoom_in/zoom_out are conv_layer / deconv_layer (conv, BatchNorm2d, ReLU) with
 * kernel = stride = strides[s]: stages before the last use Conv2d in and
 * ConvTranspose2d out; the last stage the other way round (ConvTranspose2d in,
 * Conv2d out). With the official ViT strides [1, 1, 1] all of them are 1x1
 * (matmuls over channels in the core layers).
 *
 * Layouts: images NHWC [B, H, W, C], token sequences batch-first [B, L, C];
 * the flattened spatial index is row·W + col as in PyTorch, so NHWC patches
 * reshape to tokens without a transpose. Child and parameter names are the
 * official ones (`zoom_in.{s}.{0,1}`, `zoom_out.{s}.{0,1}`, `linear1.{s}`,
 * `linear2.{s}`, `ln_v.{s-1}`, `ln_t.{s-1}`, `fusion_{v,t}.{s}.multihead_attn.*`),
 * so mounting a Bridger at `bridger` loads `bridger.*` of an ETRIS state dict.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { ConvTranspose2d } from '../../../core/nn/layers/conv-transpose2d.js';
import { BatchNorm2d } from '../../../core/nn/layers/batch-norm2d.js';
import { ReLU } from '../../../core/nn/layers/activations.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { MultiheadAttention } from '../../../core/nn/layers/multihead-attention.js';
import { ModuleList, Sequential } from '../../../core/nn/layers/sequential.js';
import { ConfigError } from '../../../core/errors.js';

/** Official ETRIS fusion interval: a fusion after every 4th CLIP block ((i + 1) % 4 == 0). */
export const ETRIS_FUSION_INTERVAL = 4;

/**
 * CLIP block indices after which the Bridger fuses: i in [0, numLayers) with
 * (i + 1) % interval == 0, e.g. [3, 7, 11] for 12 layers and interval 4.
 */
export function fusionBlocks(numLayers: number, interval = ETRIS_FUSION_INTERVAL): number[] {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new ConfigError(`bridger: layer count must be a positive integer, got ${numLayers}`);
  if (!Number.isInteger(interval) || interval < 1) throw new ConfigError(`bridger: fusion interval must be a positive integer, got ${interval}`);
  const out: number[] = [];
  for (let i = 0; i < numLayers; i++) if ((i + 1) % interval === 0) out.push(i);
  if (!out.length) throw new ConfigError(`bridger: no fusion stage for ${numLayers} layers with interval ${interval} (need at least ${interval} layers)`);
  return out;
}

export interface BridgerOptions {
  /** Vision width per stage (official d_img), or one width for every stage. */
  visWidth: number | readonly number[];
  /** Text width (official d_txt). */
  textWidth: number;
  /** Bridge width (official d_model = cfg.ladder_dim). */
  dModel: number;
  /** Attention heads of the interactors (official nhead = cfg.nhead). */
  nhead: number;
  /** CLIP block indices after which a fusion happens, strictly increasing (see `fusionBlocks`). */
  stages: readonly number[];
  /** Zoom kernel = stride per stage (official strides, [1, 1, 1] for ViT); one number for all. Default 1. */
  strides?: number | readonly number[];
  /** Attention dropout of the interactors in training (official InteractorT default 0). */
  dropout?: number;
}

/** Official `InteractorT`: tgt ⊙ MHA(query = tgt, key = value = memory), no masks, no positions. */
export class InteractorT extends Module {
  readonly multiheadAttn: MultiheadAttention;
  constructor(dModel: number, nhead: number, dropout = 0) {
    super();
    this.multiheadAttn = this.child('multihead_attn', new MultiheadAttention(dModel, nhead, { dropout, batchFirst: true }));
  }
  /** tgt [B, Lq, d], memory [B, Lk, d] -> [B, Lq, d]; keyPaddingMask [B, Lk] bool masks memory positions. */
  forward(tgt: Tensor, memory: Tensor, keyPaddingMask?: Tensor): Tensor {
    return tf.tidy(() => tf.mul(tgt, this.multiheadAttn.forward(tgt, memory, memory, keyPaddingMask ? { keyPaddingMask } : {})));
  }
}

/** What stage s + 1 needs from stage s: its (v, t) right before the interaction (after its LayerNorm, if any). */
export interface BridgerCarry {
  /** [B, h·w, d] */
  v: Tensor;
  /** [B, L, d] */
  t: Tensor;
}

export interface BridgerStageResult {
  /** NHWC [B, H, W, Wv]: add to the patch tokens (not CLS). */
  visAdd: Tensor;
  /** [B, L, Wt]: add to the text tokens. */
  textAdd: Tensor;
  /** Input of the next stage; absent after the last stage. */
  carry?: BridgerCarry;
}

/** Names of the intermediates a capture callback sees (the official `bridger.<name>.{s}` hooks). */
export type BridgerTap = 'zoom_in' | 'fusion_v' | 'fusion_t' | 'zoom_out' | 'linear2';

/**
 * Called with each intermediate of a stage: zoom_in NHWC [B, h, w, d],
 * fusion_v [B, h·w, d], fusion_t [B, L, d], zoom_out NHWC [B, H, W, Wv],
 * linear2 [B, L, Wt]. The tensor is disposed when the stage returns: read it
 * synchronously or keep a copy (`tf.keep(t.clone())`).
 */
export type BridgerCapture = (name: BridgerTap, stage: number, t: Tensor) => void;

type Zoom = Sequential;

function perStage(value: number | readonly number[] | undefined, fallback: number, n: number, what: string): number[] {
  const v = value ?? fallback;
  const list = typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
  if (list.length !== n) throw new ConfigError(`bridger: ${what} has ${list.length} entries, expected one per stage (${n})`);
  for (const x of list) if (!Number.isInteger(x) || x < 1) throw new ConfigError(`bridger: ${what} must be positive integers, got ${JSON.stringify(value)}`);
  return list;
}

export class Bridger extends Module {
  readonly numStages: number;
  readonly stages: readonly number[];
  readonly visWidths: readonly number[];
  readonly textWidth: number;
  readonly dModel: number;
  readonly strides: readonly number[];
  readonly zoomIn: ModuleList<Zoom>;
  readonly zoomOut: ModuleList<Zoom>;
  readonly linear1: ModuleList<Linear>;
  readonly linear2: ModuleList<Linear>;
  readonly lnV: ModuleList<LayerNorm>;
  readonly lnT: ModuleList<LayerNorm>;
  readonly fusionV: ModuleList<InteractorT>;
  readonly fusionT: ModuleList<InteractorT>;
  private readonly stageOf = new Map<number, number>();

  constructor(opts: BridgerOptions) {
    super();
    const stages = [...opts.stages];
    if (!stages.length) throw new ConfigError('bridger: stages is empty; expected the CLIP block indices after which to fuse');
    stages.forEach((b, i) => {
      if (!Number.isInteger(b) || b < 0 || (i > 0 && b <= stages[i - 1]!)) {
        throw new ConfigError(`bridger: stages must be strictly increasing block indices >= 0, got ${JSON.stringify(opts.stages)}`);
      }
    });
    const S = stages.length;
    for (const [k, x] of [['textWidth', opts.textWidth], ['dModel', opts.dModel], ['nhead', opts.nhead]] as const) {
      if (!Number.isInteger(x) || x < 1) throw new ConfigError(`bridger: ${k} must be a positive integer, got ${x}`);
    }
    if (opts.dModel % opts.nhead) throw new ConfigError(`bridger: dModel ${opts.dModel} is not divisible by nhead ${opts.nhead}`);
    this.numStages = S;
    this.stages = stages;
    stages.forEach((b, s) => this.stageOf.set(b, s));
    this.visWidths = perStage(opts.visWidth, 0, S, 'visWidth');
    this.strides = perStage(opts.strides, 1, S, 'strides');
    this.textWidth = opts.textWidth;
    const d = (this.dModel = opts.dModel);
    const dropout = opts.dropout ?? 0;

    // Children in the official registration order.
    const zIn: Zoom[] = [];
    const zOut: Zoom[] = [];
    for (let s = 0; s < S; s++) {
      const c = this.visWidths[s]!;
      const k = this.strides[s]!;
      const conv = (i: number, o: number) => new Conv2d(i, o, k, { stride: k, bias: false });
      const deconv = (i: number, o: number) => new ConvTranspose2d(i, o, k, { stride: k, bias: false });
      const last = s === S - 1;
      zIn.push(new Sequential(last ? deconv(c, d) : conv(c, d), new BatchNorm2d(d), new ReLU()));
      zOut.push(new Sequential(last ? conv(d, c) : deconv(d, c), new BatchNorm2d(c), new ReLU()));
    }
    this.zoomIn = this.child('zoom_in', new ModuleList(zIn));
    this.zoomOut = this.child('zoom_out', new ModuleList(zOut));
    this.linear1 = this.child('linear1', new ModuleList(stages.map(() => new Linear(opts.textWidth, d))));
    this.linear2 = this.child('linear2', new ModuleList(stages.map(() => new Linear(d, opts.textWidth))));
    this.fusionV = this.child('fusion_v', new ModuleList(stages.map(() => new InteractorT(d, opts.nhead, dropout))));
    this.fusionT = this.child('fusion_t', new ModuleList(stages.map(() => new InteractorT(d, opts.nhead, dropout))));
    this.lnV = this.child('ln_v', new ModuleList(stages.slice(1).map(() => new LayerNorm(d))));
    this.lnT = this.child('ln_t', new ModuleList(stages.slice(1).map(() => new LayerNorm(d))));
  }

  /** The stage index fused after CLIP block `block`, or -1 when none is. */
  stageAfterBlock(block: number): number {
    return this.stageOf.get(block) ?? -1;
  }

  /**
   * One fusion stage. visPatches NHWC [B, H, W, Wv_s] (patch tokens only),
   * text [B, L, Wt]; `carry` is the previous stage's result (required for
   * s > 0). Returns new tensors owned by the caller (visAdd, textAdd and the
   * carry's v, t); the inputs, including `carry`, are not disposed.
   */
  stage(s: number, visPatches: Tensor, text: Tensor, carry?: BridgerCarry, capture?: BridgerCapture, textPadMask?: Tensor): BridgerStageResult {
    if (!Number.isInteger(s) || s < 0 || s >= this.numStages) throw new RangeError(`Bridger.stage: stage ${s} out of range [0, ${this.numStages})`);
    const c = this.visWidths[s]!;
    if (visPatches.rank !== 4 || visPatches.shape[3] !== c) {
      throw new RangeError(`Bridger.stage ${s}: visPatches must be NHWC [B, H, W, ${c}], got [${visPatches.shape}]`);
    }
    const [B, H, W] = visPatches.shape as [number, number, number, number];
    if (text.rank !== 3 || text.shape[0] !== B || text.shape[2] !== this.textWidth) {
      throw new RangeError(`Bridger.stage ${s}: text must be [${B}, L, ${this.textWidth}], got [${text.shape}]`);
    }
    const k = this.strides[s]!;
    if (s < this.numStages - 1 && (H % k || W % k)) {
      throw new RangeError(`Bridger.stage ${s}: grid ${H}x${W} is not divisible by the zoom stride ${k}`);
    }
    if (s > 0 && !carry) throw new RangeError(`Bridger.stage ${s}: the carry of stage ${s - 1} is required`);
    const wantCarry = s < this.numStages - 1;
    const out = tf.tidy(() => {
      const vImg = this.zoomIn.at(s).forward(visPatches); // [B, h, w, d]
      capture?.('zoom_in', s, vImg);
      const [, h, w, d] = vImg.shape as [number, number, number, number];
      let v = tf.reshape(vImg, [B, h * w, d]);
      let t = this.linear1.at(s).forward(text);
      if (s > 0) {
        if (carry!.v.shape[1] !== h * w || carry!.t.shape[1] !== t.shape[1]) {
          throw new RangeError(`Bridger.stage ${s}: carry has ${carry!.v.shape[1]} visual / ${carry!.t.shape[1]} text tokens, this stage ${h * w} / ${t.shape[1]}`);
        }
        v = this.lnV.at(s - 1).forward(tf.add(v, carry!.v));
        t = this.lnT.at(s - 1).forward(tf.add(t, carry!.t));
      }
      // Official: no mask, padded text positions take part. `textPadMask` is the corrected behaviour.
      const fv = this.fusionV.at(s).forward(v, t, textPadMask);
      const ft = this.fusionT.at(s).forward(t, v);
      capture?.('fusion_v', s, fv);
      capture?.('fusion_t', s, ft);
      const visAdd = this.zoomOut.at(s).forward(tf.reshape(fv, [B, h, w, d]));
      const textAdd = this.linear2.at(s).forward(ft);
      capture?.('zoom_out', s, visAdd);
      capture?.('linear2', s, textAdd);
      if (visAdd.shape[1] !== H || visAdd.shape[2] !== W) {
        throw new RangeError(`Bridger.stage ${s}: zoom_out gives ${visAdd.shape[1]}x${visAdd.shape[2]}, patches are ${H}x${W}`);
      }
      return wantCarry ? { visAdd, textAdd, v, t } : { visAdd, textAdd };
    }) as { visAdd: Tensor; textAdd: Tensor; v?: Tensor; t?: Tensor };
    return wantCarry ? { visAdd: out.visAdd, textAdd: out.textAdd, carry: { v: out.v!, t: out.t! } } : { visAdd: out.visAdd, textAdd: out.textAdd };
  }

  /**
   * A stage applied to whole batch-first token sequences, as the official
   * in-place update: visTokens [B, 1 + H·W, Wv] (CLS first, then patches
   * row-major), text [B, L, Wt]. Returns the updated sequences (CLS untouched)
   * and the carry; the grid defaults to the official H = floor(sqrt(N)),
   * W = N / H.
   */
  fuseTokens(
    s: number,
    visTokens: Tensor,
    text: Tensor,
    carry?: BridgerCarry,
    opts: { grid?: [number, number]; capture?: BridgerCapture } = {},
  ): { vis: Tensor; text: Tensor; carry?: BridgerCarry } {
    const [B, N1, C] = visTokens.shape as [number, number, number];
    const N = N1 - 1;
    const H = opts.grid?.[0] ?? Math.floor(Math.sqrt(N));
    const W = opts.grid?.[1] ?? Math.floor(N / H);
    if (H * W !== N) throw new RangeError(`Bridger.fuseTokens: ${N} patch tokens do not form a ${H}x${W} grid`);
    let carryOut: BridgerCarry | undefined;
    const res = tf.tidy(() => {
      const patches = tf.reshape(tf.slice(visTokens, [0, 1, 0], [B, N, C]), [B, H, W, C]);
      const r = this.stage(s, patches, text, carry, opts.capture);
      if (r.carry) carryOut = { v: tf.keep(r.carry.v), t: tf.keep(r.carry.t) };
      // CLS row gets + 0 (exact): one pad instead of slice + concat.
      const add = tf.pad(tf.reshape(r.visAdd, [B, N, C]), [[0, 0], [1, 0], [0, 0]]);
      return { vis: tf.add(visTokens, add), text: tf.add(text, r.textAdd) };
    });
    return carryOut ? { ...res, carry: carryOut } : res;
  }
}
