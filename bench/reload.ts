/**
 * Group "reload" of the benchmark (issue 14): rotation and change of issuer in Reload mode against
 * Restart mode, in the same run, on simulated databases whose pods take `podReadyDelayMs` to
 * restart and whose running pods see a Secret change `secretPropagationMs` after the write (the
 * kubelet's sync). The ASL runs with its real Wait durations, as in the other execution figures.
 */
import { type Figure, figure, median } from './stats.js';
import { type Action, type ExecutionFigures, measureExecutions } from './workflow.js';

export interface ReloadPlan {
  runs: number;
  podReadyDelayMs: number;
  secretPropagationMs: number;
  sizes: [small: number, large: number];
  onProgress?: (line: string) => void;
}

export interface ReloadBench {
  runs: Array<ExecutionFigures & { case: string }>;
  figures: Figure[];
}

const GROUP = 'Reload mode';

export async function benchReload(plan: ReloadPlan): Promise<ReloadBench> {
  const [small, large] = plan.sizes;
  const log = plan.onProgress ?? (() => undefined);
  const propagationS = plan.secretPropagationMs / 1000;
  const all: Array<ExecutionFigures & { case: string }> = [];
  const measure = async (action: Action, replicas: number, mode: 'Reload' | 'Restart') => {
    const label = `${action} ${mode} ${replicas} pods`;
    const runs = await measureExecutions({
      action,
      replicas,
      podReadyDelayMs: plan.podReadyDelayMs,
      secretPropagationMs: plan.secretPropagationMs,
      restartMode: mode,
      runs: plan.runs,
      onRun: (r, i) =>
        log(
          `${label} run ${i + 1}/${plan.runs}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.reloads} reloads, ${r.evictions} evictions`,
        ),
    });
    for (const r of runs) all.push({ ...r, case: label });
    return runs;
  };
  const wall = (runs: ExecutionFigures[]) => runs.map((r) => r.wallMs / 1000);

  const figures: Figure[] = [];
  const rotateTarget = propagationS + 3;
  const reloadBySize = new Map<number, ExecutionFigures[]>();
  for (const replicas of [small, large]) {
    const reload = await measure('rotate', replicas, 'Reload');
    const restart = await measure('rotate', replicas, 'Restart');
    reloadBySize.set(replicas, reload);
    const speedup = median(wall(restart)) / median(wall(reload));
    const minSpeedup = replicas >= 7 ? 8 : 4;
    figures.push(
      figure(GROUP, `rotate, Reload, ${replicas} pods: wall time`, 's', wall(reload), {
        target: `≤ ${propagationS} + 3 = ${rotateTarget} s`,
        max: rotateTarget,
        note: `${reload[0]?.reloads ?? 0} TLS reloads, ${reload[0]?.evictions ?? 0} evictions per run`,
      }),
      figure(GROUP, `rotate, Restart, ${replicas} pods: wall time (same run)`, 's', wall(restart), {
        note: `${restart[0]?.evictions ?? 0} evictions per run, pods ${plan.podReadyDelayMs / 1000} s to restart`,
      }),
      {
        ...figure(GROUP, `rotate, ${replicas} pods: Restart ÷ Reload`, '×', [speedup]),
        target: `≥ ${minSpeedup}×`,
        met: speedup >= minSpeedup,
      },
    );
  }
  const small3 = median(wall(reloadBySize.get(small) ?? []));
  const large7 = median(wall(reloadBySize.get(large) ?? []));
  figures.push(
    figure(GROUP, `rotate, Reload: ${large} pods − ${small} pods`, 's', [large7 - small3], {
      note: 'pods reload in parallel: the wall time does not grow with the pod count',
    }),
  );

  const ci = await measure('change-issuer', small, 'Reload');
  const ciTarget = 3 * propagationS + 5;
  figures.push(
    figure(
      GROUP,
      `change issuer incl. retiring the old CA, Reload, ${small} pods: wall time`,
      's',
      wall(ci),
      {
        target: `≤ 3 × ${propagationS} + 5 = ${ciTarget} s`,
        max: ciTarget,
        note: `${ci[0]?.passes ?? 0} passes (trust bundle, certificates, retire old CA), ${ci[0]?.reloads ?? 0} TLS reloads`,
      },
    ),
  );

  const reloadRuns = all.filter((r) => r.case.includes(' Reload '));
  const evictions = reloadRuns.map((r) => r.evictions + r.restarts);
  figures.push(
    figure(
      GROUP,
      'pod restarts + evictions in Reload mode, every reload succeeding (most in a run)',
      '',
      [Math.max(...evictions)],
      {
        target: '0',
        max: 0,
        note: `${reloadRuns.length} Reload-mode executions (rotate ${small}/${large} pods, change issuer ${small} pods)`,
      },
    ),
  );
  return { runs: all, figures };
}
