/**
 * The backup Secret `<db>-tls-backup-<ops>`: before the first write of a request, what a rollback
 * needs to put back — the certificate Secrets' data, the database TLS spec, the pod template
 * wiring, the AppBinding, cert-manager Certificates' specs and the pods' UIDs. Owned by the
 * OpsRequest (it holds private keys, and goes when the request goes). Never overwritten: a re-run
 * keeps the state from before any write.
 */
import type { Deps } from '../deps.js';
import { InvalidRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { backupProblem } from '../model/backup.js';
import type { CertManagerCertificate } from '../model/certificates.js';
import {
  BACKUP_LABEL,
  BACKUP_STATE_ANNOTATION,
  BACKUP_WRITER_ANNOTATION,
  backupKey,
  backupSecretName,
  MANAGED_BY,
} from '../model/names.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import { snapshotWiring, type WiringSnapshot } from '../model/wiring.js';
import { type AppBindingTls, appBindingTlsOf } from './appbinding.js';
import { listCertificates, type SavedCertificate } from './cert-manager.js';
import type { SecretObject, Workload } from './common.js';
import type { PassContext } from './pass-context.js';

/** What the backup keeps besides the Secrets' data (JSON in an annotation of the backup Secret). */
export interface BackupState {
  database: { tls: PerconaXtraDB['spec']['tls'] | null; requireSSL: boolean | null };
  workload: { kind: 'PetSet' | 'StatefulSet'; name: string; wiring: WiringSnapshot };
  /** Certificate Secrets that existed (their data is in the backup's data). */
  existed: string[];
  /** Every certificate Secret name the request may write (those not in `existed` are deleted on rollback). */
  managed: string[];
  /** What the AppBinding said about TLS (undefined: there is no AppBinding). */
  appBinding?: AppBindingTls;
  /** cert-manager mode: the Certificates' specs before the request (the ones it creates are deleted). */
  certificates?: SavedCertificate[];
  /** cert-manager mode: labels and annotations of the Secrets, which say which issuer signed them. */
  secretMeta?: Record<string, { labels?: Record<string, string>; annotations?: Record<string, string> }>;
  /**
   * Pod name → UID before the first change: a pod whose UID differs later was restarted during the
   * request, and only those are ever restarted by a rollback. (Absent in backups of older versions:
   * then no pod is restarted by a rollback.)
   */
  pods?: Record<string, string>;
}

/**
 * Ensures the backup exists before the first pass writes anything. Removing TLS writes no Secret:
 * only the ones in use are the request's (deleted at the end).
 */
export async function backupBeforeFirstWrite(
  deps: Deps,
  ctx: PassContext,
  execution: string | undefined,
): Promise<void> {
  const { ns, plan, hasTls, target, currentNames, targetNames } = ctx;
  const managed = [
    ...new Set([
      ...(hasTls ? Object.values(currentNames) : []),
      ...(target.enabled ? Object.values(targetNames) : []),
    ]),
  ];
  await ensureBackup(deps, {
    ns,
    ops: ctx.ops,
    db: ctx.db,
    workload: { kind: ctx.workload.kind.kind, object: ctx.workload.object },
    secrets: ctx.secrets,
    managed,
    appBinding: appBindingTlsOf(ctx.appBinding?.binding),
    pods: Object.fromEntries(ctx.pods.map((p) => [p.metadata.name!, p.metadata.uid ?? ''])),
    ...(execution ? { execution } : {}),
    approved: [...new Set([...(plan.secretNames ?? []), ...managed])],
    ...(plan.issuance === 'cert-manager'
      ? { certificates: savedCertificates(await listCertificates(deps, ns), managed) }
      : {}),
  });
}

/** The specs of the Certificates that own any of `secretNames`, to restore on rollback. */
function savedCertificates(certs: CertManagerCertificate[], secretNames: string[]): SavedCertificate[] {
  return certs
    .filter((c) => secretNames.includes(c.spec?.secretName))
    .map((c) => ({ name: c.metadata.name!, spec: c.spec }));
}

/** The server Secret's ca.crt before the request, from the backup (the CA the pods trusted first). */
export async function originalCa(
  deps: Deps,
  ns: string,
  database: string,
  opsRequest: string,
  serverSecret: string,
): Promise<string | undefined> {
  const backup = await deps.kube.get<SecretObject>(KINDS.Secret, {
    namespace: ns,
    name: backupSecretName(database, opsRequest),
  });
  const b64 = backup?.data?.[backupKey(serverSecret, 'ca.crt')];
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}

async function ensureBackup(
  deps: Deps,
  a: {
    ns: string;
    ops: PerconaXtraDBOpsRequest;
    db: PerconaXtraDB;
    workload: { kind: 'PetSet' | 'StatefulSet'; object: Workload };
    secrets: Map<string, SecretObject>;
    managed: string[];
    appBinding: AppBindingTls | undefined;
    certificates?: SavedCertificate[];
    pods: Record<string, string>;
    /** The execution writing it, recorded in it. */
    execution?: string;
    /** The Secret names Validate approved (an existing backup listing others is not ours). */
    approved: string[];
  },
): Promise<void> {
  const opsRequest = a.ops.metadata.name!;
  const existed = a.managed.filter((n) => a.secrets.has(n));
  const data: Record<string, string> = {};
  for (const name of existed) {
    for (const [k, v] of Object.entries(a.secrets.get(name)!.data ?? {})) data[backupKey(name, k)] = v;
  }
  const state: BackupState = {
    database: { tls: a.db.spec.tls ?? null, requireSSL: a.db.spec.requireSSL ?? null },
    workload: {
      kind: a.workload.kind,
      name: a.workload.object.metadata.name!,
      wiring: snapshotWiring(a.workload.object.spec.template),
    },
    existed,
    managed: a.managed,
    pods: a.pods,
    ...(a.appBinding !== undefined ? { appBinding: a.appBinding } : {}),
    ...(a.certificates
      ? {
          certificates: a.certificates,
          secretMeta: Object.fromEntries(
            existed.map((n) => {
              const m = a.secrets.get(n)!.metadata;
              return [n, { labels: m.labels ?? {}, annotations: m.annotations ?? {} }];
            }),
          ),
        }
      : {}),
  };
  const name = backupSecretName(a.db.metadata.name!, opsRequest);
  try {
    await deps.kube.create(KINDS.Secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name,
        namespace: a.ns,
        labels: {
          'app.kubernetes.io/managed-by': MANAGED_BY,
          [BACKUP_LABEL]: opsRequest,
        },
        annotations: {
          [BACKUP_STATE_ANNOTATION]: JSON.stringify(state),
          [BACKUP_WRITER_ANNOTATION]: a.execution || 'unknown',
        },
        // Owned by the request: it holds private keys, and goes when the request goes.
        ...(a.ops.metadata.uid
          ? {
              ownerReferences: [
                {
                  apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
                  kind: KINDS.PerconaXtraDBOpsRequest.kind,
                  name: opsRequest,
                  uid: a.ops.metadata.uid,
                },
              ],
            }
          : {}),
      },
      data,
    } as SecretObject);
  } catch (err) {
    // Already there from an earlier attempt: it holds the state before any write, keep it — when
    // it is provably this request's (../model/backup.ts); a Secret someone else put under that
    // name fails the request now, before anything is written.
    if ((err as Error).name !== 'KubeAlreadyExistsError') throw err;
    const existing = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: a.ns, name });
    const why = existing
      ? backupProblem(existing, { name: opsRequest, uid: a.ops.metadata.uid }, new Set(a.approved))
      : undefined;
    if (why)
      throw new InvalidRequestError(
        `Secret ${a.ns}/${name} already exists and is not this request's backup: ${why}; nothing was changed`,
      );
  }
}
