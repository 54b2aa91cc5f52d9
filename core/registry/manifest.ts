/**
 * What a plugin is: a kind, a name, a JSON Schema of its options (TypeBox, so the
 * options type and the schema are one source), and a factory.
 */
import type { Static, TSchema } from '@sinclair/typebox';

export const PLUGIN_KINDS = ['backbone', 'adapter', 'side', 'head', 'loss', 'dataset', 'optimizer', 'schedule', 'metric', 'parity'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

export interface PluginManifest<S extends TSchema = TSchema, Product = unknown, Context = unknown> {
  kind: PluginKind;
  /** Equal to the plugin's folder name; what configs write as `type`. */
  name: string;
  /** One line for `zoo list`. */
  description: string;
  /** Options schema with defaults and descriptions. `type` is not part of it. */
  schema: S;
  create(options: Static<S>, context: Context): Product;
}

/** Identity helper that infers the options type from the schema. */
export function definePlugin<S extends TSchema, Product, Context>(m: PluginManifest<S, Product, Context>): PluginManifest<S, Product, Context> {
  return m;
}

// eslint-style erasure: registries hold manifests of any schema/product.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyManifest = PluginManifest<any, any, any>;
