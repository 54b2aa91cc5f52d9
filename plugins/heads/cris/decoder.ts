/**
 * The CRIS-style vision-language transformer decoder (BarLeRIa `Decoder`,
 * ETRIS `GA`) with the official parameter names, batch-first: visual tokens
 * [B, H·W, C] attend to themselves and to the word features [B, L, D].
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { Dropout } from '../../../core/nn/layers/dropout.js';
import { ReLU } from '../../../core/nn/layers/activations.js';
import { MultiheadAttention, scaledDotProductAttention } from '../../../core/nn/layers/multihead-attention.js';
import { ModuleList, Sequential } from '../../../core/nn/layers/sequential.js';
import { ConfigError } from '../../../core/errors.js';
import { Rng } from '../../../core/nn/rng.js';
import { ConstantCache, clearConstants, sinePositions1d, sinePositions2d, type HasConstants } from './constants.js';

/** x [B, L, Cin] @ w [Cin, Cout] (+ b) -> [B, L, Cout] as one 2-D matmul. */
function project(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [B, L, C] = x.shape as [number, number, number];
  let y = tf.matMul(tf.reshape(x, [B * L, C]), w);
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [B, L, w.shape[1]!]);
}

/**
 * nn.MultiheadAttention forward on batch-first inputs, with the packed q/k
 * projection done as one matmul when query and key are the same tensor
 * (self-attention with q = k = x + pos).
 */
export function attend(mha: MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, keyPaddingMask?: Tensor, dropoutSeed?: number): Tensor {
  return tf.tidy(() => {
    const E = mha.embedDim;
    const bias = mha.inProjBias?.value;
    const bSlice = (i: number, n = 1) => (bias ? tf.slice(bias, [i * E], [n * E]) : undefined);
    let q: Tensor;
    let k: Tensor;
    let v: Tensor;
    if (mha.inProjWeight) {
      const w = mha.inProjWeight.value; // [E, 3E] = q | k | v columns
      if (query === key) {
        const qk = project(query, tf.slice(w, [0, 0], [E, 2 * E]), bSlice(0, 2));
        [q, k] = tf.split(qk, 2, 2) as [Tensor, Tensor];
      } else {
        q = project(query, tf.slice(w, [0, 0], [E, E]), bSlice(0));
        k = project(key, tf.slice(w, [0, E], [E, E]), bSlice(1));
      }
      v = project(value, tf.slice(w, [0, 2 * E], [E, E]), bSlice(2));
    } else {
      q = project(query, mha.qProjWeight!.value, bSlice(0));
      k = project(key, mha.kProjWeight!.value, bSlice(1));
      v = project(value, mha.vProjWeight!.value, bSlice(2));
    }
    const out = scaledDotProductAttention(q, k, v, mha.numHeads, { keyPaddingMask, dropout: mha.training ? mha.dropout : 0, dropoutSeed });
    return mha.outProj.forward(out);
  });
}

export interface DecoderLayerOptions {
  dModel: number;
  nhead: number;
  dimFfn: number;
  dropout: number;
  /** Width of the word features (official: = dModel; other widths use separate q/k/v projection weights). */
  textWidth?: number;
  /** Seed of this layer's dropout masks (each dropout site draws its own stream). */
  seed?: number;
}

/** Official `DecoderLayer` / `GALayer` (pre-norm, with extra LayerNorms after each attention). */
export class DecoderLayer extends Module {
  readonly selfAttnNorm: LayerNorm;
  readonly crossAttnNorm: LayerNorm;
  readonly selfAttn: MultiheadAttention;
  readonly multiheadAttn: MultiheadAttention;
  readonly ffn: Sequential;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly dropout3: Dropout;
  private readonly rng: Rng;

  constructor(o: DecoderLayerOptions) {
    super();
    const d = o.dModel;
    const tw = o.textWidth ?? d;
    this.rng = this.randomStream('dropout_seeds', o.seed);
    const dropout = () => new Dropout(o.dropout, this.rng.seed());
    this.selfAttnNorm = this.child('self_attn_norm', new LayerNorm(d));
    this.crossAttnNorm = this.child('cross_attn_norm', new LayerNorm(d));
    this.selfAttn = this.child('self_attn', new MultiheadAttention(d, o.nhead, { dropout: o.dropout }));
    this.multiheadAttn = this.child('multihead_attn', new MultiheadAttention(d, o.nhead, { dropout: o.dropout, kdim: tw, vdim: tw }));
    // Official indexes: 0 Linear, 1 ReLU, 2 Dropout, 3 LayerNorm(dim_ffn), 4 Linear.
    this.ffn = this.child('ffn', new Sequential(new Linear(d, o.dimFfn), new ReLU(), dropout(), new LayerNorm(o.dimFfn), new Linear(o.dimFfn, d)));
    this.norm1 = this.child('norm1', new LayerNorm(d));
    this.norm2 = this.child('norm2', new LayerNorm(d));
    this.norm3 = this.child('norm3', new LayerNorm(d));
    this.dropout1 = this.child('dropout1', dropout());
    this.dropout2 = this.child('dropout2', dropout());
    this.dropout3 = this.child('dropout3', dropout());
  }

  private attnSeed(mha: MultiheadAttention): number | undefined {
    return mha.training && mha.dropout > 0 ? this.rng.seed() : undefined;
  }

  /**
   * vis [B, N, C]; visPos [1, N, C]; txt [B, L, D]; txtKey = txt + txtPos [B, L, D];
   * padMask [B, L] (true = padding).
   */
  forward(vis: Tensor, visPos: Tensor, txt: Tensor, txtKey: Tensor, padMask?: Tensor): Tensor {
    return tf.tidy(() => {
      let v2 = this.norm1.forward(vis);
      const qk = tf.add(v2, visPos);
      let a = attend(this.selfAttn, qk, qk, v2, undefined, this.attnSeed(this.selfAttn));
      let x = tf.add(vis, this.dropout1.forward(this.selfAttnNorm.forward(a)));
      v2 = this.norm2.forward(x);
      a = attend(this.multiheadAttn, tf.add(v2, visPos), txtKey, txt, padMask, this.attnSeed(this.multiheadAttn));
      x = tf.add(x, this.dropout2.forward(this.crossAttnNorm.forward(a)));
      return tf.add(x, this.dropout3.forward(this.ffn.forward(this.norm3.forward(x))));
    });
  }
}

export interface TransformerDecoderOptions {
  numLayers: number;
  dModel: number;
  nhead: number;
  dimFfn: number;
  dropout: number;
  textWidth?: number;
  /** Base seed of the dropout masks (layer i uses seed + i). */
  seed?: number;
}

/**
 * Official `Decoder` / `GA`: `layers.N` then the final `norm`.
 * forward(vis [B, H, W, C], words [B, L, D], padMask [B, L]) -> [B, H·W, C]
 * (token n = row·W + col, so a reshape gives back NHWC).
 */
export class TransformerDecoder extends Module implements HasConstants {
  readonly layers: ModuleList<DecoderLayer>;
  readonly norm: LayerNorm;
  readonly constants = new ConstantCache();

  constructor(readonly opts: TransformerDecoderOptions) {
    super();
    if (opts.dModel % 4) throw new ConfigError(`decoder: vis_dim ${opts.dModel} must be a multiple of 4 (2-D sine positions)`);
    if (opts.dModel % opts.nhead) throw new ConfigError(`decoder: vis_dim ${opts.dModel} is not divisible by num_head ${opts.nhead}`);
    const tw = opts.textWidth ?? opts.dModel;
    if (tw % 2) throw new ConfigError(`decoder: text width ${tw} must be even (1-D sine positions)`);
    const layers: DecoderLayer[] = [];
    for (let i = 0; i < opts.numLayers; i++) layers.push(new DecoderLayer({ ...opts, seed: ((opts.seed ?? 0) + 0x9e3779b9 * (i + 1)) >>> 0 }));
    this.layers = this.child('layers', new ModuleList(layers));
    this.norm = this.child('norm', new LayerNorm(opts.dModel));
  }

  /** pos2d(C, H, W) as [1, H·W, C], cached. */
  visPositions(C: number, H: number, W: number): Tensor {
    return this.constants.get(`pos2d:${C}x${H}x${W}`, () => tf.tensor3d(sinePositions2d(C, H, W), [1, H * W, C]));
  }

  /** pos1d(D, L) as [1, L, D], cached. */
  textPositions(D: number, L: number): Tensor {
    return this.constants.get(`pos1d:${D}x${L}`, () => tf.tensor3d(sinePositions1d(D, L), [1, L, D]));
  }

  forward(vis: Tensor, words: Tensor, padMask?: Tensor): Tensor {
    return tf.tidy(() => {
      const [B, H, W, C] = vis.shape as [number, number, number, number];
      const [, L, D] = words.shape as [number, number, number];
      const visPos = this.visPositions(C, H, W);
      const txtKey = tf.add(words, this.textPositions(D, L));
      let x = tf.reshape(vis, [B, H * W, C]);
      for (const layer of this.layers.items) x = layer.forward(x, visPos, words, txtKey, padMask);
      return this.norm.forward(x);
    });
  }

  override dispose(): void {
    super.dispose();
    clearConstants(this);
  }
}
