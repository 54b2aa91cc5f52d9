/**
 * A small PyTorch-like Module system over tfjs-core.
 *
 * Parameters and buffers have dot-path names equal to PyTorch state-dict keys.
 * A tensor may be stored in a layout that suits tfjs (e.g. conv filters as
 * [kh, kw, in, out]); its `TorchLayout` converts to and from the PyTorch layout
 * so state dicts, gradients and checkpoints always speak PyTorch.
 */
import { tf, type Tensor, type Variable } from '../runtime/tf.js';
import { CheckpointMismatchError } from '../errors.js';
import { numel, toFloat32, toInt32, type RawTensor } from '../io/raw-tensor.js';
import { Rng } from './rng.js';
import { currentInitRng } from './init.js';

/** Native layout = transpose(torch layout, perm). */
export interface TorchLayout {
  perm: number[];
}

export function toNativeLayout(t: Tensor, layout?: TorchLayout): Tensor {
  return layout ? tf.transpose(t, layout.perm) : t;
}

export function toTorchLayout(t: Tensor, layout?: TorchLayout): Tensor {
  if (!layout) return t;
  const inv = new Array<number>(layout.perm.length);
  layout.perm.forEach((p, i) => (inv[p] = i));
  return tf.transpose(t, inv);
}

export function torchShape(nativeShape: readonly number[], layout?: TorchLayout): number[] {
  if (!layout) return [...nativeShape];
  const out = new Array<number>(nativeShape.length);
  layout.perm.forEach((p, i) => (out[p] = nativeShape[i]!));
  return out;
}

export class Parameter {
  requiresGrad = true;
  constructor(
    public variable: Variable,
    readonly layout?: TorchLayout,
  ) {}
  get value(): Tensor {
    return this.variable;
  }
  get size(): number {
    return this.variable.size;
  }
}

export class BufferSlot {
  constructor(
    public variable: Variable,
    /** Persistent buffers are part of the state dict (BatchNorm running stats). */
    readonly persistent: boolean,
    readonly layout?: TorchLayout,
  ) {}
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; got: number[] }[];
}

export type StateSource = Map<string, RawTensor | Tensor> | Record<string, RawTensor | Tensor>;

function isTensor(x: unknown): x is Tensor {
  return x instanceof tf.Tensor;
}

/** Glob with `*` (any run of characters, dots included) or a /regex/. Matches the full name. */
export function nameMatcher(pattern: string): (name: string) => boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const re = new RegExp(pattern.slice(1, -1));
    return (n) => re.test(n);
  }
  const re = new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return (n) => re.test(n);
}

export class Module {
  training = true;
  private readonly _params = new Map<string, Parameter>();
  private readonly _buffers = new Map<string, BufferSlot>();
  private readonly _children = new Map<string, Module>();
  private readonly _rngs = new Map<string, Rng>();

  /** Register a parameter holding `init` (taken over, not copied) in native layout. */
  protected param(name: string, init: Tensor | (() => Tensor), layout?: TorchLayout): Parameter {
    if (this._params.has(name) || this._children.has(name)) throw new Error(`${this.constructor.name}: "${name}" registered twice`);
    const t = typeof init === 'function' ? tf.tidy(init) : init;
    const p = new Parameter(tf.variable(t, true), layout);
    t.dispose();
    this._params.set(name, p);
    return p;
  }

  protected buffer(name: string, init: Tensor | (() => Tensor), persistent = true, layout?: TorchLayout): BufferSlot {
    if (this._buffers.has(name)) throw new Error(`${this.constructor.name}: buffer "${name}" registered twice`);
    const t = typeof init === 'function' ? tf.tidy(init) : init;
    const b = new BufferSlot(tf.variable(t, false), persistent, layout);
    t.dispose();
    this._buffers.set(name, b);
    return b;
  }

  /**
   * A named random stream (dropout masks and the like). Seeded from the init
   * generator unless given; the runner reseeds every stream per step from
   * (run seed, step, stream path), so a resumed run draws identical masks.
   */
  protected randomStream(name: string, seed?: number): Rng {
    const r = new Rng(seed ?? currentInitRng().seed());
    this._rngs.set(name, r);
    return r;
  }

  *namedRandomStreams(prefix = ''): Generator<[string, Rng]> {
    for (const [n, r] of this._rngs) yield [prefix ? `${prefix}.${n}` : n, r];
    for (const [n, c] of this._children) yield* c.namedRandomStreams(prefix ? `${prefix}.${n}` : n);
  }

  /** Register a child module under `name` (a dot-free segment, like PyTorch attributes). */
  child<M extends Module>(name: string, m: M): M {
    if (this._children.has(name) || this._params.has(name)) throw new Error(`${this.constructor.name}: child "${name}" registered twice`);
    this._children.set(name, m);
    return m;
  }

  children(): IterableIterator<[string, Module]> {
    return this._children.entries();
  }

  getChild(name: string): Module | undefined {
    return this._children.get(name);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this._children) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [n, p] of this._params) yield [prefix ? `${prefix}.${n}` : n, p];
    for (const [n, c] of this._children) yield* c.namedParameters(prefix ? `${prefix}.${n}` : n);
  }

  *namedBuffers(prefix = ''): Generator<[string, BufferSlot]> {
    for (const [n, b] of this._buffers) yield [prefix ? `${prefix}.${n}` : n, b];
    for (const [n, c] of this._children) yield* c.namedBuffers(prefix ? `${prefix}.${n}` : n);
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  trainableParameters(): [string, Parameter][] {
    return [...this.namedParameters()].filter(([, p]) => p.requiresGrad);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Set requiresGrad on every parameter whose full name matches one of the
   * patterns (see `nameMatcher`). Returns the names changed.
   */
  setRequiresGrad(patterns: readonly string[], requiresGrad: boolean): string[] {
    const ms = patterns.map(nameMatcher);
    const changed: string[] = [];
    for (const [n, p] of this.namedParameters()) {
      if (ms.some((m) => m(n))) {
        p.requiresGrad = requiresGrad;
        changed.push(n);
      }
    }
    return changed;
  }

  freeze(patterns: readonly string[] = ['*']): string[] {
    return this.setRequiresGrad(patterns, false);
  }

  unfreeze(patterns: readonly string[] = ['*']): string[] {
    return this.setRequiresGrad(patterns, true);
  }

  /** Persistent state (parameters then buffers), each as a new tensor in PyTorch layout. Caller disposes. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this.namedParameters()) out.set(n, tf.tidy(() => tf.clone(toTorchLayout(p.variable, p.layout))));
    for (const [n, b] of this.namedBuffers()) if (b.persistent) out.set(n, tf.tidy(() => tf.clone(toTorchLayout(b.variable, b.layout))));
    return out;
  }

  /** Names and PyTorch-layout shapes of the state, without materialising it. */
  stateShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const [n, p] of this.namedParameters()) out.set(n, torchShape(p.variable.shape, p.layout));
    for (const [n, b] of this.namedBuffers()) if (b.persistent) out.set(n, torchShape(b.variable.shape, b.layout));
    return out;
  }

  /**
   * Load PyTorch-layout tensors by name. Two-phase: every key is checked first,
   * and with `strict` any missing, unexpected or mis-shaped key throws before a
   * single weight changes. Non-strict loads what fits and reports the rest.
   */
  loadStateDict(source: StateSource, opts: { strict?: boolean; ignore?: readonly string[] } = {}): LoadReport {
    const strict = opts.strict ?? true;
    const ignore = (opts.ignore ?? []).map(nameMatcher);
    const src = source instanceof Map ? source : new Map(Object.entries(source));
    const targets = new Map<string, { variable: Variable; layout?: TorchLayout }>();
    for (const [n, p] of this.namedParameters()) targets.set(n, p);
    for (const [n, b] of this.namedBuffers()) if (b.persistent) targets.set(n, b);
    const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
    const plan: [Variable, RawTensor | Tensor, TorchLayout | undefined][] = [];
    for (const [key, t] of targets) {
      const v = src.get(key);
      if (v === undefined) {
        if (!ignore.some((m) => m(key))) report.missing.push(key);
        continue;
      }
      const expected = torchShape(t.variable.shape, t.layout);
      const got = isTensor(v) ? v.shape : v.shape;
      if (expected.length !== got.length || expected.some((d, i) => d !== got[i])) {
        report.mismatched.push({ key, expected, got: [...got] });
        continue;
      }
      plan.push([t.variable, v, t.layout]);
      report.loaded.push(key);
    }
    for (const key of src.keys()) if (!targets.has(key) && !ignore.some((m) => m(key))) report.unexpected.push(key);
    if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
      throw new CheckpointMismatchError(formatLoadReport(report, 'state dict does not fit the model'));
    }
    if (!strict && report.mismatched.length) {
      throw new CheckpointMismatchError(formatLoadReport(report, 'state dict has tensors of the wrong shape'));
    }
    for (const [variable, v, layout] of plan) {
      tf.tidy(() => {
        const t = isTensor(v) ? v : rawToTensor(v, variable.dtype === 'int32' ? 'int32' : 'float32');
        const native = toNativeLayout(tf.cast(t, variable.dtype), layout);
        variable.assign(native);
      });
    }
    return report;
  }

  dispose(): void {
    for (const [, p] of this.namedParameters()) p.variable.dispose();
    for (const [, b] of this.namedBuffers()) b.variable.dispose();
  }

  /** Number of elements in all parameters. */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) if (!trainableOnly || p.requiresGrad) n += p.size;
    return n;
  }
}

export function rawToTensor(t: RawTensor, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  if (numel(t.shape) === 0 && t.shape.length > 0) return tf.zeros(t.shape, dtype);
  return dtype === 'int32' ? tf.tensor(toInt32(t), t.shape, 'int32') : tf.tensor(toFloat32(t), t.shape, 'float32');
}

export function tensorToRaw(t: Tensor): RawTensor {
  const data = t.dataSync();
  if (t.dtype === 'int32') return { dtype: 'int32', shape: [...t.shape], data: Int32Array.from(data as Int32Array) };
  if (t.dtype === 'bool') return { dtype: 'bool', shape: [...t.shape], data: Uint8Array.from(data as Uint8Array) };
  return { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(data as Float32Array) };
}

export function formatLoadReport(r: LoadReport, headline: string, limit = 12): string {
  const lines = [`${headline}: ${r.loaded.length} loaded, ${r.missing.length} missing, ${r.unexpected.length} unexpected, ${r.mismatched.length} with the wrong shape`];
  const list = (title: string, xs: string[]) => {
    if (!xs.length) return;
    lines.push(`  ${title}: ${xs.slice(0, limit).join(', ')}${xs.length > limit ? `, ... (${xs.length - limit} more)` : ''}`);
  };
  list('missing', r.missing);
  list('unexpected', r.unexpected);
  list('wrong shape', r.mismatched.map((m) => `${m.key} (model ${JSON.stringify(m.expected)}, file ${JSON.stringify(m.got)})`));
  return lines.join('\n');
}

export interface ParamRow {
  module: string;
  trainable: number;
  frozen: number;
}

/** Trainable/frozen counts grouped by module name prefix of the given depth. */
export function parameterTable(root: Module, depth = 1): ParamRow[] {
  const rows = new Map<string, ParamRow>();
  for (const [n, p] of root.namedParameters()) {
    const key = n.split('.').slice(0, depth).join('.') || '(root)';
    const r = rows.get(key) ?? { module: key, trainable: 0, frozen: 0 };
    if (p.requiresGrad) r.trainable += p.size;
    else r.frozen += p.size;
    rows.set(key, r);
  }
  return [...rows.values()];
}

export function formatParameterTable(rows: ParamRow[]): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const total = rows.reduce((a, r) => ({ t: a.t + r.trainable, f: a.f + r.frozen }), { t: 0, f: 0 });
  const w = Math.max(6, ...rows.map((r) => r.module.length));
  const out = [`${'module'.padEnd(w)}  ${'trainable'.padStart(13)}  ${'frozen'.padStart(13)}`];
  for (const r of rows) out.push(`${r.module.padEnd(w)}  ${fmt(r.trainable).padStart(13)}  ${fmt(r.frozen).padStart(13)}`);
  out.push(`${'total'.padEnd(w)}  ${fmt(total.t).padStart(13)}  ${fmt(total.f).padStart(13)}`);
  const all = total.t + total.f;
  out.push(`trainable params: ${fmt(total.t)} || all params: ${fmt(all)} || trainable%: ${all ? ((100 * total.t) / all).toFixed(4) : '0'}`);
  return out.join('\n');
}
