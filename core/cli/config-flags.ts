/** Shared handling of `--config`/`--set` and backend selection for commands. */
import type { FlagSpec, ParsedArgs } from './args.js';
import { UsageError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { applyOverrides } from '../config/overrides.js';
import { validateConfig, type ValidatedConfig } from '../config/validate.js';
import type { CliEnv } from './command.js';
import { selectBackend, type BackendChoice } from '../runtime/backend.js';

export const CONFIG_FLAGS: Record<string, FlagSpec> = {
  config: { type: 'string', value: 'PATH', description: 'Run config (JSON, may `extends` others)', short: 'c' },
  set: { type: 'string', value: 'KEY=VALUE', description: 'Override a config value, typed by the schema (e.g. train.epochs=10)', repeat: true },
};

export const BACKEND_FLAG: FlagSpec = { type: 'string', value: 'NAME', description: 'Backend: auto, tensorflow, wasm or cpu (overrides runtime.backend)' };

export function configFromArgs(args: ParsedArgs, env: CliEnv, positionalIndex?: number): ValidatedConfig {
  const path = (args.flags.config as string | undefined) ?? (positionalIndex !== undefined ? args.positionals[positionalIndex] : undefined);
  if (!path) throw new UsageError('a config is required (--config PATH)');
  const loaded = loadConfig(path);
  applyOverrides(loaded, (args.flags.set as string[] | undefined) ?? [], env.registry);
  return validateConfig(loaded, env.registry);
}

export async function backendFromArgs(args: ParsedArgs, fallback: BackendChoice, env: CliEnv): Promise<void> {
  const choice = ((args.flags.backend as string | undefined) ?? fallback) as BackendChoice;
  const r = await selectBackend(choice);
  env.err(`backend: ${r.backend}${r.requested === 'auto' ? ` (auto: ${r.reasons.join('; ')})` : ''}, ${r.threads} thread${r.threads > 1 ? 's' : ''}`);
}
