import { tf, type Tensor } from '../../runtime/tf.js';
import { Module, type Parameter } from '../module.js';
import { uniform } from '../init.js';
import type { Rng } from '../rng.js';
import { Linear } from './linear.js';
import { dropout } from '../functional.js';

export interface AttentionMasks {
  /** [B, Lk] bool/0-1: true (1) marks keys to ignore (PyTorch key_padding_mask). */
  keyPaddingMask?: Tensor;
  /** [Lq, Lk] or [B·h, Lq, Lk] additive mask (use -Infinity to block). */
  attnMask?: Tensor;
}

/**
 * PyTorch nn.MultiheadAttention with its parameter names: packed
 * `in_proj_weight [3E, E]` / `in_proj_bias` when kdim = vdim = E, else
 * `q_proj_weight`, `k_proj_weight`, `v_proj_weight`; `out_proj`. Inputs are
 * batch-first [B, L, E] unless `batchFirst` is false ([L, B, E], PyTorch's
 * default). Attention dropout is applied in training when p > 0.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly inProjWeight?: Parameter;
  readonly qProjWeight?: Parameter;
  readonly kProjWeight?: Parameter;
  readonly vProjWeight?: Parameter;
  readonly inProjBias?: Parameter;
  readonly outProj: Linear;
  readonly kdim: number;
  readonly vdim: number;
  dropout: number;
  readonly batchFirst: boolean;
  /** Seeds attention-dropout masks when the caller passes none (drawn from the init generator). */
  readonly dropoutRng: Rng;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    opts: { bias?: boolean; kdim?: number; vdim?: number; dropout?: number; batchFirst?: boolean } = {},
  ) {
    super();
    if (embedDim % numHeads) throw new Error(`MultiheadAttention: embed_dim ${embedDim} not divisible by num_heads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.kdim = opts.kdim ?? embedDim;
    this.vdim = opts.vdim ?? embedDim;
    this.dropout = opts.dropout ?? 0;
    this.batchFirst = opts.batchFirst ?? true;
    this.dropoutRng = this.randomStream('attn_dropout');
    const E = embedDim;
    // PyTorch: xavier_uniform_ on the projection weights, zero biases.
    const xavier = (rows: number, cols: number) => uniform([rows, cols], Math.sqrt(6 / (rows + cols)));
    if (this.kdim === E && this.vdim === E) {
      this.inProjWeight = this.param('in_proj_weight', () => tf.transpose(xavier(3 * E, E)), { perm: [1, 0] });
    } else {
      this.qProjWeight = this.param('q_proj_weight', () => tf.transpose(xavier(E, E)), { perm: [1, 0] });
      this.kProjWeight = this.param('k_proj_weight', () => tf.transpose(xavier(E, this.kdim)), { perm: [1, 0] });
      this.vProjWeight = this.param('v_proj_weight', () => tf.transpose(xavier(E, this.vdim)), { perm: [1, 0] });
    }
    const bias = opts.bias ?? true;
    if (bias) this.inProjBias = this.param('in_proj_bias', tf.zeros([3 * E]));
    this.outProj = this.child('out_proj', new Linear(E, E, { bias }));
    if (bias) tf.tidy(() => this.outProj.bias!.variable.assign(tf.zeros([E])));
  }

  private seedFor(given?: number): number | undefined {
    if (!this.training || this.dropout <= 0) return given;
    return given ?? this.dropoutRng.seed();
  }

  /** Projection weights [in, E] and biases [E] of q, k, v. */
  private projections(): { w: [Tensor, Tensor, Tensor]; b?: [Tensor, Tensor, Tensor] } {
    const E = this.embedDim;
    let w: [Tensor, Tensor, Tensor];
    if (this.inProjWeight) {
      const parts = tf.split(this.inProjWeight.value, [E, E, E], 1);
      w = [parts[0]!, parts[1]!, parts[2]!];
    } else {
      w = [this.qProjWeight!.value, this.kProjWeight!.value, this.vProjWeight!.value];
    }
    let b: [Tensor, Tensor, Tensor] | undefined;
    if (this.inProjBias) {
      const parts = tf.split(this.inProjBias.value, [E, E, E], 0);
      b = [parts[0]!, parts[1]!, parts[2]!];
    }
    return { w, b };
  }

  /**
   * Self-attention (query = key = value = x) with one fused [E, 3E] projection.
   * Batch-first [B, L, E] regardless of `batchFirst`.
   */
  selfAttention(x: Tensor, masks: AttentionMasks = {}, dropoutSeed?: number): Tensor {
    if (!this.inProjWeight) return this.forward(x, x, x, masks, dropoutSeed);
    return tf.tidy(() => {
      const [B, L, C] = x.shape as [number, number, number];
      const E = this.embedDim;
      let qkv = tf.matMul(tf.reshape(x, [B * L, C]), this.inProjWeight!.value);
      if (this.inProjBias) qkv = tf.add(qkv, this.inProjBias.value);
      const [q, k, v] = tf.split(tf.reshape(qkv, [B, L, 3 * E]), 3, 2);
      const out = scaledDotProductAttention(q!, k!, v!, this.numHeads, { ...masks, dropout: this.training ? this.dropout : 0, dropoutSeed: this.seedFor(dropoutSeed) });
      return this.outProj.forward(out);
    });
  }

  /** Returns the attention output in the input layout (batch-first unless configured otherwise). */
  forward(query: Tensor, key: Tensor, value: Tensor, masks: AttentionMasks = {}, dropoutSeed?: number): Tensor {
    return tf.tidy(() => {
      const q0 = this.batchFirst ? query : tf.transpose(query, [1, 0, 2]);
      const k0 = this.batchFirst ? key : tf.transpose(key, [1, 0, 2]);
      const v0 = this.batchFirst ? value : tf.transpose(value, [1, 0, 2]);
      const { w, b } = this.projections();
      const proj = (x: Tensor, i: number) => {
        const [B, L, C] = x.shape as [number, number, number];
        let y = tf.matMul(tf.reshape(x, [B * L, C]), w[i]!);
        if (b) y = tf.add(y, b[i]!);
        return tf.reshape(y, [B, L, this.embedDim]);
      };
      const out = scaledDotProductAttention(proj(q0, 0), proj(k0, 1), proj(v0, 2), this.numHeads, {
        ...masks,
        dropout: this.training ? this.dropout : 0,
        dropoutSeed: this.seedFor(dropoutSeed),
      });
      const y = this.outProj.forward(out);
      return this.batchFirst ? y : tf.transpose(y, [1, 0, 2]);
    });
  }
}

/** [B, L, h·d] -> [B, h, L, d] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, L, C] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [B, L, heads, C / heads]), [0, 2, 1, 3]);
}

/** [B, h, L, d] -> [B, L, h·d] */
export function mergeHeads(x: Tensor): Tensor {
  const [B, h, L, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, L, h * d]);
}

/**
 * Multi-head attention core on already projected q [B, Lq, E], k [B, Lk, E],
 * v [B, Lk, Ev]: softmax(q·kᵀ/sqrt(d) + masks) · v, heads merged back.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  o: AttentionMasks & { dropout?: number; dropoutSeed?: number; scale?: number } = {},
): Tensor {
  return tf.tidy(() => {
    const d = q.shape[2]! / heads;
    const qh = tf.mul(splitHeads(q, heads), o.scale ?? 1 / Math.sqrt(d));
    let scores = tf.matMul(qh, splitHeads(k, heads), false, true); // [B, h, Lq, Lk]
    if (o.attnMask) {
      const m = o.attnMask;
      scores = tf.add(scores, m.rank === 3 ? tf.reshape(m, [q.shape[0]!, heads, m.shape[1]!, m.shape[2]!]) : m);
    }
    if (o.keyPaddingMask) {
      const [B, Lk] = o.keyPaddingMask.shape as [number, number];
      const neg = tf.mul(tf.cast(o.keyPaddingMask, 'float32'), -1e30);
      scores = tf.add(scores, tf.reshape(neg, [B, 1, 1, Lk]));
    }
    let attn = tf.softmax(scores, -1);
    if (o.dropout && o.dropout > 0) attn = dropout(attn, o.dropout, o.dropoutSeed);
    return mergeHeads(tf.matMul(attn, splitHeads(v, heads)));
  });
}
