/**
 * The training loop end to end on a tiny model and dataset: a run interrupted
 * after N steps and resumed equals an uninterrupted run bit for bit (cpu), and
 * the run directory holds what it promises.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../registry/registry.js';
import { CORE_PLUGINS } from '../plugins.js';
import { PLUGINS } from '../../plugins/index.js';
import { inlineConfig } from '../config/load.js';
import { validateConfig } from '../config/validate.js';
import { runTraining } from './runner.js';
import { readSafetensors } from '../io/safetensors.js';
import { tinyConfig } from '../../test/tiny.js';
import { UsageError } from '../errors.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
const dataRoot = join(mkdtempSync(join(tmpdir(), 'zoo-runner-')), 'synth');
const quiet = { registry, baseDir: process.cwd(), log: () => {}, progressStream: { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream };

function validated(train: Record<string, unknown> = {}) {
  return validateConfig(inlineConfig(tinyConfig({ dataRoot, train: train as never })), registry);
}

function modelTensors(path: string): Map<string, Float32Array> {
  const f = readSafetensors(path);
  return new Map(f.names.filter((n) => n.startsWith('model/') || n.startsWith('optim/')).map((n) => [n, f.get(n).data as Float32Array]));
}

describe('runner', () => {
  it('2N steps equal N steps + resume + N steps, bit for bit on cpu (params, BN stats, Adam moments)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'zoo-resume-'));
    // Interrupted after 2 steps, then after 3 more (across an epoch boundary), then run to the end.
    const full = await runTraining(validated(), quiet, { out: join(base, 'full') });
    expect(full.finished).toBe(true);
    const a = await runTraining(validated(), quiet, { out: join(base, 'split'), stopAfter: 2 });
    expect(a.finished).toBe(false);
    expect(a.state.step).toBe(2);
    const b = await runTraining(validated(), quiet, { out: join(base, 'split'), resume: true, stopAfter: 3 });
    expect(b.state.step).toBe(5);
    const c = await runTraining(validated(), quiet, { out: join(base, 'split'), resume: true });
    expect(c.finished).toBe(true);
    expect(c.state.step).toBe(full.state.step);
    const x = modelTensors(join(base, 'full/checkpoints', JSON.parse(readFileSync(join(base, 'full/checkpoints/latest.json'), 'utf8')).file));
    const y = modelTensors(join(base, 'split/checkpoints', JSON.parse(readFileSync(join(base, 'split/checkpoints/latest.json'), 'utf8')).file));
    expect([...y.keys()].sort()).toEqual([...x.keys()].sort());
    expect(x.size).toBeGreaterThan(100);
    for (const [k, v] of x) expect(Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(y.get(k)!.buffer, y.get(k)!.byteOffset, y.get(k)!.byteLength)), k).toBe(0);
    // The run directory.
    for (const f of ['config.json', 'log.jsonl', 'curves.png', 'report.json', 'checkpoints/best.safetensors']) expect(existsSync(join(base, 'full', f)), f).toBe(true);
    const log = readFileSync(join(base, 'split/log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
    expect(log.filter((e) => e.type === 'step').map((e) => e.step)).toEqual(Array.from({ length: full.state.step }, (_, i) => i + 1));
    expect(log.filter((e) => e.type === 'eval').length).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it('refuses to overwrite a run without --resume, and --resume without a run', async () => {
    const base = mkdtempSync(join(tmpdir(), 'zoo-guard-'));
    await expect(runTraining(validated(), quiet, { out: join(base, 'none'), resume: true })).rejects.toThrow(UsageError);
    await runTraining(validated({ maxSteps: 1, epochs: 1 }), quiet, { out: join(base, 'one') });
    await expect(runTraining(validated(), quiet, { out: join(base, 'one') })).rejects.toThrow(/already holds a run/);
  }, 300_000);
});
