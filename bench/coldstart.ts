/**
 * Cold start: every function of template.yaml bundled by the esbuild command `sam build` runs
 * (`buildFunctions`), then imported in fresh Node processes — the same Node 22 that runs the
 * benchmark — with the environment the template gives the functions, in rounds that start with a
 * bare `node -e 0` (scripts/bundle-report.ts). The target is a ratio to that bare process, per
 * round, so it holds its meaning on a busy machine: cold import ≤ 1.5 × bare; and a cold start
 * loads ≤ 1 MB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFunctions } from '../scripts/build.js';
import { BUDGET, measureColdStarts, ratios } from '../scripts/bundle-report.js';
import { type Figure, figure, median } from './stats.js';

const GROUP = 'Cold start';
const MB = 1024 * 1024;

export interface BundleCold {
  logicalId: string;
  /** Bytes a cold start loads (handler file + statically imported chunks). */
  bytes: number;
  /** Bytes of every JavaScript file shipped (chunks loaded on demand included). */
  shippedBytes: number;
  /** Whole process (spawn → exit) that imports the bundle, per round (ms). */
  processMs: number[];
  /** `import()` alone, per round (ms). */
  importMs: number[];
  /** CPU time of that process, per round (ms). */
  cpuMs: number[];
  largest: string[];
  onDemand: string[];
}

export interface ColdStartBench {
  node: string;
  bareProcessMs: number[];
  bareCpuMs: number[];
  bundles: BundleCold[];
  figures: Figure[];
}

export async function benchColdStart(opts: { runs?: number } = {}): Promise<ColdStartBench> {
  const runs = opts.runs ?? 10;
  const outDir = mkdtempSync(join(tmpdir(), 'pxc-tls-ops-bench-'));
  try {
    const built = (await buildFunctions({ outDir })).sort((a, b) => a.logicalId.localeCompare(b.logicalId));
    const c = measureColdStarts(built, runs);
    const kib = (p: { name: string; bytes: number }) => `${p.name} ${(p.bytes / 1024).toFixed(0)} KiB`;
    const bareProcessMs = c.bare.map((s) => s.processMs);
    const figures: Figure[] = [
      figure(GROUP, `bare \`node -e 0\` process (${process.version})`, 'ms', bareProcessMs, {
        note: `spawn to exit, CPU ${median(c.bare.map((s) => s.cpuMs)).toFixed(0)} ms; what every cold start pays before our code`,
      }),
    ];
    const bundles: BundleCold[] = c.bundles.map(({ built: b, samples }) => {
      const wall = ratios(c.bare, samples, 'processMs');
      const cpu = ratios(c.bare, samples, 'cpuMs');
      figures.push(
        figure(GROUP, `${b.logicalId}: cold import ÷ bare process`, '×', wall, {
          target: `≤ ${BUDGET.importRatio}`,
          max: BUDGET.importRatio,
          note:
            `${median(samples.map((s) => s.processMs)).toFixed(0)} ms vs ${median(bareProcessMs).toFixed(0)} ms; ` +
            `CPU ratio ${median(cpu).toFixed(2)}; import() ${median(samples.map((s) => s.importMs)).toFixed(0)} ms`,
        }),
        figure(GROUP, `${b.logicalId}: loaded at cold start`, 'MB', [b.bytes / MB], {
          target: `≤ ${BUDGET.bytes / MB} MB`,
          max: BUDGET.bytes / MB,
          note:
            `${(b.shippedBytes / MB).toFixed(2)} MB shipped; on demand: ` +
            `${b.lazyPackages.slice(0, 3).map(kib).join(', ') || 'nothing'}`,
        }),
      );
      return {
        logicalId: b.logicalId,
        bytes: b.bytes,
        shippedBytes: b.shippedBytes,
        processMs: samples.map((s) => s.processMs),
        importMs: samples.map((s) => s.importMs),
        cpuMs: samples.map((s) => s.cpuMs),
        largest: b.packages.slice(0, 3).map(kib),
        onDemand: b.lazyPackages.slice(0, 3).map(kib),
      };
    });
    return { node: process.version, bareProcessMs, bareCpuMs: c.bare.map((s) => s.cpuMs), bundles, figures };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
