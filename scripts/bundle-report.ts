/**
 * Bundle size and cold import of every function, on Node 22 (the Lambda runtime).
 *
 *   npx tsx scripts/bundle-report.ts            # build, measure, print a table; exit 1 over the size budget
 *   npx tsx scripts/bundle-report.ts --strict   # ... or over the cold-import budget
 *   npx tsx scripts/bundle-report.ts --runs 15  # more samples (default 7)
 *
 * A cold import is a fresh `node` process (the Node 22 running this script) that imports the
 * bundle and exits, with `NODE_OPTIONS=--enable-source-maps` as template.yaml sets it; it is
 * measured against a bare `node -e 0` started in the same round (rounds interleave the bare
 * process and every bundle, so a busy moment on the machine hits all of them alike). The budget is
 * a ratio, so it means the same on a laptop and on a loaded CI machine: the median over rounds of
 * (bundle process ÷ bare process) ≤ 1.5, wall time, with the same ratio of CPU time beside it.
 * Size: what a cold start loads (the handler file and the chunks it imports statically) ≤ 1 MB;
 * the chunks loaded on demand (the kubeconfig path) are shipped but not loaded on Lambda.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type BuiltFunction, buildFunctions } from './build.js';

export const BUDGET = {
  /** Bytes a cold start loads. */
  bytes: 1024 * 1024,
  /** Cold import process ÷ bare `node -e 0` process. */
  importRatio: 1.5,
} as const;

/** The environment template.yaml gives the functions (what changes how they load). */
export const FUNCTION_ENV = {
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bundle-report',
  POWERTOOLS_SERVICE_NAME: 'pxc-tls-ops',
};

// Both probes open stdout (to print their figures) before reading their CPU time, so each CPU
// figure covers the same work as the wall time of the whole process, stdout included exactly once:
// a bundle whose logger opens stdout at import is not charged for what the bare process does too.
const IMPORT_PROBE = `
const t0 = performance.now();
const m = await import(process.argv[1]);
const ms = performance.now() - t0;
if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(2); }
process.stdout;
const c = process.cpuUsage();
console.log(JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000 }));
`;
const BARE_PROBE = `process.stdout; const c = process.cpuUsage(); console.log(JSON.stringify({ cpuMs: (c.user + c.system) / 1000 }));`;

export interface ProcessSample {
  /** Spawn to exit, wall time (ms). */
  processMs: number;
  /** CPU time of the whole process, start-up included (ms). */
  cpuMs: number;
}

export interface ImportSample extends ProcessSample {
  /** The `import()` alone, wall time (ms). */
  importMs: number;
}

/** A bare Node process: what every cold start pays before any code loads. */
export function bareProcess(env: NodeJS.ProcessEnv = {}): ProcessSample {
  const t = performance.now();
  const out = execFileSync(process.execPath, ['-e', BARE_PROBE], {
    env: { PATH: process.env.PATH, ...FUNCTION_ENV, ...env },
    encoding: 'utf8',
  });
  return { processMs: performance.now() - t, cpuMs: (JSON.parse(out) as { cpuMs: number }).cpuMs };
}

/**
 * Imports one bundle in a fresh process; throws when it does not load or exports no handler.
 * `env` adds to the function environment (e.g. KUBECONFIG).
 */
export function importBundle(outfile: string, env: NodeJS.ProcessEnv = {}): ImportSample {
  const t = performance.now();
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', IMPORT_PROBE, pathToFileURL(outfile).href],
    { env: { PATH: process.env.PATH, ...FUNCTION_ENV, ...env }, encoding: 'utf8', timeout: 60_000 },
  );
  const { ms, cpuMs } = JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; cpuMs: number };
  return { processMs: performance.now() - t, importMs: ms, cpuMs };
}

export interface ColdStarts {
  bare: ProcessSample[];
  bundles: Array<{ built: BuiltFunction; samples: ImportSample[] }>;
}

/** `runs` rounds of: a bare process, then one cold import of every bundle. */
export function measureColdStarts(built: BuiltFunction[], runs = 7): ColdStarts {
  const result: ColdStarts = { bare: [], bundles: built.map((b) => ({ built: b, samples: [] })) };
  for (let i = 0; i < runs; i++) {
    result.bare.push(bareProcess());
    for (const b of result.bundles) b.samples.push(importBundle(b.built.outfile));
  }
  return result;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Per round, bundle ÷ bare of the same round. */
export function ratios(bare: ProcessSample[], samples: ProcessSample[], key: keyof ProcessSample): number[] {
  return samples.map((s, i) => s[key] / bare[i]![key]);
}

export interface BundleFigures {
  logicalId: string;
  bytes: number;
  shippedBytes: number;
  processMs: number;
  importMs: number;
  wallRatio: number;
  cpuRatio: number;
  largest: string[];
  lazy: string[];
}

export function bundleFigures(c: ColdStarts): BundleFigures[] {
  const kib = (p: { name: string; bytes: number }) => `${p.name} ${(p.bytes / 1024).toFixed(0)}K`;
  return c.bundles.map(({ built, samples }) => ({
    logicalId: built.logicalId,
    bytes: built.bytes,
    shippedBytes: built.shippedBytes,
    processMs: median(samples.map((s) => s.processMs)),
    importMs: median(samples.map((s) => s.importMs)),
    wallRatio: median(ratios(c.bare, samples, 'processMs')),
    cpuRatio: median(ratios(c.bare, samples, 'cpuMs')),
    largest: built.packages.slice(0, 4).map(kib),
    lazy: built.lazyPackages.slice(0, 3).map(kib),
  }));
}

export function formatReport(c: ColdStarts, figures: BundleFigures[]): string {
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`;
  const lines = [
    `bare \`node -e 0\` (${process.version}): ${median(c.bare.map((s) => s.processMs)).toFixed(0)} ms wall, ` +
      `${median(c.bare.map((s) => s.cpuMs)).toFixed(0)} ms CPU (median of ${c.bare.length})`,
    '',
    `| function | loaded at import (≤ ${mb(BUDGET.bytes)}) | shipped | cold import ÷ bare, wall (≤ ${BUDGET.importRatio}) | CPU | process / import() | largest loaded | only on demand |`,
    '|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const f of figures) {
    lines.push(
      `| ${f.logicalId} | ${mb(f.bytes)} | ${mb(f.shippedBytes)} | ${f.wallRatio.toFixed(2)}${f.wallRatio > BUDGET.importRatio ? ' OVER' : ''} | ` +
        `${f.cpuRatio.toFixed(2)} | ${f.processMs.toFixed(0)} / ${f.importMs.toFixed(0)} ms | ${f.largest.join(', ')} | ${f.lazy.join(', ')} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // Size over budget fails; the cold-import ratio is reported (it still moves with the machine's
  // load), and fails only with --strict. A bundle that does not import fails either way.
  const { values, positionals } = parseArgs({
    options: { strict: { type: 'boolean', default: false }, runs: { type: 'string', default: '7' } },
    allowPositionals: true,
  });
  const c = measureColdStarts(await buildFunctions({ only: positionals }), Number(values.runs));
  const figures = bundleFigures(c);
  console.log(formatReport(c, figures));
  const over = figures.filter((f) => f.bytes > BUDGET.bytes);
  const slow = figures.filter((f) => f.wallRatio > BUDGET.importRatio);
  if (over.length) console.error(`over the size budget: ${over.map((f) => f.logicalId).join(', ')}`);
  if (slow.length)
    console.error(`over the cold-import budget on this machine: ${slow.map((f) => f.logicalId).join(', ')}`);
  if (over.length || (values.strict && slow.length)) process.exitCode = 1;
}
