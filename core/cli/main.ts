/**
 * The `zoo` command line. Exit codes: 0 ok, 1 runtime failure, 2 usage or
 * config error. User errors (ZooError) print one message, no stack trace.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZooError, UsageError, didYouMean } from '../errors.js';
import { Registry } from '../registry/registry.js';
import type { AnyManifest } from '../registry/manifest.js';
import { formatHelp, parseArgs } from './args.js';
import type { CliEnv, Command } from './command.js';
import { configCommand, envCommand, listCommand, paramsCommand, schemaCommand, validateCommand } from './commands/info.js';
import { parityCommand } from './commands/parity.js';
import { newCommand } from './commands/new.js';
import { evalCommand, predictCommand, trainCommand } from './commands/run.js';
import { CORE_PLUGINS } from '../plugins.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function coreCommands(): Command[] {
  return [trainCommand, evalCommand, predictCommand, paramsCommand, listCommand, schemaCommand, validateCommand, configCommand, envCommand, parityCommand, newCommand];
}

function topHelp(commands: Command[]): string {
  return [
    'zoo: a plugin-based model zoo for referring image segmentation (BarLeRIa, ETRIS, CRIS-style baselines) on tfjs.',
    '',
    'Usage: zoo <command> [options]     (zoo <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(14)} ${c.spec.summary.split('. ')[0]!.replace(/\.$/, '')}`),
  ].join('\n');
}

export async function main(argv: readonly string[], plugins: readonly AnyManifest[], extra: Command[] = [], io: Partial<Pick<CliEnv, 'out' | 'err'>> = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = io.err ?? ((l: string) => process.stderr.write(l + '\n'));
  const commands = [...coreCommands(), ...extra];
  const [name, ...rest] = argv;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      out(topHelp(commands));
      return name ? 0 : 2;
    }
    const cmd = commands.find((c) => c.spec.name === name);
    if (!cmd) throw new UsageError(`unknown command "${name}".${didYouMean(name, commands.map((c) => c.spec.name))} Run \`zoo --help\` for the list.`);
    if (rest.includes('--help') || rest.includes('-h')) {
      out(formatHelp(cmd.spec));
      return 0;
    }
    const args = parseArgs(cmd.spec, rest);
    const env: CliEnv = { registry: new Registry([...CORE_PLUGINS, ...plugins]), out, err, root: ROOT };
    return await cmd.run(args, env);
  } catch (e) {
    if (e instanceof ZooError) {
      err(`error: ${e.message}`);
      return e.exitCode;
    }
    err(`internal error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}
