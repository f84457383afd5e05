/**
 * cert-manager Certificates of a database, as pure deciders (tested by tables).
 *
 * On a database whose TLS KubeDB set up, cert-manager Certificates `<db>-<alias>-cert` own the
 * certificate Secrets (kubedb/docs, PerconaXtraDB reconfigure-TLS guide: `kubectl describe
 * certificate sample-pxc-server-cert`, owned by the PerconaXtraDB, labelled like its other
 * objects; kubedb/apimachinery `CertificateName(alias)` = `<db>-<alias>-cert`, whatever the
 * Secret's name). Writing those Secrets directly is undone by cert-manager's trigger policies
 * (cert-manager internal/controller/certificates/policies): so on such a database the workflow
 * drives the Certificates — spec, re-issuance, revision — and lets cert-manager write the Secrets.
 *
 * Issuers: cert-manager.io `ca` issuers can also be signed with locally (node-forge, as on a
 * database without Certificates); `vault` and `venafi` issuers, and issuers of other groups
 * (AWS Private CA's awspca.cert-manager.io, ...), only through Certificates; `acme` and
 * `selfSigned` are refused (an ACME CA cannot issue for `<db>.<ns>.svc` names, and self-signed
 * leaves would not trust each other).
 */
import type { KubeObject } from '../kube/types.js';
import { GROUP } from './names.js';
import type { CertificateAlias, CertificateSpec, IssuerRef, PerconaXtraDB, X509Subject } from './types.js';
import { CERTIFICATE_ALIASES } from './types.js';

export const CERT_MANAGER_GROUP = 'cert-manager.io';

/** The cert-manager Certificate fields this project reads and writes. */
export interface CertManagerCertificate extends KubeObject {
  spec: {
    secretName: string;
    issuerRef: { group?: string; kind?: string; name: string };
    commonName?: string;
    dnsNames?: string[];
    ipAddresses?: string[];
    uris?: string[];
    emailAddresses?: string[];
    subject?: X509Subject;
    usages?: string[];
    duration?: string;
    renewBefore?: string;
    privateKey?: { algorithm?: string; encoding?: string; size?: number; rotationPolicy?: string };
    [k: string]: unknown;
  };
  status?: {
    revision?: number;
    notBefore?: string;
    notAfter?: string;
    renewalTime?: string;
    lastFailureTime?: string;
    conditions?: Array<{
      type: string;
      status: string;
      reason?: string;
      message?: string;
      observedGeneration?: number;
      lastTransitionTime?: string;
    }>;
    [k: string]: unknown;
  };
}

/** The Certificate KubeDB names for an alias (also its default Secret name). */
export function certificateName(database: string, alias: CertificateAlias): string {
  return `${database}-${alias}-cert`;
}

/** The issuer an alias is signed by: its own `issuerRef` when set (KubeDB's per-certificate issuer), else the database's. */
export function effectiveIssuerRef(
  certificates: readonly CertificateSpec[] | undefined,
  alias: CertificateAlias,
  fallback: IssuerRef | undefined,
): IssuerRef | undefined {
  return certificates?.find((c) => c.alias === alias)?.issuerRef ?? fallback;
}

export type IssuerClass =
  /** A cert-manager CA issuer: the workflow can read its CA and sign locally. */
  | 'ca'
  /** Only cert-manager can sign with it (Vault, Venafi, an external issuer such as AWS PCA). */
  | 'cert-manager-only'
  /** Cannot issue the database's certificates; the string says why. */
  | { refused: string };

/** What kind of issuer this is, from its reference and, for cert-manager.io kinds, its spec. */
export function classifyIssuer(ref: IssuerRef, spec: Record<string, unknown> | undefined): IssuerClass {
  const group = ref.apiGroup || CERT_MANAGER_GROUP;
  if (group !== CERT_MANAGER_GROUP) return 'cert-manager-only';
  const types = Object.keys(spec ?? {});
  if (types.includes('ca')) return 'ca';
  if (types.includes('vault') || types.includes('venafi')) return 'cert-manager-only';
  if (types.includes('acme'))
    return { refused: 'an ACME issuer cannot issue certificates for cluster-internal names (<db>.<ns>.svc)' };
  if (types.includes('selfSigned'))
    return {
      refused:
        'a selfSigned issuer gives every certificate its own root, so the pods would not trust each other (use a CA issuer)',
    };
  return { refused: `its type (${types.join('/') || 'none'}) is not supported` };
}

const USAGES: Record<CertificateAlias, string[]> = {
  server: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
  client: ['digital signature', 'key encipherment', 'client auth'],
  'metrics-exporter': ['digital signature', 'key encipherment', 'server auth', 'client auth'],
};

/**
 * The spec fields of an alias's Certificate as KubeDB builds it from `spec.tls` (names from the
 * same profile the local issuance uses), plus `privateKey.rotationPolicy: Always` so a rotation
 * always brings a new key (cert-manager's default only since v1.18).
 */
export function desiredCertificateSpec(
  alias: CertificateAlias,
  p: {
    secretName: string;
    issuerRef: IssuerRef;
    commonName: string;
    dnsNames: string[];
    ipAddresses: string[];
    uris: string[];
    emailAddresses: string[];
    subject: X509Subject;
    duration?: string;
    renewBefore?: string;
    encoding: 'PKCS1' | 'PKCS8';
  },
): CertManagerCertificate['spec'] {
  return {
    secretName: p.secretName,
    issuerRef: {
      group: p.issuerRef.apiGroup || CERT_MANAGER_GROUP,
      kind: p.issuerRef.kind,
      name: p.issuerRef.name,
    },
    commonName: p.commonName,
    ...(p.dnsNames.length ? { dnsNames: p.dnsNames } : {}),
    ...(p.ipAddresses.length ? { ipAddresses: p.ipAddresses } : {}),
    ...(p.uris.length ? { uris: p.uris } : {}),
    ...(p.emailAddresses.length ? { emailAddresses: p.emailAddresses } : {}),
    ...(Object.keys(p.subject).length ? { subject: p.subject } : {}),
    usages: USAGES[alias],
    ...(p.duration ? { duration: p.duration } : {}),
    ...(p.renewBefore ? { renewBefore: p.renewBefore } : {}),
    privateKey: { encoding: p.encoding, rotationPolicy: 'Always' },
  };
}

const MANAGED_FIELDS = [
  'secretName',
  'issuerRef',
  'commonName',
  'dnsNames',
  'ipAddresses',
  'uris',
  'emailAddresses',
  'subject',
  'usages',
  'duration',
  'renewBefore',
] as const;

/**
 * The merge patch that brings an existing Certificate's managed fields to `want` (fields the
 * workflow does not manage, e.g. `secretTemplate`, are left as they are), or undefined when it
 * already matches. `privateKey` is merged key by key so an `algorithm`/`size` someone set stays.
 */
export function certificateSpecPatch(
  current: CertManagerCertificate['spec'],
  want: CertManagerCertificate['spec'],
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const f of MANAGED_FIELDS) {
    const a = current[f] ?? null;
    const b = want[f] ?? null;
    if (JSON.stringify(normalise(f, a)) !== JSON.stringify(normalise(f, b))) patch[f] = b;
  }
  const pk: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(want.privateKey ?? {})) {
    if ((current.privateKey as Record<string, unknown> | undefined)?.[k] !== v) pk[k] = v;
  }
  if (Object.keys(pk).length) patch.privateKey = pk;
  return Object.keys(patch).length ? { spec: patch } : undefined;
}

/** Sets compare as sets (cert-manager itself compares names as sets); the issuerRef with its defaults. */
function normalise(field: string, v: unknown): unknown {
  if (v === null) return null;
  if (field === 'issuerRef') {
    const r = v as { group?: string; kind?: string; name?: string };
    return { group: r.group || CERT_MANAGER_GROUP, kind: r.kind || 'Issuer', name: r.name };
  }
  if (Array.isArray(v)) return [...v].map(String).sort();
  return v;
}

// ---- issuance ---------------------------------------------------------------------------------

/** On a Certificate: which request and pass triggered its re-issuance, and the revision before it. */
export const REISSUE_ANNOTATION = `${GROUP}/reissue`;

export interface ReissueRecord {
  /** `<opsRequest uid>/<pass>` */
  by: string;
  /** status.revision when it was triggered (0: never issued). */
  revisionBefore: number;
  /** ISO time it was triggered: the step's timeout counts from here. */
  at: string;
}

export function readReissue(cert: CertManagerCertificate): ReissueRecord | undefined {
  const raw = cert.metadata.annotations?.[REISSUE_ANNOTATION];
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as ReissueRecord;
    return typeof r.by === 'string' && typeof r.revisionBefore === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

function condition(cert: CertManagerCertificate, type: string) {
  return cert.status?.conditions?.find((c) => c.type === type);
}

export function isIssuing(cert: CertManagerCertificate): boolean {
  return condition(cert, 'Issuing')?.status === 'True';
}

export type IssuanceState = { done: true } | { done: false; failed?: string; why: string };

/**
 * Has the re-issuance recorded in `record` completed? Done: a revision after the one before it,
 * no issuance in progress, and Ready for the current generation (so the spec written with the
 * trigger is the one issued). Failed: cert-manager marked the issuance failed after the trigger
 * (Issuing False, reason Failed) — it would back off for an hour, so waiting is pointless.
 */
export function issuanceState(cert: CertManagerCertificate, record: ReissueRecord): IssuanceState {
  const revision = cert.status?.revision ?? 0;
  const ready = condition(cert, 'Ready');
  const issuing = condition(cert, 'Issuing');
  if (issuing?.status === 'False' && issuing.reason === 'Failed') {
    const failedAt = Date.parse(cert.status?.lastFailureTime ?? issuing.lastTransitionTime ?? '');
    if (!Number.isNaN(failedAt) && failedAt >= Date.parse(record.at) - 1000)
      return { done: false, failed: issuing.message ?? 'issuance failed', why: 'issuance failed' };
  }
  if (
    revision > record.revisionBefore &&
    issuing?.status !== 'True' &&
    ready?.status === 'True' &&
    (ready.observedGeneration === undefined || ready.observedGeneration === cert.metadata.generation)
  )
    return { done: true };
  const why =
    issuing?.status === 'True' ? `issuing (${issuing.message ?? issuing.reason ?? ''})` : ready?.message;
  return { done: false, why: `revision ${revision}, ${why ?? 'not ready yet'}` };
}

/** The aliases whose Certificate exists, by alias, from a list of Certificates in the namespace. */
export function certificatesBySecret(
  certs: readonly CertManagerCertificate[],
  secretNames: Record<CertificateAlias, string>,
): Partial<Record<CertificateAlias, CertManagerCertificate>> {
  const out: Partial<Record<CertificateAlias, CertManagerCertificate>> = {};
  for (const alias of CERTIFICATE_ALIASES) {
    const c = certs.find((x) => x.spec?.secretName === secretNames[alias]);
    if (c) out[alias] = c;
  }
  return out;
}

/** KubeDB's labels and owner on a Certificate it creates for a database. */
export function certificateMeta(
  db: PerconaXtraDB,
  alias: CertificateAlias,
): CertManagerCertificate['metadata'] {
  const name = db.metadata.name!;
  return {
    name: certificateName(name, alias),
    namespace: db.metadata.namespace!,
    labels: {
      'app.kubernetes.io/component': 'database',
      'app.kubernetes.io/instance': name,
      'app.kubernetes.io/managed-by': 'kubedb.com',
      'app.kubernetes.io/name': 'perconaxtradbs.kubedb.com',
    },
    ...(db.metadata.uid
      ? {
          ownerReferences: [
            {
              apiVersion: 'kubedb.com/v1',
              kind: 'PerconaXtraDB',
              name,
              uid: db.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        }
      : {}),
  };
}
