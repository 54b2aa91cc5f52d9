/**
 * The trivial baseline of the synthetic referring dataset: ignore the sentence and predict
 * the largest object of the image (by annotated area). Scored with the official protocol's
 * counting (val: the first sentence of each referred object; testA/testB: every sentence)
 * and IoU at the original size, so its mIoU is comparable with `zoo demo` / `zoo train`.
 *
 *   npx tsx scripts/baseline-largest.ts [CONFIG]     (default configs/tiny/barleria-synthetic.json)
 *
 * The dataset is the one the config names (generated if absent, as training would).
 * Prints a table (mIoU, oIoU, Pr@X per split) and writes it to docs/baseline-largest.md
 * unless --no-write.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from '../core/registry/registry.js';
import { CORE_PLUGINS } from '../core/plugins.js';
import { PLUGINS } from '../plugins/index.js';
import { createDataset } from '../core/train/runner.js';
import { RisEvaluator, formatRisTable, type RisReport } from '../core/metrics/ris-eval.js';
import { writeFileAtomic } from '../core/io/atomic-write.js';
import { loadRepoConfig } from '../plugins/jobs/demo.js';
import type { RefRecord } from '../core/data/contracts.js';
import type { SyntheticSource } from '../plugins/datasets/synthetic/plugin.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface CocoAnn {
  id: number;
  image_id: number;
  area: number;
  segmentation: number[][];
}

export async function largestObjectBaseline(configPath: string): Promise<RisReport[]> {
  const registry = new Registry([...CORE_PLUGINS, ...PLUGINS]);
  const v = loadRepoConfig(configPath, [], registry, ROOT);
  const any = createDataset(v, { registry, baseDir: ROOT, log: () => {} });
  if (!('root' in any) || !('options' in any)) throw new Error(`${configPath}: the baseline reads the synthetic dataset's instances.json; this config's dataset is ${any.name}`);
  const source = any as SyntheticSource;
  await source.prepare();
  const coco = JSON.parse(readFileSync(join(source.root, source.options.dataset, 'instances.json'), 'utf8')) as { annotations: CocoAnn[] };
  const largest = new Map<number, CocoAnn>();
  for (const a of coco.annotations) {
    const cur = largest.get(a.image_id);
    if (!cur || a.area > cur.area) largest.set(a.image_id, a);
  }
  const reports: RisReport[] = [];
  for (const split of v.config.eval.splits) {
    const ev = new RisEvaluator({ inputSize: v.config.input.size, threshold: v.config.eval.threshold });
    for (const rec of source.records(split)) {
      const img = await source.loadImage(rec);
      const gt = await source.loadMask(rec, img.height, img.width);
      const big = largest.get(rec.imageId)!;
      const ref = rec.maskRef as { annId: number; segmentation: unknown; height: number; width: number };
      const fake: RefRecord = { ...rec, annId: big.id, maskRef: { ...ref, annId: big.id, segmentation: big.segmentation } };
      const pred = await source.loadMask(fake, img.height, img.width);
      // val: the first sentence; test splits: every sentence (the prediction is the same).
      const n = split === 'val' ? 1 : rec.sentences.length;
      for (let k = 0; k < n; k++) ev.addMask(`${rec.id}/${k}`, pred, gt);
    }
    reports.push(ev.report(split));
  }
  return reports;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const config = resolve(args.find((a) => !a.startsWith('--')) ?? join(ROOT, 'configs/tiny/barleria-synthetic.json'));
  const reports = await largestObjectBaseline(config);
  const table = formatRisTable(reports.map((r) => ({ split: r.split, summary: r })));
  console.log(table);
  if (!args.includes('--no-write')) {
    const out = join(ROOT, 'docs', 'baseline-largest.md');
    writeFileAtomic(
      out,
      [
        '# Trivial baseline: the largest object',
        '',
        `The prediction ignores the sentence and is the mask of the largest object of the image. Dataset and protocol of \`${config.slice(ROOT.length + 1)}\` (val: first sentence per object; testA/testB: every sentence). Made by \`npx tsx scripts/baseline-largest.ts\`.`,
        '',
        '```',
        table,
        '```',
        '',
      ].join('\n'),
    );
    console.log(`wrote ${out}`);
  }
}
