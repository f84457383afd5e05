/**
 * One ReconfigureTLS execution on a fresh simulated database, measured the way a user pays for it:
 * wall time against the pods' own restart time, how late the workflow notices a Ready pod, state
 * transitions (from the execution's event log) and Kubernetes API requests (counted at the
 * simulator). The ASL runs with its real Wait durations and retry intervals.
 */

import { RESTART_MODE_ANNOTATION } from '../functions/model/names.js';
import type { EventLog } from '../local/runner/index.js';
import { runExecution } from '../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../local/runner/world.js';
import type { ReadinessRecord } from '../local/sim/index.js';
import type { KubeletSyncModel } from '../local/sim/volumes.js';
import { type BenchWorld, DB, NS, quietLogger, startBenchWorld } from './world.js';

export const ACTIONS = ['add', 'rotate', 'update', 'change-issuer', 'require-ssl', 'remove'] as const;
export type Action = (typeof ACTIONS)[number];

const SAMPLE = {
  add: 'pxcops-add-tls',
  rotate: 'pxcops-rotate',
  update: 'pxcops-update',
  'change-issuer': 'pxcops-change-issuer',
  'require-ssl': 'pxcops-require-ssl-off',
  remove: 'pxcops-remove-tls',
} as const;

export interface ExecutionFigures {
  action: Action;
  replicas: number;
  status: string;
  wallMs: number;
  /** Change certificates passes the plan made (2 for a change of CA). */
  passes: number;
  /** Pods restarted (Restart pod states entered). */
  restarts: number;
  /** Successful evictions the simulator answered (Restart pod evicts; a rollout would not). */
  evictions: number;
  /** Pods whose TLS was reloaded without a restart (Reload mode). */
  reloads: number;
  transitions: number;
  /** Transitions by state name, to see where they go. */
  byState: Record<string, number>;
  requests: number;
  requestsByVerb: Record<string, number>;
  /** Per restarted pod: ms from Ready in the simulator to the workflow acting on it. */
  detectionLagMs: number[];
}

/**
 * ms from each restarted pod becoming Ready (a new UID, as the simulator's kubelet reports it) to
 * the first state the workflow enters knowing it: the "Pod ready?" Choice whose input says
 * `check.ready: true` for that pod. A pod that turns Ready during a Wait is noticed by the Check
 * pod after it, so the Wait counts into the lag — that is what the user waits.
 */
export function detectionLags(
  readiness: ReadinessRecord[],
  events: EventLog[],
  o: { namespace: string; initialUids: Set<string>; since: number },
): number[] {
  const acted = events
    .filter((e) => e.type === 'StateEntered' && e.state?.name === 'Pod ready?')
    .map((e) => {
      const input = (e.state?.input ?? {}) as { pod?: { name?: string }; check?: { ready?: boolean } };
      return { at: e.timestamp, pod: input.pod?.name, ready: input.check?.ready === true };
    })
    .filter((e) => e.ready);
  const lags: number[] = [];
  for (const r of readiness) {
    if (!r.ready || r.namespace !== o.namespace || r.at < o.since || o.initialUids.has(r.uid)) continue;
    const next = acted.find((e) => e.pod === r.pod && e.at >= r.at);
    if (next) lags.push(next.at - r.at);
  }
  return lags;
}

/** A simulated database for `runs` executions of one action, one after the other. */
export async function startCase(o: {
  action: Action;
  replicas: number;
  podReadyDelayMs: number;
  secretPropagationMs?: number;
  kubelet?: KubeletSyncModel;
}): Promise<BenchWorld> {
  return startBenchWorld({
    replicas: o.replicas,
    podReadyDelayMs: o.podReadyDelayMs,
    tls: o.action !== 'add',
    ...(o.secretPropagationMs ? { secretPropagationMs: o.secretPropagationMs } : {}),
    ...(o.kubelet ? { kubelet: o.kubelet } : {}),
  });
}

/**
 * One execution of `action` on the world's database. Rotate and change issuer can be repeated on
 * the same database (`run` numbers them). Every change of issuer moves to a CA the pods have never
 * trusted (run 0: the sample's ClusterIssuer px-new-ca; later runs: a new ClusterIssuer each), so
 * each is a real two-pass change — going back to a CA still in the trust bundle takes one pass.
 */
export async function runOnce(
  world: BenchWorld,
  o: { action: Action; replicas: number; run?: number; restartMode?: 'Reload' | 'Restart' },
): Promise<ExecutionFigures> {
  const run = o.run ?? 0;
  const name = `bench-${o.action}-${run}${o.restartMode ? `-${o.restartMode.toLowerCase()}` : ''}`;
  const fresh = o.action === 'change-issuer' && run > 0 ? `px-new-ca-${run}` : undefined;
  if (fresh) await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: fresh });
  world.sim.store.create(
    opsRequestFrom(SAMPLE[o.action], {
      name,
      namespace: NS,
      database: DB,
      ...(fresh
        ? { tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: fresh } } }
        : {}),
      ...(o.restartMode ? { annotations: { [RESTART_MODE_ANNOTATION]: o.restartMode } } : {}),
    }),
  );
  const initialUids = new Set(
    world.sim
      .readiness()
      .filter((r) => r.ready)
      .map((r) => r.uid),
  );
  world.sim.requests.reset();
  const since = Date.now();
  const result = await runExecution({
    kube: world.kube,
    logger: quietLogger(),
    input: { namespace: NS, opsRequest: name },
    executionName: `${name}-${o.replicas}-${since}`,
  });
  if (result.status !== 'SUCCEEDED') {
    throw new Error(`${o.action} on ${o.replicas} pods: ${result.status} ${result.error}: ${result.cause}`);
  }
  const entered = result.events.filter((e) => e.type === 'StateEntered' && e.state);
  const byState: Record<string, number> = {};
  for (const e of entered) byState[e.state!.name] = (byState[e.state!.name] ?? 0) + 1;
  const requestsByVerb: Record<string, number> = {};
  const requests = world.sim.requests.all();
  for (const r of requests) requestsByVerb[r.verb] = (requestsByVerb[r.verb] ?? 0) + 1;
  return {
    action: o.action,
    replicas: o.replicas,
    status: result.status,
    wallMs: result.durationMs,
    passes: byState['Change certificates'] ?? 0,
    restarts: byState['Restart pod'] ?? 0,
    evictions: requests.filter((r) => r.verb === 'evict' && r.status < 300).length,
    reloads: world.sim.mysqld
      .reloads()
      .filter((r) => r.what === 'tls' && r.ok && r.at >= since && r.namespace === NS).length,
    transitions: result.transitions,
    byState,
    requests: requests.length,
    requestsByVerb,
    detectionLagMs: detectionLags(world.sim.readiness(), result.events, {
      namespace: NS,
      initialUids,
      since,
    }),
  };
}

/** `runs` executions of one action on one fresh database. */
export async function measureExecutions(o: {
  action: Action;
  replicas: number;
  podReadyDelayMs: number;
  secretPropagationMs?: number;
  kubelet?: KubeletSyncModel;
  restartMode?: 'Reload' | 'Restart';
  runs?: number;
  onRun?: (r: ExecutionFigures, i: number) => void;
}): Promise<ExecutionFigures[]> {
  const world = await startCase(o);
  try {
    const out: ExecutionFigures[] = [];
    for (let i = 0; i < (o.runs ?? 1); i++) {
      const r = await runOnce(world, {
        action: o.action,
        replicas: o.replicas,
        run: i,
        ...(o.restartMode ? { restartMode: o.restartMode } : {}),
      });
      out.push(r);
      o.onRun?.(r, i);
    }
    return out;
  } finally {
    await world.stop();
  }
}
