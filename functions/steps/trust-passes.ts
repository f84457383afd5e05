/**
 * Change certificates, act — the passes that change only `ca.crt`, leaves untouched: the trust
 * bundle of a change of issuer (old CA + new CA, so every pod verifies every peer while they
 * restart one by one), and, in Reload mode, retiring the old CA once every leaf is from the new
 * one. Safe to repeat: a ca.crt that already says so is not written.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import { backupKey, backupSecretName } from '../model/names.js';
import { loadedCurrentCa } from '../model/trust.js';
import { loadPki } from '../pki/load.js';
import { base64 } from './appbinding.js';
import { desiredSpecs, probeRoot } from './cert-manager.js';
import type { SecretObject } from './common.js';
import { neverTheCa, type PassOutcome } from './issue-certificates.js';
import { describeIssuer, issuersByAlias } from './issuers.js';
import { decoded, type PassContext, syncAppBinding, writeCaBundle } from './pass-context.js';

/** Adds the new issuer's CA to every certificate Secret's ca.crt (and the AppBinding's caBundle). */
export async function addIssuerToTrust(deps: Deps, ctx: PassContext): Promise<PassOutcome> {
  const { ns, plan, pass, db, target, targetNames, currentNames, secrets } = ctx;
  const pki = await loadPki();
  const issuers = await issuersByAlias(deps, ns, target);
  const server = issuers.server;
  if (server.ca) neverTheCa(server.ca.secretRef, ns, Object.values(currentNames));
  // The new CA: read from a CA issuer, else learnt from a probe Certificate cert-manager issues.
  const newRoot =
    server.ca?.rootPem ??
    (await probeRoot(
      deps,
      db,
      desiredSpecs(db, target, targetNames).server,
      ctx.opsRequest,
      `${plan.opsRequestUid}/${pass}`,
      plan.timeoutSeconds,
    ));
  let changedTrust = false;
  let serverBundle: string | undefined;
  for (const name of new Set(Object.values(currentNames))) {
    const secret = secrets.get(name);
    const data = decoded(pki, secret);
    if (!secret || !data) continue;
    const bundle = pki.mergeTrustBundle(data['ca.crt'] ?? '', newRoot);
    if (name === currentNames.server) serverBundle = bundle;
    if (bundle === data['ca.crt']) continue;
    changedTrust = true;
    await writeCaBundle(deps, secret, bundle);
  }
  // Clients verify the pods with the AppBinding: it trusts both CAs from now on, like the pods.
  if (serverBundle) await syncAppBinding(deps, ctx, serverBundle, currentNames.client);
  // ca.crt may hold both CAs already because an interrupted execution wrote it and restarted
  // only some pods (its rollback keeps trusting the new CA): the pods started before that write
  // still trust only the old CA, and would refuse the first pod on a new-CA certificate.
  if (!changedTrust && !ctx.pods.every((p) => loadedCurrentCa(secrets.get(currentNames.server), p)))
    changedTrust = true;
  return {
    ...(serverBundle ? { trustBundle: serverBundle } : {}),
    certificates: [],
    conditions: [
      {
        type: 'CertificateSynced',
        status: 'True',
        reason: 'TrustBundleSynced',
        message: `ca.crt trusts both the current CA and ${describeIssuer(server.ref, ns)}'s CA`,
      },
    ],
    changedTrust,
  };
}

/**
 * Every leaf is from the new issuers now: drops from each ca.crt the CAs trusted before the
 * request (read from the backup) that anchor none of them, so the old CA is no longer trusted
 * when the request ends.
 */
export async function retireOldCa(deps: Deps, ctx: PassContext): Promise<PassOutcome> {
  const { ns, plan, currentNames, secrets } = ctx;
  const pki = await loadPki();
  const backup = await deps.kube.get<SecretObject>(KINDS.Secret, {
    namespace: ns,
    name: backupSecretName(plan.database, ctx.opsRequest),
  });
  const names = [...new Set(Object.values(currentNames))];
  const leaves = names.map((n) => decoded(pki, secrets.get(n))?.['tls.crt'] ?? '');
  // What any Secret trusted before the request: with an alias on an issuer of its own, the
  // earlier passes put the old server CA in that alias' ca.crt too, where it was not before.
  const before = names
    .map((n) => backup?.data?.[backupKey(n, 'ca.crt')])
    .filter((b): b is string => !!b)
    .map((b) => Buffer.from(b, 'base64').toString('utf8'))
    .join('');
  let changedTrust = false;
  let serverCa: string | undefined;
  for (const name of names) {
    const secret = secrets.get(name);
    const data = decoded(pki, secret);
    if (!secret || !data?.['ca.crt'] || !backup?.data?.[backupKey(name, 'ca.crt')]) continue;
    const retired = pki.retireTrust(data['ca.crt'], before, leaves);
    if (name === currentNames.server) serverCa = retired;
    if (!retired || retired === data['ca.crt']) continue;
    changedTrust = true;
    await deps.kube.replace(KINDS.Secret, { ...secret, data: { ...secret.data, 'ca.crt': base64(retired) } });
  }
  if (serverCa) await syncAppBinding(deps, ctx, serverCa, currentNames.client);
  return {
    certificates: [],
    conditions: [
      {
        type: 'CertificateSynced',
        status: 'True',
        reason: 'RetiredOldCA',
        message:
          'ca.crt trusts only the CAs of the certificates now served: the previous CA is no longer trusted',
      },
    ],
    changedTrust,
  };
}
