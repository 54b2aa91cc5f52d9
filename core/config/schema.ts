/**
 * The schema of a run config: the document `zoo train/eval/validate` reads.
 * Plugin nodes (`{type, ...options}`) are validated here only for their `type`;
 * each is then validated against its plugin's own schema at its place (see
 * PLUGIN_SLOTS and validate.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { PluginKind } from '../registry/manifest.js';

export const PluginRef = Type.Object(
  { type: Type.String({ description: 'Registered plugin name (see `zoo list`).' }) },
  { additionalProperties: true, description: 'A plugin: its type and its options.' },
);
export type PluginRef = Static<typeof PluginRef>;

/** A plugin node with a default plugin when the key is absent. */
const PluginRefDefault = (type: string, description: string) =>
  Type.Object({ type: Type.String() }, { additionalProperties: true, default: { type }, description: `${description} (default {"type": "${type}"}).` });

/** Where plugin nodes sit in a run config and which kinds may fill them. `*` matches any array index. */
export const PLUGIN_SLOTS: readonly { pointer: string; kinds: readonly PluginKind[] }[] = [
  { pointer: '/model/backbone', kinds: ['backbone'] },
  { pointer: '/model/adapters/*', kinds: ['adapter', 'side'] },
  { pointer: '/model/head', kinds: ['head'] },
  { pointer: '/model/loss', kinds: ['loss'] },
  { pointer: '/data/dataset', kinds: ['dataset'] },
  { pointer: '/train/optimizer', kinds: ['optimizer'] },
  { pointer: '/train/schedule', kinds: ['schedule'] },
];

const Str = (description: string) => Type.String({ description });

export const RunConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    extends: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Base config file(s), relative to this file; merged first (objects deep-merge, arrays replace).' })),
    description: Type.Optional(Str('Free text.')),
    input: Type.Object(
      {
        size: Type.Integer({ minimum: 16, maximum: 4096, default: 416, description: 'Square input resolution (letterboxed).' }),
        wordLength: Type.Integer({ minimum: 2, maximum: 512, default: 17, description: 'Text context length in tokens (SOT and EOT included).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    runtime: Type.Object(
      {
        backend: Type.Union([Type.Literal('auto'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')], { default: 'auto', description: 'Tensor backend; auto tries tfjs-node-gpu, tfjs-node, wasm, cpu.' }),
        seed: Type.Integer({ minimum: 0, default: 0, description: 'Seed for initialisation, data order and dropout.' }),
        threads: Type.Integer({ minimum: 0, maximum: 256, default: 0, description: 'wasm threads (0 = all cores).' }),
        recompute: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
          default: 'auto',
          description:
            'Training memory: plugins with stacks of blocks (core/nn/checkpoint.ts) recompute them in the backward pass instead of keeping their activations (one more forward; gradients unchanged). on / off: always / never; auto: each plugin decides per stack from what it would keep against its own budget (see the plugin READMEs; the wasm heap is 4 GiB).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    model: Type.Object(
      {
        backbone: PluginRef,
        adapters: Type.Array(PluginRef, { default: [], description: 'Adapters and side networks, applied in order.' }),
        head: PluginRef,
        loss: PluginRefDefault('bce', 'Loss of the mask logits'),
        freeze: Type.Object(
          {
            backbone: Type.Union([Type.Literal('pet'), Type.Literal('frozen'), Type.Literal('trainable')], {
              default: 'pet',
              description: 'pet: backbone frozen except its positional embeddings (official rule); frozen: all backbone weights frozen; trainable: full fine-tuning.',
            }),
            trainable: Type.Array(Type.String(), { default: [], description: 'Extra parameter name patterns (glob with *, or /regex/) to train.' }),
            frozen: Type.Array(Type.String(), { default: [], description: 'Parameter name patterns to freeze (applied last).' }),
          },
          { additionalProperties: false, default: {} },
        ),
        checkpoint: Type.Optional(Str('Initialise the whole model from this checkpoint (ours, or an official BarLeRIa/ETRIS torch.save file).')),
      },
      { additionalProperties: false },
    ),
    data: Type.Optional(
      Type.Object(
        {
          dataset: PluginRef,
          skipBad: Type.Boolean({ default: false, description: 'Skip unreadable samples (counted and reported) instead of stopping.' }),
          prefetch: Type.Integer({ minimum: 0, maximum: 64, default: 4, description: 'Batches decoded ahead of the training step.' }),
          workers: Type.Integer({ minimum: 1, maximum: 64, default: 2, description: 'Concurrent image decodes.' }),
          augment: Type.Boolean({ default: false, description: 'Random letterbox jitter for training (the official code has none).' }),
        },
        { additionalProperties: false },
      ),
    ),
    train: Type.Object(
      {
        epochs: Type.Integer({ minimum: 1, default: 50 }),
        batchSize: Type.Integer({ minimum: 1, default: 32 }),
        maxSteps: Type.Integer({ minimum: 0, default: 0, description: 'Stop after this many optimizer steps (0 = no limit).' }),
        optimizer: PluginRefDefault('adam', 'Optimiser'),
        schedule: PluginRefDefault('multistep', 'Learning-rate schedule'),
        backboneLrMultiplier: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'lr multiplier of backbone-side parameters (official lr_multi).' }),
        gradClipNorm: Type.Number({ minimum: 0, default: 0, description: 'Clip gradients by global norm (0 = off; official max_norm).' }),
        accumulate: Type.Integer({ minimum: 1, default: 1, description: 'Micro-batches per optimizer step.' }),
        evalEvery: Type.Integer({ minimum: 0, default: 0, description: 'Evaluate every N steps (0 = each epoch).' }),
        checkpointEvery: Type.Integer({ minimum: 0, default: 0, description: 'Checkpoint every N steps (0 = each epoch).' }),
        onNonFinite: Type.Union([Type.Literal('stop'), Type.Literal('skip')], { default: 'stop', description: 'What to do with a NaN/Inf loss.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    eval: Type.Object(
      {
        splits: Type.Array(Type.String(), { default: ['val'], description: 'Splits evaluated after training.' }),
        threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.35, description: 'Probability threshold (official 0.35).' }),
        batchSize: Type.Integer({ minimum: 1, default: 16 }),
        maxSamples: Type.Integer({ minimum: 0, default: 0, description: 'Evaluate at most this many expressions per split (0 = all).' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type RunConfig = Static<typeof RunConfigSchema>;
