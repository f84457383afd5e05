/**
 * Recover (Validate with `{"recover": ...}` input): takes over a request an interrupted execution
 * left behind, so the state machine's failure path — Roll back, Check restored pods, Finish
 * rollback — restores what that execution changed, resumes the database and marks the request
 * Failed with a reason naming the execution and what happened to it.
 *
 * Who starts it: the rule on this state machine's "Execution Status Change" events (ABORTED,
 * TIMED_OUT, FAILED: none of them runs a Catch), the sweep for a claim whose execution is no
 * longer running or whose lease has run out, and `npm run local` on Ctrl-C or `--recover`. It acts
 * only for a request still claimed by the execution it names (a recovery racing another one, or a
 * re-run that already took over, finds the request claimed by someone else and does nothing), and
 * for a `Paused` condition that names a request that no longer exists.
 * Safe to repeat: a retried call finds its own claim. Writes only the claim (and an Event).
 */

import type { Deps } from '../deps.js';
import { EXECUTION_INTERRUPTED } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { claimOf, MAX_RECOVERY_ATTEMPTS, recoveryAttempts } from '../model/lease.js';
import {
  CLAIM_LABEL,
  labelSafe,
  RECOVERY_ABANDONED_ANNOTATION,
  RECOVERY_ATTEMPTS_ANNOTATION,
} from '../model/names.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import { listWatched, watchedNamespaces } from '../triggers/list.js';
import { getDatabase, pausedBy, recordEvent } from './common.js';
import { claimRequest } from './lease.js';
import type { ExecutionInput, ValidateOutput } from './validate-input.js';

type RecoverInput = Extract<ExecutionInput, { kind: 'recover' }>;

const FINISHED = new Set(['Successful', 'Failed', 'Skipped']);

/** What happened to the execution, in words, from its Step Functions status. */
export function whatHappened(status: string | undefined): string {
  switch (status) {
    case 'ABORTED':
      return 'was stopped (ABORTED) before it could roll back';
    case 'TIMED_OUT':
      return 'timed out before it could roll back';
    case 'FAILED':
      return 'failed without finishing its own failure path';
    case 'SUCCEEDED':
      return 'ended without finishing the request';
    default:
      return 'was interrupted (its process ended or it stopped renewing its lease)';
  }
}

export async function recoverRequest(
  r: RecoverInput,
  execution: string,
  deps: Deps,
): Promise<ValidateOutput> {
  const { kube, logger } = deps;
  const via = r.via ?? (r.status ? 'event rule' : 'recover command');
  let ops: PerconaXtraDBOpsRequest | undefined;
  if (r.namespace && r.opsRequest) {
    ops = await kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      namespace: r.namespace,
      name: r.opsRequest,
    });
  } else if (r.execution) {
    // One list across namespaces (one per watched namespace in a namespaced install, whose
    // RoleBindings refuse a cluster-wide list): the claim label carries the execution's name.
    const claimed = await listWatched<PerconaXtraDBOpsRequest>(
      kube,
      KINDS.PerconaXtraDBOpsRequest,
      watchedNamespaces(),
      // Its own label too: a retried call finds the request it already took over.
      { labelSelector: `${CLAIM_LABEL} in (${labelSafe(r.execution)},${labelSafe(execution)})` },
    );
    ops =
      claimed.items.find((o) => claimOf(o).holder === execution && !FINISHED.has(o.status?.phase ?? '')) ??
      claimed.items.find((o) => claimOf(o).holder === r.execution && !FINISHED.has(o.status?.phase ?? '')) ??
      claimed.items.find((o) => claimOf(o).holder === r.execution);
  }
  const skip = (reason: string): ValidateOutput => {
    logger.info('nothing to recover', { reason });
    return {
      namespace: ops?.metadata.namespace ?? r.namespace ?? '',
      opsRequest: ops?.metadata.name ?? r.opsRequest ?? '',
      execution,
      skip: true,
      reason,
    };
  };

  if (!ops) {
    if (r.namespace && r.opsRequest && r.database) return recoverStalePause(r, execution, deps, skip);
    return skip(
      r.opsRequest
        ? `PerconaXtraDBOpsRequest ${r.namespace}/${r.opsRequest} not found`
        : `no request is claimed by execution ${r.execution}`,
    );
  }
  const ns = ops.metadata.namespace!;
  const name = ops.metadata.name!;
  const phase = ops.status?.phase ?? '';
  if (FINISHED.has(phase)) return skip(`already ${phase}`);
  const holder = claimOf(ops).holder;
  if (!holder) return skip('not claimed by any execution: nothing was started');
  if (r.execution && holder !== r.execution && holder !== execution)
    return skip(`claimed by execution ${holder}, not by ${r.execution}`);
  if (holder !== execution) {
    const attempts = recoveryAttempts(ops);
    if (attempts >= MAX_RECOVERY_ATTEMPTS) return giveUp(ops, holder, attempts, deps, skip);
    // Counted with the claim, in the same write: a recovery that dies after it still counts.
    ops = await claimRequest(ops, execution, deps, false, {
      [RECOVERY_ATTEMPTS_ANNOTATION]: String(attempts + 1),
    });
  }

  const cause = `execution ${holder === execution ? r.execution : holder} ${whatHappened(r.status)}; recovered by execution ${execution} (${via})`;
  logger.warn('recovering a request an interrupted execution left behind', { from: holder, via });
  await recordEvent(
    deps,
    ops,
    'Warning',
    'Recovering',
    `${cause}: restoring what it changed and resuming the database`,
  );
  return {
    namespace: ns,
    opsRequest: name,
    execution,
    skip: false,
    recovery: {
      ...(holder !== execution ? { from: holder } : r.execution ? { from: r.execution } : {}),
      via,
    },
    error: { Error: EXECUTION_INTERRUPTED, Cause: cause },
  };
}

/**
 * Enough recoveries have failed to finish: the request is left as it is (still claimed by the last
 * one, so the sweep starts no more), for a person to look at, with a Warning Event and a metric.
 */
async function giveUp(
  ops: PerconaXtraDBOpsRequest,
  holder: string,
  attempts: number,
  deps: Deps,
  skip: (reason: string) => ValidateOutput,
): Promise<ValidateOutput> {
  const ns = ops.metadata.namespace!;
  const reason =
    `not recovered again: ${attempts} recoveries took PerconaXtraDBOpsRequest ${ns}/${ops.metadata.name} over ` +
    `and none finished (the last, execution ${holder}, ended without marking it Failed); it is left as it is — ` +
    `see the Events and the recoveries' executions, fix the cause, then remove the annotation ${RECOVERY_ATTEMPTS_ANNOTATION} and recover it, or delete the request`;
  if (ops.metadata.annotations?.[RECOVERY_ABANDONED_ANNOTATION]) return skip(reason);
  deps.logger.error('recovery abandoned', { attempts, last: holder });
  // Said once: the mark stops the sweep from starting recoveries for it, so no Event or metric repeats.
  await deps.kube.patch(
    KINDS.PerconaXtraDBOpsRequest,
    { namespace: ns, name: ops.metadata.name! },
    {
      metadata: {
        resourceVersion: ops.metadata.resourceVersion,
        annotations: { [RECOVERY_ABANDONED_ANNOTATION]: deps.clock.now().toISOString() },
      },
    },
    'merge',
  );
  await recordEvent(deps, ops, 'Warning', 'RecoveryAbandoned', reason, { series: 'recovery-abandoned' });
  recoveryAbandonedMetric(ns);
  // The ASL sends this to the recovery dead-letter queue, where undeliverable recoveries wait too.
  const abandoned = {
    namespace: ns,
    opsRequest: ops.metadata.name!,
    attempts,
    lastExecution: holder,
    reason,
  };
  return { ...skip(reason), abandoned };
}

/** One CloudWatch metric in embedded metric format (a log line; no PutMetricData call). */
function recoveryAbandonedMetric(namespace: string): void {
  process.stdout.write(
    `${JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PxcTlsOps',
            Dimensions: [['Namespace']],
            Metrics: [{ Name: 'RecoveriesAbandoned', Unit: 'Count' }],
          },
        ],
      },
      Namespace: namespace,
      RecoveriesAbandoned: 1,
    })}\n`,
  );
}

/** A database left Paused by a request that was deleted: nothing holds it any more, resume it. */
async function recoverStalePause(
  r: RecoverInput,
  execution: string,
  deps: Deps,
  skip: (reason: string) => ValidateOutput,
): Promise<ValidateOutput> {
  const db = await getDatabase(deps.kube, r.namespace!, r.database!);
  const me = `${r.namespace}/${r.opsRequest}`;
  if (!db || pausedBy(db) !== me)
    return skip(`PerconaXtraDB ${r.namespace}/${r.database} is not paused by PerconaXtraDBOpsRequest ${me}`);
  const cause = `PerconaXtraDB ${r.namespace}/${r.database} was left Paused by PerconaXtraDBOpsRequest ${me}, which no longer exists; recovered by execution ${execution} (${r.via ?? 'recover command'})`;
  deps.logger.warn('recovering a Paused condition whose request is gone', { database: r.database });
  return {
    namespace: r.namespace!,
    opsRequest: r.opsRequest!,
    database: r.database!,
    execution,
    skip: false,
    recovery: { ...(r.execution ? { from: r.execution } : {}), via: r.via ?? 'recover command' },
    error: { Error: EXECUTION_INTERRUPTED, Cause: cause },
  };
}
