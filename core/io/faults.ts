/**
 * Fault injection for the robustness tests (test/robustness/faults.test.ts), driven by the
 * ZOO_FAULT environment variable. Without it nothing here has any effect. A comma-separated
 * list of:
 *
 *   atomic-write:<phase>[:<nth>[:<match>]]
 *     Acts on the <nth> (1-based, default 1) call of writeFileAtomic whose path contains
 *     <match> (default: every path counts). <phase>:
 *       partial   SIGKILL the process once half of the temp file is written
 *       written   SIGKILL after the temp file is complete and synced, before the rename
 *       renamed   SIGKILL right after the rename
 *       enospc    fail the write as a full disk does (ENOSPC) once half is written
 *       eacces    fail it as a read-only folder does (EACCES) when the temp file is opened
 *   nan-batch:<step>
 *     The training batch of optimiser step <step> (1-based) gets a NaN pixel.
 *
 * Examples: `ZOO_FAULT=atomic-write:partial:2:step-` kills the process in the middle of
 * writing the second numbered checkpoint; `ZOO_FAULT=atomic-write:renamed:1:step-` right
 * after the first one is in place but before latest.json points at it.
 */

export const FAULT_ENV = 'ZOO_FAULT';

export type AtomicWritePhase = 'partial' | 'written' | 'renamed' | 'enospc' | 'eacces';
const PHASES: readonly AtomicWritePhase[] = ['partial', 'written', 'renamed', 'enospc', 'eacces'];

type Spec = { kind: 'atomic-write'; phase: AtomicWritePhase; nth: number; match: string; seen: number } | { kind: 'nan-batch'; step: number };

let parsed: { raw: string; specs: Spec[] } | undefined;

function parse(raw: string): Spec[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s): Spec => {
      const [kind, ...args] = s.split(':');
      if (kind === 'atomic-write' && PHASES.includes(args[0] as AtomicWritePhase)) {
        const nth = args[1] ? Number(args[1]) : 1;
        if (Number.isSafeInteger(nth) && nth >= 1) return { kind, phase: args[0] as AtomicWritePhase, nth, match: args.slice(2).join(':'), seen: 0 };
      }
      if (kind === 'nan-batch' && /^\d+$/.test(args[0] ?? '')) return { kind, step: Number(args[0]) };
      throw new Error(`${FAULT_ENV}: cannot parse "${s}" (see core/io/faults.ts)`);
    });
}

function specs(): Spec[] {
  const raw = process.env[FAULT_ENV];
  if (!raw) return [];
  if (parsed?.raw !== raw) parsed = { raw, specs: parse(raw) };
  return parsed.specs;
}

/** Forget how many writes were counted (for tests that set ZOO_FAULT in-process). */
export function resetFaults(): void {
  parsed = undefined;
}

/** Count a writeFileAtomic call on `path`; the phase at which to fail it, if this is the chosen one. */
export function atomicWriteFault(path: string): AtomicWritePhase | undefined {
  let out: AtomicWritePhase | undefined;
  for (const s of specs()) {
    if (s.kind !== 'atomic-write' || !path.includes(s.match)) continue;
    if (++s.seen === s.nth) out ??= s.phase;
  }
  return out;
}

/** Kill this process at once, as `kill -9` (or the OOM killer, or a power cut) would. */
export function killNow(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before this returns; never go on writing if it somehow is not.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

/** An error as the file system raises it. */
export function errnoError(code: 'ENOSPC' | 'EACCES', syscall: string, path: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'permission denied';
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}' (injected by ${FAULT_ENV})`), { code, syscall, path, errno: code === 'ENOSPC' ? -28 : -13 });
}

/** Whether the batch of optimiser step `step` (1-based) gets a NaN. */
export function nanBatchFault(step: number): boolean {
  return specs().some((s) => s.kind === 'nan-batch' && s.step === step);
}
