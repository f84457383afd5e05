import { describe, expect, it } from 'vitest';
import { BuildPropertiesError, flagsFor, samEsbuildArgs, samSnakeCase } from '../../scripts/sam-esbuild.js';
import { loadTemplate, templateFunctions } from '../../scripts/template.js';

describe('BuildProperties → esbuild arguments, by the rules of SAM CLI and aws-lambda-builders', () => {
  it.each([
    ['Minify', 'minify'],
    ['SourcesContent', 'sources_content'],
    ['OutExtension', 'out_extension'],
    ['MainFields', 'main_fields'],
    ['EntryPoints', 'entry_points'],
    ['Splitting', 'splitting'],
    ['UseNpmCi', 'use_npm_ci'],
    ['JSX', 'j_s_x'],
  ])('SAM CLI turns the key %s into %s', (pascal, snake) => {
    expect(samSnakeCase(pascal)).toBe(snake);
  });

  it.each<[string, unknown, string[]]>([
    ['minify', true, ['--minify']],
    ['sources_content', false, []],
    ['sources_content', 'false', ['--sources-content=false']],
    ['target', 'node22', ['--target=node22']],
    ['main_fields', 'module,main', ['--main-fields=module,main']],
    ['out_extension', ['.js=.mjs'], ['--out-extension:.js=.mjs']],
    ['external', ['a', '@b/c'], ['--external:a', '--external:@b/c']],
    ['banner', ['js=const x = 1;'], ['--banner:js=const x = 1;']],
  ])('aws-lambda-builders turns %s: %j into %j', (key, value, flags) => {
    expect(flagsFor(key, value)).toEqual(flags);
  });

  it.each([[3], [{ js: '.mjs' }], [null]])(
    'fails, as sam build does, on a value of another type (%j)',
    (value) => {
      expect(() => flagsFor('log_limit', value)).toThrow(BuildPropertiesError);
    },
  );

  it('puts the entry points first, then its own defaults, then the template’s flags', () => {
    expect(samEsbuildArgs({ EntryPoints: ['src/a.ts'] }, '/out')).toEqual([
      'src/a.ts',
      '--bundle',
      '--platform=node',
      '--outdir=/out',
      '--target=es2020',
      '--format=cjs',
      '--minify',
    ]);
  });

  it('never takes bundle, platform, outdir or the workflow’s own keys from the template', () => {
    const args = samEsbuildArgs(
      {
        EntryPoints: ['a.ts'],
        Platform: 'neutral',
        Outdir: '/elsewhere',
        Bundle: false,
        UseNpmCi: true,
        Format: 'esm',
        Target: 'node22',
        Minify: false,
      },
      '/out',
    );
    expect(args).toEqual([
      'a.ts',
      '--bundle',
      '--platform=node',
      '--outdir=/out',
      '--format=esm',
      '--target=node22',
    ]);
  });

  it('gives every function of template.yaml the flags the project means: ESM, node22, minified, split, maps without sources', () => {
    for (const fn of templateFunctions(loadTemplate('template.yaml'))) {
      const args = samEsbuildArgs(fn.buildProperties, '/out');
      expect(args[0], fn.logicalId).toBe(fn.entry);
      expect(args, fn.logicalId).toEqual(
        expect.arrayContaining([
          '--format=esm',
          '--target=node22',
          '--minify',
          '--sourcemap',
          '--sources-content=false',
          '--splitting',
          '--main-fields=module,main',
          '--out-extension:.js=.mjs',
        ]),
      );
      expect(
        args.find((a) => a.startsWith('--banner:js=')),
        fn.logicalId,
      ).toMatch(/createRequire\(import\.meta\.url\)/);
      // A boolean false is dropped without a word: every property must say what it means as a flag.
      for (const [key, value] of Object.entries(fn.buildProperties))
        expect(value, `${fn.logicalId} BuildProperties.${key}`).not.toBe(false);
    }
  });
});
