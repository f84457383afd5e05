/**
 * Cold start: every function of template.yaml bundled with its own esbuild settings
 * (`buildFunctions`, what `sam build` does), then imported in fresh Node processes — the same
 * Node 22 that runs the benchmark — with the environment the template gives the functions.
 * Beside it, a bare `node -e 0`: what any Lambda process pays before our code loads.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { buildFunctions, esbuildOptions } from '../scripts/build.js';
import { BUDGETS } from '../scripts/bundle-report.js';
import { loadTemplate, templateFunctions } from '../scripts/template.js';
import { type Figure, figure, median } from './stats.js';

const GROUP = 'Cold start';
const MB = 1024 * 1024;

export interface BundleCold {
  logicalId: string;
  bytes: number;
  usesKube: boolean;
  /** `import()` of the bundle inside a fresh process, per run (ms). */
  importMs: number[];
  /** CPU time (user + system) of that import, per run (ms). */
  importCpuMs: number[];
  /** The whole process (spawn → exit) that imports it, per run (ms). */
  processMs: number[];
  largest: string[];
}

export interface ColdStartBench {
  node: string;
  bareProcessMs: number[];
  bundles: BundleCold[];
  /** Import times of the what-if bundle (WHAT_IF without @kubernetes/client-node). */
  whatIfMs: number[];
  figures: Figure[];
}

/** Every bundle carries @kubernetes/client-node today; this one shows the cost without it. */
export const WHAT_IF = 'CheckPodFunction';

// Same probe as scripts/bundle-report.ts, plus the CPU time of the import: on a shared machine the
// wall time includes waiting for a core, the CPU time does not.
const PROBE = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const m = await import(process.argv[1]);
const ms = performance.now() - t0;
const c = process.cpuUsage(c0);
if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(2); }
console.log(JSON.stringify({ ms, cpuMs: (c.user + c.system) / 1000 }));
`;

/** The environment template.yaml gives the functions (what changes how they load). */
const FUNCTION_ENV = {
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  POWERTOOLS_SERVICE_NAME: 'pxc-tls-ops',
};

function importOnce(outfile: string): { ms: number; cpuMs: number } {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', PROBE, pathToFileURL(outfile).href],
    {
      env: { PATH: process.env.PATH, ...FUNCTION_ENV },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; cpuMs: number };
}

/** Replaces @kubernetes/client-node with an empty KubeConfig: what the bundle costs without it. */
const withoutClientNode: Plugin = {
  name: 'without-client-node',
  setup(b) {
    b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: 'client-node', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export class KubeConfig {}',
      loader: 'js',
    }));
  },
};

/**
 * What-if: `logicalId` bundled with the template's settings but without @kubernetes/client-node —
 * as it would be if the kubeconfig path (the only user of KubeConfig) were loaded lazily.
 */
async function buildWithoutClientNode(
  logicalId: string,
  outDir: string,
): Promise<{ outfile: string; bytes: number }> {
  const fn = templateFunctions(loadTemplate('template.yaml')).find((f) => f.logicalId === logicalId);
  if (!fn) throw new Error(`no function ${logicalId} in template.yaml`);
  const result = await build({
    ...esbuildOptions(fn, join(outDir, `${logicalId}-without-client-node`)),
    plugins: [withoutClientNode],
  });
  const [outfile, output] = Object.entries(result.metafile!.outputs).find(([p]) => !p.endsWith('.map'))!;
  return { outfile: join(process.cwd(), outfile), bytes: output.bytes };
}

function timed<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const out = fn();
  return [out, performance.now() - t];
}

export async function benchColdStart(opts: { runs?: number } = {}): Promise<ColdStartBench> {
  const runs = opts.runs ?? 10;
  const outDir = mkdtempSync(join(tmpdir(), 'pxc-tls-ops-bench-'));
  try {
    const built = (await buildFunctions({ outDir })).sort((a, b) => a.logicalId.localeCompare(b.logicalId));
    const env = { PATH: process.env.PATH, ...FUNCTION_ENV };
    const bareProcessMs: number[] = [];
    const bundles: BundleCold[] = built.map((b) => ({
      logicalId: b.logicalId,
      bytes: b.bytes,
      usesKube: b.packages.some((p) => p.name === '@kubernetes/client-node'),
      importMs: [],
      importCpuMs: [],
      processMs: [],
      largest: b.packages.slice(0, 3).map((p) => `${p.name} ${(p.bytes / 1024).toFixed(0)} KiB`),
    }));
    const whatIf = await buildWithoutClientNode(WHAT_IF, outDir);
    const whatIfMs: number[] = [];
    // Interleaved (bare, A, B, ... per round), so a busy moment on the machine hits every bundle alike.
    for (let i = 0; i < runs; i++) {
      bareProcessMs.push(timed(() => execFileSync(process.execPath, ['-e', '0'], { env }))[1]);
      for (let j = 0; j < built.length; j++) {
        const [{ ms, cpuMs }, total] = timed(() => importOnce(built[j]!.outfile));
        bundles[j]!.importMs.push(ms);
        bundles[j]!.importCpuMs.push(cpuMs);
        bundles[j]!.processMs.push(total);
      }
      whatIfMs.push(importOnce(whatIf.outfile).ms);
    }
    const figures: Figure[] = [
      figure(GROUP, `bare \`node -e 0\` process (${process.version})`, 'ms', bareProcessMs, {
        note: 'spawn to exit; what every cold start pays before our code',
      }),
    ];
    for (const b of bundles) {
      const budget = b.usesKube ? BUDGETS.kube : BUDGETS.other;
      const kind = b.usesKube ? 'with Kubernetes client' : 'without Kubernetes client';
      figures.push(
        figure(GROUP, `${b.logicalId} import (${kind})`, 'ms', b.importMs, {
          target: `≤ ${budget.importMs} ms`,
          max: budget.importMs,
          note: `CPU ${median(b.importCpuMs).toFixed(0)} ms; whole process ${median(b.processMs).toFixed(0)} ms vs bare ${median(bareProcessMs).toFixed(0)} ms`,
        }),
        figure(GROUP, `${b.logicalId} bundle size`, 'MB', [b.bytes / MB], {
          ...(b.usesKube ? { target: `≤ ${budget.bytes / MB} MB`, max: budget.bytes / MB } : {}),
          note: b.largest.join(', '),
        }),
      );
    }
    figures.push(
      figure(GROUP, `what-if: ${WHAT_IF} without @kubernetes/client-node, import`, 'ms', whatIfMs, {
        target: `≤ ${BUDGETS.other.importMs} ms`,
        max: BUDGETS.other.importMs,
        note: `${(whatIf.bytes / MB).toFixed(2)} MB; KubeConfig is only needed for kubeconfig (local) runs`,
      }),
    );
    return { node: process.version, bareProcessMs, bundles, whatIfMs, figures };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
