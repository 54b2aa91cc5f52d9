/**
 * `zoo parity` end to end on every public fixture, on wasm and cpu, and a
 * tampered fixture that must fail (the check can fail).
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../core/cli/main.js';
import { PLUGINS } from '../plugins/index.js';
import { readSafetensors, writeSafetensors } from '../core/io/safetensors.js';
import type { RawTensor } from '../core/io/raw-tensor.js';
import { FIXTURES } from './fixtures.js';

const dir = join(FIXTURES, 'parity');
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.safetensors') && !/\.(mid|train)\.safetensors$/.test(f))
  .map((f) => join(dir, f));

async function zoo(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, PLUGINS, [], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return { code, out: lines.join('\n') };
}

describe('zoo parity', () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`passes every fixture in shared/fixtures/parity on ${backend}`, async () => {
      expect(fixtures.length).toBeGreaterThanOrEqual(6);
      const r = await zoo('parity', ...fixtures, '--backend', backend);
      expect(r.out).not.toMatch(/FAIL/);
      expect(r.code, r.out).toBe(0);
      expect(r.out.match(/PASS/g)?.length).toBe(fixtures.length);
    }, 240_000);
  }

  it('fails (exit 1, naming the tensor) on a fixture whose prediction was nudged by 0.01', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tampered-'));
    for (const f of ['noglobal_tiny.mid.safetensors', 'noglobal_tiny.train.safetensors']) copyFileSync(join(dir, f), join(tmp, f));
    const src = readSafetensors(join(dir, 'noglobal_tiny.safetensors'));
    const entries: [string, RawTensor][] = [];
    for (const [n, t] of src.entries()) {
      if (n === 'out/pred') (t.data as Float32Array)[7] += 0.01;
      entries.push([n, t]);
    }
    writeSafetensors(join(tmp, 'noglobal_tiny.safetensors'), entries, src.metadata);
    const r = await zoo('parity', join(tmp, 'noglobal_tiny.safetensors'), '--backend', 'wasm');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL outputs pred/);
  }, 120_000);
});
