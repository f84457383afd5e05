/**
 * What each certificate should contain: pure deciders, tested with tables.
 *
 * Server: as KubeDB issues it (DOMAIN.md "Certificates"). Client and metrics-exporter: KubeDB
 * does not publish its choice; ours is in docs/decisions.md ("Certificates").
 */
import type { CertificateAlias, CertificateSpec, X509Subject } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import { parseDuration } from './duration.js';

/** cert-manager's defaults. */
export const DEFAULT_DURATION = '2160h';
export const MIN_DURATION_MS = 3_600_000;
/** cert-manager refuses a renewBefore under 5 minutes. */
export const MIN_RENEW_BEFORE_MS = 5 * 60_000;
/** notBefore is set this far in the past so a peer whose clock runs a little behind accepts the certificate. */
export const BACKDATE_MS = 5 * 60_000;

export type ExtendedUsage = 'serverAuth' | 'clientAuth';

export interface CertificateProfile {
  alias: CertificateAlias;
  secretName: string;
  commonName: string;
  subject: X509Subject;
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
  extendedUsages: ExtendedUsage[];
  durationMs: number;
  /** Undefined: a third of the lifetime, like cert-manager. */
  renewBeforeMs?: number;
  encoding: 'PKCS1' | 'PKCS8';
}

export function defaultSecretName(database: string, alias: string): string {
  return `${database}-${alias}-cert`;
}

/** The names a certificate of this alias always carries, before the spec's additions. */
export function defaultIdentity(
  alias: CertificateAlias,
  database: string,
  namespace: string,
): { commonName: string; dnsNames: string[]; extendedUsages: ExtendedUsage[] } {
  const db = database;
  const ns = namespace;
  switch (alias) {
    case 'server':
      return {
        commonName: `${db}.${ns}.svc`,
        dnsNames: [
          `*.${db}-pods.${ns}.svc`,
          `*.${db}-pods.${ns}.svc.cluster.local`,
          `*.${db}.${ns}.svc`,
          db,
          `${db}.${ns}.svc`,
        ],
        extendedUsages: ['serverAuth', 'clientAuth'],
      };
    case 'client':
      // The MySQL user the certificate logs in as (`REQUIRE SUBJECT '/CN=root'` style checks).
      return { commonName: 'root', dnsNames: [], extendedUsages: ['clientAuth'] };
    case 'metrics-exporter':
      // The exporter serves /metrics over TLS behind the `<db>-stats` service and connects to mysqld as a client.
      return {
        commonName: `${db}-stats.${ns}.svc`,
        dnsNames: [`${db}-stats`, `${db}-stats.${ns}.svc`, `${db}-stats.${ns}.svc.cluster.local`],
        extendedUsages: ['serverAuth', 'clientAuth'],
      };
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * The full profile of one alias: defaults + the spec's additions, deduplicated, order kept
 * (defaults first). Assumes the spec was validated (validateCertificateSpecs).
 */
export function certificateProfile(
  alias: CertificateAlias,
  spec: CertificateSpec | undefined,
  database: string,
  namespace: string,
): CertificateProfile {
  const id = defaultIdentity(alias, database, namespace);
  const s = spec ?? { alias };
  return {
    alias,
    secretName: s.secretName || defaultSecretName(database, alias),
    commonName: id.commonName,
    subject: s.subject ?? {},
    dnsNames: unique([...id.dnsNames, ...(s.dnsNames ?? [])]),
    ipAddresses: unique(s.ipAddresses ?? []),
    emailAddresses: unique(s.emailAddresses ?? []),
    uris: unique(s.uris ?? []),
    extendedUsages: id.extendedUsages,
    durationMs: parseDuration(s.duration || DEFAULT_DURATION, 'duration'),
    renewBeforeMs: s.renewBefore ? parseDuration(s.renewBefore, 'renewBefore') : undefined,
    encoding: s.privateKey?.encoding === 'PKCS8' ? 'PKCS8' : 'PKCS1',
  };
}

/** All three aliases, in CERTIFICATE_ALIASES order. */
export function certificateProfiles(
  specs: CertificateSpec[],
  database: string,
  namespace: string,
): CertificateProfile[] {
  return CERTIFICATE_ALIASES.map((alias) =>
    certificateProfile(
      alias,
      specs.find((s) => s.alias === alias),
      database,
      namespace,
    ),
  );
}

/**
 * cert-manager's renewal time: notAfter − renewBefore, or two thirds into the lifetime when
 * renewBefore is unset (or not shorter than the lifetime).
 */
export function renewalTime(notBefore: Date, notAfter: Date, renewBeforeMs?: number): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const before =
    renewBeforeMs !== undefined && renewBeforeMs < lifetime ? renewBeforeMs : Math.floor(lifetime / 3);
  return new Date(notAfter.getTime() - before);
}

/**
 * Merges the request's certificate entries over the database's (by alias, field by field: a
 * field the request sets replaces the database's), the way KubeDB applies an update request.
 */
export function mergeCertificateSpecs(
  base: CertificateSpec[] = [],
  overlay: CertificateSpec[] = [],
): CertificateSpec[] {
  const out = base.map((c) => ({ ...c }));
  for (const o of overlay) {
    const i = out.findIndex((c) => c.alias === o.alias);
    const defined = Object.fromEntries(
      Object.entries(o).filter(([, v]) => v !== undefined),
    ) as CertificateSpec;
    if (i >= 0) out[i] = { ...out[i]!, ...defined };
    else out.push({ ...defined });
  }
  return out;
}
