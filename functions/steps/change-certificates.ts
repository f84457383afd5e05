/**
 * Change certificates: one pass of the plan.
 *
 * Ensures, in order: a backup Secret `<db>-tls-backup-<ops>`, owned by the OpsRequest (deleting
 * the request deletes it), holds the certificate Secrets, the database TLS spec, the pod template
 * wiring and the UIDs of the pods as they were before the request (first pass only; an existing
 * backup is never overwritten, so a re-run keeps the original: a rollback then restarts only pods
 * whose UID changed since, the ones this request restarted); the
 * certificate Secrets hold what this pass needs (`certificates`: new keys signed by the issuer's
 * CA; `trust-bundle`: ca.crt = old CA + new CA, leaves unchanged; `wiring`: untouched); on the
 * last pass, the database spec and the workload's pod template match the request.
 * Returns the pods to restart (with their current UIDs) and whether another pass follows.
 * Safe to repeat: a re-run issues fresh keys again before any pod has restarted, and writes
 * spec/template only when they differ. Keeps the claim's lease and hands it to the pod restarts.
 * Never writes the issuer's CA Secret. Throws InvalidIssuerError, InvalidRequestError,
 * DatabaseStateError, LeaseLostError (fatal), Kube* errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { DatabaseStateError, InvalidIssuerError, InvalidRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { backupProblem } from '../model/backup.js';
import type { CertManagerCertificate } from '../model/certificates.js';
import type { ConditionInput } from '../model/conditions.js';
import { assertSpecFrozen } from '../model/frozen-spec.js';
import type { Lease } from '../model/lease.js';
import {
  BACKUP_LABEL,
  BACKUP_STATE_ANNOTATION,
  BACKUP_WRITER_ANNOTATION,
  backupKey,
  backupSecretName,
  CA_SINCE_ANNOTATION,
  MANAGED_BY,
} from '../model/names.js';
import {
  type PassKind,
  type Plan,
  RELOADABLE_ACTIONS,
  type RestartMode,
  type TargetTls,
  targetTls,
} from '../model/plan.js';
import { loadedCurrentCa } from '../model/trust.js';
import type { CertificateAlias, PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import { applyWiring, snapshotWiring, type TlsWiring, type WiringSnapshot } from '../model/wiring.js';
import type { CertificateAuthority } from '../pki/index.js';
import { loadPki, type Pki } from '../pki/load.js';
import { BACKDATE_MS, defaultSecretName } from '../pki/profile.js';
import {
  type AppBindingTls,
  appBindingTlsOf,
  base64,
  ensureAppBinding,
  getAppBinding,
} from './appbinding.js';
import {
  awaitIssued,
  desiredSpecs,
  ensureReissued,
  listCertificates,
  probeRoot,
  type SavedCertificate,
} from './cert-manager.js';
import {
  getDatabase,
  getOpsRequest,
  getWorkload,
  type PodObject,
  type RequestIds,
  recordEvent,
  type SecretObject,
  selectorOf,
  updateOpsStatus,
  upsertSecret,
  type Workload,
} from './common.js';
import { fenced } from './fence.js';
import { describeIssuer, issuersByAlias } from './issuers.js';
import { holdLease } from './lease.js';

export interface ChangeCertificatesInput extends RequestIds {
  plan: Plan;
  pass: number;
}

export interface PodToRestart {
  name: string;
  /** UID before the restart ('' when the pod did not exist). */
  uid: string;
  index: number;
  total: number;
}

export interface Round {
  pass: number;
  next: number;
  more: boolean;
  /** The pass; `rollback` for the round the failure path reloads back onto the restored files. */
  kind: PassKind | 'rollback';
  /** The workload's controller rolls the pods itself (RollingUpdate and the template changed). */
  rollout: boolean;
  /**
   * How the pods pick up this pass: `Reload` when the request asks for it and the pass keeps the
   * Secret names, mount paths and pod template (rotate, update, change of issuer); else `Restart`.
   */
  mode: RestartMode;
  /**
   * Peers provably trust the old and the new server material at once: the new ca.crt still
   * trusts the old certificate and the old ca.crt already trusts the new one. Only then may pods
   * reload in parallel (a pod that has reloaded and one that has not yet still trust each other).
   */
  trustOverlap: boolean;
  selector: string;
  pods: PodToRestart[];
  /** Public facts about what was issued (serials, notAfter): never key material. */
  certificates: Array<{ alias: string; secretName: string; serial: string; notAfter: string }>;
  /** The claim's lease as of this pass, for the pod restarts (they renew it only when due). */
  lease: Lease | null;
}

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

export function secretNamesOf(
  certificates: Array<{ alias: string; secretName?: string }> | undefined,
  database: string,
) {
  return Object.fromEntries(
    CERTIFICATE_ALIASES.map((alias) => [
      alias,
      certificates?.find((c) => c.alias === alias)?.secretName || defaultSecretName(database, alias),
    ]),
  ) as Record<CertificateAlias, string>;
}

export async function changeCertificates(input: ChangeCertificatesInput, given: Deps): Promise<Round> {
  const { namespace: ns, opsRequest, plan, pass } = input;
  // Every write below is refused by the API server once another execution holds the request.
  const deps = input.execution
    ? fenced(given, { namespace: ns, opsRequest, execution: input.execution })
    : given;
  const { kube, logger } = deps;
  const kind = plan.passes[pass];
  if (!kind) throw new InvalidRequestError(`pass ${pass} is not in the plan (${plan.passes.join(', ')})`);
  const final = pass === plan.passes.length - 1;

  const ops = await getOpsRequest(kube, ns, opsRequest);
  // Every pass re-reads spec.tls: it must still be the spec that was claimed.
  assertSpecFrozen(ops);
  const lease = input.execution ? await holdLease(deps, ops, input.execution) : undefined;
  const db = await getDatabase(kube, ns, plan.database);
  if (!db) throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} not found`);
  const workload = await getWorkload(kube, ns, plan.database);
  if (!workload)
    throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} has no PetSet or StatefulSet`);
  const target = targetTls(plan.action, ops.spec.tls, db);
  const hasTls = !!db.spec.tls?.issuerRef;
  const currentNames = secretNamesOf(db.spec.tls?.certificates, plan.database);
  const targetNames = secretNamesOf(target.certificates, plan.database);
  const secrets = await readSecrets(deps, ns, plan.database, hasTls ? Object.values(currentNames) : []);
  // Listed before any write: the UIDs the restarts wait to see change (and the backup's snapshot).
  const selector = selectorOf(workload.object, plan.database);
  const pods = await deps.kube.list<PodObject>(KINDS.Pod, ns, { labelSelector: selector });
  // Read now only for the backup; later passes read it only when it may have to change (below).
  const appBinding = pass === 0 ? { binding: await getAppBinding(deps, ns, plan.database) } : undefined;
  const syncAppBinding = async (serverCaPem: string, tlsSecret: string) => {
    const caBundle = base64(serverCaPem);
    // Every pass that changed the server's ca.crt (or the client Secret) brought the AppBinding
    // along, and the first pass always does: one that changes neither leaves it as it is.
    const unchanged =
      pass > 0 &&
      secrets.get(currentNames.server)?.data?.['ca.crt'] === caBundle &&
      currentNames.client === tlsSecret;
    if (!unchanged) await ensureAppBinding(deps, ns, plan.database, { caBundle, tlsSecret }, appBinding);
  };

  if (pass === 0) {
    // Removing TLS writes no Secret: only the ones in use are the request's (deleted at the end).
    const managed = [
      ...new Set([
        ...(hasTls ? Object.values(currentNames) : []),
        ...(target.enabled ? Object.values(targetNames) : []),
      ]),
    ];
    await ensureBackup(deps, {
      ns,
      ops,
      db,
      workload: { kind: workload.kind.kind, object: workload.object },
      secrets,
      managed,
      appBinding: appBindingTlsOf(appBinding?.binding),
      pods: Object.fromEntries(pods.items.map((p) => [p.metadata.name!, p.metadata.uid ?? ''])),
      ...(input.execution ? { execution: input.execution } : {}),
      approved: [...new Set([...(plan.secretNames ?? []), ...managed])],
      ...(plan.issuance === 'cert-manager'
        ? { certificates: savedCertificates(await listCertificates(deps, ns), managed) }
        : {}),
    });
  }

  const conditions: ConditionInput[] = [];
  let certificates: Round['certificates'] = [];
  let changedTrust = false;
  // During a change of the server's CA every pod keeps trusting the old CA too; it leaves at the next rotation.
  const keepOld = plan.action === 'change-issuer' || plan.passes.includes('trust-bundle');
  if (kind === 'certificates' && plan.issuance === 'cert-manager') {
    const pki = await loadPki();
    const { certificateValidity, mergeTrustBundle } = pki;
    const by = `${plan.opsRequestUid}/${pass}`;
    const written = await ensureReissued(deps, db, desiredSpecs(db, target, targetNames), by);
    const names = written.map((c) => c.metadata.name!);
    await awaitIssued(deps, ns, names, by, plan.timeoutSeconds, written);
    const old = keepOld
      ? await originalCa(deps, ns, plan.database, opsRequest, currentNames.server)
      : undefined;
    const fresh = await readSecrets(deps, ns, plan.database, Object.values(targetNames));
    let serverCa = '';
    for (const alias of CERTIFICATE_ALIASES) {
      const secret = fresh.get(targetNames[alias]);
      const data = decoded(pki, secret);
      if (!secret || !data?.['tls.crt'])
        throw new DatabaseStateError(`cert-manager issued no Secret ${ns}/${targetNames[alias]}`);
      const issuedCa = data['ca.crt'] ?? '';
      const bundle = old ? mergeTrustBundle(old, issuedCa) : issuedCa;
      if (alias === 'server') serverCa = bundle;
      // When the pods' ca.crt took effect (a later change of issuer asks whether they loaded it).
      const previous = secrets.get(targetNames[alias]);
      const since = caSince(pki, previous, bundle, deps.clock.now());
      const stamp =
        since && since !== secret.metadata.annotations?.[CA_SINCE_ANNOTATION]
          ? { [CA_SINCE_ANNOTATION]: since }
          : undefined;
      if (bundle !== issuedCa) {
        // The overlap cert-manager does not undo: it never reads ca.crt to decide anything (see cert-manager.ts).
        await kube.replace(KINDS.Secret, {
          ...secret,
          metadata: {
            ...secret.metadata,
            annotations: { ...(secret.metadata.annotations ?? {}), ...(stamp ?? {}) },
          },
          data: { ...secret.data, 'ca.crt': base64(bundle) },
        });
      } else if (stamp && decoded(pki, previous)?.['ca.crt'] !== bundle) {
        // cert-manager changed ca.crt itself: only the time is recorded.
        await kube.replace(KINDS.Secret, {
          ...secret,
          metadata: { ...secret.metadata, annotations: { ...(secret.metadata.annotations ?? {}), ...stamp } },
        });
      }
      const seen = certificateValidity(data['tls.crt']);
      certificates.push({
        alias,
        secretName: targetNames[alias],
        serial: seen.serial,
        notAfter: seen.notAfter,
      });
    }
    await syncAppBinding(serverCa, targetNames.client);
    conditions.push(
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
    );
  } else if (kind === 'certificates') {
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
    const ca = caByAlias.server;
    const oldCa = keepOld ? decoded(pki, secrets.get(currentNames.server))?.['ca.crt'] : undefined;
    const issued = await issueCertificates({
      database: plan.database,
      namespace: ns,
      certificates: target.certificates,
      ca,
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
      const manifest = secretManifest(s, ns, ownerRefs(db));
      const since = caSince(pki, previous, s.data['ca.crt'], deps.clock.now());
      if (since) manifest.metadata.annotations[CA_SINCE_ANNOTATION] = since;
      await upsertSecret(kube, manifest, previous);
    }
    const serverCa = issued.find((s) => s.alias === 'server')!.data['ca.crt'];
    await syncAppBinding(serverCa, targetNames.client);
    certificates = issued.map((s) => ({
      alias: s.alias,
      secretName: s.secretName,
      serial: s.serial,
      notAfter: s.notAfter,
    }));
    const signers = [...new Set(CERTIFICATE_ALIASES.map((a) => describeIssuer(issuers[a].ref, ns)))];
    conditions.push(
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
    );
  } else if (kind === 'trust-bundle') {
    const pki = await loadPki();
    const { mergeTrustBundle } = pki;
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
        opsRequest,
        `${plan.opsRequestUid}/${pass}`,
        plan.timeoutSeconds,
      ));
    let serverBundle: string | undefined;
    for (const name of new Set(Object.values(currentNames))) {
      const secret = secrets.get(name);
      const data = decoded(pki, secret);
      if (!secret || !data) continue;
      const bundle = mergeTrustBundle(data['ca.crt'] ?? '', newRoot);
      if (name === currentNames.server) serverBundle = bundle;
      if (bundle === data['ca.crt']) continue;
      changedTrust = true;
      await kube.replace(KINDS.Secret, {
        ...secret,
        metadata: {
          ...secret.metadata,
          annotations: {
            ...(secret.metadata.annotations ?? {}),
            [CA_SINCE_ANNOTATION]: deps.clock.now().toISOString(),
          },
        },
        data: { ...secret.data, 'ca.crt': Buffer.from(bundle, 'utf8').toString('base64') },
      });
    }
    // Clients verify the pods with the AppBinding: it trusts both CAs from now on, like the pods.
    if (serverBundle) await syncAppBinding(serverBundle, currentNames.client);
    conditions.push({
      type: 'CertificateSynced',
      status: 'True',
      reason: 'TrustBundleSynced',
      message: `ca.crt trusts both the current CA and ${describeIssuer(server.ref, ns)}'s CA`,
    });
    // ca.crt may hold both CAs already because an interrupted execution wrote it and restarted
    // only some pods (its rollback keeps trusting the new CA): the pods started before that write
    // still trust only the old CA, and would refuse the first pod on a new-CA certificate.
    if (!changedTrust && !pods.items.every((p) => loadedCurrentCa(secrets.get(currentNames.server), p)))
      changedTrust = true;
  } else if (kind === 'retire-ca') {
    // Every leaf is from the new issuers now: drop from each ca.crt the CAs trusted before the
    // request that anchor none of them, so the old CA is no longer trusted when the request ends.
    const pki = await loadPki();
    const backup = await deps.kube.get<SecretObject>(KINDS.Secret, {
      namespace: ns,
      name: backupSecretName(plan.database, opsRequest),
    });
    const names = [...new Set(Object.values(currentNames))];
    const leaves = names.map((n) => decoded(pki, secrets.get(n))?.['tls.crt'] ?? '');
    let serverCa: string | undefined;
    for (const name of names) {
      const secret = secrets.get(name);
      const data = decoded(pki, secret);
      const before = backup?.data?.[backupKey(name, 'ca.crt')];
      if (!secret || !data?.['ca.crt'] || !before) continue;
      const retired = pki.retireTrust(data['ca.crt'], Buffer.from(before, 'base64').toString('utf8'), leaves);
      if (name === currentNames.server) serverCa = retired;
      if (!retired || retired === data['ca.crt']) continue;
      changedTrust = true;
      await kube.replace(KINDS.Secret, { ...secret, data: { ...secret.data, 'ca.crt': base64(retired) } });
    }
    if (serverCa) await syncAppBinding(serverCa, currentNames.client);
    conditions.push({
      type: 'CertificateSynced',
      status: 'True',
      reason: 'RetiredOldCA',
      message:
        'ca.crt trusts only the CAs of the certificates now served: the previous CA is no longer trusted',
    });
  }

  let templateChanged = false;
  let specChanged = false;
  if (final) {
    specChanged = await ensureDatabaseSpec(deps, db, target);
    const wiring: TlsWiring = {
      enabled: target.enabled,
      requireSSL: target.requireSSL,
      secretNames: targetNames,
    };
    const { template, changed } = applyWiring(workload.object.spec.template, wiring);
    if (changed) {
      await kube.patch(
        workload.kind,
        { namespace: ns, name: plan.database },
        { spec: { template } },
        'merge',
      );
      templateChanged = true;
      conditions.push({
        type: 'UpdatePetSets',
        status: 'True',
        reason: 'UpdatePetSetsSucceeded',
        message: `Successfully reconciled the ${workload.kind.kind} ${ns}/${plan.database} with tls configuration`,
      });
    }
  }

  // A trust pass that changed no ca.crt (the pods trust the new CA already) restarts nothing.
  const restart =
    kind === 'certificates' ||
    ((kind === 'trust-bundle' || kind === 'retire-ca') && changedTrust) ||
    templateChanged ||
    specChanged;
  const rollout = templateChanged && rollsItself(workload.object);
  const toRestart = restart ? podsToRestart(pods.items, plan, rollout) : [];
  const mode: RestartMode =
    plan.restartMode === 'Reload' &&
    RELOADABLE_ACTIONS.has(plan.action) &&
    kind !== 'wiring' &&
    !templateChanged &&
    toRestart.length > 0
      ? 'Reload'
      : 'Restart';
  const trustOverlap =
    mode === 'Reload' &&
    (await overlaps(currentNames.server, secrets, await readServerSecret(deps, ns, currentNames.server)));

  await updateOpsStatus(deps, ops, { conditions });
  await recordEvent(
    deps,
    ops,
    'Normal',
    kind === 'certificates'
      ? 'IssueCertificates'
      : kind === 'trust-bundle'
        ? 'UpdateTrustBundle'
        : kind === 'retire-ca'
          ? 'RetireOldCA'
          : 'UpdatePetSets',
    `Pass ${pass + 1}/${plan.passes.length} (${kind}) done for PerconaXtraDB ${ns}/${plan.database}; ${toRestart.length} pod(s) to ${mode === 'Reload' ? `reload${trustOverlap ? ' in parallel' : ''}` : 'restart'}`,
  );
  logger.info('pass done', {
    pass,
    kind,
    templateChanged,
    specChanged,
    rollout,
    mode,
    trustOverlap,
    pods: toRestart.length,
  });
  return {
    pass,
    next: pass + 1,
    more: !final,
    kind,
    rollout,
    mode,
    trustOverlap,
    selector,
    pods: toRestart,
    certificates,
    lease: lease ?? null,
  };
}

async function readServerSecret(deps: Deps, ns: string, name: string): Promise<SecretObject | undefined> {
  return deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
}

/**
 * Whether the server Secret before this pass (`secrets`, read at the start) and after it trust
 * each other's certificate: then a pod that loaded either can verify a peer that loaded the other.
 */
async function overlaps(
  name: string,
  before: Map<string, SecretObject>,
  after: SecretObject | undefined,
): Promise<boolean> {
  const pki = await loadPki();
  const old = decoded(pki, before.get(name));
  const now = decoded(pki, after);
  if (!old?.['tls.crt'] || !old['ca.crt'] || !now?.['tls.crt'] || !now['ca.crt']) return false;
  return pki.trustOverlap(
    { certPem: old['tls.crt'], caPem: old['ca.crt'] },
    { certPem: now['tls.crt'], caPem: now['ca.crt'] },
  );
}

/** Belt and braces behind Validate's check: the issuer's CA Secret is never a certificate Secret. */
function neverTheCa(ca: { namespace: string; name: string }, ns: string, names: string[]): void {
  if (ca.namespace === ns && names.includes(ca.name))
    throw new InvalidRequestError(`Secret ${ns}/${ca.name} is the issuer's CA Secret and is never written`);
}

/** The specs of the Certificates that own any of `secretNames`, to restore on rollback. */
function savedCertificates(certs: CertManagerCertificate[], secretNames: string[]): SavedCertificate[] {
  return certs
    .filter((c) => secretNames.includes(c.spec?.secretName))
    .map((c) => ({ name: c.metadata.name!, spec: c.spec }));
}

/** The server Secret's ca.crt before the request, from the backup (the CA the pods trusted first). */
async function originalCa(
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

function decoded(pki: Pki, secret: SecretObject | undefined): Record<string, string | undefined> | undefined {
  return secret?.data ? pki.decodeSecretData(secret.data) : undefined;
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

/** The database's certificate Secrets by name: one labelled list, plus a get for named ones it missed. */
async function readSecrets(
  deps: Deps,
  ns: string,
  database: string,
  mustRead: string[],
): Promise<Map<string, SecretObject>> {
  const list = await deps.kube.list<SecretObject>(KINDS.Secret, ns, {
    labelSelector: `app.kubernetes.io/instance=${database}`,
  });
  const byName = new Map(list.items.map((s) => [s.metadata.name!, s]));
  for (const name of new Set(mustRead)) {
    if (byName.has(name)) continue;
    const s = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
    if (s) byName.set(name, s);
  }
  return byName;
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

/** Writes spec.tls / spec.requireSSL when they differ from the target; true when it wrote. */
async function ensureDatabaseSpec(deps: Deps, db: PerconaXtraDB, target: TargetTls): Promise<boolean> {
  const desiredTls = target.enabled
    ? { issuerRef: target.issuerRef, certificates: target.certificates }
    : null;
  const currentTls = db.spec.tls ?? null;
  const sameTls =
    JSON.stringify(desiredTls) ===
    JSON.stringify(
      currentTls ? { issuerRef: currentTls.issuerRef, certificates: currentTls.certificates ?? [] } : null,
    );
  const sameSsl = (db.spec.requireSSL ?? false) === target.requireSSL;
  if (sameTls && sameSsl) return false;
  await deps.kube.patch(
    KINDS.PerconaXtraDB,
    { namespace: db.metadata.namespace!, name: db.metadata.name! },
    { spec: { tls: desiredTls, requireSSL: target.requireSSL } },
    'merge',
  );
  return true;
}

/** StatefulSet semantics: RollingUpdate unless OnDelete is set. */
export function rollsItself(workload: Workload): boolean {
  return (workload.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

function podsToRestart(pods: PodObject[], plan: Plan, rollout: boolean): PodToRestart[] {
  const uid = new Map(pods.map((p) => [p.metadata.name!, p.metadata.uid ?? '']));
  // A StatefulSet's controller rolls from the highest ordinal down; eviction goes in ordinal order like KubeDB.
  const order = rollout ? [...plan.pods].reverse() : plan.pods;
  return order.map((name, index) => ({ name, uid: uid.get(name) ?? '', index, total: order.length }));
}
