/** Plugins the core itself provides (model-agnostic training parts). */
import type { AnyManifest } from './registry/manifest.js';
import { adamPlugin, adamwPlugin } from './train/optimizers.js';
import { constantPlugin, multistepPlugin, warmupCosinePlugin } from './train/schedules.js';
import { evalPostParityPlugin } from './parity/eval-post.js';

export const CORE_PLUGINS: readonly AnyManifest[] = [adamPlugin, adamwPlugin, multistepPlugin, warmupCosinePlugin, constantPlugin, evalPostParityPlugin];
