/**
 * Test support for `zoo new`: a throw-away copy of the repository (core/,
 * plugins/, package.json, tsconfig.json, vitest.config.ts and a symlink to
 * node_modules) to scaffold into, and the checks a scaffold must pass there:
 * the TypeScript compiler on the generated files and vitest on their tests.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

const COPIED = ['core', 'plugins', 'package.json', 'tsconfig.json', 'vitest.config.ts'];

export interface TempRepo {
  dir: string;
  cleanup(): void;
}

/** Copy what a scaffold needs into a fresh temporary folder (about 1.5 MB; node_modules is a symlink). */
export function tempRepo(from = PROJECT_ROOT): TempRepo {
  const dir = mkdtempSync(join(tmpdir(), 'zoo-scaffold-'));
  for (const entry of COPIED) {
    const src = join(from, entry);
    if (existsSync(src)) cpSync(src, join(dir, entry), { recursive: true, filter: (p) => !/(^|[/\\])(\.git|node_modules)$/.test(p) && !/\.tmp$/.test(p) });
  }
  symlinkSync(join(from, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ProcessResult {
  ok: boolean;
  status: number | null;
  output: string;
  ms: number;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): ProcessResult {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  return { ok: r.status === 0, status: r.status, output, ms: Date.now() - t0 };
}

/**
 * `tsc --noEmit` over `files` (and whatever they import) with the repository's
 * compiler options: a tsconfig beside the root's extends it and lists only
 * these files, so unrelated work in progress elsewhere does not interfere.
 */
export function typeCheck(root: string, files: readonly string[], timeoutMs = 120_000): ProcessResult {
  const cfg = join(root, 'tsconfig.scaffold-check.json');
  writeFileSync(cfg, JSON.stringify({ extends: './tsconfig.json', include: [], files }, null, 2));
  return run(join(root, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', cfg], root, timeoutMs);
}

/** `vitest run` of the given test files inside `root` (its own vitest.config.ts). */
export function runVitest(root: string, files: readonly string[], timeoutMs = 300_000): ProcessResult {
  return run(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...files, '--reporter=dot'], root, timeoutMs);
}
