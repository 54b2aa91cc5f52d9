/**
 * The side ViT of BarLeRIa's GST: the official `model/absvit.py`
 * VisionTransformer (AbSViT-style top-down attention) as the side network uses
 * it: no CLS token, no final norm, no head. Parameter names are the official
 * state-dict names below `vit_model.`.
 *
 * Tokens are batch-first [B, N, C]. Every linear runs as one 2-D matmul over
 * [B·N, C] (reshapes are free); the only data movement per block is putting
 * q, k, v into head-major layout and merging the heads back (none when h = 1).
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module, type Parameter } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import { gelu } from '../../../core/nn/functional.js';
import { truncNormal } from '../../../core/nn/init.js';

/** timm ViT LayerNorm epsilon (absvit: partial(nn.LayerNorm, eps=1e-6)). */
export const SIDE_LN_EPS = 1e-6;

/** x [..., in] -> [..., out] through a 2-D matmul; w native [in, out]. */
function lin(x2: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = tf.matMul(x2, w);
  return b ? tf.add(y, b) : y;
}

/** Per-forward views of the packed qkv parameters (sliced once, shared by both passes). */
export interface QkvWeights {
  /** Wq·scale, Wk, Wv: [C, C] each (native [in, out]); biases [C] (bq·scale). */
  wq: Tensor;
  wk: Tensor;
  wv: Tensor;
  bq?: Tensor;
  bk?: Tensor;
  bv?: Tensor;
}

/**
 * timm `Attention` with the absvit top-down value: v += v-third of qkv(td)
 * (the qkv layer including its bias, applied to the raw td); q, k unchanged.
 *
 * The packed qkv weight is sliced into q/k/v once per forward (`weights()`),
 * which avoids splitting the [B·N, 3C] activations, and lets k be laid out
 * [B, h, hd, N] directly for q·kᵀ. Algebraically identical rearrangements
 * (rounding differs at the 1e-7 level): the scale hd^-0.5 is folded into Wq and
 * bq instead of multiplying the [N, N] logits, and v + qkv(td)_v is computed as
 * (x + td)·Wv + 2·bv.
 */
export class SideAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly scale: number;
  constructor(
    readonly dim: number,
    readonly heads: number,
  ) {
    super();
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
    this.scale = (dim / heads) ** -0.5;
  }

  /** Slice the packed qkv weight/bias; call inside the forward's tidy (differentiable). */
  weights(): QkvWeights {
    const [wq, wk, wv] = tf.split(this.qkv.weight.value, 3, 1) as [Tensor, Tensor, Tensor];
    const w: QkvWeights = { wq: tf.mul(wq, this.scale), wk, wv };
    if (this.qkv.bias) {
      const [bq, bk, bv] = tf.split(this.qkv.bias.value, 3, 0) as [Tensor, Tensor, Tensor];
      Object.assign(w, { bq: tf.mul(bq, this.scale), bk, bv });
    }
    return w;
  }

  /** x, td: [B, N, C] (td = the raw top-down signal, not normalised); keyBias: additive [B, 1, 1, N]. */
  forward(x: Tensor, td?: Tensor, w: QkvWeights = this.weights(), keyBias?: Tensor): Tensor {
    return tf.tidy(() => {
      const [B, N, C] = x.shape as [number, number, number];
      const h = this.heads;
      const hd = C / h;
      const x2 = tf.reshape(x, [B * N, C]);
      // [B·N, C] -> [B, h, N, hd] (perm [0, 2, 1, 3]) or, for k, [B, h, hd, N] (perm [0, 2, 3, 1]).
      const heads = (t: Tensor, perm: number[]) => (h === 1 && perm[2] === 1 ? tf.reshape(t, [B, 1, N, hd]) : tf.transpose(tf.reshape(t, [B, N, h, hd]), perm));
      const q = heads(lin(x2, w.wq, w.bq), [0, 2, 1, 3]);
      const kT = heads(lin(x2, w.wk, w.bk), [0, 2, 3, 1]);
      const v2 = td ? lin(tf.add(x2, tf.reshape(td, [B * N, C])), w.wv, w.bv && tf.mul(w.bv, 2)) : lin(x2, w.wv, w.bv);
      const scores = tf.matMul(q, kT);
      const attn = tf.softmax(keyBias ? tf.add(scores, keyBias) : scores, -1); // [B, h, N, N]
      const o = tf.matMul(attn, heads(v2, [0, 2, 1, 3])); // [B, h, N, hd]
      const merged = h === 1 ? tf.reshape(o, [B * N, C]) : tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B * N, C]);
      return tf.reshape(lin(merged, this.proj.weight.value, this.proj.bias?.value), [B, N, C]);
    });
  }
}

/** timm `Mlp`: fc1 -> GELU (exact erf) -> fc2. */
export class SideMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, hidden));
    this.fc2 = this.child('fc2', new Linear(hidden, dim));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const C = x.shape[x.rank - 1]!;
      const x2 = tf.reshape(x, [-1, C]);
      const y = lin(gelu(lin(x2, this.fc1.weight.value, this.fc1.bias?.value)), this.fc2.weight.value, this.fc2.bias?.value);
      return tf.reshape(y, x.shape);
    });
  }
}

/** Pre-LN block: x + attn(norm1 x, td), then x + mlp(norm2 x). Drop path / layer scale are identity here. */
export class SideBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: SideAttention;
  readonly norm2: LayerNorm;
  readonly mlp: SideMlp;
  constructor(dim: number, heads: number, mlpHidden: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim, SIDE_LN_EPS));
    this.attn = this.child('attn', new SideAttention(dim, heads));
    this.norm2 = this.child('norm2', new LayerNorm(dim, SIDE_LN_EPS));
    this.mlp = this.child('mlp', new SideMlp(dim, mlpHidden));
  }
  forward(x: Tensor, td?: Tensor, w?: QkvWeights, keyBias?: Tensor): Tensor {
    return tf.tidy(() => {
      const x1 = tf.add(x, this.attn.forward(this.norm1.forward(x), td, w, keyBias));
      return tf.add(x1, this.mlp.forward(this.norm2.forward(x1)));
    });
  }
}

/** absvit `Decode_Block`: y = linear(x); out = linear2(y) (both without bias). */
export class DecodeBlock extends Module {
  readonly linear: Linear;
  readonly linear2: Linear;
  constructor(dim: number) {
    super();
    this.linear = this.child('linear', new Linear(dim, dim, { bias: false }));
    this.linear2 = this.child('linear2', new Linear(dim, dim, { bias: false }));
  }
}

/** timm `PatchEmbed`: Conv2d(k = stride = patch, bias), flattened row-major. */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(
    readonly patch: number,
    embedDim: number,
    inChannels = 3,
  ) {
    super();
    this.proj = this.child('proj', new Conv2d(inChannels, embedDim, patch, { stride: patch }));
  }
  /**
   * image NHWC [B, H, W, 3] -> [B, h, w, C] with h = floor(H / patch) (PyTorch's
   * conv drops the remainder). Computed as one matmul over flattened patches:
   * the same sums as the strided conv, and its weight gradient is a plain
   * matmul (the cpu backend's Conv2DBackpropFilter is slow for 16x16 kernels).
   */
  forward(image: Tensor): Tensor {
    return tf.tidy(() => {
      const p = this.patch;
      const [B, H, W, cin] = image.shape as [number, number, number, number];
      const h = Math.floor(H / p);
      const w = Math.floor(W / p);
      const cout = this.proj.outChannels;
      const img = h * p === H && w * p === W ? image : tf.slice(image, [0, 0, 0, 0], [B, h * p, w * p, cin]);
      // [B, h, p, w, p, c] -> [B, h, w, p, p, c]: rows in the (kh, kw, in) order of the native filter.
      const patches = tf.reshape(tf.transpose(tf.reshape(img, [B, h, p, w, p, cin]), [0, 1, 3, 2, 4, 5]), [B * h * w, p * p * cin]);
      const y = lin(patches, tf.reshape(this.proj.weight.value, [p * p * cin, cout]), this.proj.bias?.value);
      return tf.reshape(y, [B, h, w, cout]);
    });
  }
}

export interface AbsViTOptions {
  embedDim: number;
  depth: number;
  heads: number;
  mlpHidden: number;
  patchSize: number;
  /** pos_embed grid side (floor(IMAGE_SIZE / patch)). */
  posGrid: number;
}

/** Parameter container with the official names: patch_embed, pos_embed, blocks, decoders. */
export class AbsVisionTransformer extends Module {
  readonly patch_embed: PatchEmbed;
  readonly pos_embed: Parameter;
  readonly blocks: ModuleList<SideBlock>;
  readonly decoders: ModuleList<DecodeBlock>;
  constructor(readonly opts: AbsViTOptions) {
    super();
    const { embedDim: C, depth, heads, mlpHidden, patchSize, posGrid } = opts;
    this.patch_embed = this.child('patch_embed', new PatchEmbed(patchSize, C));
    // The CLS row is dropped by the side adapter: the table covers the patches only.
    this.pos_embed = this.param('pos_embed', () => truncNormal([1, posGrid * posGrid, C], 0.02));
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: depth }, () => new SideBlock(C, heads, mlpHidden))));
    this.decoders = this.child('decoders', new ModuleList(Array.from({ length: depth }, () => new DecodeBlock(C))));
    // timm init_weights_vit_timm: Linear weights trunc_normal(0.02), biases zero.
    tf.tidy(() => {
      for (const [, m] of this.namedModules()) {
        if (!(m instanceof Linear)) continue;
        m.weight.variable.assign(truncNormal(m.weight.variable.shape as number[], 0.02));
        m.bias?.variable.assign(tf.zerosLike(m.bias.variable));
      }
    });
  }

  /**
   * The feedback path: for d = depth−1 … 0, y ← decoders[d].linear(y),
   * td[d] = decoders[d].linear2(y). y: [B, N, C]; returns td[0..depth−1].
   */
  feedback(y: Tensor): Tensor[] {
    const shape = y.shape;
    const C = shape[shape.length - 1]!;
    let cur = tf.reshape(y, [-1, C]);
    const td: Tensor[] = new Array<Tensor>(this.decoders.length);
    for (let d = this.decoders.length - 1; d >= 0; d--) {
      const dec = this.decoders.at(d);
      cur = tf.matMul(cur, dec.linear.weight.value);
      td[d] = tf.reshape(tf.matMul(cur, dec.linear2.weight.value), shape);
    }
    return td;
  }
}
