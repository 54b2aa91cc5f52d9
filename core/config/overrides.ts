/**
 * `--set a.b=value` overrides, typed by the schema at that path (the run
 * config schema, or a plugin's schema inside a plugin node).
 */
import type { TSchema } from '@sinclair/typebox';
import { ConfigError, didYouMean } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { PLUGIN_SLOTS, RunConfigSchema } from './schema.js';
import type { Json, JsonObject, LoadedConfig } from './load.js';
import { toPointer } from './pointer.js';

interface SchemaLike {
  type?: string | string[];
  properties?: Record<string, SchemaLike>;
  items?: SchemaLike;
  anyOf?: SchemaLike[];
  const?: unknown;
  additionalProperties?: boolean | SchemaLike;
}

function slotKinds(segments: string[]) {
  const pointer = toPointer(segments);
  for (const s of PLUGIN_SLOTS) {
    const re = new RegExp('^' + s.pointer.replace(/\*/g, '\\d+') + '$');
    if (re.test(pointer)) return s.kinds;
  }
  return undefined;
}

/** Parse `key=value` with the value typed by `schema`. */
function parseValue(raw: string, schema: SchemaLike | undefined, path: string): Json {
  const types = schema?.anyOf
    ? schema.anyOf.flatMap((s) => (s.const !== undefined ? [typeof s.const] : s.type ? [s.type].flat() : []))
    : schema?.type
      ? [schema.type].flat()
      : ['json'];
  const fail = (what: string): never => {
    throw new ConfigError(`--set ${path}=${raw}: expected ${what}`);
  };
  if (types.includes('integer') || types.includes('number')) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) fail(types.includes('integer') ? 'an integer' : 'a number');
    if (types.includes('integer') && !types.includes('number') && !Number.isInteger(n)) fail('an integer');
    return n;
  }
  if (types.includes('boolean')) {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    fail('true or false');
  }
  if (types.includes('string') && !types.includes('array') && !types.includes('object')) return raw;
  try {
    return JSON.parse(raw) as Json;
  } catch {
    if (types.includes('string') || types.includes('json')) return raw;
    return fail(`JSON (${types.join(' or ')})`);
  }
}

/** Apply overrides in order to `cfg.doc`, recording `--set` as their origin. */
export function applyOverrides(cfg: LoadedConfig, sets: readonly string[], registry: Registry): void {
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected KEY=VALUE, e.g. --set train.epochs=10`);
    const path = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    const segs = path.split('.').filter((x) => x.length);
    if (!segs.length || segs.some((x) => !/^[A-Za-z0-9_$-]+$/.test(x))) throw new ConfigError(`--set ${s}: "${path}" is not a dotted key path`);
    let schema: SchemaLike | undefined = RunConfigSchema as unknown as SchemaLike;
    let node: Json = cfg.doc;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const here = segs.slice(0, i);
      const kinds = slotKinds(here);
      if (kinds && node && typeof node === 'object' && !Array.isArray(node) && typeof node.type === 'string') {
        schema = registry.get(kinds, node.type, `--set ${path}`).schema as SchemaLike;
      }
      let next: SchemaLike | undefined;
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(seg) || Number(seg) >= node.length) throw new ConfigError(`--set ${path}: "${here.join('.') || '(root)'}" is a list of ${node.length}; "${seg}" is not a valid index`);
        next = schema?.items;
      } else {
        const props = schema?.properties;
        if (seg !== 'type' && props && !(seg in props) && schema?.additionalProperties === false) {
          throw new ConfigError(`--set ${path}: unknown key "${seg}" at ${here.join('.') || '(root)'}.${didYouMean(seg, Object.keys(props))} Valid keys: ${Object.keys(props).join(', ')}`);
        }
        next = seg === 'type' ? { type: 'string' } : props?.[seg];
      }
      if (i === segs.length - 1) {
        const value = parseValue(raw, next, path);
        if (Array.isArray(node)) node[Number(seg)] = value;
        else if (node && typeof node === 'object') (node as JsonObject)[seg] = value;
        else throw new ConfigError(`--set ${path}: ${here.join('.')} is not an object`);
        cfg.origins.set(toPointer(segs), `--set ${path}`);
      } else {
        let child: Json | undefined = Array.isArray(node) ? node[Number(seg)] : (node as JsonObject)[seg];
        if (child === undefined || child === null) {
          if (Array.isArray(node)) throw new ConfigError(`--set ${path}: no element ${seg}`);
          child = {};
          (node as JsonObject)[seg] = child;
        }
        if (typeof child !== 'object') throw new ConfigError(`--set ${path}: ${segs.slice(0, i + 1).join('.')} is ${JSON.stringify(child)}, not an object`);
        node = child;
        schema = next;
      }
    }
  }
}

export type { TSchema };
