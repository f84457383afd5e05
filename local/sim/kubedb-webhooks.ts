/**
 * KubeDB's admission webhooks as a default install runs them (the kubedb-webhook-server chart of
 * kubedb/installer registers them for the community edition too), modelled on kubedb/apimachinery:
 *
 * - mutating, `perconaxtradbs` (pkg/webhooks/kubedb/v1/perconaxtradb.go `Default` → `SetDefaults`
 *   → `SetTLSDefaults`, apis/kubedb/v1/perconaxtradb_helpers.go): with `spec.tls.issuerRef` set,
 *   each of `server`, `client`, `metrics-exporter` gets a `certificates[]` entry, and an entry
 *   without `secretName` gets `<db>-<alias>-cert` (kmodules `SetMissingSecretNameForCertificate`:
 *   existing entries keep their place, missing ones are appended in that order);
 * - validating, `perconaxtradbopsrequests` and `perconaxtradbopsrequests/status` on CREATE and
 *   UPDATE (pkg/webhooks/ops/v1alpha1/perconaxtradb.go; the chart's
 *   `validators.ops.kubedb.com` rules): the type is a PerconaXtraDB ops type, the database exists,
 *   a ReconfigureTLS request has `spec.tls` with exactly one kind of change; on UPDATE the spec is
 *   unchanged; and when the phase has just turned Successful or Failed, the database's `Paused`
 *   condition is removed (`resumeDatabase` in shared.go) — whoever set it.
 *
 * Only requests over HTTP are admitted, as on a real API server; in-process fixtures are stored as
 * given (except the defaulting of a created database, which every stored PerconaXtraDB has had).
 */
import { RESOURCES, type SimResource } from './resources.js';
import { ApiError, type J, type Obj, type Store } from './store.js';

const DB = RESOURCES.find((r) => r.kind === 'PerconaXtraDB')!;
export const VALIDATING_WEBHOOK = RESOURCES.find((r) => r.kind === 'ValidatingWebhookConfiguration')!;
const ALIASES = ['server', 'client', 'metrics-exporter'] as const;

/** PerconaXtraDBOpsRequestType names (kubedb/apimachinery apis/ops/v1alpha1/perconaxtradb_ops_types.go). */
const PXC_OPS_TYPES = [
  'UpdateVersion',
  'HorizontalScaling',
  'VerticalScaling',
  'VolumeExpansion',
  'Restart',
  'Reconfigure',
  'ReconfigureTLS',
  'StorageMigration',
];

/** `SetTLSDefaults`, on a copy: the spec as KubeDB stores it. */
export function kubedbTlsDefaults(db: Obj): Obj {
  const tls = db.spec?.tls;
  if (!tls?.issuerRef) return db;
  const name = db.metadata?.name ?? '';
  const certificates: J[] = Array.isArray(tls.certificates) ? tls.certificates.map((c: J) => ({ ...c })) : [];
  for (const alias of ALIASES) {
    const entry = certificates.find((c) => c?.alias === alias);
    if (!entry) certificates.push({ alias, secretName: `${name}-${alias}-cert` });
    else if (!entry.secretName) entry.secretName = `${name}-${alias}-cert`;
  }
  return { ...db, spec: { ...db.spec, tls: { ...tls, certificates } } };
}

export class KubeDbWebhooks {
  constructor(private readonly store: Store) {}

  /** The mutating webhook: what is stored for a PerconaXtraDB write. */
  mutate(res: SimResource, obj: Obj): Obj {
    return res.kind === 'PerconaXtraDB' && res.group === 'kubedb.com' ? kubedbTlsDefaults(obj) : obj;
  }

  /**
   * The validating webhook of an OpsRequest write (before it is stored), with its side effect:
   * resuming the database when the request has just completed. Throws the API server's 400 with
   * the webhook's message, as a denied admission reads.
   */
  admit(res: SimResource, next: Obj, prev?: Obj): void {
    if (res.kind !== 'PerconaXtraDBOpsRequest') return;
    const name = next.metadata?.name ?? '';
    const deny = (why: string): never => {
      throw new ApiError(
        400,
        'BadRequest',
        `admission webhook "perconaxtradbopsrequestwebhook.validators.ops.kubedb.com" denied the request: ${why}`,
      );
    };
    if (prev && JSON.stringify(prev.spec ?? null) !== JSON.stringify(next.spec ?? null))
      deny('precondition failed for: spec: spec is immutable once created');
    const type = next.spec?.type;
    if (!PXC_OPS_TYPES.includes(type))
      deny(
        `spec.type: Invalid value: "${name}": defined OpsRequestType ${type} is not supported, supported types for PerconaXtraDB are ${PXC_OPS_TYPES.join(', ')}`,
      );
    const ns = next.metadata?.namespace;
    const dbName = next.spec?.databaseRef?.name;
    const db = this.store.get(DB, ns, dbName ?? '');
    if (!db) deny(`spec.databaseRef ${ns}/${dbName}, is invalid or not found`);
    if (type === 'ReconfigureTLS') {
      const why = reconfigureTlsProblem(next.spec?.tls);
      if (why) deny(`spec.tls: Invalid value: "${name}": ${why}`);
    }
    const done = (phase: unknown) => phase === 'Successful' || phase === 'Failed';
    if (prev && done(next.status?.phase) && !done(prev.status?.phase)) this.resume(db!);
  }

  /** `resumeDatabase`: the Paused condition goes, nothing else changes. */
  private resume(db: Obj): void {
    const conditions: J[] = db.status?.conditions ?? [];
    if (!conditions.some((c) => c.type === 'Paused')) return;
    this.store.replace(DB, db, {
      ...db,
      status: { ...db.status, conditions: conditions.filter((c) => c.type !== 'Paused') },
    });
  }
}

/** `validatePerconaXtraDBReconfigurationTLSOpsRequest`, message for message. */
function reconfigureTlsProblem(tls: J): string | undefined {
  if (!tls) return 'TLS Spec is empty';
  let count = 0;
  if (tls.remove) count++;
  if (tls.rotateCertificates) count++;
  if (tls.issuerRef != null || tls.certificates != null || tls.requireSSL != null) count++;
  if (count === 0) return 'no of incomplete reconfiguration is provided in TLS spec';
  if (count > 1)
    return 'more than 1 field have assigned to reconfigureTLS to your database but at a time you you are allowed to run one operation';
  return undefined;
}

/** The ValidatingWebhookConfiguration the kubedb-webhook-server chart renders (its PerconaXtraDB entry). */
export function opsValidatingWebhook(): Obj {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: {
      name: 'validators.ops.kubedb.com',
      labels: {
        'app.kubernetes.io/component': 'kubedb-ops-manager',
        'app.kubernetes.io/name': 'kubedb-webhook-server',
      },
    },
    webhooks: [
      {
        name: 'perconaxtradbopsrequestwebhook.validators.ops.kubedb.com',
        clientConfig: {
          service: {
            namespace: 'kubedb',
            name: 'kubedb-kubedb-webhook-server',
            path: '/validate-ops-kubedb-com-v1alpha1-perconaxtradbopsrequest',
            port: 443,
          },
        },
        rules: [
          {
            apiGroups: ['ops.kubedb.com'],
            apiVersions: ['*'],
            resources: ['perconaxtradbopsrequests', 'perconaxtradbopsrequests/status'],
            operations: ['CREATE', 'UPDATE', 'DELETE'],
          },
        ],
        admissionReviewVersions: ['v1beta1'],
        failurePolicy: 'Fail',
        sideEffects: 'None',
      },
    ],
  };
}
