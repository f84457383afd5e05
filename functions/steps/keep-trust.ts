/**
 * Keeping the trust overlap of a change of issuer while cert-manager owns the Secrets.
 *
 * cert-manager's CA issuer writes `ca.crt` (the issuing CA only) on every issuance, automatic
 * renewals included (cert-manager `pkg/controller/certificaterequests/ca`, issuing controller
 * `issuing/internal/secret.go`), and never reads it to decide anything. Change certificates writes
 * the overlap (old CA + new CA) after its own issuance, but a renewal between that write and a pod
 * start would leave the pod trusting one CA only: it would refuse its peers still on the other one.
 * So right before each eviction (Restart pod) and each reload (Reload pods) of such a pass, the
 * Secret's ca.crt is checked against the CAs the pass must keep trusted, and written back when
 * one is missing. The window between this check and the pod's start remains (seconds); a renewal
 * there is seen by the next pod's check and, for that pod, by the readiness of its peers.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import { loadPki } from '../pki/load.js';
import type { SecretObject } from './common.js';
import { fenced } from './fence.js';
import { decoded, writeCaBundle } from './pass-context.js';
import type { PodToRestart, TrustToKeep } from './round.js';

/**
 * Ensures ca.crt of `keep.secret` holds every CA of `keep.cas`; returns whether it wrote. The
 * written bundle starts with `cas` as the pass wrote it (so it equals the AppBinding's caBundle
 * again) and keeps any CA the Secret holds besides. `deps` should be fenced by the claim.
 */
export async function ensureTrustKept(deps: Deps, ns: string, keep: TrustToKeep): Promise<boolean> {
  const pki = await loadPki();
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name: keep.secret });
  const current = decoded(pki, secret)?.['ca.crt'] ?? '';
  if (!secret || pki.mergeTrustBundle(current, keep.cas) === pki.mergeTrustBundle(current)) return false;
  const bundle = pki.mergeTrustBundle(keep.cas, current);
  deps.logger.warn('ca.crt lost a CA the pods must still trust (cert-manager re-issued): writing it back', {
    secret: keep.secret,
  });
  await writeCaBundle(deps, secret, bundle);
  return true;
}

/** ensureTrustKept for the pods about to restart or reload, fenced by the request's claim. */
export async function keepTrustOf(
  deps: Deps,
  ids: { namespace: string; opsRequest: string; execution?: string },
  pods: PodToRestart[],
): Promise<boolean> {
  const keep = pods.find((p) => p.mustTrust)?.mustTrust;
  if (!keep) return false;
  const writer = ids.execution
    ? fenced(deps, { namespace: ids.namespace, opsRequest: ids.opsRequest, execution: ids.execution })
    : deps;
  return ensureTrustKept(writer, ids.namespace, keep);
}
