/**
 * zoo pretrain-clip end to end at toy sizes: data generation, BPE vocabulary,
 * contrastive training, and files the clip backbone loads (`weights` + `vocab`,
 * head counts from the metadata).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../core/registry/registry.js';
import { CORE_PLUGINS } from '../../core/plugins.js';
import { PLUGINS } from '../index.js';
import { readSafetensors } from '../../core/io/safetensors.js';
import { parseArgs } from '../../core/cli/args.js';
import type { Backbone } from '../../core/model/contracts.js';
import { commandLine, pretrainSpec, runPretrain, settingsFromFlags } from './pretrain.js';
import { UsageError } from '../../core/errors.js';

const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);

describe('zoo pretrain-clip', () => {
  it('validates its options and records the full command line', () => {
    const args = parseArgs(pretrainSpec, ['--epochs', '3', '--vision-heads', '2']);
    expect(settingsFromFlags(args.flags, '/repo').out).toBe('/repo/assets/tiny-clip');
    const line = commandLine(pretrainSpec, args.flags);
    expect(line.startsWith('zoo pretrain-clip --out assets/tiny-clip')).toBe(true);
    expect(line).toContain('--epochs 3');
    expect(line).toContain('--seed 0');
    expect(() => settingsFromFlags(parseArgs(pretrainSpec, ['--vision-heads', '3']).flags, '/repo')).toThrow(UsageError);
    expect(() => settingsFromFlags(parseArgs(pretrainSpec, ['--size', '60']).flags, '/repo')).toThrow(/multiple of --patch/);
  });

  it('takes more generator options as --data-options JSON, checked by the generator, and quotes them in the command line', () => {
    const json = '{"objectsPerImage":[2,4],"shapes":["circle","star"]}';
    const args = parseArgs(pretrainSpec, ['--data-options', json]);
    expect(settingsFromFlags(args.flags, '/repo').dataOptions).toEqual({ objectsPerImage: [2, 4], shapes: ['circle', 'star'] });
    expect(commandLine(pretrainSpec, args.flags)).toContain(`--data-options '${json}'`);
    const bad = (v: string) => () => settingsFromFlags(parseArgs(pretrainSpec, ['--data-options', v]).flags, '/repo');
    expect(bad('{objectsPerImage')).toThrow(/--data-options is not JSON/);
    expect(bad('[1]')).toThrow(/--data-options must be a JSON object/);
    expect(bad('{"images":{"train":5}}')).toThrow(/may not set images \(use the flags/);
    expect(bad('{"shapes":["circle","blob"]}')).toThrow(/--data-options: .*"shapes": unknown value "blob"/);
    expect(bad('{"objectRadius":{"small":[0.1,0.2],"large":[0.15,0.25]}}')).toThrow(/"objectRadius".*small's max below large's min/);
  });

  it('trains a toy CLIP and writes weights and a vocabulary the clip backbone loads', async () => {
    const root = mkdtempSync(join(tmpdir(), 'zoo-pretrain-'));
    const args = parseArgs(pretrainSpec, [
      ...['--out', 'out', '--data', 'data', '--images', '24', '--holdout', '8', '--vocab-size', '600', '--size', '16', '--patch', '8'],
      ...['--vision-width', '16', '--vision-layers', '1', '--vision-heads', '2', '--text-width', '16', '--text-layers', '1', '--text-heads', '2'],
      ...['--embed-dim', '16', '--context', '40', '--epochs', '2', '--batch', '8', '--warmup', '2', '--backend', 'cpu', '--eval-every', '1'],
    ]);
    const s = settingsFromFlags(args.flags, root);
    const lines: string[] = [];
    const o = await runPretrain(s, { registry, err: (l) => lines.push(l), root }, commandLine(pretrainSpec, args.flags));
    for (const f of ['clip.safetensors', 'vocab.txt', 'pretrain.json', 'README.md']) expect(existsSync(join(root, 'out', f)), f).toBe(true);
    const st = readSafetensors(o.weights);
    expect(st.metadata.vision_heads).toBe('2');
    expect(st.metadata.command).toContain('--images 24');
    expect(st.names).toContain('visual.conv1.weight');
    expect(st.names).toContain('logit_scale');
    const report = JSON.parse(readFileSync(join(root, 'out', 'pretrain.json'), 'utf8')) as { result: { steps: number; heldOut: { n: number } }; epochs: unknown[] };
    expect(report.result.steps).toBe(4); // 16 training images / batch 8 x 2 epochs
    expect(report.result.heldOut.n).toBe(8);
    expect(report.epochs).toHaveLength(2);
    expect(readFileSync(o.note, 'utf8')).toContain('node bin/zoo.js pretrain-clip --out out');
    // The clip backbone reads it: dims from the tensors, heads from the metadata, the vocabulary.
    const bb = registry.get('backbone', 'clip').create({ preset: 'custom', weights: o.weights, vocab: o.vocab, stageLayers: [1] }, { where: 'test', input: { size: 16, wordLength: 12 }, seed: 0 }) as Backbone & { dims: { visionHeads: number; textHeads: number; vocabSize: number } };
    expect(bb.dims.visionHeads).toBe(2);
    expect(bb.dims.textHeads).toBe(2);
    expect(bb.loadPretrained!()).toMatch(/0 missing, 0 unexpected, 0 with the wrong shape/);
    expect(bb.tokenizer().vocabSize).toBe(bb.dims.vocabSize);
    const ids = [...bb.tokenizer().tokenize(['the red circle'], 12)];
    expect(ids[0]).toBe(bb.dims.vocabSize - 2); // SOT, then BPE pieces, EOT, padding
    expect(ids.filter((x) => x === bb.dims.vocabSize - 1)).toHaveLength(1);
    expect(readFileSync(o.vocab, 'utf8').trim().split('\n')).toHaveLength(1 + bb.dims.vocabSize - 514);
    bb.module.dispose();
  }, 60_000);
});
