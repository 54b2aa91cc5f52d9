/**
 * CLIP's residual attention block (pre-LN): x + attn(ln_1 x), then
 * x + mlp(ln_2 x), mlp = c_fc -> QuickGELU -> c_proj. The identity shortcuts
 * and the two branch outputs are hook points, which is how SNF replaces the
 * shortcuts with flows and a bottleneck adapter adds to a branch, without
 * any change here.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { LayerNorm } from '../../../core/nn/layers/layer-norm.js';
import { MultiheadAttention } from '../../../core/nn/layers/multihead-attention.js';
import { MLP } from '../../../core/nn/layers/mlp.js';
import { ModuleList } from '../../../core/nn/layers/sequential.js';
import type { Hooks } from '../../../core/model/hooks.js';
import type { ForwardContext } from '../../../core/model/context.js';

export type Tower = 'vision' | 'text';

/** Value of the branch hook points: the branch input (after LayerNorm) and its output. */
export interface BranchValue {
  x: Tensor;
  y: Tensor;
}

export class ResidualAttentionBlock extends Module {
  readonly attn: MultiheadAttention;
  readonly ln_1: LayerNorm;
  readonly mlp: MLP;
  readonly ln_2: LayerNorm;
  private readonly points: { sa: string; sm: string; ba: string; bm: string };

  constructor(
    readonly width: number,
    heads: number,
    readonly tower: Tower,
    readonly index: number,
  ) {
    super();
    this.attn = this.child('attn', new MultiheadAttention(width, heads));
    this.ln_1 = this.child('ln_1', new LayerNorm(width, 1e-5));
    this.mlp = this.child('mlp', new MLP(width, width * 4, width, 'quick_gelu', ['c_fc', 'c_proj']));
    this.ln_2 = this.child('ln_2', new LayerNorm(width, 1e-5));
    const p = `${tower}.block.${index}`;
    this.points = { sa: `${p}.shortcut.attn`, sm: `${p}.shortcut.mlp`, ba: `${p}.branch.attn`, bm: `${p}.branch.mlp` };
  }

  /** x [B, N, W] batch-first; attnMask additive [N, N] (text: causal); keyPaddingMask [B, N] bool (true = ignore). */
  forward(x: Tensor, hooks: Hooks, ctx: ForwardContext, attnMask?: Tensor, keyPaddingMask?: Tensor): Tensor {
    const { sa, sm, ba, bm } = this.points;
    const h1 = this.ln_1.forward(x);
    let a = this.attn.selfAttention(h1, { ...(attnMask ? { attnMask } : {}), ...(keyPaddingMask ? { keyPaddingMask } : {}) });
    if (hooks.active(ba)) a = hooks.run<BranchValue>(ba, { x: h1, y: a }, ctx).y;
    const x1 = tf.add(hooks.run(sa, x, ctx), a);
    const h2 = this.ln_2.forward(x1);
    let m = this.mlp.forward(h2);
    if (hooks.active(bm)) m = hooks.run<BranchValue>(bm, { x: h2, y: m }, ctx).y;
    return tf.add(hooks.run(sm, x1, ctx), m);
  }
}

/** `transformer.resblocks.N` as in CLIP. */
export class Transformer extends Module {
  readonly resblocks: ModuleList<ResidualAttentionBlock>;
  constructor(width: number, layers: number, heads: number, tower: Tower) {
    super();
    this.resblocks = this.child('resblocks', new ModuleList(Array.from({ length: layers }, (_, i) => new ResidualAttentionBlock(width, heads, tower, i))));
  }
}
