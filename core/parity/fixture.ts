/**
 * A golden fixture in the format of shared/fixtures/parity: one safetensors
 * file, or a model fixture's three (`files` metadata lists the siblings).
 * Tensors are looked up across the set; F16 entries are upcast.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { readSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { toFloat32, type RawTensor } from '../io/raw-tensor.js';

export class Fixture {
  readonly files: SafetensorsFile[];
  readonly config: Record<string, unknown>;
  readonly metadata: Record<string, string>;
  readonly name: string;

  constructor(readonly path: string) {
    const main = readSafetensors(path);
    this.files = [main];
    this.metadata = main.metadata;
    if (!main.metadata.config) throw new FileFormatError(path, 'is not a parity fixture: no "config" metadata');
    try {
      this.config = JSON.parse(main.metadata.config) as Record<string, unknown>;
    } catch {
      throw new FileFormatError(path, 'metadata "config" is not JSON');
    }
    this.name = String(this.config.fixture ?? basename(path, '.safetensors'));
    if (main.metadata.files) {
      // `files` is {"main": ..., "mid": ..., "train": ...} (or a plain list).
      const parsed = JSON.parse(main.metadata.files) as string[] | Record<string, string>;
      const siblings = Array.isArray(parsed) ? parsed : Object.values(parsed);
      for (const f of siblings) {
        const p = join(dirname(path), f);
        if (p === path || basename(p) === basename(path)) continue;
        if (!existsSync(p)) throw new FileFormatError(path, `sibling file ${f} (from its "files" metadata) not found next to it`);
        this.files.push(readSafetensors(p));
      }
    }
  }

  json<T = unknown>(key: string): T | undefined {
    const v = this.metadata[key];
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  has(name: string): boolean {
    return this.files.some((f) => f.has(name));
  }

  raw(name: string): RawTensor {
    for (const f of this.files) if (f.has(name)) return f.get(name);
    throw new FileFormatError(this.path, `fixture has no tensor "${name}"`);
  }

  /** float32 values (F16/I64 converted). */
  f32(name: string): { data: Float32Array; shape: number[] } {
    const t = this.raw(name);
    return { data: toFloat32(t), shape: t.shape };
  }

  names(prefix = ''): string[] {
    return this.files.flatMap((f) => f.names.filter((n) => n.startsWith(prefix)));
  }
}
