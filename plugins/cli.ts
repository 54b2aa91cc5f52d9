/** What the `zoo` executable wires together: the registered plugins and the commands beyond the core's. */
import type { Command } from '../core/cli/command.js';
export { PLUGINS } from './index.js';

export const COMMANDS: Command[] = [];
