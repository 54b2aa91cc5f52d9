/**
 * The CRIS-style neck of BarLeRIa (`Neck`) and ETRIS (`HA`), with the official
 * parameter names: three projections of the backbone stages, a sentence gate
 * per stage, aggregation and CoordConv. Images are NHWC.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { Conv2d } from '../../../core/nn/layers/conv2d.js';
import { ConvTranspose2d } from '../../../core/nn/layers/conv-transpose2d.js';
import { BatchNorm2d } from '../../../core/nn/layers/batch-norm2d.js';
import { ReLU } from '../../../core/nn/layers/activations.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { MultiheadAttention } from '../../../core/nn/layers/multihead-attention.js';
import { Sequential } from '../../../core/nn/layers/sequential.js';
import { ConfigError } from '../../../core/errors.js';
import { ConstantCache, clearConstants, coordinatePlanes, type HasConstants } from './constants.js';

export type Triple = [number, number, number];

/** Official `conv_layer`: Sequential(0 Conv2d without bias, 1 BatchNorm2d, 2 ReLU). */
export function convLayer(inDim: number, outDim: number, kernel = 1, padding = 0, stride = 1): Sequential {
  return new Sequential(new Conv2d(inDim, outDim, kernel, { stride, padding, bias: false }), new BatchNorm2d(outDim), new ReLU());
}

/** Official `deconv_layer`: Sequential(0 ConvTranspose2d without bias, 1 BatchNorm2d, 2 ReLU). */
export function deconvLayer(inDim: number, outDim: number, kernel = 1, padding = 0, stride = 1): Sequential {
  return new Sequential(new ConvTranspose2d(inDim, outDim, kernel, { stride, padding, bias: false }), new BatchNorm2d(outDim), new ReLU());
}

/**
 * Official `CrossAttn` / `InteractorT` with the projected sentence feature as
 * the only key: the softmax over one key is exactly 1, so the attention output
 * is out_proj(W_v t + b_v) for every query and fq = v ⊙ that gate. The q/k rows
 * of `in_proj_*` take no part (their gradient is exactly zero, as in PyTorch).
 */
export class CrossAttn extends Module {
  readonly multiheadAttn: MultiheadAttention;
  constructor(
    readonly dModel: number,
    nhead: number,
  ) {
    super();
    this.multiheadAttn = this.child('multihead_attn', new MultiheadAttention(dModel, nhead, { dropout: 0 }));
  }

  /** The per-sample gate [B, E] for sentence features t [B, E]. */
  gate(t: Tensor): Tensor {
    return tf.tidy(() => {
      const mha = this.multiheadAttn;
      const E = this.dModel;
      let v = tf.matMul(t, tf.slice(mha.inProjWeight!.value, [0, 2 * E], [E, E]));
      if (mha.inProjBias) v = tf.add(v, tf.slice(mha.inProjBias.value, [2 * E], [E]));
      return mha.outProj.forward(v);
    });
  }

  /** x [B, ..., E] gated by the sentence feature t [B, E]. */
  forward(x: Tensor, t: Tensor): Tensor {
    return tf.tidy(() => {
      const shape = [x.shape[0]!, ...new Array<number>(x.rank - 2).fill(1), this.dModel];
      return tf.mul(x, tf.reshape(this.gate(t), shape));
    });
  }
}

/** Official `CoordConv`: append x then y coordinate planes (linspace(-1, 1)), then `conv1` = conv_layer. */
export class CoordConv extends Module implements HasConstants {
  readonly conv1: Sequential;
  readonly constants = new ConstantCache();
  constructor(inChannels: number, outChannels: number, kernel = 3, padding = 1, stride = 1) {
    super();
    this.conv1 = this.child('conv1', convLayer(inChannels + 2, outChannels, kernel, padding, stride));
  }

  /** x [B, H, W, C] -> [B, H, W, C + 2]. */
  addCoord(x: Tensor): Tensor {
    const [B, H, W] = x.shape as [number, number, number, number];
    const coords = this.constants.get(`coord:${B}x${H}x${W}`, () => tf.tile(tf.tensor4d(coordinatePlanes(H, W), [1, H, W, 2]), [B, 1, 1, 1]));
    return tf.concat([x, coords], 3);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.conv1.forward(this.addCoord(x)));
  }

  override dispose(): void {
    super.dispose();
    this.constants.clear();
  }
}

export interface NeckOptions {
  /** Channels of the three backbone stages (official `fpn_in`; the last one is also the sentence dim). */
  fpnIn: Triple;
  /** Official `fpn_out`; only `fpnOut[1]` (the neck width = decoder width) is used. */
  fpnOut: Triple;
  /** Official `stride`: kernel = stride of f3_proj (conv), f4_proj (conv), f5_proj (transposed conv). [1, 1, 1] for ViTs. */
  strides?: Triple;
  /** Heads of the sentence cross-attention (official constructor default 8; no numeric effect with one key). */
  nhead?: number;
}

/**
 * Official `Neck` (BarLeRIa) / `HA` (ETRIS). forward(stages NHWC, state [B, fpnIn[2]]) -> [B, H, W, fpnOut[1]]
 * where H, W is the grid of stage 1 (after f3_proj's down- and f5_proj's up-sampling by their strides).
 */
export class Neck extends Module {
  readonly fusion3: CrossAttn;
  readonly fusion4: CrossAttn;
  readonly fusion5: CrossAttn;
  readonly txtProj: Linear;
  readonly f3Proj: Sequential;
  readonly f4Proj: Sequential;
  readonly f5Proj: Sequential;
  readonly aggr: Sequential;
  readonly coordconv: Sequential;
  readonly dim: number;

  constructor(readonly opts: NeckOptions) {
    super();
    const { fpnIn, fpnOut } = opts;
    const strides = opts.strides ?? [1, 1, 1];
    const nhead = opts.nhead ?? 8;
    const d = fpnOut[1];
    if (d % nhead) throw new ConfigError(`neck: width fpn_out[1] = ${d} is not divisible by the neck heads ${nhead}`);
    this.dim = d;
    // Registration order = the official state-dict order.
    this.fusion3 = this.child('fusion3', new CrossAttn(d, nhead));
    this.fusion4 = this.child('fusion4', new CrossAttn(d, nhead));
    this.fusion5 = this.child('fusion5', new CrossAttn(d, nhead));
    this.txtProj = this.child('txt_proj', new Linear(fpnIn[2], d));
    this.f3Proj = this.child('f3_proj', convLayer(fpnIn[0], d, strides[0], 0, strides[0]));
    this.f4Proj = this.child('f4_proj', convLayer(fpnIn[1], d, strides[1], 0, strides[1]));
    this.f5Proj = this.child('f5_proj', deconvLayer(fpnIn[2], d, strides[2], 0, strides[2]));
    this.aggr = this.child('aggr', convLayer(3 * d, d, 1, 0));
    this.coordconv = this.child('coordconv', new Sequential(new CoordConv(d, d, 3, 1), convLayer(d, d, 3, 1)));
  }

  forward(stages: readonly [Tensor, Tensor, Tensor], state: Tensor): Tensor {
    return tf.tidy(() => {
      const [v3, v4, v5] = stages;
      const t = this.txtProj.forward(state);
      const fq3 = this.fusion3.forward(this.f3Proj.forward(v3), t);
      const fq4 = this.fusion4.forward(this.f4Proj.forward(v4), t);
      const fq5 = this.fusion5.forward(this.f5Proj.forward(v5), t);
      const shapes = [fq3.shape, fq4.shape, fq5.shape].map((s) => `${s[1]}x${s[2]}`);
      if (new Set(shapes).size !== 1) {
        throw new ConfigError(`neck: projected stage grids differ (${shapes.join(', ')}); check the neck strides against the backbone stages`);
      }
      const fq = this.aggr.forward(tf.concat([fq3, fq4, fq5], 3));
      return this.coordconv.forward(fq);
    });
  }

  override dispose(): void {
    super.dispose();
    clearConstants(this);
  }
}
