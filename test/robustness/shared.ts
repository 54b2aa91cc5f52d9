/**
 * Fixtures shared by the cases of one test file: created once (beforeAll), read-only for
 * the cases (each case writes only into its own folder).
 */
import { join } from 'node:path';
import { beforeAll } from 'vitest';
import type { JsonObject } from '../../core/config/load.js';
import { tempBase, writeJson, type CaseEnv } from './harness.js';
import { tinyConfig, writeModelCheckpoint, writeRefer, writeVocab, type TinyConfigOptions } from './fixtures.js';

export interface Shared {
  base: string;
  vocab: string;
  /** A valid REFER-layout RefCOCO root (do not modify). */
  data: string;
  /** tiny model config without data / with data (files). */
  modelConfig: string;
  trainConfig: string;
  /** A valid checkpoint of `modelConfig`'s model (when requested). */
  checkpoint: string;
  config(o?: Partial<TinyConfigOptions>): JsonObject;
}

export function useShared(name: string, o: { checkpoint?: boolean } = {}): { shared: () => Shared; base: () => string } {
  let s: Shared | undefined;
  const base = tempBase(name);
  beforeAll(async () => {
    const vocab = writeVocab(join(base, 'shared'));
    const data = join(base, 'shared', 'refer');
    await writeRefer(data);
    const config = (c: Partial<TinyConfigOptions> = {}) => tinyConfig({ vocab, ...c });
    const modelConfig = writeJson(join(base, 'shared', 'model.json'), config());
    const trainConfig = writeJson(join(base, 'shared', 'train.json'), config({ data }));
    const checkpoint = join(base, 'shared', 'tiny.safetensors');
    if (o.checkpoint) await writeModelCheckpoint(checkpoint, config());
    s = { base, vocab, data, modelConfig, trainConfig, checkpoint, config };
  }, 60_000);
  return { shared: () => s!, base: () => base };
}

/** Write a config into the case folder and return its path. */
export function caseConfig(env: CaseEnv<Shared>, cfg: JsonObject | string, name = 'config.json'): string {
  return writeJson(env.at(name), cfg);
}

/** Deep-set `path` (dotted) in a JSON object; `undefined` deletes. */
export function setPath(obj: JsonObject, path: string, value: unknown): JsonObject {
  const segs = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const s of segs.slice(0, -1)) cur = (cur[s] ??= {}) as Record<string, unknown>;
  const last = segs[segs.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return obj;
}

export function edited(shared: Shared, edits: Record<string, unknown>, o: Partial<TinyConfigOptions> = {}): JsonObject {
  const cfg = shared.config(o);
  for (const [k, v] of Object.entries(edits)) setPath(cfg, k, v);
  return cfg;
}
