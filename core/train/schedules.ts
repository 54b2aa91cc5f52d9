/** Learning-rate schedules: factors of the base lr by epoch and step. */
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin } from '../registry/manifest.js';

export interface Schedule {
  /** Multiplier of the base learning rate at global step `step` (0-based) in epoch `epoch` (0-based). */
  factor(step: number, epoch: number, stepsPerEpoch: number, totalSteps: number): number;
  describe(): string;
}

export const MultiStepOptions = Type.Object(
  {
    milestones: Type.Array(Type.Integer({ minimum: 0 }), { default: [35], description: 'Epochs at which the lr is multiplied by gamma (official [35]).' }),
    gamma: Type.Number({ exclusiveMinimum: 0, default: 0.1 }),
  },
  { additionalProperties: false },
);
export type MultiStepOptions = Static<typeof MultiStepOptions>;

export const multistepPlugin = definePlugin({
  kind: 'schedule',
  name: 'multistep',
  description: 'Multiply the lr by gamma at each milestone epoch (PyTorch MultiStepLR stepped per epoch, as official)',
  schema: MultiStepOptions,
  create: (o: MultiStepOptions): Schedule => ({
    factor: (_s, epoch) => o.gamma ** o.milestones.filter((m) => epoch >= m).length,
    describe: () => `multistep(milestones=${JSON.stringify(o.milestones)}, gamma=${o.gamma})`,
  }),
});

export const WarmupCosineOptions = Type.Object(
  {
    warmupSteps: Type.Integer({ minimum: 0, default: 100, description: 'Linear warm-up from warmupFrom·lr to lr.' }),
    warmupFrom: Type.Number({ minimum: 0, maximum: 1, default: 0.01 }),
    minFactor: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Floor of the cosine, as a fraction of lr.' }),
  },
  { additionalProperties: false },
);
export type WarmupCosineOptions = Static<typeof WarmupCosineOptions>;

export const warmupCosinePlugin = definePlugin({
  kind: 'schedule',
  name: 'warmup-cosine',
  description: 'Linear warm-up then cosine decay to minFactor over the whole run (per step)',
  schema: WarmupCosineOptions,
  create: (o: WarmupCosineOptions): Schedule => ({
    factor: (step, _e, _spe, total) => {
      if (step < o.warmupSteps) return o.warmupFrom + (1 - o.warmupFrom) * (step / Math.max(1, o.warmupSteps));
      const t = Math.min(1, (step - o.warmupSteps) / Math.max(1, total - o.warmupSteps));
      return o.minFactor + (1 - o.minFactor) * 0.5 * (1 + Math.cos(Math.PI * t));
    },
    describe: () => `warmup-cosine(warmup=${o.warmupSteps})`,
  }),
});

export const constantPlugin = definePlugin({
  kind: 'schedule',
  name: 'constant',
  description: 'Constant learning rate',
  schema: Type.Object({}, { additionalProperties: false }),
  create: (): Schedule => ({ factor: () => 1, describe: () => 'constant' }),
});
