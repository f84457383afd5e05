/**
 * How `sam build` turns a function's `Metadata.BuildProperties` into an esbuild command line, so
 * `npm run build` (scripts/build.ts) and the CI check of a real build (scripts/check-sam-build.ts)
 * run exactly that command instead of a hand-written equivalent.
 *
 * The rules, as read in the sources of the two tools `sam build` chains:
 * - SAM CLI (`samcli/lib/samlib/resource_metadata_normalizer.py`, `normalize_build_properties`)
 *   turns every PascalCase key into snake_case: an underscore before every capital but the first,
 *   then lower case (`SourcesContent` → `sources_content`, `OutExtension` → `out_extension`).
 *   When `EntryPoints` is absent it uses the handler's file.
 * - aws-lambda-builders (`workflows/nodejs_npm_esbuild/esbuild.py`, `EsbuildCommandBuilder`, since
 *   the generic builder of aws-lambda-builders#498, first in SAM CLI 1.85.0) passes every key on
 *   (kebab-case: `_` → `-`), by the type of its value:
 *     true → `--key`;  false → nothing at all;  string → `--key=value`;
 *     list → `--key:item` for each item;  anything else (a number, a map) → the build fails.
 *   `bundle`, `platform` and `outdir` are never taken from the template (it always passes
 *   `--bundle --platform=node --outdir=<artifacts>`), `entry_points` and `use_npm_ci` are not esbuild
 *   flags (aws-lambda-builders#510); `--target=es2020`, `--format=cjs` and `--minify` are added
 *   when the template does not set `target`, `format`, `minify`.
 *   The command is: entry points (relative to the build directory, run as cwd), the defaults,
 *   then the template's flags (`build_entry_points().build_default_values().build_esbuild_args_from_config()`).
 *
 * So a YAML boolean `SourcesContent: false` silently drops the flag (esbuild then embeds every
 * source file in the map): it must be the string `'false'`.
 */

/** SAM CLI's PascalCase → snake_case of BuildProperties keys. */
export function samSnakeCase(key: string): string {
  return key.replace(/(?<!^)(?=[A-Z])/g, '_').toLowerCase();
}

/** Keys aws-lambda-builders sets itself and never takes from the template. */
export const NON_CONFIGURABLE = new Set(['bundle', 'platform', 'outdir']);
/** Keys that configure the workflow, not esbuild. */
export const NOT_ESBUILD_FLAGS = new Set(['use_npm_ci', 'entry_points']);

export class BuildPropertiesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildPropertiesError';
  }
}

/** The flags one BuildProperties entry becomes (`key` already snake_case). */
export function flagsFor(key: string, value: unknown): string[] {
  const flag = `--${key.replaceAll('_', '-')}`;
  if (typeof value === 'boolean') return value ? [flag] : [];
  if (typeof value === 'string') return [`${flag}=${value}`];
  if (Array.isArray(value)) return value.map((item) => `${flag}:${String(item)}`);
  // aws-lambda-builders raises EsbuildCommandError("Failed to determine the type of the configuration").
  throw new BuildPropertiesError(
    `BuildProperties ${key}: ${JSON.stringify(value)} is neither a boolean, a string nor a list; sam build fails on it`,
  );
}

/**
 * The esbuild command line (`esbuild <args>`, run in the build directory) that `sam build` runs
 * for a function with these BuildProperties, writing into `outdir`.
 */
export function samEsbuildArgs(buildProperties: Record<string, unknown>, outdir: string): string[] {
  const config = new Map(Object.entries(buildProperties).map(([k, v]) => [samSnakeCase(k), v]));
  const entryPoints = config.get('entry_points');
  if (!Array.isArray(entryPoints) || entryPoints.length === 0) {
    throw new BuildPropertiesError('BuildProperties EntryPoints must be a non-empty list');
  }
  const args = entryPoints.map(String);
  args.push('--bundle', '--platform=node', `--outdir=${outdir}`);
  if (!config.has('target')) args.push('--target=es2020');
  if (!config.has('format')) args.push('--format=cjs');
  if (!config.has('minify')) args.push('--minify');
  for (const [key, value] of config) {
    if (NON_CONFIGURABLE.has(key) || NOT_ESBUILD_FLAGS.has(key)) continue;
    args.push(...flagsFor(key, value));
  }
  return args;
}
