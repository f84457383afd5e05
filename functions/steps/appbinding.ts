/**
 * The database's AppBinding (`appcatalog.appscode.com/v1alpha1`, named like the database): how
 * backups (Stash/KubeStash) and other KubeDB clients connect. Its `spec.clientConfig.caBundle` is
 * what they verify the server with, and `spec.tlsSecret` the client certificate they present
 * (kmodules/custom-resources appbinding_types.go). KubeDB's provisioner writes it from the
 * database, but only while the database is not paused: during a change it would go stale, so
 * every pass that changes `ca.crt` writes it too.
 *
 * caBundle = the server certificate Secret's `ca.crt`: exactly what the pods trust, so during a
 * CA change it holds old + new and a client verifies every pod, restarted or not. Which Secret
 * KubeDB's PerconaXtraDB provisioner copies is not public (docs/kubedb-cert-manager.md); with one
 * issuer all three hold the same `ca.crt`.
 * Ensure semantics: no write when it already says so; no AppBinding (a cluster without the
 * KubeDB provisioner) is skipped, not created.
 */
import type { Deps } from '../deps.js';
import type { KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';

export interface AppBinding extends KubeObject {
  spec?: {
    clientConfig?: { caBundle?: string; [k: string]: unknown };
    tlsSecret?: { name?: string };
    [k: string]: unknown;
  };
}

/** What the AppBinding should say about TLS: null when TLS is off. caBundle is base64 (format: byte). */
export type AppBindingTls = { caBundle: string; tlsSecret: string } | null;

/** What an AppBinding says now (null: nothing about TLS), to keep in the rollback backup. */
export function appBindingTlsOf(binding: AppBinding | undefined): AppBindingTls | undefined {
  if (!binding) return undefined;
  const caBundle = binding.spec?.clientConfig?.caBundle;
  const tlsSecret = binding.spec?.tlsSecret?.name;
  return caBundle || tlsSecret ? { caBundle: caBundle ?? '', tlsSecret: tlsSecret ?? '' } : null;
}

export function getAppBinding(deps: Deps, ns: string, database: string): Promise<AppBinding | undefined> {
  return deps.kube.get<AppBinding>(KINDS.AppBinding, { namespace: ns, name: database });
}

/** Ensures the AppBinding `<database>` carries `want` (`binding`: as just read, to save a request); true when it wrote. */
export async function ensureAppBinding(
  deps: Deps,
  ns: string,
  database: string,
  want: AppBindingTls,
  read?: { binding: AppBinding | undefined },
): Promise<boolean> {
  const binding = read ? read.binding : await getAppBinding(deps, ns, database);
  if (!binding) {
    deps.logger.info('no AppBinding for the database, nothing to update', { database });
    return false;
  }
  const now = appBindingTlsOf(binding);
  if (JSON.stringify(now) === JSON.stringify(want)) return false;
  await deps.kube.patch(
    KINDS.AppBinding,
    { namespace: ns, name: database },
    {
      spec: {
        clientConfig: { caBundle: want?.caBundle || null },
        tlsSecret: want?.tlsSecret ? { name: want.tlsSecret } : null,
      },
    },
    'merge',
  );
  deps.logger.info('AppBinding updated', { database, tls: want !== null });
  return true;
}

/** base64 of a PEM text, as a Secret's data and the AppBinding's caBundle hold it. */
export function base64(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}
