/**
 * The shape of functions/ (issue 21): no import circles, no giant files, no giant functions. A
 * circle makes load order decide what is defined; a 700-line step or a 300-line function mixes
 * concerns a newcomer has to untangle before changing one. Read with the TypeScript compiler, so
 * a function's length is the function's, not a guess from braces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = 'functions';
const MAX_FILE_LINES = 450;
const MAX_FUNCTION_LINES = 100;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/**
 * The project files a file imports: `import`, `export … from` and `import()` of a relative path,
 * `import type` included — a circle through types still means neither module can be read, or
 * moved, without the other.
 */
function projectImports(source: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    const specifier =
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier
        ? node.moduleSpecifier
        : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
          ? node.arguments[0]
          : undefined;
    if (specifier && ts.isStringLiteral(specifier) && specifier.text.startsWith('.'))
      out.push(resolve(dirname(source.fileName), specifier.text).replace(/\.js$/, '.ts'));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** Every circle in an import graph, each once, as the list of files around it. */
function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const circles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const walk = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        const circle = stack.slice(stack.indexOf(next));
        // The same circle found from another file is the same circle: key it by its smallest rotation.
        const start = circle.indexOf([...circle].sort()[0]!);
        const canonical = [...circle.slice(start), ...circle.slice(0, start)];
        circles.set(canonical.join(' → '), canonical);
      } else if (!state.has(next) && graph.has(next)) walk(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) walk(file);
  return [...circles.values()];
}

/** Functions, methods and arrow functions with their length in lines, named as a reader would search for them. */
function functionLengths(source: ts.SourceFile): Array<{ name: string; lines: number }> {
  const out: Array<{ name: string; lines: number }> = [];
  const line = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const nameOf = (node: ts.Node): string => {
    const named = (node as { name?: ts.Node }).name;
    if (named) return named.getText(source);
    const parent = node.parent;
    if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)))
      return parent.name.getText(source);
    return `(anonymous, line ${line(node.getStart(source)) + 1})`;
  };
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      out.push({ name: nameOf(node), lines: line(node.getEnd()) - line(node.getStart(source)) + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('The shape of functions/', () => {
  const files = sourceFiles(ROOT);
  const sources = new Map(files.map((f) => [resolve(f), parse(f)]));

  it('has no import circle', () => {
    const graph = new Map([...sources].map(([file, source]) => [file, projectImports(source)]));
    const circles = importCircles(graph).map((c) => [...c, c[0]!].map((f) => relative(ROOT, f)).join(' → '));
    expect(circles).toEqual([]);
  });

  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    const long = [...sources.values()]
      .map((s) => ({
        file: relative('.', s.fileName),
        lines: s.getLineAndCharacterOfPosition(s.getEnd()).line,
      }))
      .filter((f) => f.lines > MAX_FILE_LINES)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(long).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = [...sources.values()].flatMap((s) =>
      functionLengths(s)
        .filter((f) => f.lines > MAX_FUNCTION_LINES)
        .map((f) => `${relative('.', s.fileName)}: ${f.name}, ${f.lines} lines`),
    );
    expect(long).toEqual([]);
  });
});

describe('The shape checks themselves', () => {
  const src = (name: string, text: string) => ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);

  it('follow imports, type-only ones too, re-exports and import(), of project files only', () => {
    const imports = projectImports(
      src(
        '/p/a.ts',
        [
          "import { b } from './b.js';",
          "import type { C } from './c.js';",
          "import { type D } from './d.js';",
          "export { e } from './e.js';",
          "export type { F } from './f.js';",
          "const g = () => import('./g.js');",
          "import { h } from 'node:fs';",
        ].join('\n'),
      ),
    );
    expect(imports).toEqual(['/p/b.ts', '/p/c.ts', '/p/d.ts', '/p/e.ts', '/p/f.ts', '/p/g.ts']);
  });

  it('find a circle once, whichever file the walk starts from, and no circle in a chain', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['x', ['y']],
      ['y', ['x']],
    ]);
    expect(importCircles(graph)).toEqual([
      ['a', 'b', 'c'],
      ['x', 'y'],
    ]);
    expect(
      importCircles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('measure a function from its first line to its last, arrow functions by their variable', () => {
    const lengths = functionLengths(
      src(
        '/p/a.ts',
        'export function f() {\n  return 1;\n}\nconst g = async () => {\n\n};\nclass K { m() { return 2; } }\n',
      ),
    );
    expect(lengths).toEqual([
      { name: 'f', lines: 3 },
      { name: 'g', lines: 3 },
      { name: 'm', lines: 1 },
    ]);
  });
});
