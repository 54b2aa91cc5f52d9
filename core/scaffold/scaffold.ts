/**
 * `zoo new <kind> NAME`: scaffold a plugin folder and register it, in two phases.
 *
 * Phase 1 (`planScaffold`) checks everything and writes nothing: the kind and
 * the name (and the identifier derived from it), the shape of
 * plugins/index.ts (through ts-morph), collisions with registered plugins and
 * existing folders, and that every generated TypeScript file parses. It
 * returns the files to create and the edited text of plugins/index.ts.
 *
 * Phase 2 (`applyScaffold`) writes the files atomically, plugins/index.ts
 * last (after checking nobody changed it since phase 1), and if anything fails
 * removes what it created and restores what it changed.
 *
 * Idempotent: a plugin folder that is exactly what `zoo new` would generate
 * and is registered yields an empty plan ("nothing to do").
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure, UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { pluginNames, type PluginNames, type ScaffoldKind } from './names.js';
import { INDEX_PATH, analyseIndex, newProject, registrationEdit, type RegistrationEdit } from './register.js';

const TEMPLATES = join(dirname(fileURLToPath(import.meta.url)), 'templates');

export interface GeneratedFile {
  /** Relative to the repository root, POSIX separators. */
  path: string;
  content: string;
  /** `create`: absent now; `same`: present with exactly this content. */
  state: 'create' | 'same';
}

export interface ScaffoldPlan {
  root: string;
  names: PluginNames;
  files: GeneratedFile[];
  registration: RegistrationEdit & { path: string; before: string };
  /** Nothing to write: the folder is an untouched scaffold and the plugin is registered. */
  upToDate: boolean;
}

export interface ScaffoldRequest {
  /** Repository root (holds plugins/index.ts). */
  root: string;
  kind: ScaffoldKind;
  name: string;
  /** Also treat as taken a plugin that the running zoo has registered (the CLI passes its registry when scaffolding into the project itself). */
  isRegistered?: (kind: ScaffoldKind, name: string) => boolean;
}

/** Template file -> output file name, per kind. */
function templateFiles(n: PluginNames): { template: string; file: string }[] {
  return [
    { template: 'index.ts.tpl', file: 'index.ts' },
    { template: 'impl.ts.tpl', file: `${n.name}.ts` },
    { template: 'README.md.tpl', file: 'README.md' },
    { template: 'test.ts.tpl', file: `${n.name}.test.ts` },
  ];
}

/** Fill a template: __NAME__ (plugin name), __IDENT__ (camelCase), __PASCAL__ (PascalCase), __SNAKE__ (snake_case). */
export function renderTemplate(text: string, n: PluginNames): string {
  return text.replaceAll('__PASCAL__', n.pascal).replaceAll('__SNAKE__', n.snake).replaceAll('__IDENT__', n.ident).replaceAll('__NAME__', n.name);
}

/** The files of a fresh scaffold (content only; no disk state). */
export function generateFiles(n: PluginNames): { path: string; content: string }[] {
  return templateFiles(n).map(({ template, file }) => ({
    path: `${n.folder}/${file}`,
    content: renderTemplate(readFileSync(join(TEMPLATES, n.kind, template), 'utf8'), n),
  }));
}

/** Phase 1: every check, no writes. Throws UsageError (bad name, collision) or FileFormatError (plugins/index.ts shape). */
export function planScaffold(req: ScaffoldRequest): ScaffoldPlan {
  const root = resolve(req.root);
  const names = pluginNames(req.kind, req.name);
  if (!existsSync(join(root, INDEX_PATH))) {
    throw new UsageError(`new: ${root} is not a barleria-zoo repository root (no ${INDEX_PATH}); pass the root with --dir`);
  }
  const project = newProject();
  const index = analyseIndex(root, project);
  const ownIndex = `${names.folder}/index.ts`;
  const label = `${names.kind}/${names.name}`;

  // Another plugin of this kind with this name (registered elsewhere, or by the running zoo).
  const clash = index.plugins.find((p) => p.kind === names.kind && p.name === names.name && p.file !== ownIndex);
  if (clash) throw new UsageError(`new: ${label} already exists: ${clash.file ?? clash.specifier} (imported as ${clash.ident} in ${INDEX_PATH}); choose another name`);

  // Generated files must parse (a template bug must not reach the disk).
  const fresh = generateFiles(names);
  for (const f of fresh.filter((f) => f.path.endsWith('.ts'))) {
    const sf = project.createSourceFile(`/__gen__/${f.path}`, f.content, { overwrite: true });
    const diags = project.getProgram().compilerObject.getSyntacticDiagnostics(sf.compilerNode);
    if (diags.length) throw new Error(`zoo new: template ${names.kind} produced ${f.path} that does not parse: ${String(diags[0]!.messageText)}`);
  }

  // The folder: absent, or exactly a fresh scaffold (idempotent), else refuse.
  const folderAbs = join(root, names.folder);
  let files: GeneratedFile[];
  if (!existsSync(folderAbs)) {
    files = fresh.map((f) => ({ ...f, state: 'create' }));
  } else {
    if (!statSync(folderAbs).isDirectory()) throw new UsageError(`new: ${names.folder} exists and is not a folder; choose another name`);
    const present = listFiles(folderAbs);
    const expected = new Set(fresh.map((f) => f.path.slice(names.folder.length + 1)));
    const extra = present.filter((p) => !expected.has(p));
    const differ = fresh.filter((f) => {
      const abs = join(root, f.path);
      return !existsSync(abs) || readFileSync(abs, 'utf8') !== f.content;
    });
    if (extra.length || differ.length) {
      const what = [
        ...differ.map((f) => `${f.path.slice(names.folder.length + 1)} ${existsSync(join(root, f.path)) ? 'differs' : 'is missing'}`),
        ...extra.slice(0, 5).map((e) => `${e} is not part of a scaffold`),
      ].join(', ') + (extra.length > 5 ? ', ...' : '');
      const registered = index.plugins.find((p) => p.file === ownIndex);
      if (registered) {
        const which = registered.kind && registered.name ? `${registered.kind}/${registered.name}` : label;
        // Details only for an edited scaffold; a hand-written plugin just exists.
        const scaffolded = existsSync(join(root, ownIndex)) && readFileSync(join(root, ownIndex), 'utf8').includes('Scaffolded by `zoo new');
        throw new UsageError(
          `new: ${which} already exists: ${ownIndex} (imported as ${registered.ident} in ${INDEX_PATH}${scaffolded ? `; an edited scaffold: ${what}` : ''}); choose another name`,
        );
      }
      throw new UsageError(`new: ${names.folder} already exists and is not an untouched \`zoo new\` scaffold (${what}); choose another name or remove the folder`);
    }
    files = fresh.map((f) => ({ ...f, state: 'same' }));
  }

  if (req.isRegistered?.(names.kind, names.name) && !index.plugins.some((p) => p.file === ownIndex)) {
    throw new UsageError(`new: ${label} is already registered in this zoo; choose another name`);
  }

  const edit = registrationEdit(index, names);
  const registration = { ...edit, path: INDEX_PATH, before: index.text };
  return { root, names, files, registration, upToDate: !edit.changed && files.every((f) => f.state === 'same') };
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(join(dir, e.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

export interface ScaffoldIo {
  /** Write a whole file atomically (default: core/io/atomic-write.ts). */
  writeFile(path: string, content: string): void;
}

export interface ScaffoldResult {
  created: string[];
  edited: string[];
}

/**
 * Phase 2: write what the plan says. Files first, plugins/index.ts last (only
 * if it is still what phase 1 read). On any failure everything created is
 * removed (and plugins/index.ts restored if it was written), then the error is
 * rethrown as a RuntimeFailure that says so.
 */
export function applyScaffold(plan: ScaffoldPlan, io: ScaffoldIo = { writeFile: writeFileAtomic }): ScaffoldResult {
  const created: string[] = [];
  const edited: string[] = [];
  if (plan.upToDate) return { created, edited };
  const abs = (p: string) => join(plan.root, p);
  // The highest folder this run creates (plugins/<kinds>/ may not exist yet): removed on failure.
  let createdDir: string | undefined;
  for (let d = plan.names.folder; d !== 'plugins' && d !== '.'; d = dirname(d)) if (!existsSync(abs(d))) createdDir = d;
  const indexAbs = abs(plan.registration.path);
  try {
    for (const f of plan.files) {
      if (f.state !== 'create') continue;
      if (existsSync(abs(f.path))) throw new UsageError(`new: ${f.path} appeared while scaffolding; nothing was kept`);
      io.writeFile(abs(f.path), f.content);
      created.push(f.path);
    }
    if (plan.registration.changed) {
      const now = readFileSync(indexAbs, 'utf8');
      if (now !== plan.registration.before) throw new UsageError(`new: ${INDEX_PATH} changed while scaffolding (someone else edited it); nothing was kept, run the command again`);
      io.writeFile(indexAbs, plan.registration.after);
      edited.push(plan.registration.path);
    }
    return { created, edited };
  } catch (e) {
    const undo: string[] = [];
    for (const p of created.reverse()) {
      rmSync(abs(p), { force: true });
      undo.push(`removed ${p}`);
    }
    if (createdDir && existsSync(abs(createdDir))) {
      rmSync(abs(createdDir), { recursive: true, force: true });
      undo.push(`removed ${createdDir}/`);
    }
    if (edited.length) {
      writeFileAtomic(indexAbs, plan.registration.before);
      undo.push(`restored ${INDEX_PATH}`);
    }
    const msg = `new: scaffolding ${plan.names.kind}/${plan.names.name} failed: ${(e as Error).message}${undo.length ? ` (undone: ${undo.join(', ')})` : ''}`;
    if (e instanceof UsageError) throw new UsageError(msg, { cause: e });
    throw new RuntimeFailure(msg, { cause: e });
  }
}

/** Changed lines of two texts (LCS): `-N old` (N: line in the old text), `+N new` (N: line in the new text). */
export function lineDiff(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const m = a.length;
  const n = b.length;
  const lcs = Array.from({ length: m + 1 }, () => new Int32Array(n + 1));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    if (i < m && j < n && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < m && (j >= n || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`-${String(i + 1).padStart(4)}  ${a[i]}`);
      i++;
    } else {
      out.push(`+${String(j + 1).padStart(4)}  ${b[j]}`);
      j++;
    }
  }
  return out;
}

/** What the plan does, in lines (for `--dry-run` and for the report after writing). */
export function describePlan(plan: ScaffoldPlan, dryRun: boolean): string[] {
  const { names } = plan;
  const label = `${names.kind}/${names.name}`;
  if (plan.upToDate) {
    return [`${label}: already scaffolded and registered (${names.folder} is an untouched scaffold, ${INDEX_PATH} imports it as ${plan.registration.ident}); nothing changed.`];
  }
  const verb = (v: string) => (dryRun ? `would ${v}` : v.replace(/e?$/, 'ed').replace('createed', 'created'));
  const lines = [`${dryRun ? 'dry run: ' : ''}${label} in ${plan.root}`];
  for (const f of plan.files) {
    lines.push(f.state === 'create' ? `  ${verb('create')} ${f.path} (${f.content.split('\n').length - 1} lines)` : `  unchanged ${f.path}`);
  }
  if (plan.registration.changed) {
    lines.push(`  ${verb('edit')} ${INDEX_PATH}: ${plan.registration.added.join('; ')}`);
    if (dryRun) lines.push(...lineDiff(plan.registration.before, plan.registration.after).map((l) => `      ${l}`));
  } else {
    lines.push(`  unchanged ${INDEX_PATH} (already imports ${plan.registration.ident} and lists it in PLUGINS)`);
  }
  return lines;
}
