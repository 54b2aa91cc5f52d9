/**
 * Building a SegmentationModel from a validated config. Two-phase like PEFT:
 * every part is created and every hook point and mount path is checked before
 * anything is attached, so a bad config never leaves a half-built model.
 */
import { CheckpointMismatchError, ConfigError, FileFormatError } from '../errors.js';
import { Module, formatLoadReport, nameMatcher, type LoadReport } from '../nn/module.js';
import { countNonFinite } from '../io/raw-tensor.js';
import { seedInit } from '../nn/init.js';
import type { Registry } from '../registry/registry.js';
import { humanPath } from '../config/pointer.js';
import { pluginAt, type ValidatedConfig } from '../config/validate.js';
import { Hooks } from './hooks.js';
import { SegmentationModel, type PartInfo } from './model.js';
import type { Adapter, AdapterContext, Backbone, BuildContext, Head, Loss, PartContext } from './contracts.js';
import { readCheckpoint } from '../io/checkpoint.js';

function resolveParent(root: Module, path: string, where: string): { parent: Module; name: string } {
  const segs = path.split('.');
  const name = segs.pop()!;
  let cur = root;
  for (let i = 0; i < segs.length; i++) {
    const next = cur.getChild(segs[i]!);
    if (!next) {
      const have = [...cur.children()].map(([n]) => n);
      throw new ConfigError(`${where}: cannot mount at "${path}": "${segs.slice(0, i + 1).join('.')}" does not exist (children of "${segs.slice(0, i).join('.') || '(root)'}": ${have.join(', ') || 'none'})`);
    }
    cur = next;
  }
  if (cur.getChild(name)) throw new ConfigError(`${where}: cannot mount at "${path}": already taken (two adapters mounting the same module?)`);
  return { parent: cur, name };
}

export interface BuildOptions {
  /** Skip loading pretrained backbone weights named in the config (e.g. `zoo params`). */
  skipPretrained?: boolean;
  /** Skip `model.checkpoint`. */
  skipCheckpoint?: boolean;
  log?: (line: string) => void;
}

export function buildModel(v: ValidatedConfig, registry: Registry, opts: BuildOptions = {}): SegmentationModel {
  const cfg = v.config;
  const log = opts.log ?? (() => {});
  seedInit(cfg.runtime.seed);
  const base: BuildContext = { where: '', input: { size: cfg.input.size, wordLength: cfg.input.wordLength }, seed: cfg.runtime.seed, loadWeights: !opts.skipPretrained, recompute: cfg.runtime.recompute };

  const bbNode = pluginAt(v, '/model/backbone');
  const backbone = bbNode.manifest.create(bbNode.options, { ...base, where: humanPath(bbNode.pointer) }) as Backbone;
  if (!opts.skipPretrained && backbone.loadPretrained) {
    const report = backbone.loadPretrained();
    if (report) log(report);
  }
  const partCtx: PartContext = { ...base, backbone: backbone.spec };
  const headNode = pluginAt(v, '/model/head');
  const head = headNode.manifest.create(headNode.options, { ...partCtx, where: humanPath(headNode.pointer) }) as Head;
  const lossNode = v.plugins.find((p) => p.pointer === '/model/loss');
  const loss = (lossNode ? lossNode.manifest.create(lossNode.options, { ...partCtx, where: 'model.loss' }) : undefined) as Loss | undefined;
  if (!loss) throw new ConfigError('model.loss: no loss configured and no default loss registered');

  const hooks = new Hooks();
  hooks.declare(backbone.spec.hookPoints);
  hooks.declare(head.hookPoints);

  // Phase 1: create every adapter and check what it needs.
  const adapterNodes = v.plugins.filter((p) => p.pointer.startsWith('/model/adapters/'));
  const adapters: { adapter: Adapter; info: PartInfo }[] = [];
  for (const node of adapterNodes) {
    const where = humanPath(node.pointer);
    const ctx: AdapterContext = { ...partCtx, where, hooks };
    const adapter = node.manifest.create(node.options, ctx) as Adapter;
    hooks.require(adapter.requires, `${where} (${node.manifest.kind}/${node.manifest.name})`);
    adapters.push({ adapter, info: { kind: node.kind as 'adapter' | 'side', type: node.manifest.name, where, lrGroup: adapter.lrGroup } });
  }

  const model = new SegmentationModel(backbone, head, adapters, loss, hooks);
  model.child('backbone', backbone.module);
  for (const [path, m] of head.mounts) {
    const { parent, name } = resolveParent(model, path, humanPath(headNode.pointer));
    parent.child(name, m);
  }
  // Check all adapter mounts before mounting any (a later failure must not leave a half-mounted tree).
  const taken = new Set<string>();
  for (const { adapter, info } of adapters) {
    for (const [path] of adapter.mounts) {
      if (taken.has(path)) throw new ConfigError(`${info.where}: mount path "${path}" is used twice`);
      taken.add(path);
      resolveParent(model, path.includes('.') ? path : path, info.where);
    }
  }
  // Phase 2: mount and attach.
  for (const { adapter } of adapters) {
    for (const [path, m] of adapter.mounts) {
      const { parent, name } = resolveParent(model, path, '');
      parent.child(name, m);
    }
    adapter.attach(hooks);
  }

  // Ownership: adapters own what they mounted, the head its mounts, the backbone the rest under `backbone`.
  const bbInfo: PartInfo = { kind: 'backbone', type: bbNode.manifest.name, where: 'model.backbone', lrGroup: (n: string) => backbone.lrGroup(n.replace(/^backbone\./, '')) };
  const headInfo: PartInfo = { kind: 'head', type: headNode.manifest.name, where: 'model.head', lrGroup: 'head' };
  const own = (path: string, m: Module, info: PartInfo) => {
    for (const [n] of m.namedParameters(path)) {
      model.owners.set(n, info);
      model.mountOf.set(n, path);
    }
  };
  for (const [path, m] of head.mounts) own(path, m, headInfo);
  for (const { adapter, info } of adapters) for (const [path, m] of adapter.mounts) own(path, m, info);
  for (const [n] of model.namedParameters()) if (!model.owners.has(n)) model.owners.set(n, bbInfo);

  applyFreezeRule(model, cfg.model.freeze);
  if (!opts.skipCheckpoint && cfg.model.checkpoint) log(loadModelCheckpoint(model, cfg.model.checkpoint));
  return model;
}

export function applyFreezeRule(model: SegmentationModel, rule: { backbone: 'pet' | 'frozen' | 'trainable'; trainable: string[]; frozen: string[] }): void {
  const extraTrainable = rule.trainable.map(nameMatcher);
  const extraFrozen = rule.frozen.map(nameMatcher);
  for (const [name, p] of model.namedParameters()) {
    const owner = model.owners.get(name);
    let trainable = true;
    if (owner?.kind === 'backbone') {
      const local = name.replace(/^backbone\./, '');
      trainable = rule.backbone === 'trainable' || (rule.backbone === 'pet' && model.backbone.trainableUnderPet(local));
    }
    if (extraTrainable.some((m) => m(name))) trainable = true;
    if (extraFrozen.some((m) => m(name))) trainable = false;
    p.requiresGrad = trainable;
  }
}

/**
 * Initialise the whole model from a checkpoint: ours (safetensors) or an
 * official torch.save file (`state_dict`, `module.` prefix stripped).
 * Non-strict: reports what matched.
 */
export function loadModelCheckpoint(model: SegmentationModel, path: string): string {
  const ck = readCheckpoint(path, { strip: ['module.'] });
  let tensors = ck.tensors;
  // Ours (written by `zoo train`): model state under `model/`, optimiser state under `optim/` (not wanted here).
  if (typeof ck.metadata.checkpoint === 'string' && [...tensors.keys()].some((n) => n.startsWith('model/'))) {
    tensors = new Map([...tensors].filter(([n]) => n.startsWith('model/')).map(([n, t]) => [n.slice(6), t]));
  }
  const names = new Set(model.stateShapes().keys());
  for (const [name, t] of tensors) {
    if (!names.has(name)) continue;
    const bad = countNonFinite(t);
    if (bad) throw new FileFormatError(path, `tensor "${name}" holds ${bad} NaN/Inf value${bad === 1 ? '' : 's'} (of ${t.data.length}); refusing to initialise the model from diverged weights`);
  }
  let report: LoadReport;
  try {
    report = model.loadStateDict(tensors, { strict: false, ignore: ['*.log_jacobians.*', '*num_batches_tracked'] });
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new CheckpointMismatchError(`model.checkpoint ${path}: ${e.message}`, { cause: e });
    throw e;
  }
  if (report.loaded.length === 0) {
    throw new CheckpointMismatchError(formatLoadReport(report, `model.checkpoint ${path}: no tensor name matches the model (${tensors.size} tensors in the file)`));
  }
  return formatLoadReport(report, `loaded ${path}`);
}
