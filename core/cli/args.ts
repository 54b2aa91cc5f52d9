/**
 * A small typed command-line parser: flags declared per command, `--flag value`
 * or `--flag=value`, repeatable flags, positionals, and errors that name the
 * flag (UsageError -> exit code 2).
 */
import { UsageError, didYouMean } from '../errors.js';

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  description: string;
  repeat?: boolean;
  default?: string | number | boolean;
  /** Placeholder in help, e.g. PATH. */
  value?: string;
  short?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  positionals?: { name: string; description: string; optional?: boolean; variadic?: boolean }[];
  details?: string;
}

export type ParsedArgs = { flags: Record<string, string | number | boolean | string[] | undefined>; positionals: string[] };

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec.flags).filter(([, f]) => f.short).map(([n, f]) => [f.short!, n]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq > 0 ? a.slice(eq + 1) : undefined;
    } else {
      const s = byShort.get(a.slice(1));
      if (!s) throw new UsageError(`${spec.name}: unknown option ${a}. Run \`zoo ${spec.name} --help\`.`);
      name = s;
    }
    const f = spec.flags[name];
    if (!f) throw new UsageError(`${spec.name}: unknown option --${name}.${didYouMean(name, Object.keys(spec.flags))} Run \`zoo ${spec.name} --help\`.`);
    let raw: string;
    if (f.type === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`${spec.name}: --${name} takes no value (or =true/=false)`);
      flags[name] = inline !== 'false';
      continue;
    }
    if (inline !== undefined) raw = inline;
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${spec.name}: --${name} needs a value${f.value ? ` (${f.value})` : ''}`);
      raw = next;
      i++;
    }
    let v: string | number = raw;
    if (f.type === 'number') {
      v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${spec.name}: --${name} expects a number, got "${raw}"`);
    }
    if (f.repeat) flags[name] = [...((flags[name] as string[] | undefined) ?? []), String(v)];
    else flags[name] = v;
  }
  for (const [n, f] of Object.entries(spec.flags)) if (flags[n] === undefined && f.default !== undefined) flags[n] = f.default;
  const pos = spec.positionals ?? [];
  const required = pos.filter((p) => !p.optional).length;
  if (positionals.length < required) throw new UsageError(`${spec.name}: missing ${pos[positionals.length]!.name}. Usage: ${spec.usage}`);
  if (!pos.some((p) => p.variadic) && positionals.length > pos.length) throw new UsageError(`${spec.name}: unexpected argument "${positionals[pos.length]}". Usage: ${spec.usage}`);
  return { flags, positionals };
}

export function formatHelp(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', `Usage: ${spec.usage}`];
  if (spec.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.description}${p.optional ? ' (optional)' : ''}`);
  }
  const fl = Object.entries(spec.flags);
  if (fl.length) {
    lines.push('', 'Options:');
    for (const [n, f] of fl) {
      const left = `${f.short ? `-${f.short}, ` : ''}--${n}${f.type === 'boolean' ? '' : ` ${f.value ?? f.type.toUpperCase()}`}`;
      lines.push(`  ${left.padEnd(24)} ${f.description}${f.repeat ? ' (repeatable)' : ''}${f.default !== undefined && f.type !== 'boolean' ? ` [default: ${f.default}]` : ''}`);
    }
  }
  lines.push(`  ${'-h, --help'.padEnd(24)} Show this help`);
  if (spec.details) lines.push('', spec.details);
  return lines.join('\n');
}
