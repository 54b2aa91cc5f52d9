/** zoo train, eval, predict. */
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { CONFIG_FLAGS, configFromArgs } from '../config-flags.js';
import type { Command, CliEnv } from '../command.js';
import type { RunContext } from '../../train/runner.js';
import type { ValidatedConfig } from '../../config/validate.js';

// The training stack is loaded on demand so that quick commands start fast.
const train = () => import('../../train/runner.js');

function runContext(_v: ValidatedConfig, env: CliEnv): RunContext {
  return { registry: env.registry, baseDir: process.cwd(), log: env.err };
}

export const trainCommand: Command = {
  spec: {
    name: 'train',
    summary: 'Train a model from a config: progress, JSONL log, curves PNG, evaluation and best checkpoint, exact --resume.',
    usage: 'zoo train --config C [--set KEY=VALUE ...] [--out DIR] [--resume]',
    flags: {
      ...CONFIG_FLAGS,
      out: { type: 'string', value: 'DIR', description: 'Run directory (checkpoints, log.jsonl, curves.png, report.json)', default: 'runs/default' },
      resume: { type: 'boolean', description: 'Continue the run in --out from its latest complete checkpoint' },
      'stop-after': { type: 'number', value: 'N', description: 'Stop after N optimiser steps in this invocation (checkpointed; continue with --resume)' },
    },
  },
  async run(args, env) {
    const v = configFromArgs(args, env);
    const { runTraining } = await train();
    const r = await runTraining(v, runContext(v, env), { out: String(args.flags.out), resume: Boolean(args.flags.resume), stopAfter: args.flags['stop-after'] as number | undefined });
    env.out(`${r.finished ? 'finished' : 'stopped'} at step ${r.state.step}; run directory ${r.out}${r.best ? `; best val mIoU ${(100 * r.best.mIoU).toFixed(2)} at step ${r.best.step}` : ''}`);
    for (const rep of r.reports) env.out(`${rep.split} mIoU ${(100 * rep.mIoU).toFixed(2)}`);
    return 0;
  },
};

export const evalCommand: Command = {
  spec: {
    name: 'eval',
    summary: 'Evaluate a checkpoint on a split with the official protocol (mIoU, oIoU, Pr@0.5-0.9); writes a JSON report.',
    usage: 'zoo eval --config C --checkpoint P --split S [--report FILE] [--limit N]',
    flags: {
      ...CONFIG_FLAGS,
      checkpoint: { type: 'string', value: 'PATH', description: 'Checkpoint written by `zoo train` (best.safetensors or step-*.safetensors)' },
      split: { type: 'string', value: 'NAME', description: 'Split to evaluate (val uses the first sentence, other splits every sentence)', repeat: true },
      report: { type: 'string', value: 'FILE', description: 'Write the JSON report here (default: beside the checkpoint)' },
      limit: { type: 'number', value: 'N', description: 'Evaluate at most N expressions per split' },
    },
  },
  async run(args, env) {
    const v = configFromArgs(args, env);
    const ck = args.flags.checkpoint as string | undefined;
    if (!ck) throw new UsageError('eval: --checkpoint is required');
    const splits = (args.flags.split as string[] | undefined) ?? v.config.eval.splits;
    const ctx = runContext(v, env);
    const { prepareRun, createDataset, loaderFor } = await train();
    const { loadCheckpoint } = await import('../../train/checkpoint.js');
    const { evaluate } = await import('../../train/evaluate.js');
    const { Progress } = await import('../../train/progress.js');
    const { formatRisTable } = await import('../../metrics/ris-eval.js');
    const { writeFileAtomic } = await import('../../io/atomic-write.js');
    const model = await prepareRun(v, ctx);
    loadCheckpoint(ck, model);
    const source = createDataset(v, ctx);
    await source.prepare?.();
    const reports = [];
    for (const split of splits) {
      const loader = await loaderFor(v, source, model, split, split === 'val' ? 'val' : 'test', v.config.eval.batchSize, Number(args.flags.limit ?? 0));
      const prog = new Progress({ label: `eval ${split}`, total: loader.length, unit: 'expr' });
      const r = await evaluate(model, loader.epoch(0), { split, inputSize: v.config.input.size, threshold: v.config.eval.threshold, total: loader.length, onProgress: (d) => prog.update(d) });
      prog.finish();
      reports.push(r);
    }
    env.out(formatRisTable(reports.map((r) => ({ split: r.split, summary: r }))));
    const out = (args.flags.report as string | undefined) ?? resolve(ck).replace(/\.safetensors$/, '') + `.eval-${splits.join('+')}.json`;
    writeFileAtomic(out, JSON.stringify({ checkpoint: resolve(ck), splits: reports }, null, 2) + '\n');
    env.out(`report: ${out}`);
    model.dispose();
    return 0;
  },
};

export const predictCommand: Command = {
  spec: {
    name: 'predict',
    summary: 'Segment the object a sentence refers to in one image; writes an overlay PNG and the raw mask PNG.',
    usage: 'zoo predict --config C --checkpoint P --image IMG --text "..." --out OUT.png',
    flags: {
      ...CONFIG_FLAGS,
      checkpoint: { type: 'string', value: 'PATH', description: 'Checkpoint written by `zoo train`' },
      image: { type: 'string', value: 'IMG', description: 'Input image (JPEG, PNG, ...)' },
      text: { type: 'string', value: 'TEXT', description: 'The referring expression' },
      out: { type: 'string', value: 'OUT.png', description: 'Overlay PNG; the mask goes to OUT.mask.png', default: 'prediction.png' },
    },
  },
  async run(args, env) {
    const v = configFromArgs(args, env);
    for (const k of ['checkpoint', 'image', 'text'] as const) if (args.flags[k] === undefined) throw new UsageError(`predict: --${k} is required`);
    const { prepareRun } = await train();
    const { loadCheckpoint } = await import('../../train/checkpoint.js');
    const { decodeImageFile, predictImage, writePredictionPngs } = await import('../../train/predict.js');
    const model = await prepareRun(v, runContext(v, env));
    loadCheckpoint(String(args.flags.checkpoint), model);
    const img = await decodeImageFile(String(args.flags.image));
    const pred = await predictImage(model, img, String(args.flags.text), { inputSize: v.config.input.size, wordLength: v.config.input.wordLength, threshold: v.config.eval.threshold });
    const files = await writePredictionPngs(String(args.flags.out), img, pred);
    const area = pred.mask.reduce((a, b) => a + b, 0);
    env.out(`overlay: ${files.overlay}\nmask: ${files.mask} (${area} pixels, ${((100 * area) / pred.mask.length).toFixed(1)}% of the image)`);
    model.dispose();
    return 0;
  },
};
