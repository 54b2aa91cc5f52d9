/**
 * The bad-input corpus harness: cases are rows of a table; each row becomes one test
 * that runs the case (through `main(...)` with captured out/err, or a direct call that
 * must throw a typed ZooError) and checks what a user is promised on a bad day:
 *
 *   - a non-zero exit code (the expected one), or the expected ZooError subclass;
 *   - a message naming the file / key / record (the case's patterns);
 *   - no stack trace ("    at ..." lines) and no "internal error";
 *   - no hang (a per-case time limit);
 *   - nothing half-written: no *.tmp file anywhere under the case folder, every file that
 *     was there before is byte-identical, and new files are only the ones the case allows.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../core/cli/main.js';
import type { Command } from '../../core/cli/command.js';
import { ZooError } from '../../core/errors.js';
import type { AnyManifest } from '../../core/registry/manifest.js';
import { COMMANDS, PLUGINS } from '../../plugins/cli.js';

export type Category = 'config' | 'checkpoint' | 'image' | 'annotation' | 'cli';

/** What a case gets: its own empty folder plus the suite's shared fixtures. */
export interface CaseEnv<S> {
  /** A fresh folder for this case. */
  dir: string;
  /** `join(dir, ...)` */
  at: (...parts: string[]) => string;
  shared: S;
}

type Pattern<S> = RegExp | string | ((env: CaseEnv<S>) => RegExp | string);

export interface Case<S> {
  name: string;
  /** One line for the report: what the user should see. */
  expect: string;
  /** Prepare files in the case folder. */
  setup?: (env: CaseEnv<S>) => void | Promise<void>;
  /** Run `zoo <argv>` through `main` ... */
  argv?: (env: CaseEnv<S>) => string[];
  /** ... or call this directly; it must reject with `error`. */
  call?: (env: CaseEnv<S>) => Promise<unknown> | unknown;
  /** Expected exit code (argv cases; 0 for inputs that must be accepted). Default 1. */
  exit?: 0 | 1 | 2;
  /** Expected error class (call cases). */
  error?: abstract new (...args: never[]) => ZooError;
  /** Patterns the message (stderr for argv cases) must match. */
  messages?: Pattern<S>[];
  /** Patterns stdout must match (accepted inputs). */
  stdout?: Pattern<S>[];
  /** New files allowed under the case folder (relative paths, matched against these). */
  allowNew?: RegExp[];
  /** The answer is usage text on stdout, not an "error: ..." line (e.g. `zoo` alone). */
  usageOnly?: boolean;
  /** Extra checks after the run. */
  after?: (env: CaseEnv<S>, result: CaseResult) => void | Promise<void>;
  /** Extra plugins given to `main` (e.g. a test-only head). */
  plugins?: AnyManifest[];
  /** Per-case limit (ms), default 20 s. */
  timeoutMs?: number;
}

export interface CaseResult {
  code?: number;
  out: string;
  err: string;
  error?: unknown;
  ms: number;
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** `zoo <argv>` in-process with captured output. */
export async function runZoo(argv: string[], plugins: AnyManifest[] = [], commands: Command[] = COMMANDS): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, [...PLUGINS, ...plugins], commands, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Every file (and folder) under `dir` with the sha256 of its content ('dir' for folders). */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        out.set(relative(dir, p) + '/', 'dir');
        walk(p);
      } else out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** No temp files; old files unchanged; new files only the allowed ones (folders are not outputs). */
export function expectNothingHalfWritten(before: Map<string, string>, after: Map<string, string>, allowNew: RegExp[] = []): void {
  const tmp = [...after.keys()].filter((p) => p.endsWith('.tmp'));
  expect(tmp, 'temp files left behind').toEqual([]);
  for (const [p, h] of before) {
    expect(after.get(p), `${p} changed or vanished`).toBe(h);
  }
  const added = [...after.keys()].filter((p) => !before.has(p) && after.get(p) !== 'dir' && !allowNew.some((r) => r.test(p)));
  expect(added, 'unexpected new files').toEqual([]);
}

/** A user error message: prefixed, no stack trace, no "internal error". */
export function expectUserMessage(text: string): void {
  expect(text).not.toMatch(/internal error/);
  expect(text.split('\n').filter((l) => /^\s{2,}at .+[(:]/.test(l)), 'stack trace lines').toEqual([]);
}

function resolvePattern<S>(p: Pattern<S>, env: CaseEnv<S>): RegExp {
  const v = typeof p === 'function' ? p(env) : p;
  return typeof v === 'string' ? new RegExp(v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : v;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms (hang?)`)), ms);
    }),
  ]);
}

/** Run one case in `env`; returns what happened (assertions included). */
export async function runCase<S>(c: Case<S>, env: CaseEnv<S>): Promise<CaseResult> {
  await c.setup?.(env);
  const argv = c.argv?.(env);
  const before = snapshot(env.dir);
  const limit = c.timeoutMs ?? 20_000;
  const t0 = performance.now();
  let result: CaseResult;
  if (argv) {
    const r = await withTimeout(runZoo(argv, c.plugins), limit, `zoo ${argv.join(' ')}`);
    result = { code: r.code, out: r.out, err: r.err, ms: performance.now() - t0 };
    const exit = c.exit ?? 1;
    expect(r.code, `exit code; stderr:\n${r.err}`).toBe(exit);
    if (exit !== 0) {
      if (!c.usageOnly) expect(r.err, 'an "error: ..." line').toMatch(/(^|\n)error: /);
      expectUserMessage(r.err);
    }
    for (const p of c.messages ?? []) expect(r.err).toMatch(resolvePattern(p, env));
    for (const p of c.stdout ?? []) expect(r.out).toMatch(resolvePattern(p, env));
  } else if (c.call) {
    let error: unknown;
    try {
      await withTimeout(Promise.resolve().then(() => c.call!(env)), limit, c.name);
    } catch (e) {
      error = e;
    }
    result = { out: '', err: error instanceof Error ? error.message : String(error ?? ''), error, ms: performance.now() - t0 };
    if (c.error) {
      expect(error, 'expected a typed error').toBeInstanceOf(c.error);
      expectUserMessage((error as Error).message);
    } else expect(error, `expected success, got: ${String((error as Error)?.message ?? '')}`).toBeUndefined();
    for (const p of c.messages ?? []) expect(result.err).toMatch(resolvePattern(p, env));
  } else throw new Error(`case ${c.name}: neither argv nor call`);
  expect(result.ms, 'took too long').toBeLessThan(limit);
  expectNothingHalfWritten(before, snapshot(env.dir), c.allowNew);
  await c.after?.(env, result);
  return result;
}

/** One `describe` per category; one `it` per row. */
export function corpus<S>(category: Category, cases: Case<S>[], shared: () => S, base: () => string): void {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
  }
  describe(`bad-input corpus: ${category} (${cases.length} cases)`, () => {
    for (const c of cases) {
      it(`${c.name} -> ${c.expect}`, async () => {
        const dir = join(base(), category, c.name.replace(/[^A-Za-z0-9_.-]+/g, '_'));
        mkdirSync(dir, { recursive: true });
        await runCase(c, { dir, at: (...p) => join(dir, ...p), shared: shared() });
      }, (c.timeoutMs ?? 20_000) + 10_000);
    }
  });
}

export function tempBase(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `zoo-robust-${prefix}-`));
}

export function writeJson(path: string, value: unknown): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}
