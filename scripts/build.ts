/**
 * `npm run build`: bundles every function of template.yaml into `dist/<LogicalId>/` by running the
 * esbuild command line `sam build` runs for it: the arguments come from the function's
 * `Metadata.BuildProperties` through the rules of aws-lambda-builders (scripts/sam-esbuild.ts), and
 * each function is built on its own, in the project directory, as the builder does. So
 * `dist/<LogicalId>/` holds what `sam build` puts in `.aws-sam/build/<LogicalId>/`: the handler
 * file, the chunks code splitting makes (the kubeconfig path is one, loaded only when KUBECONFIG is
 * set) and their source maps.
 *
 *   npm run build                      # all functions
 *   npm run build -- SweepFunction     # some
 *
 * `buildFunctions()` is exported for the tests, `scripts/bundle-report.ts` and the benchmark.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { samEsbuildArgs } from './sam-esbuild.js';
import { loadTemplate, type TemplateFunction, templateFunctions } from './template.js';

export interface BuiltFunction {
  logicalId: string;
  handler: string;
  /** Absolute path of the handler file (`dist/<LogicalId>/<name>.mjs`). */
  outfile: string;
  /** Bytes of the handler file and of every chunk it imports statically: what a cold start loads. */
  bytes: number;
  /** Bytes of every JavaScript file the function ships, chunks loaded on demand included. */
  shippedBytes: number;
  /** Packages in what a cold start loads, by bytes (largest first). */
  packages: Array<{ name: string; bytes: number }>;
  /** Packages shipped only in chunks loaded on demand (`import()`), by bytes. */
  lazyPackages: Array<{ name: string; bytes: number }>;
  /** The esbuild command line (after `esbuild`) that built it. */
  args: string[];
  /** esbuild's metafile of the build. */
  metafile: Metafile;
}

const run = promisify(execFile);

function packageOf(input: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return m ? m[1]! : '(project)';
}

function byPackage(
  outputs: Metafile['outputs'],
  files: Iterable<string>,
): Array<{ name: string; bytes: number }> {
  const sums = new Map<string, number>();
  for (const file of files)
    for (const [input, { bytesInOutput }] of Object.entries(outputs[file]!.inputs))
      sums.set(packageOf(input), (sums.get(packageOf(input)) ?? 0) + bytesInOutput);
  return [...sums]
    .map(([name, bytes]) => ({ name, bytes }))
    .filter((p) => p.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

/** The output file and everything it imports statically (`import … from`), transitively. */
export function staticClosure(metafile: Metafile, output: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !metafile.outputs[file]) return;
    seen.add(file);
    for (const i of metafile.outputs[file]!.imports)
      if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(output);
  return seen;
}

/** Runs, for one function, the esbuild command `sam build` runs, into `<outDir>/<LogicalId>/`. */
async function buildOne(fn: TemplateFunction, outDir: string, root: string): Promise<BuiltFunction> {
  const dir = join(outDir, fn.logicalId);
  const metafilePath = join(outDir, `${fn.logicalId}.meta.json`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = samEsbuildArgs(fn.buildProperties, dir);
  // --metafile writes beside the artifacts, never into them, and changes nothing in the output.
  await run(
    join(root, 'node_modules', '.bin', 'esbuild'),
    [...args, `--metafile=${metafilePath}`, '--log-level=warning'],
    {
      cwd: root,
    },
  );
  const metafile = JSON.parse(readFileSync(metafilePath, 'utf8')) as Metafile;
  const handlerFile = fn.handler.split('.')[0]!;
  const entry = Object.keys(metafile.outputs).find(
    (o) => !o.endsWith('.map') && basename(o).replace(/\.[cm]?js$/, '') === handlerFile,
  );
  if (!entry) throw new Error(`${fn.logicalId}: esbuild wrote no ${handlerFile}.* (Handler: ${fn.handler})`);
  const js = Object.keys(metafile.outputs).filter((o) => !o.endsWith('.map'));
  const loaded = staticClosure(metafile, entry);
  const lazy = js.filter((o) => !loaded.has(o));
  const loadedNames = new Set(byPackage(metafile.outputs, loaded).map((p) => p.name));
  return {
    logicalId: fn.logicalId,
    handler: fn.handler,
    outfile: resolve(root, entry),
    bytes: [...loaded].reduce((sum, o) => sum + metafile.outputs[o]!.bytes, 0),
    shippedBytes: readdirSync(dir)
      .filter((f) => !f.endsWith('.map'))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0),
    packages: byPackage(metafile.outputs, loaded),
    lazyPackages: byPackage(metafile.outputs, lazy).filter((p) => !loadedNames.has(p.name)),
    args: args.map((a) => a.replace(dir, `<artifacts>`)),
    metafile,
  };
}

export async function buildFunctions(
  opts: { templatePath?: string; outDir?: string; only?: string[]; root?: string; concurrency?: number } = {},
): Promise<BuiltFunction[]> {
  const root = resolve(opts.root ?? process.cwd());
  const outDir = resolve(root, opts.outDir ?? 'dist');
  const fns = templateFunctions(loadTemplate(resolve(root, opts.templatePath ?? 'template.yaml'))).filter(
    (f) => !opts.only?.length || opts.only.includes(f.logicalId),
  );
  // One esbuild per function, as sam build does: with code splitting, bundling several functions
  // together would share chunks between them, which a per-function build never does.
  const built: BuiltFunction[] = new Array(fns.length);
  let next = 0;
  const worker = async () => {
    while (next < fns.length) {
      const i = next++;
      built[i] = await buildOne(fns[i]!, outDir, root);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 2, fns.length) }, worker));
  return built;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const only = process.argv.slice(2);
  const built = await buildFunctions({ only });
  for (const b of built) {
    console.log(
      `${b.logicalId.padEnd(28)} ${(b.bytes / 1024).toFixed(0).padStart(5)} KiB loaded at import, ` +
        `${(b.shippedBytes / 1024).toFixed(0).padStart(5)} KiB shipped  ${relative(process.cwd(), b.outfile)}`,
    );
  }
}
