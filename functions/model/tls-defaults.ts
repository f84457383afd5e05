/**
 * What KubeDB stores for a PerconaXtraDB's `spec.tls`: its mutating webhook runs `SetDefaults` →
 * `SetTLSDefaults` on every write (kubedb/apimachinery apis/kubedb/v1/perconaxtradb_helpers.go;
 * pkg/webhooks/kubedb/v1/perconaxtradb.go `Default`). With `issuerRef` set, each of `server`,
 * `client` and `metrics-exporter` gets a `certificates[]` entry, and an entry without `secretName`
 * gets `<db>-<alias>-cert` (kmodules `SetMissingSecretNameForCertificate`: existing entries keep
 * their place, missing ones are appended in that order). So what the workflow writes is not what it
 * reads back: every comparison of `spec.tls` is made between defaulted values, key order aside (the
 * API server stores Go struct order, not ours). Pure.
 */
import { canonical } from './frozen-spec.js';
import type { CertificateAlias, TLSConfig } from './types.js';

const ALIASES: CertificateAlias[] = ['server', 'client', 'metrics-exporter'];

/** `SetTLSDefaults` on a copy (null/undefined stay as they are: TLS off). */
export function withKubedbDefaults(database: string, tls: TLSConfig | null | undefined): TLSConfig | null {
  if (!tls) return null;
  if (!tls.issuerRef) return { ...tls };
  const certificates = (tls.certificates ?? []).map((c) => ({ ...c }));
  for (const alias of ALIASES) {
    const entry = certificates.find((c) => c.alias === alias);
    if (!entry) certificates.push({ alias, secretName: `${database}-${alias}-cert` });
    else if (!entry.secretName) entry.secretName = `${database}-${alias}-cert`;
  }
  return { ...tls, certificates };
}

/** Whether two `spec.tls` values are the same once KubeDB has defaulted both. */
export function sameStoredTls(
  database: string,
  a: TLSConfig | null | undefined,
  b: TLSConfig | null | undefined,
): boolean {
  return canonical(withKubedbDefaults(database, a)) === canonical(withKubedbDefaults(database, b));
}
