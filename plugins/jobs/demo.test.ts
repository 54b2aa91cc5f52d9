/**
 * zoo demo: its helpers, and the whole job on the shipped config and tiny CLIP
 * (assets/tiny-clip) cut down to a few steps and samples.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, ROOT } from '../../core/cli/main.js';
import { COMMANDS, PLUGINS } from '../cli.js';
import { DEMO_CONFIG, DEMO_MARKER, prepareDemoDir, resolveConfigPaths, slug } from './demo.js';
import { UsageError } from '../../core/errors.js';

describe('zoo demo helpers', () => {
  it('makes file names from sentences', () => {
    expect(slug('The red circle.')).toBe('the-red-circle');
    expect(slug('  ')).toBe('expression');
    expect(slug('a b '.repeat(40), 20)).toBe('a-b-a-b-a-b-a-b-a-b');
  });

  it('replaces only empty folders and previous demo runs', () => {
    const base = mkdtempSync(join(tmpdir(), 'zoo-demo-dir-'));
    const foreign = join(base, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'precious.txt'), 'x');
    expect(() => prepareDemoDir(foreign)).toThrow(UsageError);
    expect(existsSync(join(foreign, 'precious.txt'))).toBe(true);
    const old = join(base, 'old');
    mkdirSync(join(old, 'checkpoints'), { recursive: true });
    writeFileSync(join(old, DEMO_MARKER), '{}');
    writeFileSync(join(old, 'checkpoints', 'step-1.safetensors'), 'x');
    prepareDemoDir(old);
    expect(readdirSync(old)).toEqual([]);
    prepareDemoDir(join(base, 'new'));
    expect(existsSync(join(base, 'new'))).toBe(true);
  });

  it('resolves the config paths against the repository root', () => {
    const doc = { model: { backbone: { type: 'clip', weights: 'assets/w.safetensors', vocab: '/abs/v.txt' } }, data: { dataset: { type: 'synthetic', root: '.cache/x' } } };
    resolveConfigPaths(doc, '/repo');
    expect(doc.model.backbone.weights).toBe('/repo/assets/w.safetensors');
    expect(doc.model.backbone.vocab).toBe('/abs/v.txt');
    expect(doc.data.dataset.root).toBe('/repo/.cache/x');
  });
});

describe('zoo demo', () => {
  it('runs the embedded job end to end (shipped config and tiny CLIP, a few steps)', async () => {
    expect(existsSync(join(ROOT, DEMO_CONFIG))).toBe(true);
    const base = mkdtempSync(join(tmpdir(), 'zoo-demo-'));
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [
        'demo',
        ...['--out', join(base, 'run'), '--overlays', '2'],
        ...['--set', `data.dataset.root=${join(base, 'synth')}`, '--set', 'data.dataset.images={"train":24,"val":6,"testA":6,"testB":6}'],
        ...['--set', 'train.maxSteps=2', '--set', 'train.batchSize=8', '--set', 'eval.maxSamples=6'],
      ],
      PLUGINS,
      COMMANDS,
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    expect(code, err.join('\n')).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/^split +mIoU/m);
    for (const split of ['val', 'testA', 'testB']) expect(text).toMatch(new RegExp(`^${split} `, 'm'));
    expect(out[out.length - 1]).toMatch(/^mIoU \d+\.\d\d$/);
    const overlays = readdirSync(join(base, 'run', 'overlays')).filter((f) => f.endsWith('.png'));
    expect(overlays).toHaveLength(2);
    expect(overlays[0]).toMatch(/^01-[a-z0-9-]+\.png$/);
    const marker = JSON.parse(readFileSync(join(base, 'run', DEMO_MARKER), 'utf8')) as { steps: number; splits: Record<string, unknown> };
    expect(marker.steps).toBe(2);
    expect(Object.keys(marker.splits)).toEqual(['val', 'testA', 'testB']);
    expect(err.join('\n')).toMatch(/CLIP weights .*clip\.safetensors.*0 missing, 0 unexpected/);
  }, 120_000);
});
