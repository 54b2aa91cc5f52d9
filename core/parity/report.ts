/**
 * Comparing our tensors with golden ones under the tolerances of the parity
 * README (section 7), grouped, with a printed summary.
 */
export type ParityGroup = 'outputs' | 'intermediates' | 'gradients' | 'step' | 'running stats' | 'losses' | 'tokens' | 'eval';

export interface Comparison {
  group: ParityGroup;
  name: string;
  maxAbs: number;
  maxRel: number;
  /** The bound maxAbs was checked against. */
  bound: number;
  ok: boolean;
  note?: string;
}

function maxAbsOf(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function diffStats(ours: ArrayLike<number>, ref: ArrayLike<number>): { maxAbs: number; maxRel: number; refMax: number } {
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
  }
  const refMax = maxAbsOf(ref);
  return { maxAbs, maxRel: maxAbs / Math.max(refMax, 1e-30), refMax };
}

export class ParityReport {
  readonly rows: Comparison[] = [];

  private push(c: Comparison): Comparison {
    this.rows.push(c);
    return c;
  }

  private shapeCheck(group: ParityGroup, name: string, ours: ArrayLike<number>, ref: ArrayLike<number>): boolean {
    if (ours.length === ref.length) return true;
    this.push({ group, name, maxAbs: Infinity, maxRel: Infinity, bound: 0, ok: false, note: `size ${ours.length} vs reference ${ref.length}` });
    return false;
  }

  /** out/* and mid/*: max|Δ| ≤ 1e-4 · max(1, max|ref|). */
  tensor(group: 'outputs' | 'intermediates', name: string, ours: ArrayLike<number>, ref: ArrayLike<number>): Comparison | undefined {
    if (!this.shapeCheck(group, name, ours, ref)) return undefined;
    const s = diffStats(ours, ref);
    const bound = 1e-4 * Math.max(1, s.refMax);
    return this.push({ group, name, maxAbs: s.maxAbs, maxRel: s.maxRel, bound, ok: s.maxAbs <= bound });
  }

  /**
   * grad/*: ≤ 1e-3·max|ref| + 1e-6 (≥ 16 elements), 1e-2·max|ref| + 1e-6 for smaller tensors.
   * `noise` is the spread of our own float32 gradient under rounding-level
   * perturbations of the input (see the refseg parity handler): where a model's
   * gradient is discontinuous at float32 resolution (ReLU/BatchNorm boundaries
   * flip), two float32 implementations cannot agree better than that, so the
   * bound is widened by twice the measured spread and the row says so.
   */
  gradient(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>, noise = 0): Comparison | undefined {
    if (!this.shapeCheck('gradients', name, ours, ref)) return undefined;
    const s = diffStats(ours, ref);
    const strict = (ref.length >= 16 ? 1e-3 : 1e-2) * s.refMax + 1e-6;
    if (s.maxAbs <= strict || !(noise > 0)) return this.push({ group: 'gradients', name, maxAbs: s.maxAbs, maxRel: s.maxRel, bound: strict, ok: s.maxAbs <= strict });
    const bound = strict + 2 * noise;
    return this.push({ group: 'gradients', name, maxAbs: s.maxAbs, maxRel: s.maxRel, bound, ok: s.maxAbs <= bound, note: `noise-limited: own float32 spread ${noise.toExponential(2)} (strict bound ${strict.toExponential(2)})` });
  }

  /**
   * step/*: compare updates u = step − param. Where |g_ref| > 1e-5: |Δu| ≤ 2e-3·lr;
   * elsewhere (near-zero gradients, sign-unstable in Adam's first step) only |u| ≤ lr (+1e-7 slack).
   */
  step(name: string, oursAfter: ArrayLike<number>, refAfter: ArrayLike<number>, before: ArrayLike<number>, gradRef: ArrayLike<number>, lr: number, gradNoise = 0): Comparison | undefined {
    if (!this.shapeCheck('step', name, oursAfter, refAfter)) return undefined;
    let worst = 0;
    let worstLoose = 0;
    // Elements whose reference gradient is within our own float32 gradient spread may
    // legitimately take the other sign in Adam's first step (u ≈ -lr·sign(g)).
    const firm = Math.max(1e-5, 2 * gradNoise);
    for (let i = 0; i < refAfter.length; i++) {
      const uOurs = oursAfter[i]! - before[i]!;
      const uRef = refAfter[i]! - before[i]!;
      if (Math.abs(gradRef[i]!) > firm) worst = Math.max(worst, Math.abs(uOurs - uRef) || 0);
      else worstLoose = Math.max(worstLoose, Math.abs(uOurs));
      if (Number.isNaN(uOurs)) worst = Infinity;
    }
    const bound = 2e-3 * lr;
    // fp32 rounding of p + u limits how precisely u can be read back: allow one ulp of |p|.
    let ulp = 0;
    for (let i = 0; i < before.length; i++) ulp = Math.max(ulp, Math.abs(before[i]!) * 1.2e-7);
    const ok = worst <= bound + ulp && worstLoose <= lr * 1.001 + ulp;
    const notes = [worstLoose ? `|u| at near-zero grads ≤ ${worstLoose.toExponential(2)}` : '', firm > 1e-5 ? `firm where |g_ref| > ${firm.toExponential(2)} (gradient noise)` : ''].filter(Boolean);
    return this.push({ group: 'step', name, maxAbs: worst, maxRel: worst / lr, bound: bound + ulp, ok, note: notes.length ? notes.join('; ') : undefined });
  }

  /** Running BN statistics: ≤ 1e-5 · max|ref|. */
  running(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>): Comparison | undefined {
    if (!this.shapeCheck('running stats', name, ours, ref)) return undefined;
    const s = diffStats(ours, ref);
    const bound = 1e-5 * s.refMax;
    return this.push({ group: 'running stats', name, maxAbs: s.maxAbs, maxRel: s.maxRel, bound, ok: s.maxAbs <= bound });
  }

  /** Scalar losses: ≤ 1e-5 relative. */
  loss(name: string, ours: number, ref: number): Comparison {
    const d = Math.abs(ours - ref);
    const bound = 1e-5 * Math.max(Math.abs(ref), 1e-12);
    return this.push({ group: 'losses', name, maxAbs: d, maxRel: d / Math.max(Math.abs(ref), 1e-30), bound, ok: d <= bound || (Number.isNaN(d) ? false : d === 0) });
  }

  /** Exact equality (token ids, strings as char codes). */
  exact(group: ParityGroup, name: string, ours: ArrayLike<number> | string, ref: ArrayLike<number> | string): Comparison {
    let bad = 0;
    if (typeof ours === 'string' || typeof ref === 'string') bad = ours === ref ? 0 : 1;
    else {
      if (ours.length !== ref.length) bad = Math.abs(ours.length - ref.length) + 1;
      for (let i = 0; i < Math.min(ours.length, ref.length); i++) if (ours[i] !== ref[i]) bad++;
    }
    return this.push({ group, name, maxAbs: bad, maxRel: bad, bound: 0, ok: bad === 0, note: bad ? `${bad} mismatches` : undefined });
  }

  /** A free-form check with its own bound. */
  custom(group: ParityGroup, name: string, value: number, bound: number, note?: string): Comparison {
    return this.push({ group, name, maxAbs: value, maxRel: NaN, bound, ok: value <= bound, note });
  }

  get ok(): boolean {
    return this.rows.every((r) => r.ok);
  }

  failures(): Comparison[] {
    return this.rows.filter((r) => !r.ok);
  }

  /** One line per group: count, worst absolute and relative error, pass/fail. */
  summary(): string {
    const groups = new Map<ParityGroup, Comparison[]>();
    for (const r of this.rows) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
    const lines = [`${'group'.padEnd(14)} ${'tensors'.padStart(7)} ${'max abs err'.padStart(12)} ${'max rel err'.padStart(12)}  result`];
    for (const [g, rs] of groups) {
      const worstAbs = rs.reduce((a, r) => Math.max(a, r.maxAbs), 0);
      const worstRel = rs.reduce((a, r) => (Number.isNaN(r.maxRel) ? a : Math.max(a, r.maxRel)), 0);
      const bad = rs.filter((r) => !r.ok).length;
      lines.push(`${g.padEnd(14)} ${String(rs.length).padStart(7)} ${worstAbs.toExponential(2).padStart(12)} ${worstRel.toExponential(2).padStart(12)}  ${bad ? `FAIL (${bad})` : 'ok'}`);
    }
    for (const f of this.failures().slice(0, 20)) {
      lines.push(`  FAIL ${f.group} ${f.name}: max abs ${f.maxAbs.toExponential(3)} > bound ${f.bound.toExponential(3)}${f.note ? ` (${f.note})` : ''}`);
    }
    return lines.join('\n');
  }
}
