/**
 * Roll back, act: puts back what the backup Secret saved before the request's first write — the
 * cert-manager Certificates (first, or cert-manager re-issues over the restored Secrets), the
 * certificate Secrets (keeping every CA of the current ca.crt trusted), the database TLS spec, the
 * AppBinding's TLS fields and the pod template wiring — and decides which pods take the restored
 * material: a restart for the pods the request broke, a reload back for the Ready ones in Reload
 * mode. Each write is an ensure: what already matches is not written again.
 */

import type { Deps } from '../deps.js';
import { KINDS, type Kube, type ObjectRef, type ResourceKind } from '../kube/types.js';
import { backupKey, backupSecretName, CA_SINCE_ANNOTATION } from '../model/names.js';
import type { Plan } from '../model/plan.js';
import { sameStoredTls } from '../model/tls-defaults.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import { restoreWiring } from '../model/wiring.js';
import { loadPki } from '../pki/load.js';
import { ensureAppBinding } from './appbinding.js';
import type { BackupState } from './backup.js';
import { listCertificates, probeName, restoreCertificates } from './cert-manager.js';
import {
  getDatabase,
  getWorkload,
  isPodReady,
  type PodObject,
  type SecretObject,
  selectorOf,
  upsertSecret,
} from './common.js';
import { secretNamesOf } from './pass-context.js';
import type { ReloadRound } from './reload-pods.js';
import type { PodToRestart } from './round.js';

/** Where the restore happens: the request, its database, and who started the request. */
export interface RestoreTarget {
  ns: string;
  database: string;
  opsRequest: string;
  opsRequestUid: string;
}

/**
 * Puts back everything the backup saved; returns the workload's pod selector and replicas when
 * the workload exists.
 */
export async function restoreSaved(
  deps: Deps,
  at: RestoreTarget,
  backup: SecretObject,
  saved: BackupState,
): Promise<{ selector: string; replicas: number } | undefined> {
  const { kube } = deps;
  const { ns, database } = at;
  if (saved.certificates)
    await restoreCertificates(
      deps,
      ns,
      saved.certificates,
      at.opsRequestUid,
      probeName(database, at.opsRequest),
    );
  for (const name of saved.managed) await restoreSecret(deps, ns, name, backup, saved);
  const db = await getDatabase(kube, ns, database);
  if (db) {
    const same =
      sameStoredTls(db.metadata.name!, db.spec.tls, saved.database.tls) &&
      (db.spec.requireSSL ?? null) === saved.database.requireSSL;
    if (!same) {
      await kube.patch(
        KINDS.PerconaXtraDB,
        { namespace: ns, name: database },
        { spec: { tls: saved.database.tls, requireSSL: saved.database.requireSSL } },
        'merge',
      );
    }
  }
  if (saved.appBinding !== undefined) await ensureAppBinding(deps, ns, database, saved.appBinding);
  const workload = await getWorkload(kube, ns, database);
  if (!workload) return undefined;
  const { template, changed } = restoreWiring(workload.object.spec.template, saved.workload.wiring);
  if (changed)
    await kube.patch(workload.kind, { namespace: ns, name: database }, { spec: { template } }, 'merge');
  return { selector: selectorOf(workload.object, database), replicas: workload.object.spec.replicas ?? 3 };
}

/** One certificate Secret as the backup saved it; deleted when it did not exist before the request. */
async function restoreSecret(
  deps: Deps,
  ns: string,
  name: string,
  backup: SecretObject,
  saved: BackupState,
): Promise<void> {
  const { kube } = deps;
  const current = await kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
  if (!saved.existed.includes(name)) {
    if (current) await kube.delete(KINDS.Secret, { namespace: ns, name });
    return;
  }
  const prefix = backupKey(name, '');
  const data = Object.fromEntries(
    Object.entries(backup.data ?? {})
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]),
  );
  await keepTrustingCurrentCAs(data, current);
  if (current && JSON.stringify(current.data ?? {}) === JSON.stringify(data)) return;
  // A changed ca.crt is loaded only by pods that start from now on.
  const caChanged = current?.data?.['ca.crt'] !== data['ca.crt'];
  await upsertSecret(
    kube,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: current?.type ?? 'kubernetes.io/tls',
      metadata: {
        name,
        namespace: ns,
        ...(saved.secretMeta?.[name] ?? {}),
        ...(caChanged
          ? {
              annotations: {
                ...(saved.secretMeta?.[name]?.annotations ?? current?.metadata.annotations ?? {}),
                [CA_SINCE_ANNOTATION]: deps.clock.now().toISOString(),
              },
            }
          : {}),
      },
      data,
    },
    current,
  );
}

/**
 * The pods that take the restored material. Restarted: the pods this request broke
 * (`restartedAndNotReady`). Reloaded back (Reload mode): every other Ready pod, which may serve
 * this request's certificate loaded by a reload with no restart to bring the restored files in
 * (a pod that never reloaded loads what it already has). Restarting them instead would take the
 * Ready pods down together. Pure.
 */
export function podsAfterRestore(
  pods: readonly PodObject[],
  saved: BackupState,
  /** Pod name → the UID this request evicted (recorded on the OpsRequest as it evicted them). */
  evicted: Record<string, string>,
  round: { selector: string; lease: ReloadRound['lease']; reload: boolean },
): { restart: PodToRestart[]; reloadRound?: ReloadRound; leftAlone: string[] } {
  const broken = restartedAndNotReady(pods, evicted);
  const leftAlone = replacedByOthers(pods, saved.pods, evicted).map((p) => p.metadata.name!);
  const numbered = (list: readonly PodObject[]): PodToRestart[] =>
    list.map((p, index) => ({
      name: p.metadata.name!,
      uid: p.metadata.uid ?? '',
      index,
      total: list.length,
    }));
  const ready = pods.filter((p) => isPodReady(p) && !broken.includes(p));
  if (!round.reload || ready.length === 0) return { restart: numbered(broken), leftAlone };
  return {
    restart: numbered(broken),
    leftAlone,
    reloadRound: {
      pass: 0,
      next: 0,
      more: false,
      kind: 'rollback',
      rollout: false,
      mode: 'Reload',
      // The restored ca.crt keeps every CA of the current one (keepTrustingCurrentCAs), so a
      // reloaded pod trusts the pods that have not reloaded yet.
      trustOverlap: true,
      selector: round.selector,
      lease: round.lease,
      pods: numbered(ready),
      certificates: [],
    },
  };
}

/**
 * The pods a rollback restarts: those this request evicted (`evicted`: name → the UID it evicted,
 * recorded on the OpsRequest as it evicted them) that have come back as a new pod and are not Ready
 * now (they cannot start on what the change left, or are still starting on it). A pod the request
 * never evicted — NotReady before it began, or replaced by a node drain mid state transfer — is
 * never touched; neither is a pod that is Ready or already terminating. Pure.
 */
export function restartedAndNotReady(
  pods: readonly PodObject[],
  evicted: Record<string, string> | undefined,
): PodObject[] {
  if (!evicted) return [];
  return pods.filter((p) => {
    const was = evicted[p.metadata.name!];
    return (
      was !== undefined &&
      was !== '' &&
      p.metadata.uid !== was &&
      !isPodReady(p) &&
      !p.metadata.deletionTimestamp
    );
  });
}

/** Pods whose UID changed since the backup that this request never evicted: someone else replaced them. Pure. */
export function replacedByOthers(
  pods: readonly PodObject[],
  before: Record<string, string> | undefined,
  evicted: Record<string, string>,
): PodObject[] {
  if (!before) return [];
  return pods.filter((p) => {
    const was = before[p.metadata.name!];
    return !!was && p.metadata.uid !== was && evicted[p.metadata.name!] === undefined;
  });
}

/**
 * The certificate Secret names this request may restore or delete: those Validate approved (in the
 * plan), and, for a recovery that has no plan, those the database and the request name now.
 */
export async function approvedSecretNames(
  kube: Kube,
  ns: string,
  database: string,
  ops: PerconaXtraDBOpsRequest | undefined,
  plan: Plan | undefined,
): Promise<Set<string>> {
  const db = await getDatabase(kube, ns, database);
  return new Set([
    ...(plan?.secretNames ?? []),
    ...Object.values(secretNamesOf(db?.spec.tls?.certificates, database)),
    ...Object.values(secretNamesOf(ops?.spec.tls?.certificates, database)),
  ]);
}

/** Every object a restore may write: the take-over fences each of them before restoring any. */
export async function restoredObjects(
  deps: Deps,
  ns: string,
  database: string,
  opsRequest: string,
  saved: BackupState,
): Promise<Array<{ kind: ResourceKind; ref: ObjectRef }>> {
  const at = (name: string) => ({ namespace: ns, name });
  const probe = probeName(database, opsRequest);
  const certificates = saved.certificates
    ? (await listCertificates(deps, ns))
        .filter(
          (c) =>
            saved.managed.includes(c.spec?.secretName) ||
            c.metadata.name === probe ||
            saved.certificates!.some((s) => s.name === c.metadata.name),
        )
        .map((c) => ({ kind: KINDS.Certificate, ref: at(c.metadata.name!) }))
    : [];
  return [
    { kind: KINDS.Secret, ref: at(backupSecretName(database, opsRequest)) },
    // Certificates before their Secrets, as they are restored.
    ...certificates,
    ...saved.managed.map((n) => ({ kind: KINDS.Secret, ref: at(n) })),
    { kind: KINDS.PerconaXtraDB, ref: at(database) },
    { kind: KINDS.AppBinding, ref: at(database) },
    {
      kind: saved.workload.kind === 'PetSet' ? KINDS.PetSet : KINDS.StatefulSet,
      ref: at(saved.workload.name),
    },
  ];
}

/**
 * The restored ca.crt also keeps every CA of the current one. Pods that already restarted in this
 * execution keep presenting the certificates they loaded (rollback restarts only the pods that are
 * not Ready); in the second pass of a CA change those come from the new CA, and a pod restored to
 * the old ca.crt alone would refuse them and never become Ready. Under the same CA this changes
 * nothing (the bundle is deduplicated by fingerprint); the extra CA leaves at the next rotation.
 */
async function keepTrustingCurrentCAs(
  data: Record<string, string>,
  current: SecretObject | undefined,
): Promise<void> {
  const saved = data['ca.crt'];
  const now = current?.data?.['ca.crt'];
  if (!saved || !now || saved === now) return;
  const { mergeTrustBundle } = await loadPki();
  const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  try {
    data['ca.crt'] = Buffer.from(mergeTrustBundle(pem(saved), pem(now)), 'utf8').toString('base64');
  } catch {
    // An unreadable current ca.crt adds nothing worth trusting: restore the saved one as it was.
  }
}
