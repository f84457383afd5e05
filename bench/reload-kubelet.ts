/**
 * Group "reload-kubelet" of the benchmark (issue 22): Reload-mode rotate and change of issuer of 3
 * pods against the realistic kubelet (local/sim/volumes.ts `kubelet`): a running pod's Secret
 * volumes follow the Secret only at that pod's periodic sync, every 60 s (the kubelet's default
 * syncFrequency) at its own phase, or at once when the pod object is updated.
 *
 * "before": a kubelet that ignores pod updates (`syncOnPodUpdate: false`), so Reload pods' touch
 * has no effect — the timing of Reload before it touched pods. "after": the kubelet as it is, the
 * touch syncing each pod's volumes at once. One run each, the ASL with its real Wait durations.
 */
import { type Figure, figure } from './stats.js';
import { type Action, type ExecutionFigures, measureExecutions } from './workflow.js';

export interface ReloadKubeletPlan {
  syncPeriodMs: number;
  podReadyDelayMs: number;
  replicas: number;
  onProgress?: (line: string) => void;
}

export interface ReloadKubeletBench {
  runs: Array<ExecutionFigures & { case: string }>;
  figures: Figure[];
}

const GROUP = 'Reload mode, realistic kubelet';

export async function benchReloadKubelet(plan: ReloadKubeletPlan): Promise<ReloadKubeletBench> {
  const log = plan.onProgress ?? (() => undefined);
  const periodS = plan.syncPeriodMs / 1000;
  const all: Array<ExecutionFigures & { case: string }> = [];
  const figures: Figure[] = [];
  const targets: Record<string, number> = { rotate: 10, 'change-issuer': 30 };
  for (const action of ['rotate', 'change-issuer'] as Action[]) {
    for (const touch of [false, true]) {
      const label = `${action} Reload ${plan.replicas} pods, ${touch ? 'pods touched (after)' : 'no touch (before)'}`;
      const [r] = await measureExecutions({
        action,
        replicas: plan.replicas,
        podReadyDelayMs: plan.podReadyDelayMs,
        kubelet: { syncPeriodMs: plan.syncPeriodMs, syncOnPodUpdate: touch },
        restartMode: 'Reload',
        runs: 1,
      });
      if (!r) continue;
      log(
        `${label}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.status}, ${r.reloads} reloads, ${r.evictions} evictions`,
      );
      all.push({ ...r, case: label });
      const what = action === 'rotate' ? 'rotate' : 'change issuer incl. retiring the old CA';
      figures.push(
        figure(
          GROUP,
          `${what}, ${plan.replicas} pods, kubelet sync ${periodS} s, ${touch ? 'pods touched' : 'no touch (before)'}: wall time`,
          's',
          [r.wallMs / 1000],
          {
            ...(touch ? { target: `≤ ${targets[action]} s`, max: targets[action]! } : {}),
            note: `${r.status}, ${r.passes} pass(es), ${r.reloads} TLS reloads, ${r.evictions + r.restarts} restarts`,
          },
        ),
      );
    }
  }
  return { runs: all, figures };
}
