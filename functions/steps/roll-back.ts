/**
 * Roll back: the one failure path, in two stages. Recoveries use it too (an interrupted
 * execution's request taken over by a recovery or a re-run, a Paused condition whose request is gone).
 *
 * `restore` — if this execution claimed the request and Change certificates saved a backup:
 * ensures the certificate Secrets, the database TLS spec, the AppBinding's TLS fields and the pod
 * template wiring are as they were, and returns the pods to restart on them: only pods this request
 * restarted (their UID changed since the backup) that are not Ready, for the ASL to replace one at a
 * time ("Replace restored pod"). A pod that was not Ready before the request, or that it never
 * restarted, is never touched. Writes nothing for a request this execution did not claim.
 * `finish` — always reached: ensures the database has no Paused condition, marks the OpsRequest
 * Failed with the reason (the error's message, which names the pod and its readiness message for a
 * timeout) and how the rollback went, and records a Warning Event. Keeps the backup when the
 * rollback did not complete, so nothing is lost.
 * Both stages are safe to repeat. `restore` throws RollbackError when a restore write is refused.
 * What `restore` writes, and which pods take the restored material, is in restore.ts.
 */
import type { Deps } from '../deps.js';
import { LAMBDA_TIMEOUT, PxcTlsOpsError, RollbackError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { backupProblem } from '../model/backup.js';
import type { Lease } from '../model/lease.js';
import {
  BACKUP_STATE_ANNOTATION,
  backupSecretName,
  EXECUTION_LABEL,
  evictedPods,
  labelSafe,
} from '../model/names.js';
import { type Plan, timeoutSeconds as requestTimeout } from '../model/plan.js';
import { recordedReason, retryReason } from '../model/reasons.js';
import { isDns1123Label, isDns1123Subdomain } from '../model/schema/index.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import type { BackupState } from './backup.js';
import {
  causeMessage,
  ensureDatabasePaused,
  getDatabase,
  isClaimedBy,
  type PodObject,
  pausedBy,
  recordEvent,
  type SecretObject,
  updateOpsStatus,
} from './common.js';
import { fenceAll, fenced } from './fence.js';
import { holdLease } from './lease.js';
import type { ReloadRound } from './reload-pods.js';
import { approvedSecretNames, podsAfterRestore, restoredObjects, restoreSaved } from './restore.js';
import type { Outcome } from './resume.js';
import type { PodToRestart } from './round.js';
import type { Recovery } from './validate-input.js';

interface ErrorInfo {
  Error?: string;
  Cause?: unknown;
  /** The step that failed, recorded by the ASL where the error does not say (a Lambda timeout). */
  State?: string;
}

/** The execution's state when the failure was caught (any shape: Validate may not have run). */
export interface FailedState {
  namespace?: unknown;
  opsRequest?: unknown;
  database?: unknown;
  /** The execution input, when Validate refused it before returning (see the state "Receive input"). */
  request?: unknown;
  plan?: Plan;
  /** Set by Validate when this execution recovers a request instead of (or before) carrying it out. */
  recovery?: Recovery;
  error?: ErrorInfo;
  rollback?: RestoreOutput;
  rollbackError?: ErrorInfo;
  [k: string]: unknown;
}

export interface RollBackInput {
  stage: 'restore' | 'finish';
  execution: string;
  state: FailedState;
}

export interface RestoreOutput {
  claimed: boolean;
  restored: boolean;
  namespace: string;
  opsRequest: string;
  /** '' when unknown (the ASL passes every field, so none may be missing). */
  opsRequestUid: string;
  database: string;
  replicas: number;
  selector: string;
  /** Bounds each restored pod's restart (the request's spec.timeout). */
  timeoutSeconds: number;
  /** Who holds the request, and its lease, for the replacements ("Replace restored pod"). */
  execution: string;
  lease: Lease | null;
  /** Pods this request restarted that are not Ready, with their current UID: replaced one at a time. */
  pods: PodToRestart[];
  /** Pods replaced during the request by someone else (a node drain): reported, never restarted. */
  leftAlone?: string[];
  /**
   * Reload mode: the Ready pods the rollback did not restart, for Reload pods to reload back onto
   * the restored files (they may have loaded this request's certificates without a restart).
   */
  reloadRound?: ReloadRound;
}

export async function rollBack(input: RollBackInput, deps: Deps): Promise<RestoreOutput | Outcome> {
  return input.stage === 'restore' ? restore(input, deps) : finish(input, deps);
}

async function locate(
  input: RollBackInput,
  deps: Deps,
): Promise<{ ns: string; ops?: PerconaXtraDBOpsRequest; claimed: boolean; orphaned: boolean; name: string }> {
  const s = input.state;
  // Validate's output carries the names; when Validate refused the input, only the input does.
  const given = (key: 'namespace' | 'opsRequest'): string => {
    const v = s[key] ?? (s.request as Record<string, unknown> | undefined)?.[key];
    return typeof v === 'string' ? v : '';
  };
  // Only names that could exist reach the API server: an input refused for its namespace or name (a
  // 590 KB namespace) created nothing, and must not become a URL, a retried error or a log line.
  const ns = isDns1123Label(given('namespace')) ? given('namespace') : '';
  if (!ns) return { ns, claimed: false, orphaned: false, name: '' };
  if (given('opsRequest') && !isDns1123Subdomain(given('opsRequest')))
    return { ns, claimed: false, orphaned: false, name: '' };
  let ops: PerconaXtraDBOpsRequest | undefined;
  if (given('opsRequest')) {
    ops = await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      namespace: ns,
      name: given('opsRequest'),
    });
  } else {
    // Console input that failed after Validate created the request: find it by the execution label.
    const list = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ns, {
      labelSelector: `${EXECUTION_LABEL}=${labelSafe(input.execution)}`,
    });
    ops = list.items[0];
  }
  const name = ops?.metadata.name ?? given('opsRequest');
  // Orphaned: the request was deleted while this execution worked on it (it had a plan, so it was
  // claimed), or a recovery was started for a Paused condition whose request is gone. Nobody else
  // can own its backup or its Paused condition: clean up after it (each stage checks the database
  // is still paused by it).
  const orphaned = !ops && !!name && (!!s.plan || !!s.recovery);
  return { ns, ops, claimed: !!ops && isClaimedBy(ops, input.execution), orphaned, name };
}

/**
 * How long the rollback waits for the pods it restarted, at most. The request's own timeout has
 * already been spent once on the failed restart; waiting as long again would report a stuck pod
 * only after twice the timeout. Pods restored to the previous certificates come back in about the
 * time of a normal restart; one that does not is reported as "rollback did not complete".
 */
export const ROLLBACK_WAIT_SECONDS = 300;
/** The database of the failed request: from the plan, the request, or (a recovery of a deleted request) the state. */
function databaseOf(s: FailedState, ops: PerconaXtraDBOpsRequest | undefined): string {
  if (s.plan?.database) return s.plan.database;
  // Only a name that passed the schema: a request refused for naming its database with a list
  // must not have that list turned into a URL by its own failure path.
  const named = ops?.spec?.databaseRef?.name;
  if (typeof named === 'string' && isDns1123Label(named)) return named;
  return typeof s.database === 'string' && isDns1123Label(s.database) ? s.database : '';
}

async function restore(input: RollBackInput, given: Deps): Promise<RestoreOutput> {
  let deps = given;
  const { logger } = deps;
  const { ns, ops, claimed, orphaned, name } = await locate(input, deps);
  const database = databaseOf(input.state, ops);
  const out = restoreOutput(input, { ns, ops, claimed, name }, database);
  if (!(claimed || orphaned) || !database) {
    logger.info('not rolling back: this execution did not claim the request');
    return out;
  }
  const pausedNow = orphaned ? await getDatabase(deps.kube, ns, database) : undefined;
  if (orphaned && (!pausedNow || pausedBy(pausedNow) !== `${ns}/${name}`)) {
    logger.info('not rolling back: the request is gone and the database is not paused by it');
    out.claimed = false;
    return out;
  }
  out.claimed = true;
  if (ops) {
    out.lease = await holdLease(deps, ops, input.execution);
    deps = fenced(deps, { namespace: ns, opsRequest: name, execution: input.execution });
  }
  const { kube } = deps;
  const backupName = backupSecretName(database, name);
  const backup = await kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name: backupName });
  const rawState = backup?.metadata.annotations?.[BACKUP_STATE_ANNOTATION];
  if (!backup || !rawState) {
    logger.info('nothing to roll back: no change was made');
    return out;
  }
  // Found by its name only: used only when proven this request's (../model/backup.ts), before any
  // write — a refused backup never makes this execution write or delete anything.
  const refused = backupProblem(
    backup,
    { name, uid: ops?.metadata.uid ?? input.state.plan?.opsRequestUid },
    await approvedSecretNames(kube, ns, database, ops, input.state.plan),
  );
  if (refused)
    throw new RollbackError(
      `refused Secret ${ns}/${backupName} as this request's backup: ${refused}; nothing was restored or deleted`,
    );
  const saved = JSON.parse(rawState) as BackupState;
  // FIRST, before restoring anything: this execution's fence on every object it will restore, so
  // that a write still in flight from the execution it took over from is refused from now on.
  if (ops) {
    const fencedNow = await fenceAll(
      given,
      { namespace: ns, opsRequest: name, execution: input.execution },
      await restoredObjects(deps, ns, database, name, saved),
    );
    if (fencedNow) logger.info('fenced the objects to restore', { objects: fencedNow });
  }
  try {
    const opsRequestUid = input.state.plan?.opsRequestUid ?? ops?.metadata.uid ?? '';
    const workload = await restoreSaved(
      deps,
      { ns, database, opsRequest: name, opsRequestUid },
      backup,
      saved,
    );
    if (workload) {
      out.selector = workload.selector;
      out.replicas ||= workload.replicas;
    }
    const pods = await kube.list<PodObject>(KINDS.Pod, ns, { labelSelector: out.selector });
    const after = podsAfterRestore(
      pods.items,
      saved,
      evictedPods(
        ops?.metadata.annotations,
        pods.items.map((p) => p.metadata.name!),
      ),
      {
        selector: out.selector,
        lease: out.lease,
        reload: input.state.plan?.restartMode === 'Reload',
      },
    );
    out.pods = after.restart;
    // Replaced during the request by someone else (a node drain, a person): reported, never touched.
    if (after.leftAlone.length) out.leftAlone = after.leftAlone;
    if (after.reloadRound) out.reloadRound = after.reloadRound;
  } catch (err) {
    if (err instanceof PxcTlsOpsError && err.retryable) throw err;
    // This message becomes the request's reason: the API server's text is logged, not recorded.
    logger.error('restore failed', { backup: `${ns}/${backupName}`, error: (err as Error).message });
    throw new RollbackError(
      `could not restore the state saved in Secret ${ns}/${backupName}: ${recordedReason((err as Error).name, (err as Error).message)}`,
      {
        cause: err,
      },
    );
  }
  out.restored = true;
  logger.info('rolled back', { pods: out.pods.map((p) => p.name) });
  if (ops) await recordRollingBack(deps, ops, input, database, out);
  return out;
}

/** The Warning Event of a completed restore: why, what was restored, which pods restart, which were left alone. */
async function recordRollingBack(
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  input: RollBackInput,
  database: string,
  out: RestoreOutput,
): Promise<void> {
  const ns = out.namespace;
  await recordEvent(
    deps,
    ops,
    'Warning',
    'RollingBack',
    `${recordedReason(input.state.error?.Error ?? 'Error', causeMessage(input.state.error?.Cause), input.state.error?.State)}. ` +
      `Restored the previous certificates and TLS settings of PerconaXtraDB ${ns}/${database}` +
      (out.pods.length ? `; restarting ${out.pods.map((p) => p.name).join(', ')}` : '') +
      (out.leftAlone?.length
        ? `; left alone ${out.leftAlone.join(', ')}: replaced during the request by someone else, not by this request`
        : ''),
  );
}

/** What Roll back returns before it knows more: nothing restored, the wait bounded. */
function restoreOutput(
  input: RollBackInput,
  { ns, ops, claimed, name }: { ns: string; ops?: PerconaXtraDBOpsRequest; claimed: boolean; name: string },
  database: string,
): RestoreOutput {
  let requested = input.state.plan?.timeoutSeconds ?? 600;
  if (!input.state.plan && ops) {
    try {
      requested = requestTimeout(ops);
    } catch {
      // a bad timeout: the default bounds the wait
    }
  }
  return {
    claimed,
    restored: false,
    namespace: ns,
    opsRequest: name,
    opsRequestUid: ops?.metadata.uid ?? '',
    database,
    replicas: input.state.plan?.replicas ?? 0,
    selector: `app.kubernetes.io/instance=${database}`,
    timeoutSeconds: Math.min(requested, ROLLBACK_WAIT_SECONDS),
    execution: input.execution,
    lease: null,
    pods: [],
  };
}

async function finish(input: RollBackInput, given: Deps): Promise<Outcome> {
  const s = input.state;
  const { ns, ops, claimed, orphaned, name } = await locate(input, given);
  // A late Finish rollback of an execution that lost the request is refused by the API server.
  const deps =
    ops && claimed ? fenced(given, { namespace: ns, opsRequest: name, execution: input.execution }) : given;
  const { kube } = deps;
  const database = databaseOf(s, ops);
  const errorName = s.error?.Error ?? 'Error';
  // Refused: the failure came before any change (nothing was restored, no pass ran, nothing
  // resumed): the request ends without rollback talk, as a refusal.
  // (A recovery is not a refusal: an interrupted execution may have changed things before it died.)
  const refused =
    !s.recovery &&
    !s.rollback?.restored &&
    !s.rollbackError &&
    !Array.isArray((s.round as { pods?: unknown })?.pods);
  // Conditions and Events get the sentence; the API server's words (a 403 names our role) the log.
  let reason = recordedReason(errorName, causeMessage(s.error?.Cause), s.error?.State);
  deps.logger.info('the request failed', { error: errorName, cause: causeMessage(s.error?.Cause) });
  if (refused) reason = `Refused, nothing was changed: ${reason}`;
  const backupName = database && name ? backupSecretName(database, name) : '';
  if (s.rollbackError) {
    const why =
      s.rollbackError.Error === LAMBDA_TIMEOUT
        ? `a rollback step ${retryReason(LAMBDA_TIMEOUT, causeMessage(s.rollbackError.Cause))}`
        : recordedReason(s.rollbackError.Error ?? 'Error', causeMessage(s.rollbackError.Cause)) ||
          (s.rollbackError.Error ?? 'Error');
    // A backup this request could not prove its own was never used: nothing was restored from it.
    reason += why?.startsWith('refused Secret')
      ? `; nothing was rolled back: ${why}`
      : `; rollback did not complete (${why}); the previous state is kept in Secret ${ns}/${backupName}`;
  } else if (s.rollback?.restored) {
    reason +=
      '; rolled back to the previous certificates and TLS settings' +
      (s.rollback.pods.length ? ` and restarted ${s.rollback.pods.map((p) => p.name).join(', ')}` : '') +
      (s.rollback.leftAlone?.length
        ? `; left ${s.rollback.leftAlone.join(', ')} alone: replaced during the request by someone else`
        : '');
    const back = s.rollback.reloadRound?.reload;
    if (back?.reloaded.length) reason += `; reloaded ${back.reloaded.join(', ')} back onto them`;
    if (back?.fallback.length)
      reason += `; could not reload ${back.fallback.map((f) => `${f.name} (${f.reason})`).join(', ')} back: it serves the failed request's certificate until its next restart`;
  } else if (s.recovery && s.rollback?.claimed) {
    reason += '; no change had been made yet, nothing to roll back';
  }
  const outcome: Outcome = {
    namespace: ns,
    opsRequest: name,
    database,
    ...(s.plan?.action ? { action: s.plan.action } : {}),
    phase: 'Failed',
    reason,
    ...(refused ? { refused: true } : {}),
  };
  if (!(claimed || orphaned)) return outcome;

  const db = database ? await getDatabase(kube, ns, database) : undefined;
  if (orphaned && (!db || pausedBy(db) !== `${ns}/${name}`)) return outcome;
  if (db) await ensureDatabasePaused(deps, db, false, { namespace: ns, name });
  if (!s.rollbackError && backupName) await kube.delete(KINDS.Secret, { namespace: ns, name: backupName });
  if (ops && ops.status?.phase !== 'Failed' && ops.status?.phase !== 'Successful') {
    await updateOpsStatus(deps, ops, {
      phase: 'Failed',
      conditions: [
        { type: 'Running', status: 'False', reason: refused ? 'Refused' : 'Failed', message: reason },
        { type: 'Failed', status: 'True', reason: errorName, message: reason },
      ],
    });
    await recordEvent(
      deps,
      ops,
      'Warning',
      refused ? 'Refused' : 'Failed',
      refused ? `ReconfigureTLS ${reason}` : `ReconfigureTLS failed: ${reason}`,
    );
  }
  deps.logger.warn('request failed', { reason });
  return outcome;
}
