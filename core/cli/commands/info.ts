/** zoo env, list, schema, validate, config, params. */
import os from 'node:os';
import { PLUGIN_KINDS, type PluginKind } from '../../registry/manifest.js';
import { UsageError } from '../../errors.js';
import { selectBackend, matmulGflops, type BackendChoice } from '../../runtime/backend.js';
import { BACKEND_FLAG, CONFIG_FLAGS, configFromArgs } from '../config-flags.js';
import { buildModel } from '../../model/build.js';
import { schemaMarkdown } from '../schema-doc.js';
import type { Command } from '../command.js';
import { tf } from '../../runtime/tf.js';

export const envCommand: Command = {
  spec: { name: 'env', summary: 'Show the tensor backend, versions, threads and a matmul GFLOP/s probe.', usage: 'zoo env [--backend NAME]', flags: { backend: BACKEND_FLAG } },
  async run(args, env) {
    const r = await selectBackend(((args.flags.backend as string) ?? 'auto') as BackendChoice);
    env.out(`backend: ${r.backend}`);
    env.out(`chosen because: ${r.requested === 'auto' ? r.reasons.join('; ') : `requested "${r.requested}"`}`);
    env.out(`threads: ${r.threads} (machine: ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB)`);
    for (const [k, v] of Object.entries(r.versions)) env.out(`${k}: ${v}`);
    const g = matmulGflops(512, 5);
    env.out(`matmul 512x512x512: ${g.toFixed(2)} GFLOP/s`);
    env.out(`tensors alive: ${tf.memory().numTensors}`);
    return 0;
  },
};

export const listCommand: Command = {
  spec: {
    name: 'list',
    summary: 'List registered plugins, optionally of one kind.',
    usage: 'zoo list [KIND]',
    flags: {},
    positionals: [{ name: 'KIND', description: `one of ${PLUGIN_KINDS.join(', ')}`, optional: true }],
  },
  run(args, env) {
    const kind = args.positionals[0];
    if (kind && !PLUGIN_KINDS.includes(kind as PluginKind)) throw new UsageError(`list: unknown kind "${kind}"; kinds: ${PLUGIN_KINDS.join(', ')}`);
    for (const k of kind ? [kind as PluginKind] : PLUGIN_KINDS) {
      const ms = env.registry.all(k);
      if (!ms.length) continue;
      env.out(`${k}:`);
      for (const m of ms) env.out(`  ${m.name.padEnd(14)} ${m.description}`);
    }
    return 0;
  },
};

export const schemaCommand: Command = {
  spec: {
    name: 'schema',
    summary: 'Print the JSON Schema of a plugin (KIND/NAME), of the run config, or all schemas as Markdown.',
    usage: 'zoo schema [KIND/NAME] [--markdown]',
    flags: { markdown: { type: 'boolean', description: 'Markdown reference of the run config and every plugin (docs/configs.md)' } },
    positionals: [{ name: 'KIND/NAME', description: 'e.g. adapter/snf; omit for the run config', optional: true }],
  },
  async run(args, env) {
    if (args.flags.markdown) {
      env.out(schemaMarkdown(env.registry));
      return 0;
    }
    const ref = args.positionals[0];
    if (!ref) {
      const { RunConfigSchema } = await import('../../config/schema.js');
      env.out(JSON.stringify(RunConfigSchema, null, 2));
      return 0;
    }
    env.out(JSON.stringify(env.registry.resolve(ref).schema, null, 2));
    return 0;
  },
};

export const validateCommand: Command = {
  spec: {
    name: 'validate',
    summary: 'Validate a run config (extends, --set overrides, every plugin schema) and report every problem.',
    usage: 'zoo validate CONFIG [--set KEY=VALUE ...]',
    flags: { set: CONFIG_FLAGS.set! },
    positionals: [{ name: 'CONFIG', description: 'run config file' }],
  },
  run(args, env) {
    const v = configFromArgs(args, env, 0);
    env.out(`${args.positionals[0]}: valid (${v.plugins.length} plugins: ${v.plugins.map((p) => `${p.kind}/${p.manifest.name}`).join(', ')})`);
    return 0;
  },
};

export const configCommand: Command = {
  spec: {
    name: 'config',
    summary: 'Print the resolved config: extends merged, overrides applied, defaults filled.',
    usage: 'zoo config CONFIG [--set KEY=VALUE ...]',
    flags: { set: CONFIG_FLAGS.set! },
    positionals: [{ name: 'CONFIG', description: 'run config file' }],
  },
  run(args, env) {
    env.out(JSON.stringify(configFromArgs(args, env, 0).config, null, 2));
    return 0;
  },
};

export const paramsCommand: Command = {
  spec: {
    name: 'params',
    summary: 'Print trainable and frozen parameter counts per part and module (weights are not loaded: shapes come from the config).',
    usage: 'zoo params CONFIG [--set KEY=VALUE ...] [--depth N]',
    flags: { set: CONFIG_FLAGS.set!, depth: { type: 'number', value: 'N', default: 1, description: 'Module name depth of the rows' } },
    positionals: [{ name: 'CONFIG', description: 'run config file' }],
  },
  async run(args, env) {
    const v = configFromArgs(args, env, 0);
    await selectBackend('cpu');
    const model = buildModel(v, env.registry, { skipPretrained: true, skipCheckpoint: true });
    try {
      env.out(formatPartTable(model, Number(args.flags.depth)));
    } finally {
      model.dispose();
    }
    return 0;
  },
};

import type { SegmentationModel } from '../../model/model.js';

/** Rows: owning part (backbone, each adapter, head) x module prefix. */
export function partRows(model: SegmentationModel, depth = 1): { part: string; module: string; trainable: number; frozen: number }[] {
  const rows = new Map<string, { part: string; module: string; trainable: number; frozen: number }>();
  for (const [name, p] of model.namedParameters()) {
    const o = model.owners.get(name);
    const part = o ? `${o.kind} ${o.type}${o.kind === 'adapter' || o.kind === 'side' ? ` (${o.where})` : ''}` : '?';
    // Modules an adapter mounted inside the backbone are shown by their mount path, block indices collapsed.
    const mount = model.mountOf.get(name);
    const module = mount && mount.includes('.') ? mount.replace(/\.\d+\./g, '.*.') : name.split('.').slice(0, depth).join('.');
    const key = `${part}|${module}`;
    const r = rows.get(key) ?? { part, module, trainable: 0, frozen: 0 };
    if (p.requiresGrad) r.trainable += p.size;
    else r.frozen += p.size;
    rows.set(key, r);
  }
  return [...rows.values()];
}

export function formatPartTable(model: SegmentationModel, depth = 1): string {
  const rows = partRows(model, depth);
  const fmt = (n: number) => n.toLocaleString('en-US');
  const w1 = Math.max(4, ...rows.map((r) => r.part.length));
  const w2 = Math.max(6, ...rows.map((r) => r.module.length));
  const out = [`${'part'.padEnd(w1)}  ${'module'.padEnd(w2)}  ${'trainable'.padStart(12)}  ${'frozen'.padStart(12)}`];
  for (const r of rows) out.push(`${r.part.padEnd(w1)}  ${r.module.padEnd(w2)}  ${fmt(r.trainable).padStart(12)}  ${fmt(r.frozen).padStart(12)}`);
  const t = rows.reduce((a, r) => a + r.trainable, 0);
  const f = rows.reduce((a, r) => a + r.frozen, 0);
  const byPart = new Map<string, number>();
  for (const r of rows) byPart.set(r.part, (byPart.get(r.part) ?? 0) + r.trainable);
  out.push(`${'total'.padEnd(w1)}  ${''.padEnd(w2)}  ${fmt(t).padStart(12)}  ${fmt(f).padStart(12)}`);
  out.push('');
  out.push(`tuned parameters: ${(t / 1e6).toFixed(2)}M (${[...byPart].filter(([, n]) => n).map(([p, n]) => `${p.split(' (')[0]} ${(n / 1e6).toFixed(2)}M`).join(', ')})`);
  out.push(`trainable params: ${fmt(t)} || all params: ${fmt(t + f)} || trainable%: ${((100 * t) / Math.max(1, t + f)).toFixed(4)}`);
  return out.join('\n');
}
