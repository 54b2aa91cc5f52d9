/**
 * zoo demo (`npm start`): the embedded default job. With no arguments and no downloads:
 * generate the synthetic referring dataset (cached under .cache/), load the tiny CLIP
 * pretrained on synthetic captions that ships in assets/tiny-clip/, freeze it, train
 * BarLeRIa (SNF + LIM + GST + CRIS head, PET rule) with the normal runner, evaluate val /
 * testA / testB with the official protocol, print the table and `mIoU <val>`, and write
 * prediction overlays of a few val expressions.
 *
 * The run directory (default runs/demo) is replaced on every run: a folder holding a
 * previous demo (its `demo.json` marker) or nothing is cleared first; any other non-empty
 * folder is refused, so --out never deletes someone else's files.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import type { Command } from '../../core/cli/command.js';
import { loadConfig, type JsonObject } from '../../core/config/load.js';
import { applyOverrides } from '../../core/config/overrides.js';
import { validateConfig, type ValidatedConfig } from '../../core/config/validate.js';
import type { Registry } from '../../core/registry/registry.js';

export const DEMO_CONFIG = 'configs/tiny/barleria-synthetic.json';
export const DEMO_MARKER = 'demo.json';

/** Resolve the relative file paths of a config (CLIP weights and vocabulary, dataset root) against `root`. */
export function resolveConfigPaths(doc: JsonObject, root: string): void {
  const fix = (o: unknown, key: string) => {
    if (!o || typeof o !== 'object') return;
    const rec = o as Record<string, unknown>;
    const v = rec[key];
    if (typeof v === 'string' && v && !isAbsolute(v)) rec[key] = resolve(root, v);
  };
  const model = doc.model as Record<string, unknown> | undefined;
  fix(model?.backbone, 'weights');
  fix(model?.backbone, 'vocab');
  fix(model, 'checkpoint');
  fix((doc.data as Record<string, unknown> | undefined)?.dataset, 'root');
}

/** A config as the demo and the scripts beside it read it: `--set` overrides applied, relative paths resolved against `root`, validated. */
export function loadRepoConfig(path: string, sets: readonly string[], registry: Registry, root: string): ValidatedConfig {
  const loaded = loadConfig(path);
  applyOverrides(loaded, [...sets], registry);
  resolveConfigPaths(loaded.doc, root);
  return validateConfig(loaded, registry);
}

/** Clear `dir` for a fresh demo run: only an empty folder or a previous demo run (marker file) is removed. */
export function prepareDemoDir(dir: string): void {
  if (existsSync(dir)) {
    const entries = readdirSync(dir);
    if (entries.length && !entries.includes(DEMO_MARKER)) {
      throw new UsageError(`demo: ${dir} exists and does not hold a previous demo run (no ${DEMO_MARKER}); choose another --out or remove it`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
}

/** A file-name fragment from a sentence: lower case, [a-z0-9] words joined by '-'. */
export function slug(text: string, max = 60): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (s.length > max ? s.slice(0, max).replace(/-[^-]*$/, '') : s) || 'expression';
}

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    summary: 'The embedded default job (npm start): synthetic data, tiny pretrained CLIP, BarLeRIa training, official evaluation, overlays.',
    usage: 'zoo demo [--config C] [--out DIR] [--overlays N] [--set KEY=VALUE ...]',
    flags: {
      config: { type: 'string', value: 'PATH', description: 'Run config', default: DEMO_CONFIG },
      set: { type: 'string', value: 'KEY=VALUE', description: 'Override a config value (e.g. train.maxSteps=50)', repeat: true },
      out: { type: 'string', value: 'DIR', description: 'Run directory (replaced on every run)', default: 'runs/demo' },
      overlays: { type: 'number', value: 'N', description: 'Prediction overlays of val expressions to write', default: 8 },
    },
    details:
      'Relative paths (--config, --out, and the weights/vocab/dataset paths inside the config) are resolved from the repository root, so `npm start` works from anywhere. ' +
      'Prints the metrics table and a last line `mIoU <val mIoU>`; overlays go to <out>/overlays/ (image | prediction | ground truth, the sentence in the file name).',
  },
  async run(args, env) {
    const t0 = performance.now();
    const root = env.root;
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
    const configPath = abs(String(args.flags.config));
    const out = abs(String(args.flags.out));
    const nOverlays = Number(args.flags.overlays);
    if (!Number.isInteger(nOverlays) || nOverlays < 0) throw new UsageError(`demo: --overlays must be a non-negative integer, got ${args.flags.overlays}`);

    const v = loadRepoConfig(configPath, (args.flags.set as string[] | undefined) ?? [], env.registry, root);

    prepareDemoDir(out);
    const { writeFileAtomic } = await import('../../core/io/atomic-write.js');
    writeFileAtomic(join(out, DEMO_MARKER), JSON.stringify({ config: configPath, started: new Date().toISOString() }, null, 2) + '\n');
    const { runTraining, prepareRun, createDataset } = await import('../../core/train/runner.js');
    const ctx = { registry: env.registry, baseDir: root, log: env.err };
    env.err(`demo: ${configPath} -> ${out}`);
    // The runner prints the final table to the log; the demo prints it (once) on stdout.
    const r = await runTraining(v, { ...ctx, log: (l: string) => (l.startsWith('\nsplit') ? undefined : env.err(l)) }, { out });
    const trainDone = performance.now();

    // Overlays of a few val expressions, from the best checkpoint.
    const overlays: { file: string; sentence: string; iou: number }[] = [];
    if (nOverlays > 0 && r.best) {
      const { loadCheckpoint } = await import('../../core/train/checkpoint.js');
      const model = await prepareRun(v, { ...ctx, log: () => {} });
      loadCheckpoint(r.best.path, model);
      const source = createDataset(v, ctx);
      await source.prepare?.();
      const recs = source.records('val');
      const picks = Array.from({ length: Math.min(nOverlays, recs.length) }, (_, i) => recs[Math.floor((i * recs.length) / Math.min(nOverlays, recs.length))]!);
      const dir = join(out, 'overlays');
      mkdirSync(dir, { recursive: true });
      for (const [i, rec] of picks.entries()) {
        const sentence = rec.sentences[0]!;
        const image = await source.loadImage(rec);
        const gt = await source.loadMask(rec, image.height, image.width);
        const file = join(dir, `${String(i + 1).padStart(2, '0')}-${slug(sentence)}.png`);
        const iou = await writeDemoOverlay(model, image, gt, sentence, file, v);
        overlays.push({ file, sentence, iou });
      }
      model.dispose();
      writeFileAtomic(join(dir, 'index.json'), JSON.stringify(overlays.map((o) => ({ ...o, file: o.file.slice(dir.length + 1) })), null, 2) + '\n');
    }

    const { formatRisTable } = await import('../../core/metrics/ris-eval.js');
    const seconds = (performance.now() - t0) / 1000;
    const val = r.reports.find((x) => x.split === 'val');
    writeFileAtomic(
      join(out, DEMO_MARKER),
      JSON.stringify(
        {
          config: configPath,
          finished: new Date().toISOString(),
          seconds: Math.round(seconds),
          trainAndEvalSeconds: Math.round((trainDone - t0) / 1000),
          steps: r.state.step,
          splits: Object.fromEntries(r.reports.map((x) => [x.split, { mIoU: x.mIoU, oIoU: x.oIoU, count: x.count }])),
          overlays,
        },
        null,
        2,
      ) + '\n',
    );
    env.out(formatRisTable(r.reports.map((x) => ({ split: x.split, summary: x }))));
    if (overlays.length) env.out(`overlays: ${join(out, 'overlays')} (${overlays.length}: image | prediction | ground truth)`);
    env.out(`run: ${out} (${(seconds / 60).toFixed(1)} min)`);
    if (val) env.out(`mIoU ${(100 * val.mIoU).toFixed(2)}`);
    return 0;
  },
};

/** image | prediction | ground truth (each mask spotlit), scaled x2; returns the prediction's IoU. */
export async function writeDemoOverlay(
  model: import('../../core/model/model.js').SegmentationModel,
  image: import('../../core/vision/image.js').ImageBuffer<Uint8Array>,
  gt: Uint8Array,
  sentence: string,
  file: string,
  v: ValidatedConfig,
): Promise<number> {
  const sharp = (await import('sharp')).default;
  const { predictImage, spotlight } = await import('../../core/train/predict.js');
  const { maskIoU } = await import('../../core/metrics/ris-eval.js');
  const { writeFileAtomic } = await import('../../core/io/atomic-write.js');
  const pred = await predictImage(model, image, sentence, { inputSize: v.config.input.size, wordLength: v.config.input.wordLength, threshold: v.config.eval.threshold });
  const { height: H, width: W } = image;
  const panels = [image.data, spotlight(image, pred.mask), spotlight(image, gt)];
  const gap = 4;
  const outW = 3 * W + 2 * gap;
  const buf = new Uint8Array(outW * H * 3).fill(255);
  panels.forEach((p, k) => {
    for (let y = 0; y < H; y++) buf.set(p.subarray(y * W * 3, (y + 1) * W * 3), (y * outW + k * (W + gap)) * 3);
  });
  const png = await sharp(Buffer.from(buf), { raw: { width: outW, height: H, channels: 3 } })
    .resize({ width: outW * 2, height: H * 2, kernel: 'nearest' })
    .png()
    .toBuffer();
  writeFileAtomic(file, png);
  return maskIoU(pred.mask, gt).iou;
}
