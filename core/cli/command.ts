import type { Registry } from '../registry/registry.js';
import type { CommandSpec, ParsedArgs } from './args.js';

export interface CliEnv {
  registry: Registry;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Repository root (for defaults such as the embedded job's paths). */
  root: string;
}

export interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs, env: CliEnv): Promise<number> | number;
}
