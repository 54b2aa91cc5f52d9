/** zoo new adapter|head|backbone|dataset NAME: scaffold a plugin folder and register it (core/scaffold). */
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import type { PluginKind } from '../../registry/manifest.js';
import { KIND_FOLDERS, SCAFFOLD_KINDS, parseKind } from '../../scaffold/names.js';
import { applyScaffold, describePlan, planScaffold } from '../../scaffold/scaffold.js';
import type { Command } from '../command.js';

export const newCommand: Command = {
  spec: {
    name: 'new',
    summary: 'Scaffold a plugin (adapter, head, backbone, dataset) and register it. The generated plugin works out of the box and comes with a README and a test.',
    usage: 'zoo new adapter|head|backbone|dataset NAME [--dir ROOT] [--dry-run]',
    flags: {
      dir: { type: 'string', value: 'ROOT', description: 'Repository root to scaffold into (holds plugins/index.ts) [default: this project]' },
      'dry-run': { type: 'boolean', description: 'Check everything and print what would be created and the edit of plugins/index.ts; write nothing' },
    },
    positionals: [
      { name: 'KIND', description: SCAFFOLD_KINDS.join(' | ') },
      { name: 'NAME', description: 'plugin name: lower-case letters, digits and dashes, starting with a letter (the folder name and the config `type`)' },
    ],
    details: [
      'Creates plugins/<kind>s/NAME/ with:',
      '  index.ts       the manifest (definePlugin) and its options: one TypeBox schema that is also the options type',
      '  NAME.ts        the implementation: a working minimal plugin to edit',
      '                   adapter:  low-rank update on the attention/MLP branch of chosen blocks (hook points <tower>.block.<i>.branch.*), zero-initialised',
      '                   head:     1x1 conv + text gate from the sentence state + bilinear upsampling over the last stage, publishes head.features',
      '                   backbone: conv patch encoder with MetaFormer blocks + bag-of-embeddings text encoder and a hashing tokenizer; fits the cris head',
      '                   dataset:  a DatasetSource over a small generated set of images and masks',
      '  README.md      what to fill in and the hook points involved',
      '  NAME.test.ts   builds a model config using it and trains one step (dataset: checks records, images and masks)',
      'and adds the import and the PLUGINS entry to plugins/index.ts (through the TypeScript AST).',
      'Running it again on an untouched scaffold changes nothing. Everything is checked before anything is written;',
      'if a write fails, what was created is removed.',
      '',
      'Then: npx vitest run plugins/<kind>s/NAME && npx tsc --noEmit -p .',
    ].join('\n'),
  },
  run(args, env) {
    const [rawKind, name] = args.positionals;
    const kind = parseKind(rawKind!);
    const dir = args.flags.dir as string | undefined;
    if (dir !== undefined && !dir.trim()) throw new UsageError('new: --dir needs a path');
    const root = resolve(dir ?? env.root);
    const isProject = root === resolve(env.root);
    const plan = planScaffold({
      root,
      kind,
      name: name!,
      // The running zoo's registry describes this project only.
      isRegistered: isProject ? (k, n) => env.registry.has(k as PluginKind, n) : undefined,
    });
    const dryRun = args.flags['dry-run'] === true;
    if (dryRun || plan.upToDate) {
      for (const l of describePlan(plan, dryRun)) env.out(l);
      return 0;
    }
    applyScaffold(plan);
    for (const l of describePlan(plan, false)) env.out(l);
    const folder = `plugins/${KIND_FOLDERS[kind]}/${plan.names.name}`;
    env.out('');
    env.out('Next:');
    env.out(`  read ${folder}/README.md (what to fill in)`);
    env.out(`  npx vitest run ${folder}`);
    env.out('  npx tsc --noEmit -p .');
    env.out(`  zoo schema ${kind}/${plan.names.name}`);
    return 0;
  },
};
