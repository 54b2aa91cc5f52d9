/**
 * Writes configs/ for every paper setting: {BarLeRIa, No Global, ETRIS,
 * ETRIS+SNF, full fine-tuning} x {refcoco, refcoco+, refcocog_u, refcocog_g}
 * on CLIP ViT-B/16, and ViT-L/14 variants. Values mirror the official YAML
 * files (BarLeRIa config/<dataset>/barleria_v16.yaml, ETRIS
 * config/<dataset>/bridge_v16.yaml). Run: npx tsx scripts/make-configs.ts
 * (a test checks the committed files are what this writes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'configs');

type Json = Record<string, unknown>;
export const FILES = new Map<string, Json>();
const put = (path: string, doc: Json) => FILES.set(path, doc);

put('_base/paper-training.json', {
  description: 'Official training schedule of BarLeRIa/ETRIS/CRIS: Adam 1e-4, 50 epochs, lr x0.1 at epoch 35, batch 32, input 416, 17 words.',
  input: { size: 416, wordLength: 17 },
  runtime: { backend: 'auto', seed: 0 },
  train: {
    epochs: 50,
    batchSize: 32,
    optimizer: { type: 'adam', lr: 0.0001, weightDecay: 0 },
    schedule: { type: 'multistep', milestones: [35], gamma: 0.1 },
    backboneLrMultiplier: 1,
    gradClipNorm: 0,
  },
  eval: { threshold: 0.35, batchSize: 32 },
});

const clip = (preset: string, file: string): Json => ({
  model: {
    backbone: { type: 'clip', preset, weights: `pretrain/${file}`, vocab: 'pretrain/bpe_simple_vocab_16e6.txt.gz', stageLayers: preset === 'ViT-L/14' ? [8, 16] : [4, 8] },
    freeze: { backbone: 'pet' },
  },
});
put('_base/clip-vit-b16.json', { description: 'OpenAI CLIP ViT-B/16 (weights and vocabulary are user-supplied; paths relative to this file can be overridden with --set).', ...clip('ViT-B/16', 'ViT-B-16.pt') });
put('_base/clip-vit-l14.json', { description: 'OpenAI CLIP ViT-L/14; dims are inferred from the checkpoint. Stage features after blocks 8 and 16 (every 8th of 24).', ...clip('ViT-L/14', 'ViT-L-14.pt') });

// CRIS head: vis_dim = CLIP text width, word_dim = embed dim (the official dimension rules).
const head = (visDim: number): Json => ({ model: { head: { type: 'cris', visDim, fpnOut: [visDim / 2, visDim, visDim * 2], numLayers: 3, numHeads: 8, dimFfn: 512, dropout: 0.1, neckHeads: 8 } } });
put('_base/head-cris-b16.json', head(512));
put('_base/head-cris-l14.json', head(768));

const datasets: Record<string, { splits: string[]; etrisWords?: number }> = {
  refcoco: { splits: ['val', 'testA', 'testB'] },
  'refcoco+': { splits: ['val', 'testA', 'testB'] },
  refcocog_u: { splits: ['val', 'test'] },
  refcocog_g: { splits: ['val'], etrisWords: 22 },
};
for (const [name, d] of Object.entries(datasets)) {
  put(`_base/data-${name}.json`, {
    data: { dataset: { type: 'refcoco', root: 'datasets/refer', dataset: name } },
    eval: { splits: d.splits },
  });
}

const gst = (large: boolean): Json => ({
  type: 'gst',
  embedDim: 144,
  depth: 8,
  heads: 3,
  patchSize: large ? 14 : 16,
  imageSize: 416,
  numQueries: 128,
  fusionMap: large ? ['0->0', '6->1', '12->2', '18->3'] : ['0->0', '3->1', '6->2', '9->3'],
  deepSupervision: [8],
  promptNorm: 'batch',
});
const models = (large: boolean): Record<string, Json> => ({
  barleria: { description: 'BarLeRIa: SNF + LIM + GST, frozen CLIP (PET rule).', model: { adapters: [{ type: 'snf', flowLength: 4 }, { type: 'lim', hidden: 32 }, gst(large)] } },
  noglobal: { description: 'BarLeRIa without GST ("No Global"): SNF + LIM.', model: { adapters: [{ type: 'snf', flowLength: 4 }, { type: 'lim', hidden: 32 }] } },
  etris: { description: 'ETRIS: Bridger every 4th block, frozen CLIP.', model: { adapters: [{ type: 'bridger', dModel: 64, nhead: 8, interval: large ? 8 : 4 }] } },
  'etris-snf': { description: 'ETRIS + SNF.', model: { adapters: [{ type: 'snf', flowLength: 4 }, { type: 'bridger', dModel: 64, nhead: 8, interval: large ? 8 : 4 }] } },
  'full-finetune': {
    description: 'CRIS-style full fine-tuning: no adapters, the whole CLIP trains (backbone lr x0.1 as CRIS).',
    model: { adapters: [], freeze: { backbone: 'trainable' } },
    train: { backboneLrMultiplier: 0.1 },
  },
});
for (const [arch, large] of [['vit-b16', false], ['vit-l14', true]] as const) {
  for (const [m, doc] of Object.entries(models(large))) put(`_base/model-${m}-${arch}.json`, doc);
  for (const [ds, d] of Object.entries(datasets)) {
    for (const m of Object.keys(models(large))) {
      const doc: Json = {
        extends: ['../_base/paper-training.json', `../_base/clip-${arch}.json`, `../_base/head-cris-${large ? 'l14' : 'b16'}.json`, `../_base/data-${ds}.json`, `../_base/model-${m}-${arch}.json`],
      };
      // ETRIS uses 22 words on G-Ref (google) in its official config; BarLeRIa keeps 17.
      if (d.etrisWords && m.startsWith('etris')) doc.input = { wordLength: d.etrisWords };
      put(`${ds}/${m}-${arch}.json`, doc);
    }
  }
}

export function render(doc: Json): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [p, doc] of FILES) {
    const file = join(OUT, p);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, render(doc));
  }
  console.log(`wrote ${FILES.size} files under configs/`);
}
