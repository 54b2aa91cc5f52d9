/**
 * zoo pretrain-clip: contrastive (CLIP) pretraining of a tiny CLIP on the synthetic
 * image-caption pairs, producing the frozen backbone of the embedded demo.
 *
 *  1. generate (or find, cached) a synthetic dataset with captions (plugins/datasets/synthetic);
 *  2. learn a small byte-level BPE vocabulary from the training captions (plus the
 *     generator's word list, so every word of its referring expressions is one token);
 *  3. train a custom-dims CLIP from scratch with InfoNCE (core/train/contrastive.ts);
 *  4. write `<out>/clip.safetensors` (OpenAI state-dict names, loadable by the clip backbone's
 *     `weights`; metadata: dims, heads, command line, seed, accuracy), `<out>/vocab.txt`
 *     (a merges file for the backbone's `vocab`), `<out>/pretrain.json` and `<out>/README.md`
 *     (how it was made: the exact command, time, loss, accuracy, held-out retrieval).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, UsageError } from '../../core/errors.js';
import type { Command, CliEnv } from '../../core/cli/command.js';
import type { CommandSpec, ParsedArgs } from '../../core/cli/args.js';
import { resolveSyntheticOptions } from '../datasets/synthetic/options.js';
import { COLORS, COLOR_WORDS, GENERIC_NOUNS, SHAPES, SHAPE_NOUNS, SIZES, SIZE_WORDS } from '../datasets/synthetic/vocabulary.js';

export const PRETRAIN_DEFAULTS = {
  out: 'assets/tiny-clip',
  data: '.cache/synthref-pretrain',
  'data-seed': 1,
  images: 8000,
  'min-side': 128,
  'max-side': 128,
  /** Scenes drawn like the demo dataset's (configs/tiny/barleria-synthetic.json). */
  'data-options': '{"objectsPerImage":[2,4],"objectRadius":{"small":[0.12,0.15],"large":[0.2,0.25]},"shapes":["circle","semicircle","square","triangle","star","cross"]}',
  holdout: 256,
  'vocab-size': 1024,
  size: 64,
  patch: 8,
  'vision-width': 64,
  'vision-layers': 4,
  'vision-heads': 2,
  'text-width': 64,
  'text-layers': 4,
  'text-heads': 2,
  'embed-dim': 64,
  context: 40,
  epochs: 12,
  batch: 128,
  lr: 0.002,
  'weight-decay': 0.05,
  warmup: 100,
  'clip-norm': 1,
  seed: 0,
  threads: 1,
  'region-weight': 1,
  'region-context': 8,
  'region-max': 6,
  'region-candidates': 'all',
} as const;

type Defaults = typeof PRETRAIN_DEFAULTS;
const num = (description: string, key: keyof Defaults, value = 'N') => ({ type: 'number' as const, description, default: PRETRAIN_DEFAULTS[key] as number, value });

export const pretrainSpec: CommandSpec = {
  name: 'pretrain-clip',
  summary: 'Contrastive (CLIP) pretraining of a tiny CLIP on synthetic image-caption pairs: learns a BPE vocabulary, trains, writes clip.safetensors + vocab.txt.',
  usage: 'zoo pretrain-clip [--out DIR] [--epochs N] [--batch N] [--lr X] [--seed N] [--data DIR] [--images N] [dims...]',
  flags: {
    out: { type: 'string', value: 'DIR', description: 'Output folder (clip.safetensors, vocab.txt, pretrain.json, README.md)', default: PRETRAIN_DEFAULTS.out },
    data: { type: 'string', value: 'DIR', description: 'Synthetic dataset folder (generated there if absent; cached)', default: PRETRAIN_DEFAULTS.data },
    'data-seed': num('Seed of the synthetic pretraining images (not the demo dataset\'s seed 0, so no demo val/test image is seen)', 'data-seed'),
    images: num('Captioned images generated (2 captions each)', 'images'),
    'min-side': num('Smallest image side of the generated scenes (as the demo dataset: square 128 px)', 'min-side', 'PX'),
    'max-side': num('Largest image side of the generated scenes', 'max-side', 'PX'),
    'data-options': {
      type: 'string',
      value: 'JSON',
      description: 'More synthetic generator options for the scenes, as JSON (default: as the demo dataset); seed, images, sides and captions come from the flags above',
      default: PRETRAIN_DEFAULTS['data-options'],
    },
    holdout: num('Images held out (the last ones) for retrieval accuracy', 'holdout'),
    'vocab-size': num('BPE vocabulary size (ids, SOT and EOT included; at least 514)', 'vocab-size'),
    size: num('Input resolution (square, letterboxed as the segmentation input)', 'size', 'PX'),
    patch: num('Patch size', 'patch', 'PX'),
    'vision-width': num('Vision width', 'vision-width'),
    'vision-layers': num('Vision blocks', 'vision-layers'),
    'vision-heads': num('Vision heads', 'vision-heads'),
    'text-width': num('Text width', 'text-width'),
    'text-layers': num('Text blocks', 'text-layers'),
    'text-heads': num('Text heads', 'text-heads'),
    'embed-dim': num('Joint embedding width', 'embed-dim'),
    context: num('Text context length (captions are truncated to it)', 'context'),
    epochs: num('Epochs over the training images', 'epochs'),
    batch: num('Batch size (the in-batch negatives)', 'batch'),
    lr: num('Peak learning rate (AdamW, warm-up then cosine)', 'lr', 'X'),
    'weight-decay': num('Decoupled weight decay of matrices and embeddings', 'weight-decay', 'X'),
    warmup: num('Warm-up steps', 'warmup'),
    'clip-norm': num('Clip gradients by global norm (0: off)', 'clip-norm', 'X'),
    seed: num('Seed of the initialisation and the data order', 'seed'),
    threads: num('wasm threads (0: all cores; 1, the default, was the fastest on 2 cores: the threaded build pays ~0.2 ms per small matmul)', 'threads'),
    backend: { type: 'string', value: 'NAME', description: 'Backend: wasm, cpu, tensorflow or auto', default: 'wasm' },
    'eval-every': { type: 'number', value: 'N', description: 'Held-out retrieval every N epochs (0: at the end only)', default: 3 },
    'region-weight': num('Weight of the region-phrase term (each object pooled from the patch grid against phrases like "a small red circle"; 0: captions only)', 'region-weight', 'X'),
    'region-context': num('Context length of the region phrases', 'region-context'),
    'region-max': num('Objects per image in the region term (at most)', 'region-max'),
    'region-candidates': { type: 'string', value: 'all|batch', description: 'Phrases each object is scored against: all (every size-colour-shape phrase and the colour-, shape- and size-only ones, words drawn afresh each step: shape must be told apart within a colour) or batch (the phrases drawn for the batch\'s objects)', default: PRETRAIN_DEFAULTS['region-candidates'] },
  },
  details:
    'The shipped assets/tiny-clip was made by the command in assets/tiny-clip/README.md. ' +
    'Relative paths are resolved from the repository root.',
};

/** The command line that reproduces a run: every option with its effective value. */
/** A word for a POSIX shell: as is when plain, else in single quotes. */
export const shellQuote = (w: string): string => (/^[\w.,/:@%+=-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

export function commandLine(spec: CommandSpec, flags: ParsedArgs['flags']): string {
  const parts = ['zoo', spec.name];
  for (const [name, f] of Object.entries(spec.flags)) {
    const v = flags[name];
    if (v === undefined || f.type === 'boolean') continue;
    parts.push(`--${name}`, shellQuote(String(v)));
  }
  return parts.join(' ');
}

export interface PretrainSettings {
  out: string;
  data: string;
  dataSeed: number;
  images: number;
  minSide: number;
  maxSide: number;
  /** Further generator options (validated by the generator). */
  dataOptions: Record<string, unknown>;
  holdout: number;
  vocabSize: number;
  size: number;
  patch: number;
  visionWidth: number;
  visionLayers: number;
  visionHeads: number;
  textWidth: number;
  textLayers: number;
  textHeads: number;
  embedDim: number;
  context: number;
  epochs: number;
  batch: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  clipNorm: number;
  seed: number;
  threads: number;
  backend: string;
  evalEvery: number;
  regionWeight: number;
  regionContext: number;
  regionMax: number;
  regionCandidates: 'all' | 'batch';
}

const FLAG_OWNED_DATA_OPTIONS = ['seed', 'images', 'minSide', 'maxSide', 'captionsPerImage', 'captionSplits'];

/** --data-options: a JSON object of generator options other than those the flags set; checked by the generator's validation. */
export function parseDataOptions(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`pretrain-clip: --data-options is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`pretrain-clip: --data-options must be a JSON object, got ${text}`);
  const owned = Object.keys(v).filter((k) => FLAG_OWNED_DATA_OPTIONS.includes(k));
  if (owned.length) throw new UsageError(`pretrain-clip: --data-options may not set ${owned.join(', ')} (use the flags: --data-seed, --images, --min-side, --max-side)`);
  try {
    resolveSyntheticOptions(v);
  } catch (e) {
    throw new UsageError(`pretrain-clip: --data-options: ${(e as Error).message}`);
  }
  return v as Record<string, unknown>;
}

export function settingsFromFlags(flags: ParsedArgs['flags'], root: string): PretrainSettings {
  const n = (k: string) => Number(flags[k]);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
  const s: PretrainSettings = {
    out: abs(String(flags.out)),
    data: abs(String(flags.data)),
    dataSeed: n('data-seed'),
    images: n('images'),
    minSide: n('min-side'),
    maxSide: n('max-side'),
    dataOptions: parseDataOptions(String(flags['data-options'] ?? '{}')),
    holdout: n('holdout'),
    vocabSize: n('vocab-size'),
    size: n('size'),
    patch: n('patch'),
    visionWidth: n('vision-width'),
    visionLayers: n('vision-layers'),
    visionHeads: n('vision-heads'),
    textWidth: n('text-width'),
    textLayers: n('text-layers'),
    textHeads: n('text-heads'),
    embedDim: n('embed-dim'),
    context: n('context'),
    epochs: n('epochs'),
    batch: n('batch'),
    lr: n('lr'),
    weightDecay: n('weight-decay'),
    warmup: n('warmup'),
    clipNorm: n('clip-norm'),
    seed: n('seed'),
    threads: n('threads'),
    backend: String(flags.backend),
    evalEvery: n('eval-every'),
    regionWeight: n('region-weight'),
    regionContext: n('region-context'),
    regionMax: n('region-max'),
    regionCandidates: String(flags['region-candidates']) as 'all' | 'batch',
  };
  const ints: (keyof PretrainSettings)[] = ['dataSeed', 'images', 'minSide', 'maxSide', 'holdout', 'vocabSize', 'size', 'patch', 'visionWidth', 'visionLayers', 'visionHeads', 'textWidth', 'textLayers', 'textHeads', 'embedDim', 'context', 'epochs', 'batch', 'warmup', 'seed', 'threads', 'evalEvery', 'regionContext', 'regionMax'];
  for (const k of ints) if (!Number.isInteger(s[k]) || (s[k] as number) < 0) throw new UsageError(`pretrain-clip: ${k} must be a non-negative integer, got ${s[k]}`);
  for (const [k, w, h] of [['vision', s.visionWidth, s.visionHeads], ['text', s.textWidth, s.textHeads]] as const) {
    if (!h || w % h) throw new UsageError(`pretrain-clip: --${k}-heads ${h} must divide --${k}-width ${w}`);
  }
  if (s.size % s.patch) throw new UsageError(`pretrain-clip: --size ${s.size} is not a multiple of --patch ${s.patch}`);
  if (s.holdout >= s.images) throw new UsageError(`pretrain-clip: --holdout ${s.holdout} leaves no training image of ${s.images}`);
  if (!(s.lr > 0)) throw new UsageError(`pretrain-clip: --lr must be positive`);
  if (s.context < 4) throw new UsageError('pretrain-clip: --context must be at least 4');
  if (s.regionCandidates !== 'all' && s.regionCandidates !== 'batch') throw new UsageError(`pretrain-clip: --region-candidates must be all or batch, got ${s.regionCandidates}`);
  if (!(s.regionWeight >= 0)) throw new UsageError('pretrain-clip: --region-weight must be non-negative');
  if (s.regionWeight > 0 && (s.regionContext < 4 || s.regionContext > s.context || s.regionMax < 1)) throw new UsageError(`pretrain-clip: --region-context must be in [4, --context] and --region-max at least 1`);
  return s;
}

export interface PretrainOutcome {
  weights: string;
  vocab: string;
  note: string;
  report: Record<string, unknown>;
}

/** The whole pipeline (also used by tests with small settings). */
export async function runPretrain(s: PretrainSettings, env: Pick<CliEnv, 'registry' | 'err' | 'root'>, command: string): Promise<PretrainOutcome> {
  const t0 = performance.now();
  const log = env.err;
  const { selectBackend } = await import('../../core/runtime/backend.js');
  const { seedInit } = await import('../../core/nn/init.js');
  const { loadImageFile } = await import('../../core/data/decode.js');
  const { letterboxImage } = await import('../../core/vision/letterbox.js');
  const { normalizeImage } = await import('../../core/vision/normalize.js');
  const { writeSafetensors } = await import('../../core/io/safetensors.js');
  const { writeFileAtomic } = await import('../../core/io/atomic-write.js');
  const { tensorToRaw } = await import('../../core/nn/module.js');
  const { Progress } = await import('../../core/train/progress.js');
  const { trainContrastive } = await import('../../core/train/contrastive.js');
  const { Rng } = await import('../../core/nn/rng.js');
  const synth = await import('../datasets/synthetic/index.js');
  const words = SYNTHETIC_WORDS;
  const { learnBpeMerges } = await import('../backbones/clip/tokenizer/byte-vocab.js');
  const { ClipTokenizer } = await import('../backbones/clip/tokenizer/bpe.js');

  const backend = await selectBackend(s.backend as 'wasm' | 'cpu' | 'tensorflow' | 'auto', { threads: s.threads });
  log(`backend: ${backend.backend}, ${backend.threads} thread${backend.threads > 1 ? 's' : ''}`);

  // 1. Data.
  const g0 = performance.now();
  const gen = await synth.ensureSyntheticDataset(s.data, { ...s.dataOptions, seed: s.dataSeed, images: { train: s.images, val: 0, testA: 0, testB: 0 }, minSide: s.minSide, maxSide: s.maxSide, captionsPerImage: 2, captionSplits: ['train'] });
  log(`data: ${s.data} (${gen.generated ? `generated in ${((performance.now() - g0) / 1000).toFixed(1)} s` : 'cached'}; ${gen.manifest.counts.captions} captions of ${gen.manifest.counts.captionImages} images)`);
  const byImage = new Map<string, string[]>();
  for (const line of readFileSync(join(s.data, gen.manifest.files.captions), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { image: string; caption: string };
    const list = byImage.get(r.image) ?? [];
    list.push(r.caption);
    byImage.set(r.image, list);
  }
  const entries = [...byImage.entries()];
  const nTrain = entries.length - s.holdout;
  if (nTrain < s.batch) throw new ConfigError(`pretrain-clip: ${nTrain} training images for batch ${s.batch}`);

  // 2. Vocabulary: BPE merges from the training captions, plus the generator's words.
  const corpus = [...entries.slice(0, nTrain).flatMap(([, c]) => c), ...synth.vocabularyWords().flatMap((w) => [w, w])];
  const merges = learnBpeMerges(corpus, { vocabSize: s.vocabSize });
  const tokenizer = ClipTokenizer.fromMerges(merges, { source: 'zoo pretrain-clip' });
  mkdirSync(s.out, { recursive: true });
  const vocabPath = join(s.out, 'vocab.txt');
  tokenizer.save(vocabPath, { gzip: false });
  const lengths = entries.flatMap(([, c]) => c.map((t) => tokenizer.encode(t).length + 2));
  const truncated = lengths.filter((l) => l > s.context).length;
  const wordTokens = synth.vocabularyWords().map((w) => tokenizer.encode(w).length);
  log(`vocabulary: ${merges.length} merges, ${tokenizer.vocabSize} ids; captions ${Math.min(...lengths)}-${Math.max(...lengths)} tokens (mean ${(lengths.reduce((a, b) => a + b, 0) / lengths.length).toFixed(1)}), ${truncated} of ${lengths.length} truncated to ${s.context}; ${wordTokens.filter((n) => n === 1).length}/${wordTokens.length} expression words are single tokens`);

  // 3. Images, letterboxed and normalised exactly as the segmentation input; with the region
  // term, each object's footprint on the patch grid (from the generator's plan: polygons) and
  // phrases describing it.
  const l0 = performance.now();
  const scenes = new Map<string, import('../datasets/synthetic/scene.js').Scene>();
  if (s.regionWeight > 0) for (const im of synth.planSyntheticDataset(gen.manifest.options).images) scenes.set(im.path, im.scene);
  const phraseRng = new Rng(s.seed ^ 0x9e3779b9);
  const items: import('../../core/train/contrastive.js').CaptionedImage[] = new Array(entries.length);
  const chunk = 64;
  for (let i = 0; i < entries.length; i += chunk) {
    await Promise.all(
      entries.slice(i, i + chunk).map(async ([path, caps], k) => {
        const img = await loadImageFile(join(s.data, path));
        const lb = letterboxImage(img, s.size);
        items[i + k] = { pixels: normalizeImage(lb.image, undefined, undefined, 'hwc'), captions: caps.map((c) => tokenizer.tokenize([c], s.context)), texts: caps };
        const scene = scenes.get(path);
        if (scene) items[i + k]!.regions = sceneRegions(scene, lb.forward, s.size, s.patch, (t) => tokenizer.tokenize([t], s.regionContext), phraseRng, synth.polygonMask, words);
      }),
    );
  }
  const nRegions = items.reduce((a, it) => a + (it.regions?.length ?? 0), 0);
  log(`images: ${entries.length} decoded and letterboxed to ${s.size} px in ${((performance.now() - l0) / 1000).toFixed(1)} s; ${nTrain} for training, ${s.holdout} held out${nRegions ? `; ${nRegions} objects with phrases for the region term` : ''}`);
  const candidates = s.regionWeight > 0 ? canonicalPhrases((t) => tokenizer.tokenize([t], s.regionContext)) : undefined;

  // 4. Model: a custom-dims CLIP from the registry, trained from scratch.
  const dims = {
    visionWidth: s.visionWidth,
    visionLayers: s.visionLayers,
    visionHeads: s.visionHeads,
    patchSize: s.patch,
    inputSize: s.size,
    textWidth: s.textWidth,
    textLayers: s.textLayers,
    textHeads: s.textHeads,
    vocabSize: tokenizer.vocabSize,
    contextLength: s.context,
    embedDim: s.embedDim,
  };
  seedInit(s.seed);
  const manifest = env.registry.get('backbone', 'clip', 'pretrain-clip');
  const { inputSize, ...towerDims } = dims;
  const backbone = manifest.create(
    { preset: 'custom', ...towerDims, pretrainedGrid: inputSize / s.patch, vocab: vocabPath, stageLayers: [1] },
    { where: 'pretrain-clip', input: { size: s.size, wordLength: s.context }, seed: s.seed, loadWeights: false },
  ) as import('../../core/model/contracts.js').Backbone;
  const nParams = backbone.module.numParameters();
  log(`model: CLIP ViT-${s.patch} ${s.visionLayers}x${s.visionWidth} (${s.visionHeads} heads), text ${s.textLayers}x${s.textWidth} (${s.textHeads} heads), embed ${s.embedDim}, ${nParams.toLocaleString('en-US')} parameters`);
  const train = items.slice(0, nTrain);
  const heldOut = items.slice(nTrain);
  const stepsPerEpoch = Math.floor(train.length / s.batch);
  const progress = new Progress({ label: 'pretrain', total: stepsPerEpoch * s.epochs, unit: 'steps' });
  const epochLines: Record<string, unknown>[] = [];
  const result = trainContrastive(backbone, train, heldOut, {
    inputSize: s.size,
    contextLength: s.context,
    epochs: s.epochs,
    batchSize: s.batch,
    lr: s.lr,
    weightDecay: s.weightDecay,
    warmupSteps: s.warmup,
    gradClipNorm: s.clipNorm,
    seed: s.seed,
    evalEvery: s.evalEvery,
    ...(s.regionWeight > 0
      ? {
          region: {
            weight: s.regionWeight,
            contextLength: s.regionContext,
            maxPerImage: s.regionMax,
            ...(s.regionCandidates === 'all' ? { candidates: (r: RngT) => allObjectPhrases(r, words, (t) => tokenizer.tokenize([t], s.regionContext)) } : {}),
          },
          regionCandidates: candidates,
        }
      : {}),
    log,
    onStep: (st) => progress.update(st.step, { epoch: st.epoch + 1, loss: st.loss, acc: st.accuracy, ...(st.regionAccuracy !== undefined ? { region: st.regionAccuracy } : {}), scale: Math.exp(st.logitScale), lr: st.lr }),
    onEpoch: (e) => {
      epochLines.push({ ...e });
      const reg = e.heldOut?.regions ? `; held-out objects (n=${Object.values(e.heldOut.regions)[0]?.n}) named among phrases of ${Object.entries(e.heldOut.regions).map(([k, v]) => `${k} (${v.candidates}) ${(100 * v.top1).toFixed(1)}%`).join(', ')}` : '';
      if (e.heldOut) log(`\nepoch ${e.epoch}: loss ${e.loss.toFixed(4)}, in-batch top-1 ${(100 * e.accuracy).toFixed(1)}%, held-out retrieval (n=${e.heldOut.n}) image->text ${(100 * e.heldOut.imageToText).toFixed(1)}%, text->image ${(100 * e.heldOut.textToImage).toFixed(1)}%${reg}`);
    },
  });
  progress.finish();

  // 5. Files.
  const seconds = (performance.now() - t0) / 1000;
  const f = result.final;
  const summary = {
    loss: f.loss,
    inBatchTop1: f.accuracy,
    inBatchRegionTop1: f.regionAccuracy,
    logitScale: Math.exp(f.logitScale),
    heldOut: result.heldOut,
    steps: result.steps,
    trainSeconds: result.seconds,
    samplesPerSec: result.samplesPerSec,
    totalSeconds: seconds,
  };
  const state = backbone.module.stateDict();
  const weightsPath = join(s.out, 'clip.safetensors');
  const rel = (p: string) => relative(env.root, p) || '.';
  writeSafetensors(
    weightsPath,
    [...state].map(([n, t]) => [n, tensorToRaw(t)] as [string, ReturnType<typeof tensorToRaw>]),
    {
      format: 'pt',
      producer: 'barleria-zoo zoo pretrain-clip',
      vision_heads: String(s.visionHeads),
      text_heads: String(s.textHeads),
      dims: JSON.stringify(dims),
      command,
      seed: String(s.seed),
      data: JSON.stringify({ generator: 'synthetic', seed: s.dataSeed, images: s.images, minSide: s.minSide, maxSide: s.maxSide, holdout: s.holdout, vocabulary: rel(vocabPath) }),
      objective: OBJECTIVE(s),
      final: JSON.stringify(summary),
    },
  );
  state.forEach((t) => t.dispose());
  backbone.module.dispose();
  const report = { command, settings: { ...s, out: rel(s.out), data: rel(s.data) }, dims, vocabulary: { merges: merges.length, ids: tokenizer.vocabSize, truncatedCaptions: truncated, captions: lengths.length }, parameters: nParams, backend: `${backend.backend} (${backend.threads} threads)`, result: summary, epochs: epochLines, files: { weights: rel(weightsPath), vocab: rel(vocabPath) } };
  writeFileAtomic(join(s.out, 'pretrain.json'), JSON.stringify(report, null, 2) + '\n');
  const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const note = [
    '# Tiny CLIP pretrained on synthetic image-caption pairs',
    '',
    'Made by (from the repository root):',
    '',
    '```',
    `node bin/${command}`.replace('bin/zoo ', 'bin/zoo.js '),
    '```',
    '',
    `- Data: ${s.images} synthetic scenes of ${s.minSide === s.maxSide ? `${s.minSide} px` : `${s.minSide}-${s.maxSide} px`} (generator seed ${s.dataSeed}, 2 captions each), the last ${s.holdout} held out; the demo dataset uses seed 0, so none of its val/test images is seen.`,
    `- Vocabulary: byte-level BPE learned from the training captions and the generator's word list: ${merges.length} merges, ${tokenizer.vocabSize} ids (\`vocab.txt\`).`,
    `- Model: CLIP ViT, input ${s.size} px, patch ${s.patch}, vision ${s.visionLayers} blocks x ${s.visionWidth} (${s.visionHeads} heads), text ${s.textLayers} x ${s.textWidth} (${s.textHeads} heads), context ${s.context}, embed ${s.embedDim}; ${nParams.toLocaleString('en-US')} parameters. Head counts are in the safetensors metadata (\`vision_heads\`, \`text_heads\`).`,
    `- Objective: ${OBJECTIVE(s)}.`,
    `- Training: ${s.epochs} epochs x ${stepsPerEpoch} steps, batch ${s.batch}, AdamW lr ${s.lr} (warm-up ${s.warmup} steps, cosine), weight decay ${s.weightDecay}, clip norm ${s.clipNorm}, seed ${s.seed}; ${backend.backend} backend, ${backend.threads} thread(s).`,
    '',
    '| measure | value |',
    '|---|---|',
    `| wall time (data + vocabulary + training + files) | ${(seconds / 60).toFixed(1)} min |`,
    `| training throughput | ${result.samplesPerSec.toFixed(1)} images/s |`,
    `| final epoch loss | ${f.loss.toFixed(4)} |`,
    `| final epoch in-batch top-1 (batch ${s.batch}, both directions) | ${pct(f.accuracy)} |`,
    `| held-out retrieval image->text top-1 (n = ${result.heldOut?.n ?? 0}) | ${pct(result.heldOut?.imageToText)} |`,
    `| held-out retrieval text->image top-1 (n = ${result.heldOut?.n ?? 0}) | ${pct(result.heldOut?.textToImage)} |`,
    ...Object.entries(result.heldOut?.regions ?? {}).map(([k, v]) => `| held-out objects (n = ${v.n}) named among the ${v.candidates} ${k} phrases, top-1 | ${pct(v.top1)} |`),
    ...(f.regionAccuracy !== undefined ? [`| final epoch in-batch object -> phrase top-1 | ${pct(f.regionAccuracy)} |`] : []),
    `| logit scale | ${Math.exp(f.logitScale).toFixed(1)} |`,
    '',
    'Per-epoch numbers: `pretrain.json`.',
    '',
  ].join('\n');
  writeFileAtomic(join(s.out, 'README.md'), note);
  log(`wrote ${rel(weightsPath)}, ${rel(vocabPath)}, ${rel(join(s.out, 'pretrain.json'))}, ${rel(join(s.out, 'README.md'))} (${seconds.toFixed(0)} s)`);
  return { weights: weightsPath, vocab: vocabPath, note: join(s.out, 'README.md'), report };
}

const OBJECTIVE = (s: PretrainSettings) =>
  'CLIP InfoNCE (symmetric cross-entropy, learnable logit scale clamped at 100) between images and captions; image embedding = mean over the grid of ln_post(patches) @ visual.proj (the dense features a CRIS head reads), text = EOT token @ text_projection' +
  (s.regionWeight > 0
    ? `; plus (weight ${s.regionWeight}) the same contrast between objects (those features pooled over each object's footprint on the patch grid, from the generator's polygons) and short phrases naming them ("a small red circle", "the green shape", "a star"), every phrase that fits an object counting as a positive${s.regionCandidates === 'all' ? '; each object is scored against every size-colour-shape phrase and the colour-, shape- and size-only ones (222 phrases, synonyms drawn each step), so shape and size must be told apart within a colour' : ''}`
    : '');

type SceneT = import('../datasets/synthetic/scene.js').Scene;
type RngT = import('../../core/nn/rng.js').Rng;

const pick = <T>(rng: RngT, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** The labels an object satisfies: every (size | *, colour | *, shape | *) but the empty one. */
export function objectLabels(o: { size: string; color: string; shape: string }): string[] {
  const out: string[] = [];
  for (const z of [o.size, '*']) for (const c of [o.color, '*']) for (const sh of [o.shape, '*']) if (z !== '*' || c !== '*' || sh !== '*') out.push(`${z}|${c}|${sh}`);
  return out;
}

/** A phrase naming an object (synonyms, optional size, article) and its label. */
export function objectPhrase(o: { size: string; color: string; shape: string }, rng: RngT, words: PhraseWords): { text: string; label: string } {
  const r = rng.next();
  const kind = r < 0.6 ? 'full' : r < 0.8 ? 'colour' : r < 0.95 ? 'shape' : 'size';
  const withSize = kind === 'size' || rng.next() < 0.5;
  const parts: string[] = [];
  if (withSize) parts.push(pick(rng, words.sizes[o.size]!));
  if (kind === 'full' || kind === 'colour') parts.push(pick(rng, words.colors[o.color]!));
  parts.push(kind === 'full' || kind === 'shape' ? pick(rng, words.shapes[o.shape]!) : pick(rng, [...words.generic, 'one']));
  const art = pick(rng, ['a', 'the', '']);
  const text = (art === 'a' && /^[aeiou]/.test(parts[0]!) ? 'an' : art) + (art ? ' ' : '') + parts.join(' ');
  const label = `${withSize ? o.size : '*'}|${kind === 'full' || kind === 'colour' ? o.color : '*'}|${kind === 'full' || kind === 'shape' ? o.shape : '*'}`;
  return { text, label };
}

/**
 * Candidates of held-out object classification (canonical words): every "size colour shape"
 * phrase, and the colour ("a red shape"), shape ("a circle") and size ("a small shape") ones.
 */
export function canonicalPhrases(tokenize: (t: string) => Int32Array): Record<string, { ids: Int32Array[]; labels: string[] }> {
  const set = (entries: [string, string][]) => ({ ids: entries.map(([t]) => tokenize(t)), labels: entries.map(([, l]) => l) });
  return {
    'size colour shape': set(SIZES.flatMap((z) => COLORS.flatMap((c) => SHAPES.map((sh): [string, string] => [`a ${z} ${c} ${sh}`, `${z}|${c}|${sh}`])))),
    colour: set(COLORS.map((c): [string, string] => [`a ${c} shape`, `*|${c}|*`])),
    shape: set(SHAPES.map((sh): [string, string] => [`a ${sh}`, `*|*|${sh}`])),
    size: set(SIZES.map((z): [string, string] => [`a ${z} shape`, `${z}|*|*`])),
  };
}
/**
 * Every object label (size-colour-shape, and colour-, shape- and size-only) as a phrase with
 * words drawn from the synonyms (and an optional article), for the region term's candidates.
 */
export function allObjectPhrases(rng: RngT, words: PhraseWords, tokenize: (t: string) => Int32Array): { ids: Int32Array[]; labels: string[] } {
  const ids: Int32Array[] = [];
  const labels: string[] = [];
  const add = (parts: string[], label: string) => {
    const art = pick(rng, ['a', 'the', '']);
    ids.push(tokenize((art === 'a' && /^[aeiou]/.test(parts[0]!) ? 'an' : art) + (art ? ' ' : '') + parts.join(' ')));
    labels.push(label);
  };
  for (const z of SIZES) for (const c of COLORS) for (const sh of SHAPES) add([pick(rng, words.sizes[z]!), pick(rng, words.colors[c]!), pick(rng, words.shapes[sh]!)], `${z}|${c}|${sh}`);
  for (const c of COLORS) add([pick(rng, words.colors[c]!), pick(rng, [...words.generic])], `*|${c}|*`);
  for (const sh of SHAPES) add([pick(rng, words.shapes[sh]!)], `*|*|${sh}`);
  for (const z of SIZES) add([pick(rng, words.sizes[z]!), pick(rng, [...words.generic, 'one'])], `${z}|*|*`);
  return { ids, labels };
}


/** Regions of a scene: each object's footprint on the patch grid of the letterboxed input, its labels and phrases. */
export function sceneRegions(
  scene: SceneT,
  forward: readonly number[],
  size: number,
  patch: number,
  tokenize: (t: string) => Int32Array,
  rng: RngT,
  polygonMask: (poly: readonly number[], h: number, w: number) => Uint8Array,
  words: PhraseWords,
  variants = 4,
): import('../../core/train/contrastive.js').Region[] {
  const g = size / patch;
  const out: import('../../core/train/contrastive.js').Region[] = [];
  for (const o of scene.objects) {
    const poly = o.polygon.map((v, i) => (i % 2 === 0 ? forward[0]! * v + forward[1]! * o.polygon[i + 1]! + forward[2]! : forward[3]! * o.polygon[i - 1]! + forward[4]! * v + forward[5]!));
    const m = polygonMask(poly, size, size);
    const w = new Float32Array(g * g);
    let total = 0;
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (m[y * size + x]) {
      w[Math.floor(y / patch) * g + Math.floor(x / patch)]! += 1;
      total++;
    }
    if (!total) continue;
    for (let i = 0; i < w.length; i++) w[i]! /= total;
    const phrases = Array.from({ length: variants }, () => {
      const p = objectPhrase(o, rng, words);
      return { ids: tokenize(p.text), label: p.label };
    });
    out.push({ weights: w, labels: objectLabels(o), phrases });
  }
  return out;
}

/** The synthetic generator's words for objects. */
export interface PhraseWords {
  colors: Record<string, readonly string[]>;
  shapes: Record<string, readonly string[]>;
  sizes: Record<string, readonly string[]>;
  generic: readonly string[];
}

export const SYNTHETIC_WORDS: PhraseWords = { colors: COLOR_WORDS, shapes: SHAPE_NOUNS, sizes: SIZE_WORDS, generic: GENERIC_NOUNS };

export const pretrainCommand: Command = {
  spec: pretrainSpec,
  async run(args, env) {
    const s = settingsFromFlags(args.flags, env.root);
    const command = commandLine(pretrainSpec, args.flags);
    const o = await runPretrain(s, env, command);
    const r = o.report.result as { heldOut?: { imageToText: number; textToImage: number; n: number }; inBatchTop1: number };
    env.out(`weights: ${o.weights}\nvocab: ${o.vocab}\nheld-out retrieval top-1 (n=${r.heldOut?.n ?? 0}): image->text ${((r.heldOut?.imageToText ?? 0) * 100).toFixed(1)}%, text->image ${((r.heldOut?.textToImage ?? 0) * 100).toFixed(1)}%`);
    return 0;
  },
};
