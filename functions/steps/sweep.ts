import { createHash } from 'node:crypto';
import type { Kube } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { claimOf, leaseExpired, MAX_RECOVERY_ATTEMPTS, recoveryAttempts } from '../model/lease.js';
import { RECOVERY_ABANDONED_ANNOTATION } from '../model/names.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import type { DescribeExecution, StartExecution } from '../triggers/aws.js';
import {
  isPendingReconfigureTLS,
  type PendingDetail,
  type Publish,
  pendingDetail,
  pendingEntry,
} from '../triggers/events.js';
import { listWatched } from '../triggers/list.js';
import type { StepLogger } from '../triggers/logger.js';
import { pausedBy } from './common.js';

export interface SweepDeps {
  kube: Kube;
  publish: Publish;
  /** Cluster name put in each event's detail (EKS_CLUSTER_NAME). */
  cluster: string;
  logger: StepLogger;
  pageSize?: number;
  /** A namespaced install's namespaces (WATCH_NAMESPACES); empty or absent: the whole cluster. */
  namespaces?: readonly string[];
  /** Recoveries need both (STATE_MACHINE_ARN); without them the sweep only announces. */
  startExecution?: StartExecution;
  describeExecution?: DescribeExecution;
  now?: () => Date;
}

/** A request (or a Paused condition) the sweep starts a recovery for. */
export interface RecoveryDue {
  namespace: string;
  opsRequest: string;
  /** The execution that claimed it (absent for a Paused condition whose request is gone). */
  execution?: string;
  /** What Step Functions says of that execution, or UNKNOWN (not one of ours: a local run) with the lease expired. */
  status?: string;
  /** For a Paused condition whose request is gone: the database to resume. */
  database?: string;
}

export interface SweepResult {
  listed: number;
  pending: PendingDetail[];
  /** Recoveries started (or already started in this window). */
  recovered: RecoveryDue[];
  listCalls: number;
}

const FINISHED = new Set(['Successful', 'Failed', 'Skipped']);
/** Executions that will never renew their claim again. */
const CLOSED = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
/** A recovery that could not start the request over gets another go in the next window. */
const RECOVERY_WINDOW_MS = 15 * 60_000;

/** Pure: the waiting ReconfigureTLS requests among those listed, oldest first (a claimed one is not waiting). */
export function pendingRequests(items: PerconaXtraDBOpsRequest[], cluster: string): PendingDetail[] {
  return items
    .filter((o) => isPendingReconfigureTLS(o) && !claimOf(o).holder)
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
    )
    .map((ops) => pendingDetail(ops, cluster));
}

/** Pure: unfinished ReconfigureTLS requests that an execution claims (whether it still runs is asked next). */
export function claimedRequests(items: PerconaXtraDBOpsRequest[]): PerconaXtraDBOpsRequest[] {
  return items.filter(
    (o) => o.spec?.type === 'ReconfigureTLS' && !FINISHED.has(o.status?.phase ?? '') && !!claimOf(o).holder,
  );
}

/**
 * Pure: whether a claim needs recovering, given what Step Functions says of its execution: closed
 * (it will never finish the request), or unknown to this state machine (a local run, say) and its
 * lease run out. A RUNNING execution is left alone, whatever its lease says.
 */
export function claimNeedsRecovery(
  ops: PerconaXtraDBOpsRequest,
  status: string | undefined,
  now: Date,
): boolean {
  // Given up on (../steps/recover.ts): left for a person, not restarted every sweep. The recovery
  // after the last attempt is still started once: it is the one that says so (Event, metric, mark).
  if (
    recoveryAttempts(ops) >= MAX_RECOVERY_ATTEMPTS &&
    ops.metadata.annotations?.[RECOVERY_ABANDONED_ANNOTATION]
  )
    return false;
  if (status === undefined) return leaseExpired(claimOf(ops), now);
  return CLOSED.has(status);
}

/** Pure: databases left Paused by a request that no longer exists (listed before the requests). */
export function stalePauses(dbs: PerconaXtraDB[], requests: PerconaXtraDBOpsRequest[]): RecoveryDue[] {
  const exists = new Set(requests.map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  return dbs.flatMap((db) => {
    const holder = pausedBy(db);
    if (!holder || exists.has(holder)) return [];
    const [namespace, opsRequest] = holder.split('/') as [string, string];
    return [{ namespace, opsRequest, database: db.metadata.name! }];
  });
}

/** Deterministic, so repeated sweeps start one recovery per request and window (StartExecution is idempotent by name). */
export function recoveryExecutionName(r: RecoveryDue, now: Date): string {
  const window = Math.floor(now.getTime() / RECOVERY_WINDOW_MS);
  const key = `${r.namespace}/${r.opsRequest}/${r.execution ?? `paused:${r.database}`}/${window}`;
  return `recover-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/**
 * Sweep, on a short schedule:
 * 1. puts a `PerconaXtraDBOpsRequest Pending` event for every ReconfigureTLS request nobody has
 *    taken yet;
 * 2. the backstop of recovery: starts a recovery execution for every request claimed by an
 *    execution that is no longer running (DescribeExecution), or by one Step Functions does not
 *    know whose lease has run out — in case the status-change rule missed it — and for every
 *    database left Paused by a request that no longer exists.
 * Lists PerconaXtraDBs, then OpsRequests, across all namespaces or in each watched one (one call
 * per 500 of each); one
 * DescribeExecution per claimed unfinished request.
 *
 * Safe to repeat on every schedule tick: it writes nothing to the cluster; a duplicate Pending
 * event starts an execution whose Validate finds the claim and stops; recovery executions are named
 * per request and window, and a recovery only acts for a request still claimed by the execution it
 * names. Throws the Kube error families and AwsUnavailableError.
 */
export async function sweep(deps: SweepDeps, opts: { recover?: boolean } = {}): Promise<SweepResult> {
  const now = deps.now?.() ?? new Date();
  // `in`, not a read: the trigger deps build their AWS clients lazily, on first read.
  const recovering = opts.recover ?? ('startExecution' in deps && 'describeExecution' in deps);
  // Databases first: a Paused condition seen here names a request that existed before it was
  // listed, so one missing from the later list of requests was really deleted.
  const dbs = recovering
    ? await listWatched<PerconaXtraDB>(deps.kube, KINDS.PerconaXtraDB, deps.namespaces, {
        pageSize: deps.pageSize,
      })
    : { items: [], calls: 0 };
  const { items, calls } = await listWatched<PerconaXtraDBOpsRequest>(
    deps.kube,
    KINDS.PerconaXtraDBOpsRequest,
    deps.namespaces,
    { pageSize: deps.pageSize },
  );
  const pending = pendingRequests(items, deps.cluster);
  if (pending.length) await deps.publish(pending.map(pendingEntry));

  const recovered: RecoveryDue[] = [];
  if (recovering) {
    for (const ops of claimedRequests(items)) {
      const execution = claimOf(ops).holder!;
      const status = await deps.describeExecution!(execution);
      // Leases are judged in the API server's time (../steps/lease.ts leaseTime), never this clock.
      if (!claimNeedsRecovery(ops, status, deps.kube.serverTime?.()?.earliest ?? now)) continue;
      recovered.push({
        namespace: ops.metadata.namespace!,
        opsRequest: ops.metadata.name!,
        execution,
        status: status ?? 'UNKNOWN',
      });
    }
    recovered.push(...stalePauses(dbs.items, items));
    for (const r of recovered) {
      await deps.startExecution!(recoveryExecutionName(r, now), { recover: { ...r, via: 'sweep' } });
    }
  }
  deps.logger.info('sweep done', {
    listed: items.length,
    pending: pending.length,
    recovered: recovered.length,
    listCalls: calls + dbs.calls,
    requests: pending.map((p) => `${p.namespace}/${p.name}`),
    recoveries: recovered.map(
      (r) =>
        `${r.namespace}/${r.opsRequest}${r.execution ? ` (${r.execution} ${r.status})` : ' (Paused, request gone)'}`,
    ),
  });
  return { listed: items.length, pending, recovered, listCalls: calls + dbs.calls };
}
