import { afterAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { RuntimeFailure } from '../../../core/errors.js';
import { MANIFEST_FILE, generateSyntheticDataset, readSyntheticManifest } from './index.js';

/** An encoder that fails after `failAfter` images, to interrupt a generation half-way. */
const injected = vi.hoisted(() => ({ failAfter: Infinity, calls: 0 }));
vi.mock('sharp', async (importOriginal) => {
  const real = ((await importOriginal()) as { default: (...a: unknown[]) => unknown }).default;
  return {
    default: (...args: unknown[]) => {
      if (++injected.calls > injected.failAfter) throw new Error('injected encoder failure');
      return real(...args);
    },
  };
});

function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const SMALL = { images: { train: 10, val: 2, testA: 2, testB: 2 } };

describe('interrupted generation', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'synthref-atomic-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('never leaves a half-written dataset: a failed first generation leaves nothing', async () => {
    injected.calls = 0;
    injected.failAfter = 5;
    const root = join(tmp, 'fresh');
    await expect(generateSyntheticDataset(root, { ...SMALL, concurrency: 1 })).rejects.toThrow(RuntimeFailure);
    await expect(generateSyntheticDataset(root, { ...SMALL, concurrency: 1 })).rejects.toThrow(/injected encoder failure/);
    expect(existsSync(root)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a failed regeneration keeps the previous dataset intact', async () => {
    injected.calls = 0;
    injected.failAfter = Infinity;
    const root = join(tmp, 'kept');
    await generateSyntheticDataset(root, { ...SMALL, seed: 1 });
    const before = hashTree(root);
    injected.calls = 0;
    injected.failAfter = 7;
    await expect(generateSyntheticDataset(root, { ...SMALL, seed: 2, concurrency: 8 })).rejects.toThrow(RuntimeFailure);
    await new Promise((r) => setTimeout(r, 200)); // nothing may still be writing
    expect(hashTree(root)).toEqual(before);
    expect(readSyntheticManifest(root)!.seed).toBe(1);
    expect(existsSync(join(root, MANIFEST_FILE))).toBe(true);
    expect(readdirSync(tmp).filter((n) => n.startsWith('.'))).toEqual([]);
    injected.failAfter = Infinity;
  });
});
