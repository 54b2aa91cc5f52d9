/**
 * `zoo new`: scaffolds every kind into a temporary copy of the repository and
 * checks the command (dry run, help, exit codes), the AST edit of
 * plugins/index.ts, idempotency, refusals (bad names, collisions, an
 * unexpected plugins/index.ts), the two-phase write and its rollback, that the
 * generated files type-check, that the generated adapter trains one step in a
 * model built from a config (imported from the copy), and that every
 * generated test passes in the copy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileFormatError, RuntimeFailure, UsageError, ZooError } from '../errors.js';
import { formatHelp, parseArgs } from '../cli/args.js';
import type { CliEnv } from '../cli/command.js';
import { newCommand } from '../cli/commands/new.js';
import { Registry } from '../registry/registry.js';
import { pluginNames, parseKind, SCAFFOLD_KINDS, type ScaffoldKind } from './names.js';
import { analyseIndex, newProject } from './register.js';
import { applyScaffold, describePlan, generateFiles, lineDiff, planScaffold } from './scaffold.js';
import { PROJECT_ROOT, runVitest, tempRepo, typeCheck, type TempRepo } from './temp-repo.js';

/** Run `zoo new ...` as the CLI does (help, parsing, ZooError -> exit code), capturing output. */
async function zooNew(argv: string[], root = PROJECT_ROOT): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const env: CliEnv = { registry: new Registry([]), out: (l) => out.push(l), err: (l) => err.push(l), root };
  let code: number;
  try {
    if (argv.includes('--help')) {
      out.push(formatHelp(newCommand.spec));
      code = 0;
    } else {
      code = await newCommand.run(parseArgs(newCommand.spec, argv), env);
    }
  } catch (e) {
    if (!(e instanceof ZooError)) throw e;
    err.push(`error: ${e.message}`);
    code = e.exitCode;
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const NAMES: Record<ScaffoldKind, string> = { adapter: 'low-rank', head: 'gate-head', backbone: 'tiny-conv', dataset: 'shapes' };
const read = (root: string, p: string) => readFileSync(join(root, p), 'utf8');

/** Files of a folder with their modification times (to prove nothing was rewritten). */
function snapshot(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return out;
}

describe('names', () => {
  it('derives identifiers from dashed names', () => {
    const n = pluginNames('adapter', 'low-rank-2x');
    expect([n.ident, n.pascal, n.snake, n.folder]).toEqual(['lowRank2x', 'LowRank2x', 'low_rank_2x', 'plugins/adapters/low-rank-2x']);
  });

  it.each([
    ['LowRank', /use lower case \(e\.g\. "low-rank"\)/],
    ['1abc', /must match/],
    ['low_rank', /must match/],
    ['low-', /ends with a dash/],
    ['low--rank', /two dashes/],
    ['index', /index\.ts/],
    ['class', /"class" is a reserved word/],
    ['', /empty/],
  ])('refuses %j with a UsageError naming the problem', (name, why) => {
    expect(() => pluginNames('adapter', name)).toThrow(UsageError);
    expect(() => pluginNames('adapter', name)).toThrow(why);
  });

  it('refuses unknown kinds with a hint', () => {
    expect(() => parseKind('adapters')).toThrow(/unknown kind "adapters"\. Did you mean "adapter"\?/);
    expect(() => parseKind('loss')).toThrow(/scaffolds: adapter, head, backbone, dataset/);
    expect(SCAFFOLD_KINDS.map(parseKind)).toEqual([...SCAFFOLD_KINDS]);
  });

  it('docs/plugins.md shows the index.ts that `zoo new adapter low-rank` generates', () => {
    const doc = readFileSync(join(PROJECT_ROOT, 'docs/plugins.md'), 'utf8');
    const m = /<!-- generated: zoo new adapter low-rank, index\.ts -->\n```ts\n([\s\S]*?)```\n<!-- end generated -->/.exec(doc);
    expect(m, 'marked block in docs/plugins.md').not.toBeNull();
    expect(m![1]).toBe(generateFiles(pluginNames('adapter', 'low-rank'))[0]!.content);
  });

  it('lineDiff shows removed then added lines', () => {
    expect(lineDiff('a\nb\nc', 'a\nB\nc\nd')).toEqual(['-   2  b', '+   2  B', '+   4  d']);
  });
});

describe('zoo new (into a temporary copy of the repository)', () => {
  let repo: TempRepo;
  let original: string;
  const generated: string[] = [];

  beforeAll(() => {
    repo = tempRepo();
    original = read(repo.dir, 'plugins/index.ts');
  });
  afterAll(() => repo?.cleanup());

  it('--help describes the command', async () => {
    const r = await zooNew(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: zoo new adapter|head|backbone|dataset NAME [--dir ROOT] [--dry-run]');
    expect(r.out).toContain('--dry-run');
  });

  it('usage errors exit with 2', async () => {
    expect((await zooNew(['adapter'])).code).toBe(2);
    expect((await zooNew(['adapter', 'x', '--bogus'])).code).toBe(2);
    const bad = await zooNew(['adapter', 'Bad_Name', '--dir', repo.dir]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('invalid adapter name "Bad_Name"');
    const notRepo = await zooNew(['adapter', 'x', '--dir', join(repo.dir, 'core')]);
    expect(notRepo.code).toBe(2);
    expect(notRepo.err).toContain('is not a barleria-zoo repository root');
  });

  it('--dry-run prints the plan and the edit, and writes nothing', async () => {
    const before = snapshot(join(repo.dir, 'plugins'));
    const r = await zooNew(['adapter', 'low-rank', '--dir', repo.dir, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('would create plugins/adapters/low-rank/index.ts');
    expect(r.out).toContain('would create plugins/adapters/low-rank/low-rank.test.ts');
    expect(r.out).toContain("would edit plugins/index.ts: import lowRank from './adapters/low-rank/index.js'");
    expect(r.out).toMatch(/\+\s+\d+\s+import lowRank from '\.\/adapters\/low-rank\/index\.js';/);
    expect(snapshot(join(repo.dir, 'plugins'))).toEqual(before);
  });

  it.each(SCAFFOLD_KINDS)('scaffolds a %s and registers it', async (kind) => {
    const name = NAMES[kind];
    const r = await zooNew([kind, name, '--dir', repo.dir]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const folder = `plugins/${kind}s/${name}`;
    expect(readdirSync(join(repo.dir, folder)).sort()).toEqual(['README.md', 'index.ts', `${name}.test.ts`, `${name}.ts`].sort());
    const index = read(repo.dir, `${folder}/index.ts`);
    expect(index).toContain(`kind: '${kind}'`);
    expect(index).toContain(`name: '${name}'`);
    expect(index).toContain('export const Options = Type.Object(');
    expect(index).toContain('export type Options = Static<typeof Options>;');
    expect(read(repo.dir, `${folder}/README.md`)).not.toMatch(/__[A-Z]+__/);
    expect(r.out).toContain(`npx vitest run ${folder}`);
    generated.push(...[`${folder}/index.ts`, `${folder}/${name}.ts`, `${folder}/${name}.test.ts`]);
  });

  it('edits plugins/index.ts through the AST: one import and one PLUGINS element per plugin, grouped by kind, the rest untouched', () => {
    const after = read(repo.dir, 'plugins/index.ts');
    const a = analyseIndex(repo.dir, newProject());
    const idents = { adapter: 'lowRank', head: 'gateHead', backbone: 'tinyConv', dataset: 'shapes' };
    for (const kind of SCAFFOLD_KINDS) {
      const p = a.plugins.find((x) => x.ident === idents[kind]);
      expect(p, kind).toMatchObject({ specifier: `./${kind}s/${NAMES[kind]}/index.js`, listed: true, kind, name: NAMES[kind] });
      expect(after.split(`import ${idents[kind]} from`).length).toBe(2);
    }
    const elements = a.array.getElements().map((e) => e.getText());
    const before = analyseIndex(PROJECT_ROOT, newProject());
    const old = before.array.getElements().map((e) => e.getText());
    // The old elements keep their order; each new one sits after the last of its kind, or at the end when there was none.
    expect(elements.filter((e) => old.includes(e))).toEqual(old);
    const kindOf = new Map(a.plugins.map((p) => [p.ident, p.kind]));
    const hadKind = new Set(before.plugins.filter((p) => p.listed).map((p) => p.kind));
    for (const kind of SCAFFOLD_KINDS) {
      const i = elements.indexOf(idents[kind]);
      if (hadKind.has(kind)) expect(kindOf.get(elements[i - 1]!), kind).toBe(kind);
      else expect(elements.slice(i + 1).every((e) => !old.includes(e)), kind).toBe(true);
    }
    // Only added lines: every original line is still there, in order.
    expect(lineDiff(original, after).every((l) => l.startsWith('+') || l.includes('export const PLUGINS'))).toBe(true);
  });

  it('is idempotent: running again changes nothing and says so', async () => {
    const before = snapshot(join(repo.dir, 'plugins'));
    for (const kind of SCAFFOLD_KINDS) {
      const r = await zooNew([kind, NAMES[kind], '--dir', repo.dir]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('already scaffolded and registered');
      expect(r.out).toContain('nothing changed');
    }
    expect(snapshot(join(repo.dir, 'plugins'))).toEqual(before);
  });

  it('the generated files type-check (tsc --noEmit with the repository options)', () => {
    const r = typeCheck(repo.dir, ['plugins/index.ts', ...generated]);
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it('refuses names of existing plugins and folders', async () => {
    const bottleneck = await zooNew(['adapter', 'bottleneck', '--dir', repo.dir]);
    expect(bottleneck.code).toBe(2);
    expect(bottleneck.err).toContain('adapter/bottleneck already exists: plugins/adapters/bottleneck/index.ts (imported as bottleneck in plugins/index.ts); choose another name');
    const clip = await zooNew(['backbone', 'clip', '--dir', repo.dir]);
    expect(clip.code).toBe(2);
    expect(clip.err).toContain('backbone/clip already exists');
    mkdirSync(join(repo.dir, 'plugins/adapters/stray'));
    writeFileSync(join(repo.dir, 'plugins/adapters/stray/notes.txt'), 'mine');
    const stray = await zooNew(['adapter', 'stray', '--dir', repo.dir]);
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/plugins\/adapters\/stray already exists and is not an untouched `zoo new` scaffold \(index\.ts is missing.*notes\.txt is not part of a scaffold/);
  });

  it('refuses to touch a scaffold that was edited', async () => {
    const readme = join(repo.dir, 'plugins/heads/gate-head/README.md');
    const text = readFileSync(readme, 'utf8');
    writeFileSync(readme, text + '\nmy notes\n');
    const r = await zooNew(['head', 'gate-head', '--dir', repo.dir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('head/gate-head already exists: plugins/heads/gate-head/index.ts (imported as gateHead in plugins/index.ts; an edited scaffold: README.md differs)');
    writeFileSync(readme, text);
  });

  it('the same name in another kind gets its own identifier when the camelCase one is taken', async () => {
    const r = await zooNew(['head', 'low-rank', '--dir', repo.dir, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toContain("import lowRankHead from './heads/low-rank/index.js'");
  });

  it('refuses to scaffold into the project when the running zoo already registers the name', async () => {
    const out: string[] = [];
    const env: CliEnv = { registry: new Registry([{ kind: 'adapter', name: 'mine', description: '', schema: {}, create: () => undefined } as never]), out: (l) => out.push(l), err: () => {}, root: repo.dir };
    await expect(async () => newCommand.run(parseArgs(newCommand.spec, ['adapter', 'mine', '--dry-run']), env)).rejects.toThrow(/adapter\/mine is already registered in this zoo/);
  });

  it('the generated adapter trains one step in a model built from a config (clip + adapter + cris + bce)', async () => {
    const load = <T>(p: string): Promise<T> => import(/* @vite-ignore */ pathToFileURL(join(repo.dir, p)).href) as Promise<T>;
    const [{ tf }, { selectBackend }, { Registry: TmpRegistry }, { CORE_PLUGINS }, { PLUGINS }, { inlineConfig }, { validateConfig }, { buildModel }, { optimizerStep }, { createAdam }, adapter] = await Promise.all([
      load<typeof import('../runtime/tf.js')>('core/runtime/tf.ts'),
      load<typeof import('../runtime/backend.js')>('core/runtime/backend.ts'),
      load<typeof import('../registry/registry.js')>('core/registry/registry.ts'),
      load<typeof import('../plugins.js')>('core/plugins.ts'),
      load<{ PLUGINS: import('../registry/manifest.js').AnyManifest[] }>('plugins/index.ts'),
      load<typeof import('../config/load.js')>('core/config/load.ts'),
      load<typeof import('../config/validate.js')>('core/config/validate.ts'),
      load<typeof import('../model/build.js')>('core/model/build.ts'),
      load<typeof import('../train/step.js')>('core/train/step.ts'),
      load<typeof import('../train/optimizers.js')>('core/train/optimizers.ts'),
      load<{ default: import('../registry/manifest.js').AnyManifest }>('plugins/adapters/low-rank/index.ts'),
    ]);
    await selectBackend('cpu');
    expect(PLUGINS).toContain(adapter.default);
    const registry = new TmpRegistry([...CORE_PLUGINS, ...PLUGINS]);
    // The tiny CLIP of the parity fixtures' kind (plugins/parity/refseg/fixture-config.ts), custom dims.
    const doc = {
      input: { size: 32, wordLength: 8 },
      runtime: { backend: 'cpu', seed: 0 },
      model: {
        backbone: { type: 'clip', preset: 'custom', visionWidth: 32, visionLayers: 2, visionHeads: 2, patchSize: 8, textWidth: 32, textLayers: 2, textHeads: 2, vocabSize: 64, contextLength: 8, embedDim: 32, stageLayers: [1, 2] },
        adapters: [{ type: 'low-rank', tower: 'vision', branch: 'attn', rank: 2 }],
        head: { type: 'cris', visDim: 32, fpnOut: [16, 32, 64], numLayers: 1, numHeads: 2, dimFfn: 32, dropout: 0, neckHeads: 2 },
        loss: { type: 'bce' },
        freeze: { backbone: 'pet' },
      },
    };
    const model = buildModel(validateConfig(inlineConfig(doc), registry), registry, { skipPretrained: true });
    const groups = model.parameterGroups();
    const adam = createAdam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, [
      { name: 'backbone', params: groups.backbone, lrMultiplier: 1 },
      { name: 'head', params: groups.head, lrMultiplier: 1 },
    ]);
    const ids = new Int32Array(16);
    ids.set([62, 5, 9, 63], 0);
    ids.set([62, 7, 63], 8);
    const mask = new Float32Array(2 * 32 * 32).map((_, i) => (i % 32 < 16 ? 1 : 0));
    const batch = { image: tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7), text: tf.tensor2d(ids, [2, 8], 'int32'), mask: tf.tensor4d(mask, [2, 32, 32, 1]) };
    try {
      const own = [...model.namedParameters()].filter(([n]) => model.owners.get(n)?.type === 'low-rank');
      expect(own.map(([n]) => n)).toEqual(['low_rank_vision_attn.0.down.weight', 'low_rank_vision_attn.0.up.weight', 'low_rank_vision_attn.1.down.weight', 'low_rank_vision_attn.1.up.weight']);
      expect(own.every(([, p]) => p.requiresGrad)).toBe(true);
      const before = own.map(([, p]) => Float32Array.from(p.variable.dataSync() as Float32Array));
      const r = optimizerStep(model, adam, [batch], 1e-3);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.gradNorm).toBeGreaterThan(0);
      const changed = own.filter(([, p], k) => (p.variable.dataSync() as Float32Array).some((v, i) => v !== before[k]![i])).map(([n]) => n);
      // `up` starts at zero: the first step moves every `up` (`down` gets gradient once `up` is non-zero).
      expect(changed).toEqual(expect.arrayContaining(['low_rank_vision_attn.0.up.weight', 'low_rank_vision_attn.1.up.weight']));
    } finally {
      adam.dispose();
      model.dispose();
      tf.dispose([batch.image, batch.text, batch.mask]);
    }
  });

  it('every generated test passes in the copy (vitest)', () => {
    const tests = generated.filter((f) => f.endsWith('.test.ts'));
    expect(tests.length).toBe(4);
    const r = runVitest(repo.dir, tests);
    expect(r.output).toMatch(/Test Files\s+4 passed \(4\)/);
    expect(r.ok).toBe(true);
  });
});

describe('two phases: checks before writes, rollback on failure', () => {
  let repo: TempRepo;
  let index: string;
  beforeAll(() => {
    repo = tempRepo();
    index = read(repo.dir, 'plugins/index.ts');
  });
  afterAll(() => repo?.cleanup());

  it('a write failing midway removes what was created and leaves plugins/index.ts', () => {
    const plan = planScaffold({ root: repo.dir, kind: 'dataset', name: 'broken' });
    let writes = 0;
    const io = {
      writeFile: (p: string, c: string) => {
        if (++writes === 3) throw new Error('disk full (simulated)');
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, c);
      },
    };
    expect(() => applyScaffold(plan, io)).toThrow(RuntimeFailure);
    expect(() => applyScaffold(planScaffold({ root: repo.dir, kind: 'dataset', name: 'broken' }), { writeFile: () => { throw new Error('disk full (simulated)'); } })).toThrow(/failed: disk full \(simulated\)/);
    expect(existsSync(join(repo.dir, 'plugins/datasets/broken'))).toBe(false);
    expect(read(repo.dir, 'plugins/index.ts')).toBe(index);
  });

  it('writing plugins/index.ts failing removes the new folder', () => {
    const plan = planScaffold({ root: repo.dir, kind: 'adapter', name: 'late-fail' });
    const io = {
      writeFile: (p: string, c: string) => {
        if (p.endsWith('plugins/index.ts')) throw new Error('read-only file system (simulated)');
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, c);
      },
    };
    expect(() => applyScaffold(plan, io)).toThrow(/undone: removed .*removed plugins\/adapters\/late-fail\//);
    expect(existsSync(join(repo.dir, 'plugins/adapters/late-fail'))).toBe(false);
    expect(read(repo.dir, 'plugins/index.ts')).toBe(index);
  });

  it('plugins/index.ts edited by someone else between the phases: nothing is kept', () => {
    const plan = planScaffold({ root: repo.dir, kind: 'head', name: 'racy' });
    writeFileSync(join(repo.dir, 'plugins/index.ts'), index + '\n// someone else\n');
    expect(() => applyScaffold(plan)).toThrow(/changed while scaffolding/);
    expect(existsSync(join(repo.dir, 'plugins/heads/racy'))).toBe(false);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
  });

  it('an untouched scaffold whose registration was removed is registered again', () => {
    const plan = planScaffold({ root: repo.dir, kind: 'adapter', name: 'again' });
    applyScaffold(plan);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
    const second = planScaffold({ root: repo.dir, kind: 'adapter', name: 'again' });
    expect(second.upToDate).toBe(false);
    expect(second.files.every((f) => f.state === 'same')).toBe(true);
    expect(describePlan(second, true).join('\n')).toMatch(/unchanged plugins\/adapters\/again\/index\.ts[\s\S]*would edit plugins\/index\.ts: import again/);
    applyScaffold(second);
    expect(read(repo.dir, 'plugins/index.ts')).toBe(plan.registration.after);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
  });

  const shapes: [string, (text: string) => string, RegExp][] = [
    ['no PLUGINS', (t) => t.replace(/export const PLUGINS[^;]*;/, 'export const ALL = [clip];'), /no `PLUGINS` declaration/],
    ['PLUGINS not exported', (t) => t.replace('export const PLUGINS', 'const PLUGINS'), /`PLUGINS` is not exported/],
    ['PLUGINS built by a call', (t) => t.replace(/= \[[^\]]*\];/, '= [clip].concat([]);'), /initialised with a CallExpression, not an array literal/],
    ['a spread element', (t) => t.replace('= [clip,', '= [...[clip],'), /element that is not a plain identifier: `\.\.\.\[clip\]`/],
    ['a syntax error', (t) => t.replace('export const PLUGINS', 'export const PLUGINS ='), /does not parse \(\d+:\d+:/],
  ];
  it.each(shapes)('refuses a plugins/index.ts with %s (FileFormatError, exit 1), writing nothing', async (_what, edit, why) => {
    const bad = edit(index);
    expect(bad).not.toBe(index);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), bad);
    try {
      expect(() => planScaffold({ root: repo.dir, kind: 'adapter', name: 'shape' })).toThrow(FileFormatError);
      expect(() => planScaffold({ root: repo.dir, kind: 'adapter', name: 'shape' })).toThrow(why);
      const r = await zooNew(['adapter', 'shape', '--dir', repo.dir]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('plugins/index.ts');
      expect(existsSync(join(repo.dir, 'plugins/adapters/shape'))).toBe(false);
      expect(read(repo.dir, 'plugins/index.ts')).toBe(bad);
    } finally {
      writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
    }
  });

  it('refuses a name whose identifiers are both taken in plugins/index.ts', () => {
    writeFileSync(join(repo.dir, 'plugins/index.ts'), `import lowRank from './x.js';\nimport lowRankAdapter from './y.js';\n${index}`);
    try {
      expect(() => planScaffold({ root: repo.dir, kind: 'adapter', name: 'low-rank' })).toThrow(UsageError);
      expect(() => planScaffold({ root: repo.dir, kind: 'adapter', name: 'low-rank' })).toThrow(/identifiers "lowRank" and "lowRankAdapter" are both taken/);
    } finally {
      writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
    }
  });

  it('keeps a one-element-per-line PLUGINS that way, and breaks a line that grows past the print width', () => {
    const multi = index.replace(/export const PLUGINS: AnyManifest\[\] = \[([^\]]*)\];/, (_m, list: string) => `export const PLUGINS: AnyManifest[] = [\n${list.split(', ').map((e) => `  ${e},`).join('\n')}\n];`);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), multi);
    const m = planScaffold({ root: repo.dir, kind: 'dataset', name: 'lines' }).registration.after;
    const body = m.slice(m.indexOf('export const PLUGINS')).split('\n').slice(1, -2);
    expect(body).toContain('  lines,');
    expect(body.every((line) => /^ {2}\w+,$/.test(line))).toBe(true);
    const long = index.replace(/= \[([^\]]*)\];/, (_m, list: string) => `= [${list}, ${Array.from({ length: 12 }, (_, i) => `clip${i}`).join(', ')}];`).replace("import clip from './backbones/clip/index.js';", `import clip from './backbones/clip/index.js';\n${Array.from({ length: 12 }, (_, i) => `import clip${i} from './x${i}.js';`).join('\n')}`);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), long);
    const l = planScaffold({ root: repo.dir, kind: 'dataset', name: 'lines' }).registration.after;
    const decl = l.slice(l.indexOf('export const PLUGINS'));
    expect(decl.split('\n').every((line) => line.length <= 200)).toBe(true);
    expect(decl).toMatch(/^export const PLUGINS: AnyManifest\[\] = \[\n {2}clip,\n/);
    expect(decl).toMatch(/\n {2}lines,\n/);
    expect(decl).toMatch(/\n\];\n$/);
    writeFileSync(join(repo.dir, 'plugins/index.ts'), index);
  });
});
