/** What the `zoo` executable wires together: the registered plugins and the commands beyond the core's. */
import type { Command } from '../core/cli/command.js';
export { PLUGINS } from './index.js';

import { demoCommand } from './jobs/demo.js';
import { pretrainCommand } from './jobs/pretrain.js';

/** Jobs that compose plugins (they name configs, the CLIP backbone, the synthetic dataset), so they live here, not in the core. */
export const COMMANDS: Command[] = [pretrainCommand, demoCommand];
