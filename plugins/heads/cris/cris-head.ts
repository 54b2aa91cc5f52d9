/**
 * The CRIS-style segmentation head shared by BarLeRIa and ETRIS: `neck`,
 * `decoder`, `proj` with the official parameter names (mounted at a model's
 * root they read `neck.*`, `decoder.*`, `proj.*`), plus the official loss.
 *
 * Data flow (NHWC / batch-first):
 *   stages [B,Hi,Wi,Ci] ×3, state [B,E] --neck--> fq [B,H,W,C]
 *   (+ neckAdd, e.g. BarLeRIa's GST `fq_side`)
 *   fq, words [B,L,D], padMask [B,L] --decoder--> [B,H·W,C] = [B,H,W,C]
 *   --proj(state)--> logits [B,4H,4W,1]
 */
import { tf, type Tensor } from '../../../core/runtime/tf.js';
import { Module } from '../../../core/nn/module.js';
import { bceWithLogits } from '../../../core/nn/functional.js';
import { interpolate } from '../../../core/nn/resize.js';
import { ConfigError } from '../../../core/errors.js';
import { Neck, type Triple } from './neck.js';
import { TransformerDecoder } from './decoder.js';
import { Projector } from './projector.js';
import { clearConstants } from './constants.js';

export interface CrisHeadOptions {
  /** Decoder width (official `vis_dim`); must equal fpnOut[1]. */
  visDim: number;
  /** Sentence feature width (official `word_dim` = CLIP embed dim); must equal fpnIn[2]. */
  wordDim: number;
  /** Word feature width (CLIP text width; the official code requires = visDim). */
  textWidth: number;
  fpnIn: Triple;
  fpnOut: Triple;
  /** Neck strides (official `stride`, [1, 1, 1] for ViT backbones). */
  strides?: Triple;
  numLayers: number;
  /** Decoder heads (official `num_head`). */
  numHeads: number;
  dimFfn: number;
  /** Decoder dropout (official `dropout`, also the attention dropout). */
  dropout?: number;
  /** Heads of the neck's sentence cross-attention (official constructor default 8). */
  neckHeads?: number;
  /** Projector `in_dim` (official vis_dim / 2) and dynamic kernel size (official 3). */
  projDim?: number;
  projKernel?: number;
  /** Seed of the decoder's dropout masks. */
  seed?: number;
}

export interface CrisHeadInputs {
  /** The three backbone stages, NHWC. */
  visStages: readonly [Tensor, Tensor, Tensor];
  /** Word features [B, L, textWidth]. */
  words: Tensor;
  /** Sentence feature [B, wordDim]. */
  state: Tensor;
  /** [B, L] bool, true on padding (ids == 0); see `padMaskFromIds`. */
  padMask?: Tensor;
}

export interface CrisHeadExtra {
  /** Added to the neck output before the decoder (BarLeRIa's GST `fq_side`), [B, H, W, visDim]. */
  neckAdd?: Tensor;
  /** Called with the neck output (after `neckAdd`); its result goes to the decoder. */
  onNeckOut?: (fq: Tensor) => Tensor;
}

export interface CrisHeadOutputs extends tf.TensorContainerObject {
  /** Neck output [B, H, W, C], before `neckAdd` / `onNeckOut`. */
  neck: Tensor;
  /** Decoder output [B, H·W, C]. */
  decoded: Tensor;
  /** Logits [B, H', W', 1]. */
  logits: Tensor;
}

/** Key padding mask of the decoder: ids == 0, [B, L] bool. */
export function padMaskFromIds(ids: Tensor): Tensor {
  return tf.tidy(() => tf.equal(ids, tf.scalar(0, ids.dtype)));
}

function resolve(o: CrisHeadOptions): Required<CrisHeadOptions> {
  const r: Required<CrisHeadOptions> = {
    ...o,
    strides: o.strides ?? [1, 1, 1],
    dropout: o.dropout ?? 0.1,
    neckHeads: o.neckHeads ?? 8,
    projDim: o.projDim ?? o.visDim / 2,
    projKernel: o.projKernel ?? 3,
    seed: o.seed ?? 0,
  };
  const bad = (msg: string): never => {
    throw new ConfigError(`cris head: ${msg}`);
  };
  for (const [k, v] of Object.entries(r)) {
    const vals = Array.isArray(v) ? v : typeof v === 'number' ? [v] : [];
    for (const x of vals) if (!Number.isFinite(x) || x < 0 || (k !== 'dropout' && !Number.isInteger(x))) bad(`option ${k} = ${JSON.stringify(v)} is not a valid size`);
  }
  if (!(r.dropout >= 0 && r.dropout < 1)) bad(`dropout ${r.dropout} must be in [0, 1)`);
  if (r.fpnOut[1] !== r.visDim) bad(`fpn_out[1] = ${r.fpnOut[1]} must equal vis_dim = ${r.visDim} (the neck output feeds the decoder)`);
  if (r.fpnIn[2] !== r.wordDim) bad(`fpn_in[2] = ${r.fpnIn[2]} must equal word_dim = ${r.wordDim} (neck.txt_proj consumes the sentence feature)`);
  if (2 * r.projDim !== r.visDim) bad(`projector in_dim ${r.projDim} must be vis_dim / 2 = ${r.visDim / 2}`);
  // Checked here too (the submodules check again) so that a bad config never half-builds the head.
  if (r.visDim % r.numHeads) bad(`vis_dim ${r.visDim} is not divisible by num_head ${r.numHeads}`);
  if (r.visDim % r.neckHeads) bad(`vis_dim ${r.visDim} is not divisible by the neck heads ${r.neckHeads}`);
  if (r.visDim % 4) bad(`vis_dim ${r.visDim} must be a multiple of 4 (2-D sine positions)`);
  if (r.textWidth % 2) bad(`text width ${r.textWidth} must be even (1-D sine positions)`);
  if (r.projKernel % 2 !== 1) bad(`projector kernel ${r.projKernel} must be odd`);
  return r;
}

export class CrisHead extends Module {
  readonly neck: Neck;
  readonly decoder: TransformerDecoder;
  readonly proj: Projector;
  readonly options: Readonly<Required<CrisHeadOptions>>;

  constructor(opts: CrisHeadOptions) {
    super();
    const o = resolve(opts);
    this.options = o;
    this.neck = this.child('neck', new Neck({ fpnIn: o.fpnIn, fpnOut: o.fpnOut, strides: o.strides, nhead: o.neckHeads }));
    this.decoder = this.child(
      'decoder',
      new TransformerDecoder({ numLayers: o.numLayers, dModel: o.visDim, nhead: o.numHeads, dimFfn: o.dimFfn, dropout: o.dropout, textWidth: o.textWidth, seed: o.seed }),
    );
    this.proj = this.child('proj', new Projector({ wordDim: o.wordDim, inDim: o.projDim, kernelSize: o.projKernel }));
  }

  /** Logits [B, H', W', 1]. */
  forward(inputs: CrisHeadInputs, extra: CrisHeadExtra = {}): Tensor {
    return tf.tidy(() => this.forwardDetailed(inputs, extra).logits);
  }

  /** Neck output, decoder output and logits (new tensors; the caller disposes). */
  forwardDetailed(inputs: CrisHeadInputs, extra: CrisHeadExtra = {}): CrisHeadOutputs {
    return tf.tidy(() => {
      const neck = this.neck.forward(inputs.visStages, inputs.state);
      let fq = neck;
      if (extra.neckAdd) {
        if (extra.neckAdd.shape.join() !== neck.shape.join()) {
          throw new ConfigError(`cris head: neckAdd has shape [${extra.neckAdd.shape.join(', ')}], the neck output [${neck.shape.join(', ')}]`);
        }
        fq = tf.add(fq, extra.neckAdd);
      }
      if (extra.onNeckOut) fq = extra.onNeckOut(fq);
      const decoded = this.decoder.forward(fq, inputs.words, inputs.padMask);
      const [B, H, W, C] = fq.shape as [number, number, number, number];
      const logits = this.proj.forward(tf.reshape(decoded, [B, H, W, C]), inputs.state);
      return { neck, decoded, logits };
    });
  }

  /** The mask [B, S, S, 1] resized to the logits' grid with PyTorch 'nearest' (no gradient). */
  resizeMask(mask: Tensor, logits: Tensor): Tensor {
    const [h, w] = [logits.shape[1]!, logits.shape[2]!];
    return tf.tidy(() => (mask.shape[1] === h && mask.shape[2] === w ? tf.clone(mask) : interpolate(mask, [h, w], 'nearest')));
  }

  /** Official loss: mean BCE-with-logits against the nearest-resized mask. */
  loss(logits: Tensor, mask: Tensor): tf.Scalar {
    return tf.tidy(() => bceWithLogits(logits, this.resizeMask(mask, logits)) as tf.Scalar);
  }

  override dispose(): void {
    super.dispose();
    clearConstants(this);
  }
}

/**
 * Head options from an official BarLeRIa / ETRIS config (the YAML keys: `vis_dim`,
 * `word_dim`, `fpn_in`, `fpn_out`, `stride`, `num_layers`, `num_head`, `dim_ffn`,
 * `dropout`). `extra` supplies what the YAML does not hold: the text width (default
 * vis_dim, as the official decoder requires) and the neck heads (default 8).
 */
export function crisHeadOptionsFromConfig(cfg: Record<string, unknown>, extra: { textWidth?: number; neckHeads?: number } = {}): CrisHeadOptions {
  const num = (key: string): number => {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`cris head config: "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const triple = (key: string): Triple => {
    const v = cfg[key];
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number')) {
      throw new ConfigError(`cris head config: "${key}" must be an array of 3 numbers, got ${JSON.stringify(v)}`);
    }
    return v as Triple;
  };
  const visDim = num('vis_dim');
  return {
    visDim,
    wordDim: num('word_dim'),
    textWidth: extra.textWidth ?? visDim,
    fpnIn: triple('fpn_in'),
    fpnOut: triple('fpn_out'),
    strides: cfg.stride === undefined ? [1, 1, 1] : triple('stride'),
    numLayers: num('num_layers'),
    numHeads: num('num_head'),
    dimFfn: num('dim_ffn'),
    dropout: cfg.dropout === undefined ? 0.1 : num('dropout'),
    neckHeads: extra.neckHeads ?? 8,
  };
}
