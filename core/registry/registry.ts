/**
 * The plugin registry: an inversify container with one token per plugin kind;
 * each plugin manifest is bound under its kind's token (multi-injection), the
 * way Theia collects contributions. Lookups of unknown names fail with the
 * available names of that kind and the nearest match.
 */
import { Container } from 'inversify';
import { ConfigError, PluginError, nearest } from '../errors.js';
import { PLUGIN_KINDS, type AnyManifest, type PluginKind } from './manifest.js';

export const PLUGIN_TOKENS: Record<PluginKind, symbol> = Object.fromEntries(PLUGIN_KINDS.map((k) => [k, Symbol.for(`barleria-zoo.plugin.${k}`)])) as Record<PluginKind, symbol>;

const NAME_RE = /^[a-z][a-z0-9-]*$/;

export class Registry {
  readonly container = new Container();
  private readonly byKind = new Map<PluginKind, Map<string, AnyManifest>>();

  constructor(manifests: readonly AnyManifest[] = []) {
    for (const m of manifests) this.register(m);
  }

  register(m: AnyManifest): void {
    if (!PLUGIN_KINDS.includes(m.kind)) throw new PluginError(`plugin "${m.name}": unknown kind "${m.kind}" (kinds: ${PLUGIN_KINDS.join(', ')})`);
    if (!NAME_RE.test(m.name)) throw new PluginError(`plugin name "${m.name}" must be lower-case letters, digits and dashes, starting with a letter`);
    if (typeof m.create !== 'function') throw new PluginError(`plugin ${m.kind}/${m.name} has no create() factory`);
    if (!m.schema || typeof m.schema !== 'object') throw new PluginError(`plugin ${m.kind}/${m.name} has no options schema`);
    const names = this.byKind.get(m.kind) ?? new Map<string, AnyManifest>();
    if (names.has(m.name)) throw new PluginError(`plugin ${m.kind}/${m.name} is registered twice`);
    names.set(m.name, m);
    this.byKind.set(m.kind, names);
    this.container.bind(PLUGIN_TOKENS[m.kind]).toConstantValue(m);
  }

  /** All manifests of a kind, in registration order (resolved through the container). */
  all(kind: PluginKind): AnyManifest[] {
    return this.container.isBound(PLUGIN_TOKENS[kind]) ? this.container.getAll<AnyManifest>(PLUGIN_TOKENS[kind]) : [];
  }

  names(kind: PluginKind): string[] {
    return [...(this.byKind.get(kind)?.keys() ?? [])];
  }

  has(kind: PluginKind, name: string): boolean {
    return this.byKind.get(kind)?.has(name) ?? false;
  }

  /** The manifest of kind/name, or a ConfigError listing the available names. `where` names the config location. */
  get(kind: PluginKind | readonly PluginKind[], name: string, where?: string): AnyManifest {
    const kinds = typeof kind === 'string' ? [kind] : kind;
    for (const k of kinds) {
      const m = this.byKind.get(k)?.get(name);
      if (m) return m;
    }
    const available = kinds.flatMap((k) => this.names(k));
    const hint = nearest(name, available);
    const label = kinds.join(' or ');
    throw new ConfigError(
      `${where ? `${where}: ` : ''}unknown ${label} type "${name}".${hint ? ` Did you mean "${hint}"?` : ''} Available ${label} types: ${available.length ? available.join(', ') : '(none registered)'}`,
    );
  }

  /** Look up "kind/name". */
  resolve(ref: string): AnyManifest {
    const [kind, name] = ref.split('/');
    if (!kind || !name || !PLUGIN_KINDS.includes(kind as PluginKind)) {
      throw new ConfigError(`expected KIND/NAME with KIND one of ${PLUGIN_KINDS.join(', ')}, got "${ref}"`);
    }
    return this.get(kind as PluginKind, name);
  }
}
