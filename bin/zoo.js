#!/usr/bin/env node
// Entry point of the `zoo` command: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../core/cli/main.ts');
const { PLUGINS, COMMANDS } = await import('../plugins/cli.ts');
process.exitCode = await main(process.argv.slice(2), PLUGINS, COMMANDS);
