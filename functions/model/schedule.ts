/**
 * Which due renewals start in this scan: the maintenance window of each database (./windows.ts),
 * then the parallelism limits — at most N renewals running in the cluster and M per namespace,
 * counting the ReconfigureTLS requests already in flight. What does not start waits for a later
 * scan, with the reason. Pure.
 */
import { decideStart, type WindowSchedule } from './windows.js';

export interface ScheduleLimits {
  /** Renewals running at once in one cluster (MaxRenewalsPerCluster). */
  perCluster: number;
  /** ... and in one namespace (MaxRenewalsPerNamespace). */
  perNamespace: number;
  /** Deadline override: start outside the window when the next one opens later than notAfter − margin. */
  marginMs: number;
}

const DAY = 86_400_000;
export const DEFAULT_LIMITS: ScheduleLimits = { perCluster: 10, perNamespace: 3, marginMs: DAY };

/** The stack's parameters (env MAX_RENEWALS_PER_CLUSTER, MAX_RENEWALS_PER_NAMESPACE, DEADLINE_MARGIN_HOURS); unset or invalid → default. */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): ScheduleLimits {
  const n = (name: string, fallback: number) => {
    const v = Number(env[name]);
    return env[name] && Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    perCluster: n('MAX_RENEWALS_PER_CLUSTER', DEFAULT_LIMITS.perCluster),
    perNamespace: n('MAX_RENEWALS_PER_NAMESPACE', DEFAULT_LIMITS.perNamespace),
    marginMs: n('DEADLINE_MARGIN_HOURS', DEFAULT_LIMITS.marginMs / 3_600_000) * 3_600_000,
  };
}

export interface Candidate {
  namespace: string;
  database: string;
  notAfter: string;
}

export type StartReason = 'no-window' | 'in-window' | 'deadline';

export interface Waiting {
  namespace: string;
  database: string;
  reason: 'outside-window' | 'window-unreadable' | 'cluster-limit' | 'namespace-limit';
  detail: string;
}

export interface Schedule<T> {
  start: Array<T & { startReason: StartReason; startDetail: string }>;
  waiting: Waiting[];
}

/**
 * Pure: of the due renewals, those that start now. A window that cannot be read holds a renewal
 * until its deadline (notAfter − margin), never lets it through early. Among those a window allows,
 * deadline overrides go first, then the earliest expiry; the limits count `inFlight` (namespaces of
 * the ReconfigureTLS requests already running or waiting) before any new one.
 */
export function scheduleRenewals<T extends Candidate>(
  due: T[],
  windowOf: (c: T) => { window?: WindowSchedule; problem?: string },
  inFlight: string[],
  limits: ScheduleLimits,
  now: number,
): Schedule<T> {
  const waiting: Waiting[] = [];
  const allowed: Array<T & { startReason: StartReason; startDetail: string }> = [];
  for (const c of due) {
    const { window, problem } = windowOf(c);
    if (problem) {
      const deadline = Date.parse(c.notAfter) - limits.marginMs;
      if (now < deadline) {
        waiting.push({
          namespace: c.namespace,
          database: c.database,
          reason: 'window-unreadable',
          detail: `${problem}; waits until its deadline ${new Date(deadline).toISOString()}`,
        });
        continue;
      }
      allowed.push({
        ...c,
        startReason: 'deadline',
        startDetail: `deadline override (window unreadable: ${problem})`,
      });
      continue;
    }
    const d = decideStart(window, c, now, limits.marginMs);
    if (d.start) allowed.push({ ...c, startReason: d.reason, startDetail: d.detail });
    else waiting.push({ namespace: c.namespace, database: c.database, reason: d.reason, detail: d.detail });
  }
  allowed.sort(
    (a, b) =>
      Number(b.startReason === 'deadline') - Number(a.startReason === 'deadline') ||
      Date.parse(a.notAfter) - Date.parse(b.notAfter),
  );
  let cluster = inFlight.length;
  const perNamespace = new Map<string, number>();
  for (const ns of inFlight) perNamespace.set(ns, (perNamespace.get(ns) ?? 0) + 1);
  const start: Schedule<T>['start'] = [];
  for (const c of allowed) {
    const inNamespace = perNamespace.get(c.namespace) ?? 0;
    if (cluster >= limits.perCluster || inNamespace >= limits.perNamespace) {
      const byCluster = cluster >= limits.perCluster;
      waiting.push({
        namespace: c.namespace,
        database: c.database,
        reason: byCluster ? 'cluster-limit' : 'namespace-limit',
        detail: byCluster
          ? `${cluster} renewals run in the cluster (MaxRenewalsPerCluster ${limits.perCluster}); waits for a later scan`
          : `${inNamespace} renewals run in namespace ${c.namespace} (MaxRenewalsPerNamespace ${limits.perNamespace}); waits for a later scan`,
      });
      continue;
    }
    cluster += 1;
    perNamespace.set(c.namespace, inNamespace + 1);
    start.push(c);
  }
  return { start, waiting };
}
