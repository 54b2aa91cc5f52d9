/**
 * Reading config documents: JSON with `extends` (relative paths, applied in
 * order, then this file), deep merge of objects, arrays and scalars replace.
 * Every leaf remembers the file that set it, so errors can name it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { toPointer } from './pointer.js';
import { decodeUtf8 } from '../io/utf8.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface LoadedConfig {
  /** The merged document (extends removed). */
  doc: JsonObject;
  /** JSON pointer -> file that set the value there (the deepest recorded prefix applies). */
  origins: Map<string, string>;
  /** Files read, base first. */
  files: string[];
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parse JSON with an error that names the file, line and column. */
export function parseJsonFile(path: string): Json {
  let text: string;
  try {
    if (!existsSync(path)) throw new ConfigError(`config file not found: ${path}`);
    if (!statSync(path).isFile()) throw new ConfigError(`config path is not a file: ${path}`);
    text = decodeUtf8(readFileSync(path), (problem, p) => {
      throw new ConfigError(`${path}:${p.line}:${p.column}: ${problem}`);
    });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    let where = '';
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      where = `:${line}:${col}`;
    }
    throw new ConfigError(`${path}${where}: invalid JSON: ${msg.replace(/ in JSON at position \d+.*$/, '')}`);
  }
  // JSON.parse turns number literals too large for a double (1e400) into Infinity; no schema bound catches that.
  const bad = nonFinite(json, []);
  if (bad) throw new ConfigError(`${path}: ${bad.join('.') || '(root)'}: number out of range (it overflows to Infinity)`);
  return json;
}

function nonFinite(v: Json, at: string[]): string[] | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : at;
  if (v && typeof v === 'object') {
    for (const [k, x] of Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) {
      const r = nonFinite(x, [...at, k]);
      if (r) return r;
    }
  }
  return undefined;
}

function recordOrigins(value: Json, pointer: string[], file: string, origins: Map<string, string>): void {
  origins.set(toPointer(pointer), file);
  if (isObject(value)) for (const [k, v] of Object.entries(value)) recordOrigins(v, [...pointer, k], file, origins);
  else if (Array.isArray(value)) value.forEach((v, i) => recordOrigins(v, [...pointer, String(i)], file, origins));
}

/** Deep-merge `over` onto `base` (objects merge, everything else replaces). */
export function deepMerge(base: Json, over: Json): Json {
  if (isObject(base) && isObject(over)) {
    const out: JsonObject = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k]!, v) : v;
    return out;
  }
  return structuredClone(over);
}

function mergeInto(target: LoadedConfig, doc: JsonObject, file: string): void {
  for (const [k, v] of Object.entries(doc)) recordOrigins(v, [k], file, target.origins);
  target.doc = deepMerge(target.doc, doc) as JsonObject;
}

export function loadConfig(path: string): LoadedConfig {
  const out: LoadedConfig = { doc: {}, origins: new Map(), files: [] };
  const visit = (file: string, chain: string[]) => {
    const abs = resolve(file);
    if (chain.includes(abs)) throw new ConfigError(`extends cycle: ${[...chain, abs].join(' -> ')}`);
    const json = parseJsonFile(abs);
    if (!isObject(json)) throw new ConfigError(`${abs}: a config must be a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
    const ext = json.extends;
    const { extends: _drop, ...rest } = json;
    if (ext !== undefined) {
      const list = typeof ext === 'string' ? [ext] : Array.isArray(ext) && ext.every((e) => typeof e === 'string') ? (ext as string[]) : undefined;
      if (!list) throw new ConfigError(`${abs}: extends: must be a path or an array of paths, got ${JSON.stringify(ext)}`);
      for (const base of list) {
        const target = resolve(dirname(abs), base);
        if (!existsSync(target)) throw new ConfigError(`${abs}: extends: file not found: ${base} (resolved to ${target})`);
        visit(target, [...chain, abs]);
      }
    }
    mergeInto(out, rest, abs);
    out.files.push(abs);
  };
  visit(path, []);
  return out;
}

/** A config given inline (no file), e.g. the embedded default. */
export function inlineConfig(doc: JsonObject, name = '<inline>'): LoadedConfig {
  const out: LoadedConfig = { doc: {}, origins: new Map(), files: [] };
  mergeInto(out, structuredClone(doc), name);
  return out;
}

/** The file that set the value at `pointer` (or its nearest recorded ancestor). */
export function originOf(cfg: LoadedConfig, pointer: string): string | undefined {
  let p = pointer;
  while (true) {
    const f = cfg.origins.get(p);
    if (f) return f;
    if (!p) return cfg.files[cfg.files.length - 1];
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
