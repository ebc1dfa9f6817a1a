// The code blocks of the user's docs (README.md, docs/**/*.md), and a type check of the TypeScript
// ones under the repo's strict tsconfig, in-process with the TypeScript compiler API: each block is a
// module of its own, placed in the repo (tmp/docs-blocks/, never written to disk) so that its
// `serverpush/...` imports resolve through package.json `exports` to the sources, as the demos' do.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const preludePath = join(root, 'test/docs/prelude.ts');
const blockDir = join(root, 'tmp/docs-blocks');

/** One fenced code block of a doc. */
export interface CodeBlock {
  /** The doc, relative to the repo root. */
  readonly doc: string;
  /** The line of the doc where the block's code starts (1-based). */
  readonly line: number;
  /** The fence's language (`ts`, `html`…); `''` when none. */
  readonly lang: string;
  /** The code, without the fence's indentation. */
  readonly code: string;
  /** `<!-- example: path -->` right above the fence: the block is that file, verbatim. */
  readonly example: string | undefined;
  /** `<!-- not checked: reason -->` right above the fence: a deliberate fragment, and why. */
  readonly unchecked: string | undefined;
}

/** README.md and every Markdown file under docs/ (but the generated API reference), relative to the repo root. */
export function docFiles(): string[] {
  const found: string[] = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory() && path !== 'docs/api') walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found.sort();
}

/** The fenced code blocks of `doc`, in order. */
export function codeBlocks(doc: string): CodeBlock[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const open = /^(\s*)```(\w*)/.exec(lines[index]!);
    if (open === null) continue;
    const [, indent = '', lang = ''] = open;
    const start = index + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end += 1;
    const above = lines[index - 1]?.trim() ?? '';
    blocks.push({
      doc,
      line: start + 1,
      lang,
      code: lines
        .slice(start, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()))
        .join('\n'),
      example: /^<!-- example: (\S+) -->$/.exec(above)?.[1],
      unchecked: /^<!-- not checked: (.+?) -->$/.exec(above)?.[1],
    });
    index = end;
  }
  return blocks;
}

/** Whether a block is TypeScript. */
export function isTypeScript(block: CodeBlock): boolean {
  return block.lang === 'ts' || block.lang === 'typescript';
}

/** A compile error in a block, located in its doc: `docs/types.md:42: TS2339 …`. */
export type BlockError = string;

/**
 * Type-checks `blocks` as modules of their own under the repo's tsconfig. A block may use the names
 * test/docs/prelude.ts exports without declaring them (the app around a snippet). Blocks that
 * augment modules (`declare module`, `declare global`) are checked in a program of their own, so
 * that they change nothing for the others. Resolves with the errors, each located in its doc.
 */
export function typeCheck(blocks: readonly CodeBlock[]): BlockError[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (config === undefined) throw new Error('tsconfig.json cannot be read');
  // Snippets may declare what the reader needs without using it further.
  const options = { ...config.options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false };
  const prelude = preludeExports();

  const files = new Map<string, { block: CodeBlock; text: string; headerLines: number }>();
  blocks.forEach((block, index) => {
    const slug = block.doc.replace(/[^\w]+/g, '-');
    const path = join(blockDir, `${slug}-${block.line}-${index}.ts`);
    const header = preludeImport(block.code, prelude, path);
    files.set(path, { block, text: `${header}${block.code}\n`, headerLines: header === '' ? 0 : 1 });
  });

  const host = ts.createCompilerHost(options, true);
  const sourceFiles = new Map<string, ts.SourceFile | undefined>();
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path);
  host.readFile = (path) => files.get(path)?.text ?? readFile.call(host, path);
  // The sources and libs are parsed once for all the programs.
  host.getSourceFile = (path, language, onError) => {
    if (files.has(path)) return ts.createSourceFile(path, files.get(path)!.text, language, true);
    if (!sourceFiles.has(path)) sourceFiles.set(path, getSourceFile.call(host, path, language, onError));
    return sourceFiles.get(path);
  };

  const augmenting = (path: string) => /^\s*declare (module|global)\b/m.test(files.get(path)!.block.code);
  const shared = [...files.keys()].filter((path) => !augmenting(path));
  const programs = [shared, ...[...files.keys()].filter(augmenting).map((path) => [path])];
  const errors: BlockError[] = [];
  let previous: ts.Program | undefined;
  for (const rootNames of programs) {
    const program = ts.createProgram({ rootNames, options, host, ...(previous ? { oldProgram: previous } : {}) });
    previous = program;
    if (rootNames === shared) {
      const source = program.getSourceFile(preludePath);
      for (const diagnostic of source === undefined ? [] : program.getSemanticDiagnostics(source)) {
        const { line } = source!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
        errors.push(`test/docs/prelude.ts:${line + 1}: TS${diagnostic.code} ${message}`);
      }
    }
    for (const path of rootNames) {
      const file = files.get(path)!;
      const source = program.getSourceFile(path)!;
      const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
      for (const diagnostic of diagnostics) {
        const { line } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        // The prelude import is ours: an unused name there is no error of the block.
        if (line < file.headerLines) continue;
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
        errors.push(`${file.block.doc}:${file.block.line + line - file.headerLines}: TS${diagnostic.code} ${message}`);
      }
    }
  }
  return errors;
}

/** The names test/docs/prelude.ts exports, and whether each is a type only. */
function preludeExports(): Map<string, 'value' | 'type'> {
  const source = ts.createSourceFile(preludePath, readFileSync(preludePath, 'utf8'), ts.ScriptTarget.ES2022);
  const names = new Map<string, 'value' | 'type'>();
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (clause && ts.isNamespaceExport(clause)) names.set(clause.name.text, 'value');
      if (clause && ts.isNamedExports(clause))
        for (const element of clause.elements)
          names.set(element.name.text, statement.isTypeOnly || element.isTypeOnly ? 'type' : 'value');
      continue;
    }
    const exported = ts.getModifiers(statement as ts.HasModifiers)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations)
        if (ts.isIdentifier(declaration.name)) names.set(declaration.name.text, 'value');
    } else if ((ts.isClassDeclaration(statement) || ts.isFunctionDeclaration(statement)) && statement.name) {
      names.set(statement.name.text, 'value');
    } else if ((ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) && statement.name) {
      names.set(statement.name.text, 'type');
    }
  }
  return names;
}

/** `import { … } from '<prelude>';` for the prelude's names that `code` uses and does not declare at its top level. */
function preludeImport(code: string, prelude: Map<string, 'value' | 'type'>, path: string): string {
  const source = ts.createSourceFile(path, code, ts.ScriptTarget.ES2022, true);
  const declared = new Set<string>();
  const declare = (name: ts.BindingName | undefined): void => {
    if (name === undefined) return;
    if (ts.isIdentifier(name)) declared.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) declare(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      declare(clause?.name);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) declare(bindings.name);
      if (bindings && ts.isNamedImports(bindings)) for (const element of bindings.elements) declare(element.name);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) declare(declaration.name);
    } else if (
      (ts.isClassDeclaration(statement) ||
        ts.isFunctionDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      declared.add(statement.name.text);
    }
  }
  const used = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  const names = [...prelude]
    .filter(([name]) => used.has(name) && !declared.has(name))
    .map(([name, kind]) => (kind === 'type' ? `type ${name}` : name));
  if (names.length === 0) return '';
  const from = relative(blockDir, preludePath);
  return `import { ${names.join(', ')} } from '${from}';`;
}

/** The repo root, for messages. */
export const repoRoot = root;
