/**
 * Per-forward state shared by the backbone, adapters and head: the inputs,
 * train/eval mode, auxiliary losses reported by plugins, optional captures of
 * intermediates (for parity checks and debugging) and per-plugin scratch space.
 */
import { tf, type Tensor } from '../runtime/tf.js';

export interface ModelInputs {
  /** Normalised image [B, S, S, 3]. */
  image: Tensor;
  /** Token ids [B, L] int32 (0 = padding). */
  text: Tensor;
}

export class ForwardContext {
  readonly losses = new Map<string, Tensor>();
  /** Scratch space keyed by the plugin instance that owns it. Cleared with the context. */
  readonly scratch = new Map<object, unknown>();
  readonly captures?: Map<string, Tensor>;

  constructor(
    readonly inputs: ModelInputs,
    readonly training: boolean,
    opts: { capture?: boolean } = {},
  ) {
    if (opts.capture) this.captures = new Map();
  }

  /**
   * Report an auxiliary loss; the model adds it to the main loss (weight 1).
   * Handlers may run inside a part's own tidy scope, so the value is kept until
   * `takeLosses` moves it into the caller's scope.
   */
  addLoss(name: string, value: Tensor): void {
    const prev = this.losses.get(name);
    const next = tf.keep(prev ? tf.add(prev, value) : value);
    prev?.dispose();
    this.losses.set(name, next);
  }

  /** The auxiliary losses as tensors of the current scope (kept originals released). */
  takeLosses(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.losses) {
      out.set(k, tf.clone(v));
      v.dispose();
    }
    this.losses.clear();
    return out;
  }

  /** Record an intermediate (kept across tidy scopes) when capturing is on; the caller of forward disposes captures. */
  capture(name: string, value: Tensor | (() => Tensor)): void {
    if (!this.captures) return;
    const t = typeof value === 'function' ? value() : value;
    this.captures.get(name)?.dispose();
    this.captures.set(name, tf.keep(t.clone()));
  }

  get capturing(): boolean {
    return this.captures !== undefined;
  }

  disposeCaptures(): void {
    this.captures?.forEach((t) => t.dispose());
    this.captures?.clear();
  }
}
