/**
 * Resume: the request is done. Ensures the database has no Paused condition, the backup Secret is
 * gone (and, for remove, the certificate Secrets now that no pod mounts them, and the AppBinding's
 * caBundle and tlsSecret), and the OpsRequest
 * is Successful with KubeDB's conditions (the per-pod ones included: written here, in the same
 * status write, rather than with two requests per pod), worded as KubeDB's docs show them:
 * `UpdatePetSets` with reason `UpdatePetSetsSucceeded`, `Running` left True. Safe to repeat: deletes of what is gone and
 * writes of what is already there are skipped. Reads the request first: a request another
 * execution took over is left alone (LeaseLostError). Throws Kube* errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import type { ConditionInput } from '../model/conditions.js';
import { BACKUP_STATE_ANNOTATION, backupSecretName } from '../model/names.js';
import type { Plan } from '../model/plan.js';
import { ensureAppBinding } from './appbinding.js';
import type { BackupState } from './backup.js';
import { deleteCertificates } from './cert-manager.js';
import {
  ensureDatabasePaused,
  getDatabase,
  getOpsRequest,
  type RequestIds,
  recordEvent,
  type SecretObject,
  updateOpsStatus,
} from './common.js';
import { fenced } from './fence.js';
import { holdLease } from './lease.js';

export interface ResumeInput extends RequestIds {
  plan: Plan;
  /** The pods the last pass restarted (each pass restarts all of them, or none). */
  restarted?: Array<{ name: string }>;
}

/** KubeDB's per-pod conditions, for every restarted pod, worded as KubeDB's ops-manager writes them. */
export function podConditions(_ns: string, pods: readonly string[]): ConditionInput[] {
  return pods.flatMap((pod) => [
    {
      type: `EvictPod--${pod}`,
      status: 'True' as const,
      message: `evict pod; ConditionStatus:True; PodName:${pod}`,
    },
    {
      type: `GetPod--${pod}`,
      status: 'True' as const,
      message: `get pod; ConditionStatus:True; PodName:${pod}`,
    },
    {
      type: `CheckPodRunning--${pod}`,
      status: 'True' as const,
      message: `check pod running; ConditionStatus:True; PodName:${pod}`,
    },
  ]);
}

/**
 * What Reload pods recorded (its per-pod conditions), in one phrase for the final reason, or
 * undefined when no pod was reloaded or fell back (Restart mode, or actions that always restart).
 */
export function reloadSummary(conditions: ReadonlyArray<{ type: string; status: string; message?: string }>) {
  const pods = (prefix: string) =>
    conditions
      .filter((c) => c.type.startsWith(prefix) && c.status === 'True')
      .map((c) => c.type.slice(prefix.length));
  const reloaded = pods('ReloadTLS--');
  const fellBack = pods('ReloadFallback--');
  if (reloaded.length === 0 && fellBack.length === 0) return undefined;
  const restarted = fellBack.length
    ? `${fellBack.length} restarted because a reload could not be proven (${fellBack.join(', ')}; see the ReloadFallback conditions)`
    : 'none restarted';
  return `Reload mode: TLS reloaded without a restart in ${reloaded.length} pod(s), ${restarted}`;
}

export interface Outcome {
  namespace: string;
  opsRequest: string;
  database: string;
  action?: string;
  phase: 'Successful' | 'Failed';
  reason: string;
  /** Failed before any change: nothing was written, nothing to roll back. */
  refused?: boolean;
}

export async function resume(input: ResumeInput, given: Deps): Promise<Outcome> {
  const { namespace: ns, opsRequest, plan } = input;
  // Refused by the API server once another execution holds the request (a late Resume changes nothing).
  const deps = input.execution
    ? fenced(given, { namespace: ns, opsRequest, execution: input.execution })
    : given;
  const { kube } = deps;
  const ops = await getOpsRequest(kube, ns, opsRequest);
  if (input.execution && ops.status?.phase !== 'Successful') await holdLease(deps, ops, input.execution);
  const db = await getDatabase(kube, ns, plan.database);
  if (db) await ensureDatabasePaused(deps, db, false, { namespace: ns, name: opsRequest });

  const backupName = backupSecretName(plan.database, opsRequest);
  if (plan.action === 'remove') {
    // The pods run without the certificates now: their Secrets can go.
    const backup = await kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name: backupName });
    const state = backup?.metadata.annotations?.[BACKUP_STATE_ANNOTATION];
    const names = state ? (JSON.parse(state) as BackupState).managed : [];
    // Certificates first: cert-manager re-creates the Secret of a Certificate that still exists.
    if (plan.issuance === 'cert-manager') await deleteCertificates(deps, ns, names);
    for (const name of names) await kube.delete(KINDS.Secret, { namespace: ns, name });
    // Nothing to verify the server with any more: clients read the AppBinding.
    await ensureAppBinding(deps, ns, plan.database, null);
  }
  await kube.delete(KINDS.Secret, { namespace: ns, name: backupName });

  const reload = reloadSummary(ops.status?.conditions ?? []);
  const reason = `ReconfigureTLS (${plan.action}) of PerconaXtraDB ${ns}/${plan.database} succeeded${reload ? ` (${reload})` : ''}`;
  if (ops.status?.phase !== 'Successful') {
    await updateOpsStatus(deps, ops, {
      phase: 'Successful',
      conditions: [
        ...podConditions(
          ns,
          (input.restarted ?? []).map((p) => p.name),
        ),
        {
          type: 'UpdatePetSets',
          status: 'True',
          reason: 'UpdatePetSetsSucceeded',
          message: `Successfully restarted PerconaXtraDB pods for PerconaXtraDBOpsRequest: ${ns}/${opsRequest}`,
        },
        {
          type: 'RestartPods',
          status: 'True',
          reason: 'RestartPodsSucceeded',
          message: reload
            ? `${reload[0]!.toUpperCase()}${reload.slice(1)}`
            : `Successfully restarted all pods of PerconaXtraDB ${ns}/${plan.database}`,
        },
        {
          type: 'DatabaseResumeSucceeded',
          status: 'True',
          reason: 'DatabaseResumeSucceeded',
          message: `Successfully resumed PerconaXtraDB database: ${ns}/${plan.database}`,
        },
        // Running stays True, as on KubeDB's requests; phase and Successful say it is over.
        { type: 'Successful', status: 'True', reason: 'Successful', message: reason },
      ],
    });
    await recordEvent(
      deps,
      ops,
      'Normal',
      'Successful',
      `Successfully resumed PerconaXtraDB database: ${ns}/${plan.database}; ${reason}`,
    );
  }
  deps.logger.info('request successful', { action: plan.action });
  return {
    namespace: ns,
    opsRequest,
    database: plan.database,
    action: plan.action,
    phase: 'Successful',
    reason,
  };
}
