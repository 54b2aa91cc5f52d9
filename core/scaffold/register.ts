/**
 * Registration through the TypeScript AST (ts-morph): read `plugins/index.ts`,
 * check it has the expected shape (default imports of manifests, then
 * `export const PLUGINS: AnyManifest[] = [ ... ]` listing identifiers), find the
 * manifests it registers (kind and name, read statically from each imported
 * file's `definePlugin({ kind, name })`), and compute the edited text that adds
 * one import and one array element. Nothing here writes files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IndentationText, Node, Project, QuoteKind, SyntaxKind, ts, type ArrayLiteralExpression, type SourceFile } from 'ts-morph';
import { FileFormatError, UsageError } from '../errors.js';
import type { PluginNames } from './names.js';

export const INDEX_PATH = 'plugins/index.ts';
/** Longest single-line `PLUGINS` declaration before it is broken into one element per line (the repository's print width). */
export const MAX_LINE = 200;

/** A plugin manifest registered in plugins/index.ts, as far as it can be read without running code. */
export interface RegisteredPlugin {
  /** Identifier in plugins/index.ts. */
  ident: string;
  /** Module specifier of its import (`./adapters/snf/index.js`). */
  specifier: string;
  /** Whether the identifier is an element of PLUGINS. */
  listed: boolean;
  /** From `definePlugin({ kind: '...', name: '...' })` in the imported file, when literal. */
  kind?: string;
  name?: string;
  /** Imported file relative to the root (`plugins/adapters/snf/index.ts`), when found. */
  file?: string;
}

export interface IndexAnalysis {
  text: string;
  plugins: RegisteredPlugin[];
  /** Every top-level name of plugins/index.ts (imports and declarations): a new import must not reuse one. */
  names: Set<string>;
}

export function newProject(): Project {
  return new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { quoteKind: QuoteKind.Single, indentationText: IndentationText.TwoSpaces, useTrailingCommas: true },
    compilerOptions: { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, noEmit: true },
  });
}

function shapeError(message: string): never {
  throw new FileFormatError(
    INDEX_PATH,
    `${message}. zoo new edits this file through the AST and expects default imports of plugin manifests and \`export const PLUGINS: AnyManifest[] = [ident, ...]\`; register the plugin by hand (add its import and its identifier to PLUGINS) or restore that shape`,
  );
}

function pluginsArray(sf: SourceFile): ArrayLiteralExpression {
  const decl = sf.getVariableDeclaration('PLUGINS');
  if (!decl) shapeError('no `PLUGINS` declaration');
  const stmt = decl.getVariableStatement();
  if (!stmt || stmt.getParent() !== sf) shapeError('`PLUGINS` is not declared at the top level');
  if (!stmt.isExported()) shapeError('`PLUGINS` is not exported');
  const init = decl.getInitializer();
  if (!init || !Node.isArrayLiteralExpression(init)) shapeError(`\`PLUGINS\` is initialised with ${init ? `a ${init.getKindName()}` : 'nothing'}, not an array literal`);
  return init;
}

/** Resolve a relative import of plugins/index.ts to a .ts file under `root` (`./x/index.js` -> `plugins/x/index.ts`). */
function resolveImport(root: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const rel = join('plugins', specifier).replace(/\\/g, '/');
  for (const cand of [rel.replace(/\.js$/, '.ts'), rel, `${rel}.ts`, `${rel}/index.ts`]) if (existsSync(join(root, cand))) return cand;
  return undefined;
}

/** kind/name of the default-exported manifest of a file: `export default definePlugin({ kind: 'x', name: 'y', ... })`. */
function readManifest(project: Project, root: string, file: string): { kind?: string; name?: string } {
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    return {};
  }
  const sf = project.createSourceFile(`/__scan__/${file}`, text, { overwrite: true });
  const exp = sf.getExportAssignment((e) => !e.isExportEquals());
  let obj: Node | undefined = exp?.getExpression();
  if (obj && Node.isCallExpression(obj)) obj = obj.getArguments()[0];
  const out: { kind?: string; name?: string } = {};
  if (obj && Node.isObjectLiteralExpression(obj)) {
    for (const key of ['kind', 'name'] as const) {
      const prop = obj.getProperty(key);
      const init = prop && Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
      if (init && Node.isStringLiteral(init)) out[key] = init.getLiteralValue();
    }
  }
  project.removeSourceFile(sf);
  return out;
}

/** Parse and check plugins/index.ts under `root`; read the kind/name of every registered manifest. */
export function analyseIndex(root: string, project: Project = newProject()): IndexAnalysis & { sf: SourceFile; array: ArrayLiteralExpression } {
  const path = join(root, INDEX_PATH);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FileFormatError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const sf = project.createSourceFile(`/${INDEX_PATH}`, text, { overwrite: true });
  const syntax = project.getProgram().compilerObject.getSyntacticDiagnostics(sf.compilerNode);
  if (syntax.length) {
    const d = syntax[0]!;
    const { line, character } = sf.compilerNode.getLineAndCharacterOfPosition(d.start ?? 0);
    shapeError(`it does not parse (${line + 1}:${character + 1}: ${typeof d.messageText === 'string' ? d.messageText : d.messageText.messageText})`);
  }
  const array = pluginsArray(sf);
  const names = new Set<string>();
  const bySpecifier = new Map<string, string>();
  for (const imp of sf.getImportDeclarations()) {
    const def = imp.getDefaultImport()?.getText();
    if (def) {
      names.add(def);
      bySpecifier.set(def, imp.getModuleSpecifierValue());
    }
    for (const n of imp.getNamedImports()) names.add(n.getAliasNode()?.getText() ?? n.getName());
    const ns = imp.getNamespaceImport()?.getText();
    if (ns) names.add(ns);
  }
  for (const stmt of sf.getStatements()) {
    if (Node.isVariableStatement(stmt)) for (const d of stmt.getDeclarations()) names.add(d.getName());
    else if ((Node.isFunctionDeclaration(stmt) || Node.isClassDeclaration(stmt) || Node.isInterfaceDeclaration(stmt) || Node.isTypeAliasDeclaration(stmt) || Node.isEnumDeclaration(stmt)) && stmt.getName()) names.add(stmt.getName()!);
  }
  const listed = new Set<string>();
  for (const el of array.getElements()) {
    if (!Node.isIdentifier(el)) shapeError(`PLUGINS has an element that is not a plain identifier: \`${el.getText()}\``);
    listed.add(el.getText());
  }
  const plugins: RegisteredPlugin[] = [];
  for (const [ident, specifier] of bySpecifier) {
    const file = resolveImport(root, specifier);
    plugins.push({ ident, specifier, listed: listed.has(ident), file, ...(file ? readManifest(project, root, file) : {}) });
  }
  return { text, plugins, names, sf, array };
}

function rebuildArray(array: ArrayLiteralExpression, elements: string[], statementPrefix: number): void {
  const oneLine = `[${elements.join(', ')}]`;
  const multiLine = array.getText().includes('\n');
  if (!multiLine && statementPrefix + oneLine.length + 1 <= MAX_LINE) array.replaceWithText(oneLine);
  else array.replaceWithText(`[\n${elements.map((e) => `  ${e},`).join('\n')}\n]`);
}

export interface RegistrationEdit {
  /** The new text of plugins/index.ts (equal to the old when nothing changes). */
  after: string;
  changed: boolean;
  /** Identifier of the plugin in plugins/index.ts. */
  ident: string;
  specifier: string;
  /** What is added, in words ('import ...', 'PLUGINS entry ...'); empty when already registered. */
  added: string[];
}

/**
 * Compute the edit that registers `names` (import + PLUGINS element) on the
 * analysed file. Places both after the last registered plugin of the same kind
 * (else after the last import / at the end). Idempotent: an existing import of
 * the same module and an existing element are kept.
 */
export function registrationEdit(a: ReturnType<typeof analyseIndex>, n: PluginNames): RegistrationEdit {
  const specifier = `./${n.folder.replace(/^plugins\//, '')}/index.js`;
  const existing = a.sf.getImportDeclarations().find((imp) => imp.getModuleSpecifierValue() === specifier);
  let ident: string;
  const added: string[] = [];
  if (existing) {
    const def = existing.getDefaultImport()?.getText();
    if (!def) shapeError(`\`${existing.getText()}\` imports ${specifier} without a default import (the manifest is the default export)`);
    ident = def;
  } else {
    const kindSuffix = n.kind[0]!.toUpperCase() + n.kind.slice(1);
    ident = [n.ident, `${n.ident}${kindSuffix}`].find((c) => !a.names.has(c)) ?? '';
    if (!ident) throw new UsageError(`new: the identifiers "${n.ident}" and "${n.ident}${kindSuffix}" are both taken in ${INDEX_PATH}; choose another name for ${n.kind}/${n.name}`);
  }
  // Keep plugins of one kind together: after the last import / PLUGINS element of the same kind.
  const kindOf = new Map(a.plugins.map((p) => [p.ident, p.kind]));
  if (!existing) {
    const imports = a.sf.getImportDeclarations();
    const sameKind = imports.filter((i) => kindOf.get(i.getDefaultImport()?.getText() ?? '') === n.kind);
    const anchor = sameKind[sameKind.length - 1] ?? imports[imports.length - 1];
    const index = anchor ? anchor.getChildIndex() + 1 : 0;
    a.sf.insertImportDeclaration(index, { defaultImport: ident, moduleSpecifier: specifier });
    added.push(`import ${ident} from '${specifier}'`);
  }
  const array = pluginsArray(a.sf);
  const elements = array.getElements().map((e) => e.getText());
  if (!elements.includes(ident)) {
    const lastSame = elements.reduce((last, e, i) => (kindOf.get(e) === n.kind ? i : last), -1);
    const at = lastSame >= 0 ? lastSame + 1 : elements.length;
    const next = [...elements.slice(0, at), ident, ...elements.slice(at)];
    const stmt = array.getFirstAncestorByKind(SyntaxKind.VariableStatement)!;
    const prefix = array.getStart() - stmt.getStart();
    if (/\/\/|\/\*/.test(array.getText())) array.insertElement(at, ident, { useNewLines: array.getText().includes('\n') });
    else rebuildArray(array, next, prefix);
    added.push(`${ident} in PLUGINS${at < elements.length ? ` (before ${elements[at]})` : ' (at the end)'}`);
  }
  const after = a.sf.getFullText();
  return { after, changed: after !== a.text, ident, specifier, added };
}
