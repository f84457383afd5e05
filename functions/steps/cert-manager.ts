/**
 * Driving cert-manager Certificates instead of writing their Secrets (see ../model/certificates.ts
 * for why). What cert-manager does not undo, from its source:
 * - the trigger policies that re-issue (internal/controller/certificates/policies/policies.go,
 *   NewTriggerPolicyChain: SecretDoesNotExist, SecretIsMissingData, SecretPublicKeysDiffer,
 *   SecretPrivateKeyMatchesSpec, SecretIssuerAnnotationsNotUpToDate,
 *   CurrentCertificateRequestNotValidForSpec, CurrentCertificateNearingExpiry) read tls.crt,
 *   tls.key, the issuer annotations and the Certificate spec — never `ca.crt`;
 * - the post-issuance secret manager (issuing controller `ensureSecretData`) re-applies metadata
 *   with the Secret's own tls.key, tls.crt and ca.crt;
 * - only an issuance writes `ca.crt`, from the CertificateRequest's `status.ca` (issuing
 *   controller `issueCertificate`; for a CA issuer the chain's root, pkg/util/pki
 *   ParseSingleCertificateChain).
 * So the trust overlap of a change of issuer is written into `ca.crt` after each issuance (old +
 * new CA), it lasts until the next issuance — the next rotation, when the old CA leaves, as with
 * local issuance — and the Secrets' labels and annotations are never replaced.
 * Re-issuance is triggered the documented way, as `cmctl renew` does (cert-manager/cmctl
 * pkg/renew): the Certificate's status gets `Issuing=True`, reason ManuallyTriggered.
 *
 * Change certificates stays re-entrant: each Certificate records which request and pass triggered
 * it and the revision before (annotation `pxc-tls-ops.io/reissue`), so a retried step never
 * triggers twice; until every Certificate has a new revision it throws CertificatesPendingError
 * (the ASL retries), then StepTimeoutError after `spec.timeout`, or CertificateIssuanceError at
 * once when cert-manager marks an issuance failed.
 */
import type { Deps } from '../deps.js';
import { CertificateIssuanceError, CertificatesPendingError, StepTimeoutError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import {
  type CertManagerCertificate,
  certificateMeta,
  certificateSpecPatch,
  certificatesBySecret,
  desiredCertificateSpec,
  effectiveIssuerRef,
  isIssuing,
  issuanceState,
  REISSUE_ANNOTATION,
  type ReissueRecord,
  readReissue,
} from '../model/certificates.js';
import { truncateName } from '../model/names.js';
import type { TargetTls } from '../model/plan.js';
import type { CertificateAlias, PerconaXtraDB } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import { loadPki } from '../pki/load.js';
import { certificateProfile } from '../pki/profile.js';
import { DEFAULT_HOLD_SECONDS } from './check-pod.js';
import type { SecretObject } from './common.js';

export async function listCertificates(deps: Deps, ns: string): Promise<CertManagerCertificate[]> {
  const page = await deps.kube.list<CertManagerCertificate & { metadata: { name?: string } }>(
    KINDS.Certificate,
    ns,
  );
  return page.items;
}

function holdSeconds(): number {
  const v = Number(process.env.CHECK_POD_HOLD_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_HOLD_SECONDS;
}

/** The Certificate spec of every alias, as KubeDB builds it from the database's target TLS spec. */
export function desiredSpecs(
  db: PerconaXtraDB,
  target: TargetTls,
  secretNames: Record<CertificateAlias, string>,
): Record<CertificateAlias, CertManagerCertificate['spec']> {
  const ns = db.metadata.namespace!;
  const out = {} as Record<CertificateAlias, CertManagerCertificate['spec']>;
  for (const alias of CERTIFICATE_ALIASES) {
    const spec = target.certificates.find((c) => c.alias === alias);
    const p = certificateProfile(alias, spec, db.metadata.name!, ns);
    out[alias] = desiredCertificateSpec(alias, {
      ...p,
      secretName: secretNames[alias],
      issuerRef: effectiveIssuerRef(target.certificates, alias, target.issuerRef)!,
      duration: spec?.duration,
      renewBefore: spec?.renewBefore,
    });
  }
  return out;
}

/**
 * Ensures each alias's Certificate exists with the wanted spec and has been triggered once for
 * `by` (`<ops uid>/<pass>`): created Certificates issue by themselves (their Secret is not theirs
 * yet, or does not exist) but are triggered too, so every alias has one issuance to wait for.
 * Returns the Certificates as written.
 */
export async function ensureReissued(
  deps: Deps,
  db: PerconaXtraDB,
  want: Record<CertificateAlias, CertManagerCertificate['spec']>,
  by: string,
): Promise<CertManagerCertificate[]> {
  const ns = db.metadata.namespace!;
  const existing = certificatesBySecret(
    await listCertificates(deps, ns),
    Object.fromEntries(CERTIFICATE_ALIASES.map((a) => [a, want[a].secretName])) as Record<
      CertificateAlias,
      string
    >,
  );
  const now = deps.clock.now().toISOString();
  const out: CertManagerCertificate[] = [];
  for (const alias of CERTIFICATE_ALIASES) {
    let cert = existing[alias];
    if (!cert) {
      const record: ReissueRecord = { by, revisionBefore: 0, at: now };
      const meta = certificateMeta(db, alias);
      cert = await createOrGet(deps, {
        apiVersion: KINDS.Certificate.apiVersion,
        kind: KINDS.Certificate.kind,
        metadata: { ...meta, annotations: { [REISSUE_ANNOTATION]: JSON.stringify(record) } },
        spec: want[alias],
      });
    } else if (readReissue(cert)?.by !== by) {
      const record: ReissueRecord = { by, revisionBefore: cert.status?.revision ?? 0, at: now };
      const spec = certificateSpecPatch(cert.spec, want[alias]);
      cert = await deps.kube.patch<CertManagerCertificate & { metadata: object }>(
        KINDS.Certificate,
        { namespace: ns, name: cert.metadata.name! },
        { ...(spec ?? {}), metadata: { annotations: { [REISSUE_ANNOTATION]: JSON.stringify(record) } } },
        'merge',
      );
    }
    const record = readReissue(cert)!;
    if (
      !isIssuing(cert) &&
      (cert.status?.revision ?? 0) <= record.revisionBefore &&
      !issuanceFailed(cert, record)
    ) {
      cert = await triggerIssuance(deps, cert);
    }
    out.push(cert);
  }
  return out;
}

function issuanceFailed(cert: CertManagerCertificate, record: ReissueRecord): boolean {
  const s = issuanceState(cert, record);
  return !s.done && s.failed !== undefined;
}

async function createOrGet(deps: Deps, cert: CertManagerCertificate): Promise<CertManagerCertificate> {
  try {
    return await deps.kube.create(KINDS.Certificate, cert as CertManagerCertificate & { metadata: object });
  } catch (err) {
    if ((err as Error).name !== 'KubeAlreadyExistsError') throw err;
    const found = await deps.kube.get<CertManagerCertificate & { metadata: object }>(KINDS.Certificate, {
      namespace: cert.metadata.namespace!,
      name: cert.metadata.name!,
    });
    if (!found) throw err;
    return found;
  }
}

/**
 * `cmctl renew`: sets Issuing=True (reason ManuallyTriggered) on the status, with the
 * resourceVersion just read (a concurrent status write is a KubeConflictError, retried).
 */
export async function triggerIssuance(
  deps: Deps,
  cert: CertManagerCertificate,
): Promise<CertManagerCertificate> {
  const now = deps.clock
    .now()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z');
  const conditions = [
    ...(cert.status?.conditions ?? []).filter((c) => c.type !== 'Issuing'),
    {
      type: 'Issuing',
      status: 'True',
      reason: 'ManuallyTriggered',
      message: 'Certificate re-issuance manually triggered',
      lastTransitionTime: now,
      ...(cert.metadata.generation !== undefined ? { observedGeneration: cert.metadata.generation } : {}),
    },
  ];
  deps.logger.info('triggering re-issuance', { certificate: cert.metadata.name });
  return deps.kube.replace(
    KINDS.Certificate,
    { ...cert, status: { ...(cert.status ?? {}), conditions } } as CertManagerCertificate & {
      metadata: object;
    },
    'status',
  );
}

/**
 * Returns once every named Certificate has issued for its reissue record, holding a short watch;
 * else CertificatesPendingError (retried), StepTimeoutError after `timeoutSeconds` from the
 * trigger, CertificateIssuanceError when cert-manager reports the issuance failed.
 */
export async function awaitIssued(
  deps: Deps,
  ns: string,
  names: readonly string[],
  by: string,
  timeoutSeconds: number,
  seen: CertManagerCertificate[] = [],
): Promise<void> {
  const current = new Map(seen.map((c) => [c.metadata.name!, c]));
  const verdict = () => {
    const pending: string[] = [];
    for (const name of names) {
      const cert = current.get(name);
      const record = cert && readReissue(cert);
      if (!cert || !record || record.by !== by) {
        pending.push(`${name}: not triggered yet`);
        continue;
      }
      const s = issuanceState(cert, record);
      if (s.done) continue;
      if (s.failed)
        throw new CertificateIssuanceError(
          `cert-manager could not issue Certificate ${ns}/${name}: ${s.failed} (cert-manager retries only after an hour; fix the issuer and run a new request)`,
        );
      pending.push(`${name}: ${s.why}`);
    }
    return pending;
  };
  if (verdict().length === 0) return;
  const startedAt = Math.min(
    ...[...current.values()].map((c) => Date.parse(readReissue(c)?.at ?? '') || deps.clock.now().getTime()),
  );
  const deadline = startedAt + timeoutSeconds * 1000;
  const left = (deadline - deps.clock.now().getTime()) / 1000;
  if (left > 0) {
    let failure: unknown;
    const done = await deps.kube.watch<CertManagerCertificate & { metadata: object }>(
      KINDS.Certificate,
      ns,
      { timeoutSeconds: Math.max(1, Math.min(holdSeconds(), Math.ceil(left))) },
      (type, obj) => {
        if (!names.includes(obj.metadata.name!)) return false;
        if (type === 'DELETED') current.delete(obj.metadata.name!);
        else current.set(obj.metadata.name!, obj);
        try {
          return verdict().length === 0;
        } catch (err) {
          failure = err;
          return true;
        }
      },
    );
    if (failure) throw failure;
    if (done) return;
  }
  const pending = verdict();
  if (deps.clock.now().getTime() >= deadline) {
    throw new StepTimeoutError(
      `cert-manager did not issue the Certificates of ${ns} within the timeout (${timeoutSeconds}s): ${pending.join('; ')}`,
    );
  }
  throw new CertificatesPendingError(`waiting for cert-manager: ${pending.join('; ')}`);
}

/** The name of the probe Certificate (and its Secret) of one request. */
export function probeName(database: string, opsRequest: string): string {
  return truncateName(`${database}-tls-probe-${opsRequest}`);
}

/**
 * Learns the root CA of an issuer only cert-manager can sign with (Vault, AWS PCA...): a
 * short-lived Certificate like the server's, issued by it into a Secret of its own; its `ca.crt`
 * (or the top of its chain when the issuer provides none) is the CA the pods must trust before
 * their certificates move to it. The probe and its Secret are deleted once read.
 */
export async function probeRoot(
  deps: Deps,
  db: PerconaXtraDB,
  serverSpec: CertManagerCertificate['spec'],
  opsRequest: string,
  by: string,
  timeoutSeconds: number,
): Promise<string> {
  const ns = db.metadata.namespace!;
  const name = probeName(db.metadata.name!, opsRequest);
  const spec: CertManagerCertificate['spec'] = {
    ...serverSpec,
    secretName: name,
    duration: '1h',
    renewBefore: undefined,
  };
  delete spec.renewBefore;
  let cert = await deps.kube.get<CertManagerCertificate & { metadata: object }>(KINDS.Certificate, {
    namespace: ns,
    name,
  });
  if (!cert) {
    cert = (await createOrGet(deps, {
      apiVersion: KINDS.Certificate.apiVersion,
      kind: KINDS.Certificate.kind,
      metadata: {
        ...certificateMeta(db, 'server'),
        name,
        annotations: {
          [REISSUE_ANNOTATION]: JSON.stringify({ by, revisionBefore: 0, at: deps.clock.now().toISOString() }),
        },
      },
      spec,
    })) as CertManagerCertificate & { metadata: object };
  }
  await awaitIssued(deps, ns, [name], by, timeoutSeconds, [cert]);
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
  const pem = (k: string) =>
    secret?.data?.[k] ? Buffer.from(secret.data[k], 'base64').toString('utf8') : '';
  let root = pem('ca.crt');
  if (!root.trim()) {
    const { parseBundle } = await loadPki();
    const chain = parseBundle(pem('tls.crt'), `Secret ${ns}/${name} tls.crt`);
    root = chain[chain.length - 1]!.pem;
  }
  await deps.kube.delete(KINDS.Certificate, { namespace: ns, name });
  await deps.kube.delete(KINDS.Secret, { namespace: ns, name });
  return root;
}

/** What a Certificate looked like before the request: its spec, to put back on rollback. */
export interface SavedCertificate {
  name: string;
  spec: CertManagerCertificate['spec'];
}

/**
 * Puts the Certificates back as they were (spec and no reissue record) and deletes the ones the
 * request created — before their Secrets are restored, so cert-manager does not re-issue over the
 * restored data for a spec that no longer applies. The probe's Secret goes too: a request that
 * failed between the probe's issuance and its cleanup would otherwise leave a private key no
 * other path deletes. Only a Secret cert-manager wrote for the probe (its certificate-name
 * annotation) is deleted. Returns what it changed.
 */
export async function restoreCertificates(
  deps: Deps,
  ns: string,
  saved: readonly SavedCertificate[],
  opsUid: string,
  probe: string,
): Promise<string[]> {
  const changed: string[] = [];
  const probeSecret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name: probe });
  if (probeSecret?.metadata.annotations?.['cert-manager.io/certificate-name'] === probe) {
    await deps.kube.delete(KINDS.Secret, { namespace: ns, name: probe });
    changed.push(`deleted Secret ${probe}`);
  }
  const wanted = new Set(saved.map((s) => s.name));
  for (const cert of await listCertificates(deps, ns)) {
    const name = cert.metadata.name!;
    const record = readReissue(cert);
    const mine = !!record && record.by.startsWith(`${opsUid}/`);
    if (!wanted.has(name)) {
      // Created by this request (a Certificate, or a probe): it carries this request's record.
      if (mine) {
        await deps.kube.delete(KINDS.Certificate, { namespace: ns, name });
        changed.push(`deleted ${name}`);
      }
      continue;
    }
    const before = saved.find((s) => s.name === name)!;
    const spec = certificateSpecPatch(cert.spec, before.spec);
    if (!spec && !record) continue;
    await deps.kube.patch(
      KINDS.Certificate,
      { namespace: ns, name },
      { ...(spec ?? {}), metadata: { annotations: { [REISSUE_ANNOTATION]: null } } },
      'merge',
    );
    changed.push(`restored ${name}`);
  }
  return changed;
}

/** Deletes the database's Certificates (Remove TLS: before their Secrets, or cert-manager re-creates those). */
export async function deleteCertificates(
  deps: Deps,
  ns: string,
  secretNames: readonly string[],
): Promise<number> {
  let n = 0;
  for (const cert of await listCertificates(deps, ns)) {
    if (!secretNames.includes(cert.spec?.secretName)) continue;
    if (await deps.kube.delete(KINDS.Certificate, { namespace: ns, name: cert.metadata.name! })) n++;
  }
  return n;
}
