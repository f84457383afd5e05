/**
 * Change certificates, act — a `certificates` pass: new keys and certificates for the three
 * aliases, either signed here with the issuers' CAs (node-forge) or issued by cert-manager through
 * the Certificates that own the Secrets. During a change of the server's CA every Secret's ca.crt
 * keeps the CAs the pods trusted before, beside the new one. Safe to repeat: before any pod
 * restarts, fresh keys again are as good as the first ones.
 */
import type { Deps } from '../deps.js';
import { DatabaseStateError, InvalidIssuerError, InvalidRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import type { ConditionInput } from '../model/conditions.js';
import { CA_SINCE_ANNOTATION } from '../model/names.js';
import type { CertificateAlias, PerconaXtraDB } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import type { CertificateAuthority } from '../pki/index.js';
import { loadPki, type Pki } from '../pki/load.js';
import { BACKDATE_MS } from '../pki/profile.js';
import { base64 } from './appbinding.js';
import { originalCa } from './backup.js';
import { awaitIssued, desiredSpecs, ensureReissued } from './cert-manager.js';
import { type SecretObject, upsertSecret } from './common.js';
import { describeIssuer, issuersByAlias } from './issuers.js';
import { decoded, type PassContext, readSecrets, syncAppBinding } from './pass-context.js';
import type { IssuedFacts } from './round.js';

/** What a pass wrote, for the request's status and the execution's state. */
export interface PassOutcome {
  certificates: IssuedFacts[];
  conditions: ConditionInput[];
  /** A trust pass changed some ca.crt (or must restart pods that never loaded it). */
  changedTrust: boolean;
  /** The server ca.crt the pass wrote when it must keep the old CA beside the new (a change of CA). */
  trustBundle?: string;
}

/** Issues the certificates with the issuers' CAs here, and writes the Secrets. */
export async function issueLocally(deps: Deps, ctx: PassContext): Promise<PassOutcome> {
  const { ns, plan, target, targetNames, currentNames, secrets } = ctx;
  const pki = await loadPki();
  const { issueCertificates, mergeTrustBundle, secretManifest } = pki;
  const issuers = await issuersByAlias(deps, ns, target);
  const caByAlias = Object.fromEntries(
    CERTIFICATE_ALIASES.map((alias) => {
      const ca = issuers[alias].ca;
      if (!ca)
        throw new InvalidIssuerError(
          `${describeIssuer(issuers[alias].ref, ns)} can only sign through cert-manager Certificates`,
        );
      return [alias, ca];
    }),
  ) as Record<CertificateAlias, CertificateAuthority>;
  for (const alias of CERTIFICATE_ALIASES)
    neverTheCa(caByAlias[alias].secretRef, ns, Object.values(targetNames));
  const oldCa = ctx.keepOld ? decoded(pki, secrets.get(currentNames.server))?.['ca.crt'] : undefined;
  const issued = await issueCertificates({
    database: plan.database,
    namespace: ns,
    certificates: target.certificates,
    ca: caByAlias.server,
    caByAlias,
    // Every alias keeps its own root beside the CAs the pods trusted before.
    ...(oldCa
      ? {
          trustBundleByAlias: Object.fromEntries(
            CERTIFICATE_ALIASES.map((a) => [a, mergeTrustBundle(oldCa, caByAlias[a].rootPem)]),
          ),
        }
      : {}),
    now: issueTime(deps.clock.now(), replacedNotBefore(pki, secrets.get(currentNames.server))),
  });
  for (const s of issued) {
    const previous = secrets.get(s.secretName);
    const manifest = secretManifest(s, ns, ownerRefs(ctx.db));
    const since = caSince(pki, previous, s.data['ca.crt'], deps.clock.now());
    if (since) manifest.metadata.annotations[CA_SINCE_ANNOTATION] = since;
    await upsertSecret(deps.kube, manifest, previous);
  }
  const serverCa = issued.find((s) => s.alias === 'server')!.data['ca.crt'];
  await syncAppBinding(deps, ctx, serverCa, targetNames.client);
  const signers = [...new Set(CERTIFICATE_ALIASES.map((a) => describeIssuer(issuers[a].ref, ns)))];
  return {
    certificates: issued.map((s) => ({
      alias: s.alias,
      secretName: s.secretName,
      serial: s.serial,
      notAfter: s.notAfter,
    })),
    conditions: [
      {
        type: 'IssueCertificatesSucceeded',
        status: 'True',
        reason: 'IssueCertificatesSucceeded',
        message: `Issued ${issued.length} certificates signed by ${signers.join(', ')}`,
      },
      {
        type: 'CertificateSynced',
        status: 'True',
        reason: 'CertificateSynced',
        message: 'Successfully synced all certificates',
      },
    ],
    changedTrust: false,
  };
}

/**
 * Has cert-manager re-issue every Certificate and waits for it; then puts the CAs the pods trusted
 * before back into each ca.crt beside the issued one (cert-manager never reads ca.crt, so it does
 * not undo that), and records when each ca.crt took effect.
 */
export async function issueWithCertManager(deps: Deps, ctx: PassContext): Promise<PassOutcome> {
  const { ns, plan, pass, db, target, targetNames, currentNames, secrets } = ctx;
  const pki = await loadPki();
  const by = `${plan.opsRequestUid}/${pass}`;
  const written = await ensureReissued(deps, db, desiredSpecs(db, target, targetNames), by);
  const names = written.map((c) => c.metadata.name!);
  await awaitIssued(deps, ns, names, by, plan.timeoutSeconds, written);
  const old = ctx.keepOld
    ? await originalCa(deps, ns, plan.database, ctx.opsRequest, currentNames.server)
    : undefined;
  const fresh = await readSecrets(deps, ns, plan.database, Object.values(targetNames));
  let serverCa = '';
  const certificates: IssuedFacts[] = [];
  for (const alias of CERTIFICATE_ALIASES) {
    const secret = fresh.get(targetNames[alias]);
    const data = decoded(pki, secret);
    if (!secret || !data?.['tls.crt'])
      throw new DatabaseStateError(`cert-manager issued no Secret ${ns}/${targetNames[alias]}`);
    const bundle = await keepTrustedCas(deps, pki, secret, secrets.get(targetNames[alias]), old);
    if (alias === 'server') serverCa = bundle;
    const seen = pki.certificateValidity(data['tls.crt']);
    certificates.push({
      alias,
      secretName: targetNames[alias],
      serial: seen.serial,
      notAfter: seen.notAfter,
    });
  }
  await syncAppBinding(deps, ctx, serverCa, targetNames.client);
  return {
    certificates,
    conditions: [
      { type: 'GetCertificate', status: 'True', message: 'get certificate; ConditionStatus:True' },
      { type: 'CheckReadyCondition', status: 'True', message: 'check ready condition; ConditionStatus:True' },
      { type: 'IssuingCondition', status: 'True', message: 'issuing condition; ConditionStatus:True' },
      {
        type: 'IssueCertificatesSucceeded',
        status: 'True',
        reason: 'IssueCertificatesSucceeded',
        message: 'successfully add issuing condition to all the certificates',
      },
      {
        type: 'CertificateSynced',
        status: 'True',
        reason: 'CertificateSynced',
        message: 'Successfully synced all certificates',
      },
    ],
    changedTrust: false,
    ...(old ? { trustBundle: serverCa } : {}),
  };
}

/**
 * The ca.crt a Secret cert-manager just wrote should hold: the issued CA, plus the CA the pods
 * trusted before the request when it is kept (`old`). Writes it, and the time it took effect, when
 * the Secret does not say so yet; returns it.
 */
async function keepTrustedCas(
  deps: Deps,
  pki: Pki,
  secret: SecretObject,
  previous: SecretObject | undefined,
  old: string | undefined,
): Promise<string> {
  const issuedCa = decoded(pki, secret)?.['ca.crt'] ?? '';
  const bundle = old ? pki.mergeTrustBundle(old, issuedCa) : issuedCa;
  // When the pods' ca.crt took effect (a later change of issuer asks whether they loaded it).
  const since = caSince(pki, previous, bundle, deps.clock.now());
  const stamp =
    since && since !== secret.metadata.annotations?.[CA_SINCE_ANNOTATION]
      ? { [CA_SINCE_ANNOTATION]: since }
      : undefined;
  if (bundle !== issuedCa) {
    // The overlap cert-manager does not undo: it never reads ca.crt to decide anything (see cert-manager.ts).
    await deps.kube.replace(KINDS.Secret, {
      ...secret,
      metadata: {
        ...secret.metadata,
        annotations: { ...(secret.metadata.annotations ?? {}), ...(stamp ?? {}) },
      },
      data: { ...secret.data, 'ca.crt': base64(bundle) },
    });
  } else if (stamp && decoded(pki, previous)?.['ca.crt'] !== bundle) {
    // cert-manager changed ca.crt itself: only the time is recorded.
    await deps.kube.replace(KINDS.Secret, {
      ...secret,
      metadata: { ...secret.metadata, annotations: { ...(secret.metadata.annotations ?? {}), ...stamp } },
    });
  }
  return bundle;
}

/** Belt and braces behind Validate's check: the issuer's CA Secret is never a certificate Secret. */
export function neverTheCa(ca: { namespace: string; name: string }, ns: string, names: string[]): void {
  if (ca.namespace === ns && names.includes(ca.name))
    throw new InvalidRequestError(`Secret ${ns}/${ca.name} is the issuer's CA Secret and is never written`);
}

/**
 * When the ca.crt about to be written took effect: now when it differs from the Secret's current
 * one, else the time already recorded (undefined when unknown). Pods created since loaded it.
 */
function caSince(
  pki: Pki,
  previous: SecretObject | undefined,
  caPem: string | undefined,
  now: Date,
): string | undefined {
  const before = decoded(pki, previous)?.['ca.crt'];
  if (caPem === undefined || before !== caPem) return now.toISOString();
  return previous?.metadata.annotations?.[CA_SINCE_ANNOTATION];
}

/** notBefore of the server certificate a pass replaces, when there is one to read. */
function replacedNotBefore(pki: Pki, secret: SecretObject | undefined): Date | undefined {
  const crt = decoded(pki, secret)?.['tls.crt'];
  if (!crt) return undefined;
  try {
    return new Date(pki.inspectTlsSecret({ 'tls.crt': crt }).notBefore);
  } catch {
    return undefined;
  }
}

/**
 * The issuing time of new certificates: now, unless that would give them the same notBefore (to
 * the second) as the certificate they replace — then one second after it. Validity is all MySQL
 * reports of the certificate it loaded (`Ssl_server_not_before`), so two certificates with the
 * same validity could not be told apart and a reload could never be proven (two requests within
 * one second: tests, scripts). The certificate is still valid at once: notBefore is backdated.
 */
export function issueTime(now: Date, replaced: Date | undefined): Date {
  if (!replaced) return now;
  const backdated = Math.floor(now.getTime() / 1000) * 1000 - BACKDATE_MS;
  return backdated > replaced.getTime() ? now : new Date(replaced.getTime() + BACKDATE_MS + 1000);
}

function ownerRefs(db: PerconaXtraDB) {
  return db.metadata.uid
    ? [
        {
          apiVersion: KINDS.PerconaXtraDB.apiVersion,
          kind: KINDS.PerconaXtraDB.kind,
          name: db.metadata.name!,
          uid: db.metadata.uid,
          blockOwnerDeletion: true,
        },
      ]
    : undefined;
}
