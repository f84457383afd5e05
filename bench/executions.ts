/**
 * Groups 1–3 of the benchmark, from the same executions: rotation overhead and readiness
 * detection lag (rotate at 3 and 7 pods, change of issuer at 3 pods, run one after the other so
 * they do not slow each other), then state transitions and Kubernetes API requests per execution
 * for all six actions at 3 pods, and how both grow per pod restart.
 */

import { type Figure, figure, fitLine, median } from './stats.js';
import { type Action, type ExecutionFigures, measureExecutions } from './workflow.js';

export interface ExecutionPlan {
  /** Repetitions of each rotation-overhead case. */
  runs: number;
  podReadyDelayMs: number;
  /** Pod counts of the rotation cases; the first is also the size of the per-action figures. */
  sizes: [small: number, large: number];
  /**
   * Repetitions of the change of issuer on the large database (two passes over 7 pods: ≥ 70 s
   * each); 0 leaves it out.
   */
  changeIssuerLargeRuns: number;
  onProgress?: (line: string) => void;
}

export interface ExecutionsBench {
  runs: Array<ExecutionFigures & { case: string }>;
  rotation: Figure[];
  transitions: Figure[];
  requests: Figure[];
}

const OTHER_ACTIONS: Action[] = ['add', 'update', 'require-ssl', 'remove'];

/** Targets per pod restart from the issue. */
export const TARGETS = {
  transitions: { fixed: 12, perRestart: 6 },
  requests: { fixed: 30, perRestart: 8 },
  ratio: (pods: number) => (pods >= 7 ? 1.1 : 1.15),
  lagMedianS: 0.5,
  lagP95S: 2,
};

const verbs = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([v, n]) => `${v} ${n}`)
    .join(', ');

export async function benchExecutions(plan: ExecutionPlan): Promise<ExecutionsBench> {
  const [small, large] = plan.sizes;
  const all: Array<ExecutionFigures & { case: string }> = [];
  const log = plan.onProgress ?? (() => undefined);
  const seconds = plan.podReadyDelayMs / 1000;

  const cases: Array<{ action: Action; replicas: number; runs: number }> = [
    { action: 'rotate', replicas: small, runs: plan.runs },
    { action: 'rotate', replicas: large, runs: plan.runs },
    { action: 'change-issuer', replicas: small, runs: plan.runs },
    ...(plan.changeIssuerLargeRuns > 0
      ? [{ action: 'change-issuer' as Action, replicas: large, runs: plan.changeIssuerLargeRuns }]
      : []),
  ];
  const rotation: Figure[] = [];
  const byCase = new Map<string, ExecutionFigures[]>();
  for (const c of cases) {
    const label = `${c.action} ${c.replicas} pods`;
    const runs = await measureExecutions({
      action: c.action,
      replicas: c.replicas,
      podReadyDelayMs: plan.podReadyDelayMs,
      runs: c.runs,
      onRun: (r, i) =>
        log(
          `${label} run ${i + 1}/${c.runs}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.transitions} transitions, ${r.requests} requests`,
        ),
    });
    for (const r of runs) all.push({ ...r, case: label });
    byCase.set(label, runs);
    const passes = median(runs.map((r) => r.passes));
    const floorS = c.replicas * seconds * passes;
    const maxRatio = TARGETS.ratio(c.replicas);
    const lags = runs.flatMap((r) => r.detectionLagMs.map((ms) => ms / 1000));
    const group = 'Rotation overhead';
    rotation.push(
      figure(
        group,
        `${label}: wall time`,
        's',
        runs.map((r) => r.wallMs / 1000),
      ),
      figure(
        group,
        `${label}: floor = ${c.replicas} pods × ${seconds} s × ${passes} pass${passes > 1 ? 'es' : ''}`,
        's',
        [floorS],
      ),
      figure(
        group,
        `${label}: wall ÷ floor`,
        '×',
        runs.map((r) => r.wallMs / 1000 / floorS),
        {
          target: `≤ ${maxRatio}`,
          max: maxRatio,
        },
      ),
      figure(group, `${label}: readiness detection lag, median`, 's', lags, {
        target: `≤ ${TARGETS.lagMedianS} s`,
        max: TARGETS.lagMedianS,
        note: `${lags.length} pod restarts over ${runs.length} runs; pod Ready in the simulator → "Pod ready?" entered with ready=true`,
      }),
      figure(group, `${label}: readiness detection lag, p95`, 's', lags, {
        stat: 'p95',
        target: `≤ ${TARGETS.lagP95S} s`,
        max: TARGETS.lagP95S,
      }),
    );
  }

  // The other four actions: one execution each, on separate simulators at the same time. Only
  // counts are taken from these (no time figure), and each simulator counts its own requests.
  const others = await Promise.all(
    OTHER_ACTIONS.map(async (action) => {
      const [r] = await measureExecutions({ action, replicas: small, podReadyDelayMs: plan.podReadyDelayMs });
      return r!;
    }),
  );
  for (const r of others) {
    all.push({ ...r, case: `${r.action} ${small} pods` });
    byCase.set(`${r.action} ${small} pods`, [r]);
    log(
      `${r.action} ${small} pods: ${(r.wallMs / 1000).toFixed(1)} s, ${r.transitions} transitions, ${r.requests} requests`,
    );
  }

  const transitions: Figure[] = [];
  const requests: Figure[] = [];
  for (const action of ['add', 'rotate', 'update', 'change-issuer', 'require-ssl', 'remove'] as Action[]) {
    const runs = byCase.get(`${action} ${small} pods`) ?? [];
    if (!runs.length) continue;
    const restarts = median(runs.map((r) => r.restarts));
    const tMax = TARGETS.transitions.fixed + TARGETS.transitions.perRestart * restarts;
    const rMax = TARGETS.requests.fixed + TARGETS.requests.perRestart * restarts;
    const last = runs[runs.length - 1]!;
    transitions.push(
      figure(
        'State transitions',
        `${action}, ${small} pods (${restarts} pod restarts)`,
        '',
        runs.map((r) => r.transitions),
        {
          target: `≤ 12 + 6 × ${restarts} = ${tMax}`,
          max: tMax,
          note: ['Check pod', 'Wait for pod'].map((s) => `${s} ${last.byState[s] ?? 0}`).join(', '),
        },
      ),
    );
    requests.push(
      figure(
        'Kubernetes API requests',
        `${action}, ${small} pods (${restarts} pod restarts)`,
        '',
        runs.map((r) => r.requests),
        {
          target: `≤ 30 + 8 × ${restarts} = ${rMax}`,
          max: rMax,
          note: verbs(last.requestsByVerb),
        },
      ),
    );
  }

  // How the counts grow: rotate at the two sizes, checked against the change of issuer.
  const point = (label: string, pick: (r: ExecutionFigures) => number): [number, number] | undefined => {
    const runs = byCase.get(label);
    return runs?.length ? [median(runs.map((r) => r.restarts)), median(runs.map(pick))] : undefined;
  };
  for (const [group, pick, target, out, asl] of [
    [
      'State transitions',
      (r: ExecutionFigures) => r.transitions,
      TARGETS.transitions,
      transitions,
      // Validate, Claimed?, Pause, Change certificates, Restart pods, Another pass?, Resume,
      // Publish success, Succeeded; per pod Restart pod, Pod ready?, Pod restarted; per extra
      // check Wait for pod, Check pod, Pod ready?; per extra pass Change certificates, Restart pods, Another pass?.
      'ASL: 9 + 3 (passes − 1) + 3 n + 3 per extra check',
    ],
    ['Kubernetes API requests', (r: ExecutionFigures) => r.requests, TARGETS.requests, requests, ''],
  ] as const) {
    for (const action of ['rotate', 'change-issuer'] as const) {
      const a = point(`${action} ${small} pods`, pick);
      const b = point(`${action} ${large} pods`, pick);
      if (!a || !b) continue;
      const line = fitLine([a, b]);
      // The target bounds the total for every database: a + b·n ≤ fixed + perRestart·n for all
      // n ≥ the smallest size (KubeDB's minimum is 3 replicas) holds iff it holds there and b ≤ perRestart.
      const within =
        line.perUnit <= target.perRestart &&
        line.fixed + line.perUnit * a[0] <= target.fixed + target.perRestart * a[0];
      const what = action === 'rotate' ? 'rotate' : 'change issuer (2 passes)';
      out.push({
        ...figure(group, `formula, ${what}: per pod restart`, '', [line.perUnit], {
          note: `${line.fixed.toFixed(1)} + ${line.perUnit.toFixed(2)} × n, n pod restarts (${small} and ${large} pods)${
            action === 'rotate' && asl ? `; ${asl}` : ''
          }`,
        }),
        target: `≤ ${target.fixed} + ${target.perRestart} n (n ≥ ${a[0]})`,
        met: within,
      });
      out.push(figure(group, `formula, ${what}: fixed part`, '', [line.fixed]));
    }
  }
  return { runs: all, rotation, transitions, requests };
}
