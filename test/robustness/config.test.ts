/**
 * Bad-input corpus, configs: wrong types, unknown keys and plugin types, `extends`
 * cycles and missing files, invalid JSON, out-of-range values, incompatible plugin
 * combinations, cross-field constraints. Every row goes through `zoo validate`,
 * `zoo params` or `zoo train` in-process; see harness.ts for what each row checks.
 */
import { writeFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { definePlugin, type AnyManifest } from '../../core/registry/manifest.js';
import type { Backbone, BuildContext, Head, PartContext } from '../../core/model/contracts.js';
import { createClipBackbone } from '../../plugins/backbones/clip/index.js';
import { ClipOptionsSchema, type ClipOptions } from '../../plugins/backbones/clip/options.js';
import { corpus, type Case } from './harness.js';
import { caseConfig, edited, useShared, type Shared } from './shared.js';

const { shared, base } = useShared('config');

type C = Case<Shared>;

/** `zoo validate <config with edits>` fails with exit 2 and these messages. */
function invalid(name: string, expect: string, edits: Record<string, unknown>, messages: (RegExp | string)[]): C {
  return {
    name,
    expect,
    exit: 2,
    argv: (e) => ['validate', caseConfig(e, edited(e.shared, edits))],
    messages: [/invalid config/, (e) => e.at('config.json'), ...messages],
  };
}

/** A head without the `head.neck` hook point (for the GST compatibility check). */
const neckless: AnyManifest = definePlugin({
  kind: 'head',
  name: 'neckless-test-head',
  description: 'test-only head that publishes no hook points',
  schema: Type.Object({}, { additionalProperties: false }),
  create: (): Head => ({ mounts: [], hookPoints: [], forward: () => { throw new Error('not used'); } }),
});

/** CLIP as a vision-only backbone: no text tower, no joint hook points. */
const visionOnly: AnyManifest = definePlugin({
  kind: 'backbone',
  name: 'vision-only-test',
  description: 'test-only: CLIP with the text tower and joint hook points hidden',
  schema: ClipOptionsSchema,
  create: (o: ClipOptions, ctx: BuildContext | PartContext): Backbone => {
    const b = createClipBackbone(o, ctx);
    return { ...b, spec: { ...b.spec, towers: ['vision'], hookPoints: b.spec.hookPoints.filter((p) => /^(image|vision\.)/.test(p.name)) } };
  },
});

/** CLIP whose towers run separately: both towers, but no joint hook points (`embed`, `block.{i}.after`). */
const separateTowers: AnyManifest = definePlugin({
  kind: 'backbone',
  name: 'separate-towers-test',
  description: 'test-only: CLIP without the joint-walk hook points',
  schema: ClipOptionsSchema,
  create: (o: ClipOptions, ctx: BuildContext | PartContext): Backbone => {
    const b = createClipBackbone(o, ctx);
    return { ...b, spec: { ...b.spec, hookPoints: b.spec.hookPoints.filter((p) => !/^(embed|block\.)/.test(p.name)) } };
  },
});

const gst = { type: 'gst', embedDim: 16, depth: 2, heads: 2, patchSize: 8, imageSize: 32, numQueries: 4, fusionMap: ['0->0', '1->1'], deepSupervision: [2], promptHidden: 8 };

const cases: C[] = [
  // ---- wrong types
  invalid('type-string-for-integer', 'train.epochs must be integer', { 'train.epochs': 'ten' }, [/train\.epochs: must be integer \(got "ten", a string\)/]),
  invalid('type-float-for-integer', 'input.size must be integer', { 'input.size': 32.5 }, [/input\.size: must be integer/]),
  invalid('type-object-for-array', 'model.adapters must be array', { 'model.adapters': { type: 'lim' } }, [/model\.adapters: must be array/]),
  invalid('type-string-for-boolean', 'data.skipBad must be boolean', { data: { dataset: { type: 'synthetic' }, skipBad: 'yes' } }, [/data\.skipBad: must be boolean/]),
  invalid('type-plugin-option', 'head numLayers must be integer [head/cris]', { 'model.head.numLayers': '3' }, [/model\.head\.numLayers: must be integer .*\[head\/cris\]/]),
  invalid('type-backbone-option', 'stageLayers must be array [backbone/clip]', { 'model.backbone.stageLayers': '1,2' }, [/model\.backbone\.stageLayers: must be array/]),
  invalid('type-null-plugin-node', 'model.head must be object', { 'model.head': null }, [/model\.head: must be object/]),
  invalid('type-number-for-string', 'description must be string', { description: 42 }, [/description: must be string/]),
  invalid('type-array-items', 'eval.splits[1] must be string', { 'eval.splits': ['val', 3] }, [/eval\.splits\[1\]: must be string/]),
  // ---- unknown keys (did you mean)
  invalid('unknown-top-level-key', 'unknown key "trian", did you mean "train"', { trian: { epochs: 1 } }, [/unknown key "trian"\. Did you mean "train"\?/]),
  invalid('unknown-nested-key', 'unknown key "epoch", did you mean "epochs"', { 'train.epoch': 3 }, [/train: unknown key "epoch"\. Did you mean "epochs"\?/]),
  invalid('unknown-plugin-option', 'unknown key "numLayer", did you mean "numLayers"', { 'model.head.numLayer': 3 }, [/unknown key "numLayer"\. Did you mean "numLayers"\?.*\[head\/cris\]/]),
  invalid('unknown-data-key', 'unknown key "skipbad", did you mean "skipBad"', { data: { dataset: { type: 'synthetic' }, skipbad: true } }, [/unknown key "skipbad"\. Did you mean "skipBad"\?/]),
  invalid('unknown-freeze-key', 'unknown key "backbon" in model.freeze', { 'model.freeze': { backbon: 'pet' } }, [/model\.freeze: unknown key "backbon"\. Did you mean "backbone"\?/]),
  invalid('unknown-key-no-hint', 'unknown key lists the valid keys', { 'input.colour': 'rgb' }, [/unknown key "colour"\. Valid keys: size, wordLength/]),
  // ---- unknown plugin types (lists available)
  invalid('unknown-backbone-type', 'unknown backbone "clp", did you mean "clip", lists available', { 'model.backbone.type': 'clp' }, [/model\.backbone\.type: unknown backbone type "clp"\. Did you mean "clip"\? Available backbone types: clip/]),
  invalid('unknown-adapter-type', 'unknown adapter "barleria" lists adapters and side networks', { 'model.adapters': [{ type: 'barleria' }] }, [/model\.adapters\[0\]\.type: unknown adapter or side type "barleria"\..*Available adapter or side types: .*snf.*lim.*gst/]),
  invalid('unknown-head-type', 'unknown head "crs", did you mean "cris"', { 'model.head.type': 'crs' }, [/unknown head type "crs"\. Did you mean "cris"\?/]),
  invalid('unknown-dataset-type', 'unknown dataset "refcocoo", did you mean "refcoco"', { data: { dataset: { type: 'refcocoo', root: '.' } } }, [/data\.dataset\.type: unknown dataset type "refcocoo"\. Did you mean "refcoco"\?.*synthetic/]),
  invalid('unknown-optimizer-type', 'unknown optimizer "sgd" lists adam, adamw', { 'train.optimizer': { type: 'sgd' } }, [/unknown optimizer type "sgd"\..*Available optimizer types: adam, adamw/]),
  invalid('unknown-schedule-type', 'unknown schedule "cosine" lists the schedules', { 'train.schedule': { type: 'cosine' } }, [/unknown schedule type "cosine"\..*warmup-cosine/]),
  invalid('plugin-in-wrong-slot', 'an adapter as head: unknown head type "lim"', { 'model.head': { type: 'lim' } }, [/model\.head\.type: unknown head type "lim"\..*Available head types: cris/]),
  invalid('unknown-loss-type', 'unknown loss "dice" lists bce', { 'model.loss': { type: 'dice' } }, [/unknown loss type "dice"\..*bce/]),
  // ---- out of range / enums
  invalid('range-input-size', 'input.size must be >= 16', { 'input.size': 8 }, [/input\.size: must be >= 16 \(got 8/]),
  invalid('range-threshold', 'eval.threshold must be <= 1', { 'eval.threshold': 1.5 }, [/eval\.threshold: must be <= 1/]),
  invalid('range-workers', 'data.workers must be >= 1', { data: { dataset: { type: 'synthetic' }, workers: 0 } }, [/data\.workers: must be >= 1/]),
  invalid('range-prefetch', 'data.prefetch must be <= 64', { data: { dataset: { type: 'synthetic' }, prefetch: 1000 } }, [/data\.prefetch: must be <= 64/]),
  invalid('range-lr-multiplier', 'backboneLrMultiplier must be > 0', { 'train.backboneLrMultiplier': 0 }, [/train\.backboneLrMultiplier: must be > 0/]),
  invalid('range-negative-seed', 'runtime.seed must be >= 0', { 'runtime.seed': -1 }, [/runtime\.seed: must be >= 0/]),
  invalid('range-plugin-option', 'head dropout must be <= 1 [head/cris]', { 'model.head.dropout': 2 }, [/model\.head\.dropout: must be <= 1.*\[head\/cris\]/]),
  {
    name: 'range-overflowing-number',
    expect: 'train.epochs 1e400 overflows to Infinity: number out of range, names file and key',
    exit: 2,
    setup: (e) => void caseConfig(e, JSON.stringify(e.shared.config()).replace('"epochs":1', '"epochs":1e400')),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json: train\.epochs: number out of range/],
  },
  invalid('enum-backend', 'runtime.backend must be one of auto, tensorflow, wasm, cpu', { 'runtime.backend': 'gpu' }, [/runtime\.backend: must be one of "auto", "tensorflow", "wasm", "cpu" \(got "gpu"/]),
  invalid('enum-on-non-finite', 'onNonFinite must be stop or skip', { 'train.onNonFinite': 'ignore' }, [/train\.onNonFinite: must be one of "stop", "skip"/]),
  invalid('enum-freeze-did-you-mean', 'freeze.backbone "froze", did you mean "frozen"', { 'model.freeze': { backbone: 'froze' } }, [/must be one of "pet", "frozen", "trainable" \(got "froze", a string\)\. Did you mean "frozen"\?/]),
  invalid('enum-dataset-name', 'refcoco dataset "refcoco++" is not one of the names', { data: { dataset: { type: 'refcoco', root: '.', dataset: 'refcoco++' } } }, [/data\.dataset\.dataset: must be one of .*"refcoco\+".*\(got "refcoco\+\+"/]),
  invalid('missing-required-head', 'model: missing required key "head"', { 'model.head': undefined }, [/model: missing required key "head"/]),
  invalid('missing-plugin-type', 'model.backbone: missing required key "type"', { 'model.backbone.type': undefined }, [/model\.backbone: missing required key "type"/]),
  invalid('several-problems-at-once', 'all 3 problems listed in one message', { 'train.epochs': 0, 'input.size': 'x', 'model.head.numLayers': 0 }, [/invalid config \(3 problems\)/, /train\.epochs/, /input\.size/, /numLayers/]),
  // ---- files: extends, missing, invalid JSON
  {
    name: 'extends-cycle',
    expect: 'extends cycle a -> b -> a, both files named',
    exit: 2,
    setup: (e) => {
      caseConfig(e, { extends: 'b.json' }, 'a.json');
      caseConfig(e, { extends: 'a.json' }, 'b.json');
    },
    argv: (e) => ['validate', e.at('a.json')],
    messages: [(e) => new RegExp(`extends cycle: ${e.at('a.json')} -> ${e.at('b.json')} -> ${e.at('a.json')}`.replace(/[+]/g, '\\+'))],
  },
  {
    name: 'extends-self',
    expect: 'extends cycle of a file extending itself',
    exit: 2,
    setup: (e) => void caseConfig(e, { extends: './self.json' }, 'self.json'),
    argv: (e) => ['validate', e.at('self.json')],
    messages: [/extends cycle: .*self\.json -> .*self\.json/],
  },
  {
    name: 'extends-missing-file',
    expect: 'extends: file not found, names the base and where it was looked for',
    exit: 2,
    setup: (e) => void caseConfig(e, { ...e.shared.config(), extends: '../nowhere/base.json' }),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json: extends: file not found: \.\.\/nowhere\/base\.json \(resolved to .*nowhere\/base\.json\)/],
  },
  {
    name: 'extends-wrong-type',
    expect: 'extends must be a path or an array of paths',
    exit: 2,
    setup: (e) => void caseConfig(e, { ...e.shared.config(), extends: 42 }),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/extends: must be a path or an array of paths, got 42/],
  },
  {
    name: 'config-missing-file',
    expect: 'config file not found: <path>',
    exit: 2,
    argv: (e) => ['validate', e.at('missing.json')],
    messages: [(e) => `config file not found: ${e.at('missing.json')}`],
  },
  {
    name: 'config-is-directory',
    expect: 'config path is not a file',
    exit: 2,
    argv: (e) => ['train', '--config', e.dir, '--out', e.at('run')],
    messages: [/config path is not a file: /],
  },
  {
    name: 'invalid-json-trailing-comma',
    expect: 'invalid JSON with file:line:col',
    exit: 2,
    setup: (e) => void caseConfig(e, '{\n  "input": { "size": 32, },\n  "model": {}\n}\n'),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json:2:26: invalid JSON/],
  },
  {
    name: 'invalid-json-in-base',
    expect: 'invalid JSON in an extended file names that file:line:col',
    exit: 2,
    setup: (e) => {
      caseConfig(e, '{\n  "train": {\n    "epochs": 3\n    "batchSize": 2\n  }\n}', 'base.json');
      caseConfig(e, { extends: 'base.json' });
    },
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/base\.json:4:5: invalid JSON/],
  },
  {
    name: 'invalid-json-unterminated',
    expect: 'invalid JSON (unexpected end) names the file',
    exit: 2,
    setup: (e) => void caseConfig(e, '{ "input": { "size": 32 '),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json(:\d+:\d+)?: invalid JSON/],
  },
  {
    name: 'empty-config-file',
    expect: 'invalid JSON for an empty file',
    exit: 2,
    setup: (e) => void caseConfig(e, ''),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json(:\d+:\d+)?: invalid JSON/],
  },
  {
    name: 'config-top-level-array',
    expect: 'a config must be a JSON object, got an array',
    exit: 2,
    setup: (e) => void caseConfig(e, '[1, 2]'),
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json: a config must be a JSON object, got an array/],
  },
  {
    name: 'config-not-utf8',
    expect: 'a config that is not UTF-8 is refused with the byte position',
    exit: 2,
    setup: (e) => {
      const text = JSON.stringify({ ...e.shared.config(), description: 'caf\u00e9' });
      writeFileSync(e.at('config.json'), Buffer.from(text.replace('caf\u00e9', 'caf\u0000'), 'latin1').map((b) => (b === 0 ? 0xe9 : b)));
    },
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/config\.json(:\d+:\d+)?: .*not valid UTF-8/],
  },
  {
    name: 'origin-of-bad-value-in-base',
    expect: 'a bad value set in a base file is reported against the base file',
    exit: 2,
    setup: (e) => {
      caseConfig(e, { train: { epochs: -3 } }, 'base.json');
      caseConfig(e, { ...e.shared.config(), extends: 'base.json', train: { batchSize: 2 } });
    },
    argv: (e) => ['validate', e.at('config.json')],
    messages: [/base\.json: train\.epochs: must be >= 1/],
  },
  // ---- incompatible combinations (found when the model is built)
  {
    name: 'adapter-block-out-of-range',
    expect: 'bottleneck on block 7 of a 2-block CLIP: blocks: 7 is past the 2 vision blocks',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.adapters': [{ type: 'bottleneck', blocks: [7] }] }))],
    messages: [/model\.adapters\[0\]\.blocks: 7 is past the 2 vision blocks/],
  },
  {
    name: 'adapter-hook-point-missing',
    expect: 'GST on a backbone without joint block hook points: needs hook points "block.0.after"... that the model does not provide',
    exit: 2,
    plugins: [separateTowers],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.adapters': [gst], 'model.backbone.type': 'separate-towers-test' }))],
    messages: [/model\.adapters\[0\] \(side\/gst\): needs hook points "block\.\d\.after".* that the model does not provide/, /publish: /],
  },
  {
    name: 'lim-without-embed-hook',
    expect: 'LIM on a backbone without the joint "embed" hook point: needs hook point "embed"',
    exit: 2,
    plugins: [separateTowers],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.type': 'separate-towers-test' }))],
    messages: [/model\.adapters\[0\] \(adapter\/lim\): needs hook point "embed" that the model does not provide/],
  },
  {
    name: 'lim-without-text-tower',
    expect: 'LIM on a vision-only backbone: needs a backbone with both towers',
    exit: 2,
    plugins: [visionOnly],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.type': 'vision-only-test' }))],
    messages: [/model\.adapters\[0\]: LIM intertwines text into the vision stream and needs a backbone with both towers \(this one has: vision\)/],
  },
  {
    name: 'bridger-without-text-tower',
    expect: 'Bridger on a vision-only backbone: needs a backbone with a text tower',
    exit: 2,
    plugins: [visionOnly],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.type': 'vision-only-test', 'model.adapters': [{ type: 'bridger', dModel: 8, nhead: 2 }] }))],
    messages: [/model\.adapters\[0\]: the Bridger needs a backbone with a text tower/],
  },
  {
    name: 'snf-on-missing-tower',
    expect: 'SNF on the text tower of a vision-only backbone: the backbone has no text tower',
    exit: 2,
    plugins: [visionOnly],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.type': 'vision-only-test', 'model.adapters': [{ type: 'snf', flowLength: 2 }] }))],
    messages: [/model\.adapters\[0\]\.towers: the backbone has no text tower/],
  },
  {
    name: 'gst-without-head-neck',
    expect: 'GST with a head that has no head.neck hook point',
    exit: 2,
    plugins: [neckless],
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.adapters': [gst], 'model.head': { type: 'neckless-test-head' } }))],
    messages: [/model\.adapters\[0\]: GST adds its feature at the head's "head\.neck" hook point; the head in this config does not publish one/],
  },
  {
    name: 'cris-head-stage-count',
    expect: 'CRIS neck fuses 3 stages; backbone gives 4',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.stageLayers': [1, 1, 2] }))],
    messages: [/model\.head: the CRIS neck fuses 3 stages; the backbone gives 4/],
  },
  {
    name: 'stage-layer-beyond-depth',
    expect: 'stageLayers 5 exceeds the 2 vision blocks',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.stageLayers': [1, 5] }))],
    messages: [/model\.backbone\.stageLayers: 5 exceeds the 2 vision blocks/],
  },
  {
    name: 'word-length-beyond-context',
    expect: 'input.wordLength 20 exceeds the CLIP context length 8',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'input.wordLength': 20 }))],
    messages: [/input\.wordLength 20 exceeds the CLIP context length 8/],
  },
  {
    name: 'input-smaller-than-patch',
    expect: 'input.size 16 is smaller than the patch size 32',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'input.size': 16, 'model.backbone.patchSize': 32 }))],
    messages: [/input\.size 16 is smaller than the patch size 32/],
  },
  {
    name: 'fpn-in-mismatch',
    expect: 'head fpnIn does not match the backbone stage channels',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.head.fpnIn': [8, 8, 8] }))],
    messages: [/model\.head\.fpnIn: \[8,8,8\] does not match the backbone stage channels \[16,16,16\]/],
  },
  {
    name: 'custom-preset-missing-dim',
    expect: 'visionWidth required when preset is custom',
    exit: 2,
    argv: (e) => ['params', caseConfig(e, edited(e.shared, { 'model.backbone.visionWidth': undefined }))],
    messages: [/model\.backbone\.visionWidth: required when preset is "custom"/],
  },
  {
    name: 'backbone-weights-missing',
    expect: 'backbone weights: file not found',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'model.backbone.weights': e.at('ViT-B-16.pt') }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/model\.backbone\.weights: file not found: .*ViT-B-16\.pt/],
  },
  {
    name: 'vocab-missing',
    expect: 'tokenizer vocabulary cannot be read (ENOENT), naming it',
    exit: 1,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'model.backbone.vocab': e.at('no-vocab.txt') }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/no-vocab\.txt/],
    allowNew: [/^run\//],
  },
  {
    name: 'model-checkpoint-missing',
    expect: 'model.checkpoint file cannot be read (ENOENT), naming it',
    exit: 1,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'model.checkpoint': e.at('init.pth') }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/init\.pth: cannot read: ENOENT/],
  },
  {
    name: 'nothing-trainable',
    expect: 'model.freeze: nothing is trainable',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'model.freeze': { backbone: 'frozen', frozen: ['*'] } }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/model\.freeze: nothing is trainable/],
  },
  // ---- cross-field constraints at `zoo train`
  {
    name: 'batch-not-divisible-by-accumulate',
    expect: 'train.batchSize 5 is not divisible by train.accumulate 2',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'train.batchSize': 5, 'train.accumulate': 2 }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/train\.batchSize 5 is not divisible by train\.accumulate 2/],
  },
  {
    name: 'batch-larger-than-dataset',
    expect: 'train.batchSize 64 exceeds the 3 training samples',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, edited(e.shared, { 'train.batchSize': 64 }, { data: e.shared.data })), '--out', e.at('run')],
    messages: [/train\.batchSize 64 exceeds the \d+ training samples/],
  },
  {
    name: 'train-without-dataset',
    expect: 'data.dataset: a dataset is required',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config()), '--out', e.at('run')],
    messages: [/data\.dataset: a dataset is required/],
  },
  {
    name: 'dataset-root-missing',
    expect: 'data.dataset.root: <path> is not a directory',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.at('no-data') })), '--out', e.at('run')],
    messages: [/data\.dataset\.root: .*no-data is not a directory/],
  },
  {
    name: 'dataset-layout-missing-files',
    expect: 'layout "refer" needs refs(unc).p and instances.json, not found',
    exit: 2,
    setup: (e) => void writeFileSync(e.at('README'), 'not a dataset'),
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: e.dir })), '--out', e.at('run')],
    messages: [/layout "refer" for refcoco needs .*refs\(unc\)\.p and .*instances\.json, not found/],
  },
  {
    name: 'synthetic-min-above-max',
    expect: 'synthetic minSide must be <= maxSide',
    exit: 2,
    argv: (e) => ['train', '--config', caseConfig(e, e.shared.config({ data: { type: 'synthetic', root: e.at('synth'), minSide: 200, maxSide: 100 } })), '--out', e.at('run')],
    messages: [/synthetic dataset option "minSide": expected <= maxSide \(100\), got 200/],
  },
];

corpus('config', cases, shared, base);

export { cases as configCases };
