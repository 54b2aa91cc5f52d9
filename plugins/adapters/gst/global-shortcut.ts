/**
 * BarLeRIa's GST (global shortcut tuning): the side network plus `side_linear`.
 * Children are exactly `side_adapter_network` and `side_linear`, so mounted at
 * the model root the parameter names are the official ones
 * (`side_adapter_network.vit_model.blocks.0.attn.qkv.weight`, `side_linear.bias`).
 *
 * forward -> neckAdd = fq_side NHWC [B, h, w, visDim] (to be added to the head's
 * neck output before the decoder; h, w = the side grid, which must equal the
 * neck grid as in the official model) and varLoss (added to the BCE, weight 1;
 * computed in eval mode too, like the official code).
 *
 * Batch coupling: with promptNorm 'batch' (official) each sample's output
 * depends on the other samples of the batch (README 6.4); run the batch jointly.
 * Dropout / drop path are 0 in the official side network, so train and eval
 * modes compute the same thing.
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { Linear } from '../../../core/nn/layers/linear.js';
import { resolveGstOptions, type GstOptionsInput, type ResolvedGstOptions } from './options.js';
import { SideAdapterNetwork, type CaptureFn, type SideInputs } from './side-adapter.js';

export interface GstForwardOptions {
  /**
   * `true`: return every intermediate in `captures` (new tensors the caller
   * disposes). A function: called with each intermediate while it is alive
   * (inside the forward's tidy), e.g. to read statistics; `tf.keep` what you store.
   * Names: side.pass1.in, side.pass1.block{i}, side.td.{i}, side.pass2.block{i},
   * side.x.{j}, side.query.{j}, side.var_loss, fq_side. Layouts: tokens [B, N, Es]
   * (td without the official leading 1), images NHWC.
   */
  capture?: true | CaptureFn;
}

export interface GstOutputs {
  neckAdd: Tensor;
  varLoss: tf.Scalar;
  captures?: Record<string, Tensor>;
}

export class GlobalShortcut extends Module {
  readonly options: ResolvedGstOptions;
  readonly side_adapter_network: SideAdapterNetwork;
  readonly side_linear: Linear;
  constructor(options: GstOptionsInput) {
    super();
    this.options = resolveGstOptions(options);
    const o = this.options;
    this.side_adapter_network = this.child('side_adapter_network', new SideAdapterNetwork(o));
    this.side_linear = this.child('side_linear', new Linear(o.embedDim * o.deepSup.length, o.visDim));
  }

  forward(inputs: SideInputs, opts: GstForwardOptions = {}): GstOutputs {
    const want = opts.capture;
    return tf.tidy(() => {
      const captures: Record<string, Tensor> = {};
      const cb: CaptureFn | undefined = want === true ? (n, t) => void (captures[n] = tf.clone(t)) : want;
      const { xs, varLoss } = this.side_adapter_network.forwardFeatures(inputs, cb);
      const cat = xs.length === 1 ? xs[0]! : tf.concat(xs, 3);
      const neckAdd = this.side_linear.forward(cat);
      cb?.('fq_side', neckAdd);
      const out: GstOutputs = { neckAdd, varLoss: varLoss as tf.Scalar };
      if (want === true) out.captures = captures;
      return out as unknown as tf.TensorContainer;
    }) as unknown as GstOutputs;
  }
}
