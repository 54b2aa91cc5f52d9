/**
 * Bad-input corpus, command line: unknown commands and options (did you mean), missing
 * values, bad numbers, bad --set paths and values, --resume without a run, training into
 * a folder that already holds a run. See harness.ts for what each row checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { corpus, type Case } from './harness.js';
import { copyInto } from './fixtures.js';
import { useShared, type Shared } from './shared.js';

const { shared, base } = useShared('cli', { checkpoint: true });

type C = Case<Shared>;

const usage = (name: string, expect: string, argv: (s: Shared) => string[], messages: RegExp[], exit: 1 | 2 = 2): C => ({ name, expect, exit, argv: (e) => argv(e.shared), messages });

/** A run folder with a complete checkpoint and latest.json, as `zoo train` leaves it. */
function existingRun(dir: string, checkpoint: string): void {
  mkdirSync(`${dir}/checkpoints`, { recursive: true });
  copyInto(checkpoint, `${dir}/checkpoints/step-00000001.safetensors`);
  writeFileSync(`${dir}/checkpoints/latest.json`, JSON.stringify({ file: 'step-00000001.safetensors', step: 1, epoch: 0 }));
  writeFileSync(`${dir}/log.jsonl`, '{"type":"start","step":0}\n');
}

const cases: C[] = [
  usage('unknown-command', 'unknown command "trian", did you mean "train"', () => ['trian'], [/unknown command "trian"\. Did you mean "train"\? Run `zoo --help`/]),
  usage('unknown-command-no-hint', 'unknown command "frobnicate" points to zoo --help', () => ['frobnicate'], [/unknown command "frobnicate"\. Run `zoo --help` for the list/]),
  { name: 'no-command', expect: 'usage on stdout, exit 2', exit: 2, usageOnly: true, argv: () => [], stdout: [/Usage: zoo <command>/] },
  usage('unknown-option', 'unknown option --confg, did you mean --config', (s) => ['train', '--confg', s.trainConfig], [/train: unknown option --confg\. Did you mean "config"\?/]),
  usage('unknown-option-with-value', 'unknown option --stop-afer=3, did you mean stop-after', (s) => ['train', '--config', s.trainConfig, '--stop-afer=3'], [/train: unknown option --stop-afer\. Did you mean "stop-after"\?/]),
  usage('unknown-short-option', 'unknown option -x', (s) => ['train', '-x', s.trainConfig], [/train: unknown option -x\. Run `zoo train --help`/]),
  usage('missing-value-at-end', '--config needs a value (PATH)', () => ['train', '--config'], [/train: --config needs a value \(PATH\)/]),
  usage('missing-value-before-flag', '--out needs a value when followed by another flag', (s) => ['train', '--out', '--config', s.trainConfig], [/train: --out needs a value \(DIR\)/]),
  usage('bad-number', '--stop-after expects a number, got "ten"', (s) => ['train', '--config', s.trainConfig, '--stop-after', 'ten'], [/train: --stop-after expects a number, got "ten"/]),
  usage('bad-number-empty', '--limit expects a number, got ""', (s) => ['eval', '--config', s.trainConfig, '--limit='], [/eval: --limit expects a number, got ""/]),
  usage('bad-number-infinity', '--depth expects a number, got "Infinity"', (s) => ['params', s.modelConfig, '--depth', 'Infinity'], [/params: --depth expects a number, got "Infinity"/]),
  usage('boolean-with-value', '--resume takes no value', (s) => ['train', '--config', s.trainConfig, '--resume=yes'], [/train: --resume takes no value/]),
  usage('unexpected-positional', 'unexpected argument "extra"', (s) => ['train', '--config', s.trainConfig, 'extra'], [/train: unexpected argument "extra"\. Usage: zoo train/]),
  usage('missing-positional', 'validate: missing CONFIG', () => ['validate'], [/validate: missing CONFIG\. Usage: zoo validate CONFIG/]),
  usage('missing-config', 'a config is required (--config PATH)', () => ['train'], [/a config is required \(--config PATH\)/]),
  usage('set-without-equals', '--set train.epochs: expected KEY=VALUE', (s) => ['validate', s.modelConfig, '--set', 'train.epochs'], [/--set train\.epochs: expected KEY=VALUE/]),
  usage('set-empty-key', '--set =5: expected KEY=VALUE', (s) => ['validate', s.modelConfig, '--set', '=5'], [/--set =5: expected KEY=VALUE/]),
  usage('set-bad-path', '--set "train.ep ochs": not a dotted key path', (s) => ['validate', s.modelConfig, '--set', 'train.ep ochs=3'], [/"train\.ep ochs" is not a dotted key path/]),
  usage('set-unknown-key', '--set train.epoch: unknown key, did you mean epochs', (s) => ['validate', s.modelConfig, '--set', 'train.epoch=3'], [/--set train\.epoch: unknown key "epoch" at train\. Did you mean "epochs"\? Valid keys: epochs, batchSize/]),
  usage('set-unknown-plugin-key', '--set model.head.numLayer: unknown key in the cris options', (s) => ['validate', s.modelConfig, '--set', 'model.head.numLayer=3'], [/unknown key "numLayer" at model\.head\. Did you mean "numLayers"\?/]),
  usage('set-not-integer', '--set train.epochs=ten: expected an integer', (s) => ['validate', s.modelConfig, '--set', 'train.epochs=ten'], [/--set train\.epochs=ten: expected an integer/]),
  usage('set-fraction-for-integer', '--set train.epochs=1.5: expected an integer', (s) => ['validate', s.modelConfig, '--set', 'train.epochs=1.5'], [/--set train\.epochs=1\.5: expected an integer/]),
  usage('set-bad-boolean', '--set data.skipBad=maybe: expected true or false', (s) => ['validate', s.trainConfig, '--set', 'data.skipBad=maybe'], [/--set data\.skipBad=maybe: expected true or false/]),
  usage('set-bad-enum', '--set runtime.backend=gpu: must be one of ...', (s) => ['validate', s.modelConfig, '--set', 'runtime.backend=gpu'], [/--set runtime\.backend: runtime\.backend: must be one of "auto", "tensorflow", "wasm", "cpu" \(got "gpu"/]),
  usage('set-index-out-of-range', '--set model.adapters.5.hidden: not a valid index', (s) => ['validate', s.modelConfig, '--set', 'model.adapters.5.hidden=3'], [/--set model\.adapters\.5\.hidden: "model\.adapters" is a list of 1; "5" is not a valid index/]),
  usage('set-into-scalar', '--set input.size.x: input.size is 32, not an object', (s) => ['validate', s.modelConfig, '--set', 'input.size.x=3'], [/--set input\.size\.x: input\.size is 32, not an object/]),
  usage('set-plugin-option-type', '--set model.head.numLayers=abc: expected an integer', (s) => ['validate', s.modelConfig, '--set', 'model.head.numLayers=abc'], [/--set model\.head\.numLayers=abc: expected an integer/]),
  usage('set-unknown-plugin-type', '--set model.head.type=crs: unknown head type, did you mean cris', (s) => ['validate', s.modelConfig, '--set', 'model.head.type=crs'], [/unknown head type "crs"\. Did you mean "cris"\?/]),
  usage('set-bad-json-array', '--set eval.splits=[val: expected JSON', (s) => ['validate', s.modelConfig, '--set', 'eval.splits=[val'], [/--set eval\.splits=\[val: expected JSON \(array\)/]),
  usage('list-unknown-kind', 'list: unknown kind "adapters" lists the kinds', () => ['list', 'adapters'], [/list: unknown kind "adapters"; kinds: backbone, adapter/]),
  usage('schema-unknown-plugin', 'schema adapter/lmi: unknown adapter, did you mean lim', () => ['schema', 'adapter/lmi'], [/unknown adapter type "lmi"\. Did you mean "lim"\?/]),
  usage('schema-bad-ref', 'schema nokind/x: expected KIND/NAME', () => ['schema', 'nokind/x'], [/expected KIND\/NAME with KIND one of/]),
  usage('env-unknown-backend', 'env --backend tpu: unknown backend, lists the choices', () => ['env', '--backend', 'tpu'], [/tpu/, /auto.*tensorflow.*wasm.*cpu|cpu.*wasm/]),
  usage('eval-without-checkpoint', 'eval: --checkpoint is required', (s) => ['eval', '--config', s.trainConfig], [/eval: --checkpoint is required/]),
  usage('predict-without-text', 'predict: --text is required', (s) => ['predict', '--config', s.modelConfig, '--checkpoint', s.checkpoint, '--image', 'x.jpg'], [/predict: --text is required/]),
  {
    name: 'predict-empty-text',
    expect: 'predict: --text is empty',
    exit: 2,
    setup: async (e) => void writeFileSync(e.at('img.jpg'), await (await import('./fixtures.js')).jpeg(20, 16)),
    argv: (e) => ['predict', '--config', e.shared.modelConfig, '--checkpoint', e.shared.checkpoint, '--image', e.at('img.jpg'), '--text', '   ', '--out', e.at('out.png')],
    messages: [/predict: --text is empty/],
  },
  {
    name: 'eval-unknown-split',
    expect: 'eval --split vall: unknown split, did you mean "val"',
    exit: 2,
    argv: (e) => ['eval', '--config', e.shared.trainConfig, '--checkpoint', e.shared.checkpoint, '--split', 'vall', '--report', e.at('report.json')],
    messages: [/refcoco: unknown split "vall"; refcoco has train, val, testA, testB\. Did you mean "val"\?/],
  },
  {
    name: 'resume-without-run',
    expect: '--resume: no checkpoint in <out>/checkpoints',
    exit: 2,
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run'), '--resume'],
    messages: [/--resume: no checkpoint in .*run\/checkpoints; run without --resume to start/],
  },
  {
    name: 'train-into-existing-run',
    expect: '<out> already holds a run (checkpoint step-00000001); use --resume or another --out; nothing touched',
    exit: 2,
    setup: (e) => existingRun(e.at('run'), e.shared.checkpoint),
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run')],
    messages: [/run already holds a run \(checkpoint step-00000001\.safetensors\); use --resume to continue it or choose another --out/],
  },
  {
    name: 'resume-latest-json-corrupt',
    expect: 'latest.json is not valid JSON; run folder untouched',
    exit: 1,
    setup: (e) => {
      existingRun(e.at('run'), e.shared.checkpoint);
      writeFileSync(e.at('run', 'checkpoints', 'latest.json'), '{"file": "step-0000');
    },
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run'), '--resume'],
    messages: [/checkpoints\/latest\.json: is not valid JSON; delete it to start over/],
  },
  {
    name: 'resume-latest-points-nowhere',
    expect: 'latest.json points at a missing checkpoint file',
    exit: 1,
    setup: (e) => {
      existingRun(e.at('run'), e.shared.checkpoint);
      writeFileSync(e.at('run', 'checkpoints', 'latest.json'), JSON.stringify({ file: 'step-00000009.safetensors', step: 9, epoch: 0 }));
    },
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run'), '--resume'],
    messages: [/latest\.json: points at step-00000009\.safetensors, which does not exist/],
  },
  {
    name: 'resume-latest-json-wrong-shape',
    expect: 'latest.json without a "file" string is refused',
    exit: 1,
    setup: (e) => {
      existingRun(e.at('run'), e.shared.checkpoint);
      writeFileSync(e.at('run', 'checkpoints', 'latest.json'), JSON.stringify([1, 2, 3]));
    },
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run'), '--resume'],
    messages: [/latest\.json: is not a checkpoint pointer/],
  },
];

corpus('cli', cases, shared, base);

export { cases as cliCases };
