/**
 * Bundle size and cold import time of every function, on Node 22 (the Lambda runtime).
 *
 *   npx tsx scripts/bundle-report.ts            # build, measure, print a table; exit 1 over the size budget
 *   npx tsx scripts/bundle-report.ts --strict   # ... or over the import-time budget
 *
 * Each bundle is imported in a fresh `node` process (the Node 22 running this script), with
 * `NODE_OPTIONS=--enable-source-maps` as template.yaml sets it, so the figure is what a cold
 * start pays for loading the code. `measureBundles()` is exported for the benchmark.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuiltFunction, buildFunctions } from './build.js';

/** Budgets from the issue: functions with the Kubernetes client vs the rest. */
export const BUDGETS = {
  kube: { bytes: 2.5 * 1024 * 1024, importMs: 300 },
  other: { bytes: 2.5 * 1024 * 1024, importMs: 100 },
} as const;

export interface BundleFigures {
  logicalId: string;
  bytes: number;
  /** Median of `runs` cold imports, wall time, in milliseconds. */
  importMs: number;
  /** Median CPU time of those imports (what the budget is checked against; see importTimes). */
  importCpuMs: number;
  usesKube: boolean;
  withinBudget: boolean;
  /** The largest bundled packages, for the report. */
  largest: string[];
}

const IMPORT_PROBE = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const m = await import(process.argv[1]);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(c0);
if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(2); }
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }));
`;

/** Imports one bundle in a fresh process and returns the wall time `import()` took. */
export function importTimeMs(outfile: string, env: NodeJS.ProcessEnv = {}): number {
  return importTimes(outfile, env).ms;
}

/**
 * Imports one bundle in a fresh process: wall time of `import()` and the CPU time it used. On a
 * machine busy with other work the wall time includes waiting for a core; the CPU time does not.
 */
export function importTimes(outfile: string, env: NodeJS.ProcessEnv = {}): { ms: number; cpuMs: number } {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', IMPORT_PROBE, pathToFileURL(outfile).href],
    {
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: '--enable-source-maps',
        AWS_REGION: 'eu-west-1',
        AWS_LAMBDA_FUNCTION_NAME: 'bundle-report',
        POWERTOOLS_SERVICE_NAME: 'pxc-tls-ops',
        ...env,
      },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; cpuMs: number };
}

export function measureBundles(built: BuiltFunction[], runs = 3): BundleFigures[] {
  return built.map((b) => {
    const samples = Array.from({ length: runs }, () => importTimes(b.outfile));
    const median = (xs: number[]) =>
      Math.round(xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]! * 10) / 10;
    const importMs = median(samples.map((t) => t.ms));
    const importCpuMs = median(samples.map((t) => t.cpuMs));
    const usesKube = b.packages.some((p) => p.name === '@kubernetes/client-node');
    const budget = usesKube ? BUDGETS.kube : BUDGETS.other;
    return {
      logicalId: b.logicalId,
      bytes: b.bytes,
      importMs,
      importCpuMs,
      usesKube,
      withinBudget: b.bytes <= budget.bytes && importCpuMs <= budget.importMs,
      largest: b.packages.slice(0, 4).map((p) => `${p.name} ${(p.bytes / 1024).toFixed(0)}K`),
    };
  });
}

export function formatReport(figures: BundleFigures[]): string {
  const lines = [
    '| function | bundle | cold import, wall | cold import, CPU | budget | largest parts |',
    '|---|---:|---:|---:|---|---|',
  ];
  for (const f of figures) {
    const budget = f.usesKube ? BUDGETS.kube : BUDGETS.other;
    lines.push(
      `| ${f.logicalId} | ${(f.bytes / 1024 / 1024).toFixed(2)} MB | ${f.importMs} ms | ${f.importCpuMs} ms | ` +
        `${f.withinBudget ? 'ok' : 'OVER'} (≤ ${budget.bytes / 1024 / 1024} MB, ≤ ${budget.importMs} ms) | ${f.largest.join(', ')} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // Size over budget fails; import time is reported (it depends on how busy the machine is), and
  // fails only with --strict. A bundle that does not import fails either way (execFileSync throws).
  const strict = process.argv.includes('--strict');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const figures = measureBundles(await buildFunctions({ only }));
  console.log(formatReport(figures));
  const over = figures.filter((f) => f.bytes > (f.usesKube ? BUDGETS.kube : BUDGETS.other).bytes);
  const slow = figures.filter(
    (f) =>
      !over.includes(f) &&
      Math.max(f.importMs, f.importCpuMs) > (f.usesKube ? BUDGETS.kube : BUDGETS.other).importMs,
  );
  if (over.length) console.error(`over the size budget: ${over.map((f) => f.logicalId).join(', ')}`);
  if (slow.length)
    console.error(
      `over the import-time budget (wall or CPU time) on this machine: ${slow.map((f) => f.logicalId).join(', ')}`,
    );
  if (over.length || (strict && slow.length)) process.exitCode = 1;
}
