/**
 * `npm run check:sam-build`: does what `sam build` does with this project, on a machine with only
 * Node and the SAM CLI, and fails where `sam build` would.
 *
 * aws-lambda-builders' esbuild workflow (the one `BuildMethod: esbuild` selects):
 * 1. copies the project into a scratch directory, leaving out `.aws-sam`, `.git` and `node_modules`
 *    (`CopySourceAction(..., excludes=EXCLUDED_FILES)`, EXCLUDED_FILES = (".aws-sam", ".git", "node_modules"));
 * 2. installs the production dependencies there: `npm install -q --no-audit --no-save --omit=dev`
 *    with the project's lockfile copied alongside (`NodejsNpmInstallAction`, `NodejsNpmrcAndLockfileCopyAction`);
 * 3. looks for `esbuild` in that scratch directory's `$(npm root)/.bin`, then on PATH
 *    (`_get_esbuild_subprocess`), and fails with "Cannot find esbuild" when neither has it;
 * 4. runs it in the scratch directory with the arguments scripts/sam-esbuild.ts derives from the
 *    function's BuildProperties, into the function's artifacts directory.
 *
 * This script does 1–4 for every function of template.yaml (PATH is not searched: the SAM build
 * images and a fresh machine have no global esbuild), then imports each bundle in a fresh Node 22
 * process and checks the source maps carry no sources (SourcesContent).
 * `npm install` runs with `--prefer-offline`, so it needs the registry only for what the local npm
 * cache lacks.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { samEsbuildArgs } from './sam-esbuild.js';
import { loadTemplate, templateFunctions } from './template.js';

const EXCLUDED = new Set(['.aws-sam', '.git', 'node_modules']);

function fail(message: string): never {
  console.error(`check-sam-build: ${message}`);
  process.exit(1);
}

const root = resolve(process.argv[2] ?? '.');
const work = mkdtempSync(join(tmpdir(), 'pxc-sam-build-'));
const scratch = join(work, 'scratch');
const artifacts = join(work, 'artifacts');
try {
  cpSync(root, scratch, {
    recursive: true,
    // shutil.ignore_patterns, as the builder uses it, skips these names at any depth.
    filter: (src) => src === root || !EXCLUDED.has(basename(src)),
  });
  console.log(`== npm install --omit=dev in a scratch copy (${scratch})`);
  execFileSync(
    'npm',
    ['install', '-q', '--no-audit', '--no-save', '--omit=dev', '--prefer-offline', '--no-fund'],
    {
      cwd: scratch,
      stdio: 'inherit',
    },
  );
  const esbuild = join(scratch, 'node_modules', '.bin', 'esbuild');
  if (!existsSync(esbuild)) {
    fail(
      'Cannot find esbuild: after `npm install --omit=dev` there is no node_modules/.bin/esbuild, so `sam build` ' +
        'fails on a machine without a global esbuild (it must be a dependency, not a devDependency)',
    );
  }
  console.log(`   esbuild ${execFileSync(esbuild, ['--version'], { encoding: 'utf8' }).trim()} found`);

  const functions = templateFunctions(loadTemplate(join(scratch, 'template.yaml')));
  for (const fn of functions) {
    const outdir = join(artifacts, fn.logicalId);
    mkdirSync(outdir, { recursive: true });
    execFileSync(esbuild, [...samEsbuildArgs(fn.buildProperties, outdir), '--log-level=warning'], {
      cwd: scratch,
      stdio: 'inherit',
    });
    const handlerFile = fn.handler.split('.')[0]!;
    const entry = readdirSync(outdir).find((f) => f === `${handlerFile}.mjs` || f === `${handlerFile}.js`);
    if (!entry) fail(`${fn.logicalId}: no ${handlerFile}.mjs in the artifacts (Handler: ${fn.handler})`);
    const withSources = readdirSync(outdir)
      .filter((f) => f.endsWith('.map'))
      .filter((f) => (JSON.parse(readFileSync(join(outdir, f), 'utf8')).sourcesContent ?? []).length > 0);
    if (withSources.length)
      fail(`${fn.logicalId}: source maps carry sourcesContent: ${withSources.join(', ')}`);
    // A fresh process per bundle, as a Lambda cold start; exits non-zero when it does not load.
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(pathToFileURL(join(outdir, entry)).href)}); if (typeof m.handler !== 'function') process.exit(2);`,
      ],
      { env: { PATH: process.env.PATH, NODE_OPTIONS: '--enable-source-maps', AWS_REGION: 'eu-west-1' } },
    );
    const files = readdirSync(outdir).filter((f) => !f.endsWith('.map'));
    console.log(
      `   ${fn.logicalId.padEnd(28)} ${entry} + ${files.length - 1} chunks, imports on ${process.version}`,
    );
  }
  console.log(`check-sam-build: ${functions.length} functions build as sam build builds them`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
