/**
 * Named hook points: the contract between a backbone/head and the adapters that
 * tune it. The backbone and head publish their points (name, value type,
 * meaning) and call `run(point, value, ctx)` at each; adapters register
 * handlers that observe or transform the value. Handlers of one point run in
 * registration (config) order.
 */
import { ConfigError, nearest } from '../errors.js';
import type { ForwardContext } from './context.js';

export interface HookPointSpec {
  /** A concrete name (`vision.block.3.shortcut.attn`) or a pattern with `{i}` (`vision.block.{i}.shortcut.attn`). */
  name: string;
  /** TypeScript-like description of the value passed and returned. */
  value: string;
  description: string;
  /** Allowed values of `{i}` for patterns. */
  indices?: number[];
  /** Channels of a tensor-valued point (lets a plugin size itself, e.g. a side network adding to the neck). */
  channels?: number;
}

export type HookHandler<T> = (value: T, ctx: ForwardContext) => T;

interface Entry {
  owner: string;
  fn: HookHandler<unknown>;
}

export class Hooks {
  private readonly handlers = new Map<string, Entry[]>();
  private readonly points = new Set<string>();
  private readonly specs: HookPointSpec[] = [];

  /** Publish hook points (called by the backbone and head before adapters attach). */
  declare(specs: readonly HookPointSpec[]): void {
    for (const s of specs) {
      this.specs.push(s);
      if (s.name.includes('{i}')) {
        for (const i of s.indices ?? []) this.points.add(s.name.replace('{i}', String(i)));
      } else {
        this.points.add(s.name);
      }
    }
  }

  declared(): readonly HookPointSpec[] {
    return this.specs;
  }

  has(point: string): boolean {
    return this.points.has(point);
  }

  /** Throw a ConfigError (naming `owner`) unless every point exists. Used before attaching anything. */
  require(points: readonly string[], owner: string): void {
    const missing = points.filter((p) => !this.points.has(p));
    if (!missing.length) return;
    const hint = nearest(missing[0]!, this.points);
    throw new ConfigError(
      `${owner}: needs hook point${missing.length > 1 ? 's' : ''} ${missing.slice(0, 4).map((m) => `"${m}"`).join(', ')}${missing.length > 4 ? ` and ${missing.length - 4} more` : ''} that the model does not provide.${hint ? ` Nearest: "${hint}".` : ''} (The backbone/head in this config publish: ${summarise(this.specs)})`,
    );
  }

  on<T>(point: string, fn: HookHandler<T>, owner: string): void {
    this.require([point], owner);
    const list = this.handlers.get(point) ?? [];
    list.push({ owner, fn: fn as HookHandler<unknown> });
    this.handlers.set(point, list);
  }

  /** Whether anything listens at `point` (lets the caller skip work). */
  active(point: string): boolean {
    return this.handlers.has(point);
  }

  run<T>(point: string, value: T, ctx: ForwardContext): T {
    const list = this.handlers.get(point);
    if (!list) return value;
    let v = value;
    for (const h of list) v = h.fn(v, ctx) as T;
    return v;
  }

  owners(point: string): string[] {
    return (this.handlers.get(point) ?? []).map((e) => e.owner);
  }
}

function summarise(specs: readonly HookPointSpec[]): string {
  return specs.map((s) => s.name).join(', ') || 'nothing';
}
