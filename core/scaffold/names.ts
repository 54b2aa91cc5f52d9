/**
 * Names for `zoo new`: the kinds it scaffolds, the folder of each kind, and the
 * identifiers derived from a plugin name (`low-rank` -> `lowRank`, `LowRank`,
 * `low_rank`). Every check throws a UsageError that names the problem.
 */
import { UsageError, didYouMean } from '../errors.js';

export const SCAFFOLD_KINDS = ['adapter', 'head', 'backbone', 'dataset'] as const;
export type ScaffoldKind = (typeof SCAFFOLD_KINDS)[number];

/** Folder under plugins/ of each kind. */
export const KIND_FOLDERS: Record<ScaffoldKind, string> = { adapter: 'adapters', head: 'heads', backbone: 'backbones', dataset: 'datasets' };

export const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Reserved words (ES strict mode and TypeScript) that cannot name a binding. */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package ' +
    'private protected public await arguments eval undefined'
  ).split(' '),
);

/** File names a plugin folder already uses: a plugin named like them would overwrite them. */
const RESERVED_FILE_NAMES = new Set(['index', 'readme']);

export interface PluginNames {
  kind: ScaffoldKind;
  /** The plugin name as configs write it (`type`), equal to the folder name: `low-rank`. */
  name: string;
  /** camelCase identifier: `lowRank` (the import in plugins/index.ts, unless taken). */
  ident: string;
  /** PascalCase prefix of generated classes and factories: `LowRank`. */
  pascal: string;
  /** snake_case, for module mount paths (PyTorch attribute style): `low_rank`. */
  snake: string;
  /** Folder relative to the repository root, POSIX separators: `plugins/adapters/low-rank`. */
  folder: string;
}

export function parseKind(raw: string): ScaffoldKind {
  if ((SCAFFOLD_KINDS as readonly string[]).includes(raw)) return raw as ScaffoldKind;
  const singular = Object.entries(KIND_FOLDERS).find(([, f]) => f === raw)?.[0];
  const hint = singular ? ` Did you mean "${singular}"?` : didYouMean(raw, SCAFFOLD_KINDS);
  throw new UsageError(`new: unknown kind "${raw}".${hint} zoo new scaffolds: ${SCAFFOLD_KINDS.join(', ')}`);
}

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Check a plugin name and derive its identifiers. */
export function pluginNames(kind: ScaffoldKind, name: string): PluginNames {
  const bad = (why: string): never => {
    throw new UsageError(`new: invalid ${kind} name "${name}": ${why}`);
  };
  if (!name) bad('empty');
  if (!NAME_PATTERN.test(name)) {
    bad(
      /[A-Z]/.test(name)
        ? `use lower case (e.g. "${name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase().replace(/[^a-z0-9-]/g, '-')}"); names must match ${NAME_PATTERN}`
        : `names must match ${NAME_PATTERN} (lower-case letters, digits and dashes, starting with a letter)`,
    );
  }
  if (name.endsWith('-')) bad('it ends with a dash');
  if (name.includes('--')) bad('it has two dashes in a row');
  if (RESERVED_FILE_NAMES.has(name)) bad(`"${name}" would clash with the ${name === 'index' ? 'index.ts' : 'README.md'} file of the plugin folder`);
  const ident = camelCase(name);
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(ident)) bad(`its identifier "${ident}" is not a valid TypeScript identifier`);
  if (RESERVED.has(ident)) bad(`its identifier "${ident}" is a reserved word in TypeScript; pick another name (e.g. "${name}-${kind}")`);
  const pascal = ident[0]!.toUpperCase() + ident.slice(1);
  return { kind, name, ident, pascal, snake: name.replace(/-/g, '_'), folder: `plugins/${KIND_FOLDERS[kind]}/${name}` };
}
