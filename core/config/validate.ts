/**
 * Validation of a composed config document with ajv: the run-config schema
 * first, then each plugin node against its plugin's schema at its place.
 * Defaults are filled in. Errors read like ESLint's/webpack's: the file, the
 * JSON path, what was expected, what was found, and "did you mean".
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError, PluginError, didYouMean } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { AnyManifest, PluginKind } from '../registry/manifest.js';
import { originOf, type LoadedConfig, type JsonObject } from './load.js';
import { expandSlot, getAt, humanPath, parsePointer } from './pointer.js';
import { PLUGIN_SLOTS, RunConfigSchema, type RunConfig } from './schema.js';

// verbose: errors carry their parentSchema (the valid keys of an object, descriptions) for the messages below.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false, verbose: true });
const compiled = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: TSchema, owner = 'schema'): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    try {
      v = ajv.compile(schema);
    } catch (e) {
      throw new PluginError(`${owner}: options schema does not compile: ${(e as Error).message}`);
    }
    compiled.set(schema, v);
  }
  return v;
}

function describe(schema: unknown): string | undefined {
  return schema && typeof schema === 'object' && 'description' in schema ? String((schema as { description: unknown }).description) : undefined;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}

/** Turn ajv errors into one readable line per problem. */
export function formatAjvErrors(errors: readonly ErrorObject[], doc: unknown, basePointer: string, fileOf: (pointer: string) => string | undefined): string[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const p = basePointer + e.instancePath;
    byPath.set(p, [...(byPath.get(p) ?? []), e]);
  }
  const lines: string[] = [];
  for (const [pointer, errs] of byPath) {
    const value = getAt(doc, parsePointer(pointer));
    const file = fileOf(pointer);
    const at = `${file ? `${file}: ` : ''}${humanPath(pointer)}`;
    const tn = typeName(value);
    const got = `(got ${JSON.stringify(value)}${value !== undefined ? `, ${/^[aeiou]/.test(tn) ? 'an' : 'a'} ${tn}` : ''})`;
    // A union of literals reports one `const` error per branch plus `anyOf`: say it once.
    const consts = errs.filter((e) => e.keyword === 'const').map((e) => JSON.stringify((e.params as { allowedValue: unknown }).allowedValue));
    if (consts.length && errs.some((e) => e.keyword === 'anyOf')) {
      const hint = typeof value === 'string' ? didYouMean(value, consts.map((c) => JSON.parse(c) as string)) : '';
      lines.push(`${at}: must be one of ${consts.join(', ')} ${got}.${hint}`);
      continue;
    }
    for (const e of errs) {
      if (e.keyword === 'anyOf' || e.keyword === 'const') continue;
      const desc = describe(e.parentSchema);
      const tail = desc && e.keyword !== 'additionalProperties' && e.keyword !== 'required' ? ` — ${desc}` : '';
      switch (e.keyword) {
        case 'additionalProperties': {
          const key = (e.params as { additionalProperty: string }).additionalProperty;
          const props = Object.keys(((e.parentSchema as { properties?: object }).properties ?? {}) as object);
          lines.push(`${at}: unknown key "${key}".${didYouMean(key, props)} Valid keys: ${props.join(', ')}`);
          break;
        }
        case 'required':
          lines.push(`${at}: missing required key "${(e.params as { missingProperty: string }).missingProperty}"`);
          break;
        case 'type':
          lines.push(`${at}: must be ${(e.params as { type: string }).type} ${got}${tail}`);
          break;
        default:
          lines.push(`${at}: ${e.message ?? e.keyword} ${got}${tail}`);
      }
    }
  }
  return lines;
}

export interface PluginNode {
  pointer: string;
  kind: PluginKind;
  manifest: AnyManifest;
  /** Options with defaults filled (the node without `type`). */
  options: Record<string, unknown>;
}

export interface ValidatedConfig {
  config: RunConfig;
  plugins: PluginNode[];
  source: LoadedConfig;
}

/** Validate a loaded config; throws one ConfigError listing every problem. */
export function validateConfig(source: LoadedConfig, registry: Registry): ValidatedConfig {
  const doc = structuredClone(source.doc) as JsonObject;
  const fileOf = (p: string) => originOf(source, p);
  const problems: string[] = [];
  const top = compileSchema(RunConfigSchema as TSchema, 'run config');
  if (!top(doc)) problems.push(...formatAjvErrors(top.errors ?? [], doc, '', fileOf));
  const plugins: PluginNode[] = [];
  for (const slot of PLUGIN_SLOTS) {
    for (const pointer of expandSlot(doc, slot.pointer)) {
      const node = getAt(doc, parsePointer(pointer)) as Record<string, unknown> | undefined;
      if (!node || typeof node !== 'object' || typeof node.type !== 'string') continue; // reported by the top-level schema
      let manifest: AnyManifest;
      try {
        manifest = registry.get(slot.kinds, node.type, `${fileOf(pointer + '/type') ?? ''}${fileOf(pointer + '/type') ? ': ' : ''}${humanPath(pointer)}.type`);
      } catch (e) {
        problems.push((e as Error).message);
        continue;
      }
      const { type: _t, ...options } = node;
      const check = compileSchema(manifest.schema as TSchema, `${manifest.kind}/${manifest.name}`);
      if (!check(options)) {
        problems.push(...formatAjvErrors(check.errors ?? [], doc, pointer, fileOf).map((l) => `${l} [${manifest.kind}/${manifest.name}]`));
        continue;
      }
      Object.assign(node, options);
      plugins.push({ pointer, kind: manifest.kind, manifest, options });
    }
  }
  if (problems.length) {
    throw new ConfigError(`invalid config (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`);
  }
  return { config: doc as unknown as RunConfig, plugins, source };
}

/** The options of the plugin node at `pointer`, from a validated config. */
export function pluginAt(v: ValidatedConfig, pointer: string): PluginNode {
  const p = v.plugins.find((n) => n.pointer === pointer);
  if (!p) throw new ConfigError(`config has no plugin at ${humanPath(pointer)}`);
  return p;
}
