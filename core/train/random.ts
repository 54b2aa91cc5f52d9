/** Deterministic per-step randomness: every random stream of a model reseeded from (seed, step, path). */
import type { Module } from '../nn/module.js';

/** FNV-1a, 32 bit. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function reseedRandomStreams(model: Module, seed: number, step: number): void {
  for (const [path, rng] of model.namedRandomStreams()) rng.state = hash32(`${seed}:${step}:${path}`);
}
