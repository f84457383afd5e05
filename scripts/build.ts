/**
 * `npm run build`: bundles every function of template.yaml with esbuild, using exactly the
 * settings in its `Metadata.BuildProperties` (what `sam build` does), into `dist/<LogicalId>/`.
 *
 *   npm run build                      # all functions
 *   npm run build -- SweepFunction     # some
 *
 * `buildFunctions()` is exported for the tests, `scripts/bundle-report.ts` and the benchmark.
 */
import { rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildOptions, build, type Loader, type Metafile } from 'esbuild';
import { loadTemplate, type TemplateFunction, templateFunctions } from './template.js';

export interface BuiltFunction {
  logicalId: string;
  handler: string;
  /** Absolute path of the bundle (`dist/<LogicalId>/<name>.mjs`). */
  outfile: string;
  bytes: number;
  /** Packages bundled in, by bytes in the output (largest first). */
  packages: Array<{ name: string; bytes: number }>;
  /** esbuild's metafile of the build that made it (shared by functions built together). */
  metafile: Metafile;
}

/** "k=v" list (SAM's multi-value form) → object. */
function pairs(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list ?? []) as string[]) {
    const at = String(item).indexOf('=');
    if (at > 0) out[String(item).slice(0, at)] = String(item).slice(at + 1);
  }
  return out;
}

/** SAM's esbuild BuildProperties → esbuild options, the way aws-lambda-builders passes them. */
export function esbuildOptions(fn: TemplateFunction, outDir: string, root = process.cwd()): BuildOptions {
  const p = fn.buildProperties;
  if (!fn.entry) throw new Error(`${fn.logicalId}: Metadata.BuildProperties.EntryPoints is missing`);
  const mainFields = p.MainFields ? String(p.MainFields).split(',') : undefined;
  return {
    absWorkingDir: root,
    entryPoints: [fn.entry],
    bundle: true,
    outdir: outDir,
    platform: (p.Platform as BuildOptions['platform']) ?? 'node',
    format: (p.Format as BuildOptions['format']) ?? 'cjs',
    target: p.Target ? String(p.Target) : 'es2020',
    minify: p.Minify === undefined ? true : Boolean(p.Minify),
    sourcemap: Boolean(p.Sourcemap),
    sourcesContent: p.SourcesContent === undefined ? undefined : Boolean(p.SourcesContent),
    mainFields,
    external: (p.External as string[] | undefined) ?? [],
    loader: pairs(p.Loader) as Record<string, Loader>,
    outExtension: pairs(p.OutExtension),
    banner: pairs(p.Banner),
    metafile: true,
    logLevel: 'silent',
  };
}

export async function buildFunctions(
  opts: { templatePath?: string; outDir?: string; only?: string[]; root?: string } = {},
): Promise<BuiltFunction[]> {
  const root = opts.root ?? process.cwd();
  const outDir = resolve(root, opts.outDir ?? 'dist');
  const fns = templateFunctions(loadTemplate(resolve(root, opts.templatePath ?? 'template.yaml'))).filter(
    (f) => !opts.only?.length || opts.only.includes(f.logicalId),
  );
  // Functions with the same settings (all of ours) are bundled by one esbuild call with several
  // entry points: without code splitting each output is still a self-contained bundle, exactly
  // what a per-function build gives, but shared modules are parsed once.
  const groups = new Map<string, TemplateFunction[]>();
  for (const fn of fns) {
    const key = JSON.stringify({ ...fn.buildProperties, EntryPoints: undefined });
    groups.set(key, [...(groups.get(key) ?? []), fn]);
  }
  const built = await Promise.all(
    [...groups.values()].map(async (group) => {
      for (const fn of group) rmSync(join(outDir, fn.logicalId), { recursive: true, force: true });
      const result = await build({
        ...esbuildOptions(group[0]!, outDir, root),
        entryPoints: group.map((fn) => ({
          in: fn.entry,
          out: `${fn.logicalId}/${basename(fn.entry).replace(/\.[cm]?[jt]s$/, '')}`,
        })),
      });
      const metafile = result.metafile!;
      return group.map((fn): BuiltFunction => {
        const [outfile, output] = Object.entries(metafile.outputs).find(
          ([path, o]) => o.entryPoint === fn.entry && !path.endsWith('.map'),
        )!;
        const byPackage = new Map<string, number>();
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
          const name = m ? m[1]! : '(project)';
          byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
        }
        return {
          logicalId: fn.logicalId,
          handler: fn.handler,
          outfile: resolve(root, outfile),
          bytes: output.bytes,
          packages: [...byPackage]
            .map(([name, bytes]) => ({ name, bytes }))
            .sort((a, b) => b.bytes - a.bytes),
          metafile,
        };
      });
    }),
  );
  const byId = new Map(built.flat().map((b) => [b.logicalId, b]));
  return fns.map((fn) => byId.get(fn.logicalId)!);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const only = process.argv.slice(2);
  const built = await buildFunctions({ only });
  for (const b of built) {
    console.log(
      `${b.logicalId.padEnd(28)} ${(b.bytes / 1024).toFixed(0).padStart(6)} KiB  dist/${b.logicalId}/${basename(b.outfile)}`,
    );
  }
}
