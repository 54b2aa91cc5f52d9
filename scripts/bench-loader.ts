/**
 * Data loader throughput: images/s of `RisLoader` (decode, letterbox, normalise, mask warp,
 * tokenise, batch) over a synthetic REFER-layout dataset, for a grid of input sizes and
 * batch sizes.
 *
 *   npx tsx scripts/bench-loader.ts                       # sizes 416,96,64 × batches 32,8
 *   npx tsx scripts/bench-loader.ts --size 416 --batch 32 --workers 4 --images 300
 *   npx tsx scripts/bench-loader.ts --coco                # COCO-like 480–640 px images
 *   npx tsx scripts/bench-loader.ts --root /data/synth    # an existing synthetic root (read with its own options)
 *
 * Without --root the dataset is generated (once; cached) under the OS temp folder.
 * The loader runs on the main thread except the sharp decodes (libuv threads), so the figure
 * is what a training loop gets when it does not compete for the main thread.
 */
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RisLoader } from '../core/data/pipeline.js';
import type { SamplingMode } from '../core/data/contracts.js';
import { byteLevelTokenizer } from '../plugins/backbones/clip/tokenizer/index.js';
import { readSyntheticManifest } from '../plugins/datasets/synthetic/generate.js';
import { SyntheticSource } from '../plugins/datasets/synthetic/plugin.js';

const list = (s: string): number[] => s.split(',').map((v) => Number(v.trim()));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' },
      size: { type: 'string', default: '416,96,64' },
      batch: { type: 'string', default: '32,8' },
      workers: { type: 'string', default: '4' },
      prefetch: { type: 'string', default: '2' },
      images: { type: 'string', default: '240' },
      coco: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'train' },
      split: { type: 'string', default: 'train' },
      'word-length': { type: 'string', default: '17' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const [minSide, maxSide] = values.coco ? [480, 640] : [96, 192];
  const nImages = Number(values.images);
  const root = values.root ?? join(tmpdir(), 'barleria-zoo-bench-loader', `synth-${minSide}-${maxSide}-${nImages}`);
  // An existing synthetic root is read with its own options (never regenerated).
  const existing = values.root ? readSyntheticManifest(values.root) : undefined;
  const source = new SyntheticSource(root, existing ? existing.options : { seed: 0, images: { train: nImages, val: 0, testA: 0, testB: 0 }, minSide, maxSide });
  const t0 = performance.now();
  await source.prepare();
  const g = source.generation!;
  const o = source.options;
  console.log(`dataset: ${root} (${g.generated ? `generated in ${((performance.now() - t0) / 1000).toFixed(1)} s` : 'cached'}; images ${o.minSide}–${o.maxSide} px)`);
  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  const tokenizer = byteLevelTokenizer();
  for (const size of list(values.size)) {
    for (const batch of list(values.batch)) {
      const loader = await RisLoader.create(source, values.split, {
        inputSize: size,
        wordLength: Number(values['word-length']),
        tokenizer,
        batchSize: batch,
        mode: values.mode as SamplingMode,
        seed: 0,
        skipBad: false,
        prefetch: Number(values.prefetch),
        workers: Number(values.workers),
        withOriginal: values.mode !== 'train',
        dropLast: false,
      });
      let best = 0;
      let samples = 0;
      for (let r = 0; r < Number(values.repeat); r++) {
        const t = performance.now();
        samples = 0;
        for await (const b of loader.epoch(r)) samples += b.size;
        const rate = samples / ((performance.now() - t) / 1000);
        best = Math.max(best, rate);
      }
      const line = `input ${String(size).padStart(4)}  batch ${String(batch).padStart(3)}  workers ${values.workers}  prefetch ${values.prefetch}: ${best.toFixed(1).padStart(7)} images/s (${samples} samples)`;
      console.log(line);
    }
  }
}

await main();
