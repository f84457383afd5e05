/**
 * Validate, decide: what a claimed, well-formed request will do to its database — the action, the
 * passes and how certificates are issued — after the checks that must pass before anything is
 * paused: the database's pods Ready (`apply: IfReady`), no Galera split, every issuer usable, every
 * Secret the request would write its own to write. Reads only; writes nothing.
 */
import type { Deps } from '../deps.js';
import { DatabaseStateError, InvalidRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { type CertManagerCertificate, certificateName, effectiveIssuerRef } from '../model/certificates.js';
import {
  ALIAS_LABEL,
  backupSecretName,
  INSTANCE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
} from '../model/names.js';
import {
  type Action,
  admit,
  asksForCurrentState,
  buildPlan,
  type Plan,
  sameIssuer,
  type TargetTls,
  targetTls,
} from '../model/plan.js';
import { loadedCurrentCa } from '../model/trust.js';
import type { CertificateAlias, PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import { applyWiring, DB_CONTAINER, galeraTraffic } from '../model/wiring.js';
import { loadPki } from '../pki/load.js';
import { defaultSecretName } from '../pki/profile.js';
import { listCertificates } from './cert-manager.js';
import {
  getDatabase,
  getWorkload,
  isPodReady,
  type PodObject,
  readinessMessage,
  type SecretObject,
} from './common.js';
import { issuersByAlias } from './issuers.js';
import { secretNamesOf } from './pass-context.js';

/** The request asks for what the database already has; or the plan to carry it out. */
export type Decision =
  | { unchanged: true; action: Action; db: PerconaXtraDB }
  | { unchanged: false; action: Action; plan: Plan };

/** Decides what the request does, refusing (fatal errors) what must not start. */
export async function planRequest(
  ops: PerconaXtraDBOpsRequest,
  deps: Deps,
  /** The database as the caller just read it (one read less). */
  read?: PerconaXtraDB,
): Promise<Decision> {
  const ns = ops.metadata.namespace!;
  const found = read ?? (await getDatabase(deps.kube, ns, ops.spec.databaseRef.name));
  const action = admit(ops, found);
  const db = found!;
  const target = targetTls(action, ops.spec.tls, db);
  if (asksForCurrentState(action, target, db) && (await wiredAsAsked(deps, db, target)))
    return { unchanged: true, action, db };
  const ifReady = (ops.spec.apply ?? 'IfReady') === 'IfReady';
  let pods = ifReady ? await podsOf(deps, db) : undefined;
  if (ifReady) checkPodsReady(db, pods!);
  if (action === 'add' || action === 'remove') {
    pods ??= await podsOf(deps, db);
    refuseGaleraSplit(db, action, pods);
  }
  const database = db.metadata.name!;
  // Certificates that own the database's Secrets (now or after the request) make it cert-manager's.
  const certificates = await listCertificates(deps, ns);
  const names = [
    ...Object.values(secretNamesOf(db.spec.tls?.certificates, database)),
    ...Object.values(secretNamesOf(target.certificates, database)),
  ];
  const ownedByCertificates = certificates.some((c) => names.includes(c.spec?.secretName));
  const trust =
    target.enabled && action !== 'require-ssl'
      ? await checkIssuers(deps, { ops, db, action, target, certificates, pods })
      : {
          certManagerOnly: false,
          newCaAlreadyTrusted: false,
          serverIssuerChanges: false,
          serverCaRenewed: false,
        };
  const plan = buildPlan(ops, db, action, {
    newCaAlreadyTrusted: trust.newCaAlreadyTrusted,
    serverIssuerChanges: trust.serverIssuerChanges,
    serverCaRenewed: trust.serverCaRenewed,
    issuance: ownedByCertificates || trust.certManagerOnly ? 'cert-manager' : 'local',
    ...(process.env.DEFAULT_RESTART_MODE ? { stackRestartMode: process.env.DEFAULT_RESTART_MODE } : {}),
  });
  plan.secretNames = [...new Set(names)];
  return { unchanged: false, action, plan };
}

/**
 * Checks every issuer (exists, is supported, and for CA issuers: not expired, key matches) and the
 * Secret names before anything is paused; and what the server's CA change means for the passes:
 * whether its issuer changes or its CA was renewed, and whether the pods trust the new CA already.
 */
async function checkIssuers(
  deps: Deps,
  a: {
    ops: PerconaXtraDBOpsRequest;
    db: PerconaXtraDB;
    action: Action;
    target: TargetTls;
    certificates: CertManagerCertificate[];
    pods: PodObject[] | undefined;
  },
): Promise<{
  certManagerOnly: boolean;
  newCaAlreadyTrusted: boolean;
  serverIssuerChanges: boolean;
  serverCaRenewed: boolean;
}> {
  const { db, action, target } = a;
  let pods = a.pods;
  const issuers = await issuersByAlias(deps, db.metadata.namespace!, target);
  await checkSecretNames(deps, {
    ops: a.ops,
    db,
    target: target.certificates,
    caSecrets: Object.values(issuers).flatMap((i) => (i.ca ? [i.ca.secretRef] : [])),
    certificates: a.certificates,
  });
  const before = effectiveIssuerRef(db.spec.tls?.certificates, 'server', db.spec.tls?.issuerRef);
  const server = issuers.server;
  const serverIssuerChanges = !!before && !sameIssuer(before, server.ref);
  let newCaAlreadyTrusted = false;
  let serverCaRenewed = false;
  if ((action === 'change-issuer' || serverIssuerChanges) && server.ca) {
    pods ??= await podsOf(deps, db);
    newCaAlreadyTrusted = await podsTrust(deps, db, target, server.ca.rootFingerprint, pods);
  } else if (action === 'rotate' && server.ca) {
    // The issuer's CA was renewed (cert-manager, or a person) since these certificates were issued:
    // rolled out like a change of issuer, so no pod ever presents a certificate its peers cannot check.
    serverCaRenewed = await caRenewedSince(deps, db, target, server.ca.rootFingerprint);
    if (serverCaRenewed) {
      pods ??= await podsOf(deps, db);
      newCaAlreadyTrusted = await podsTrust(deps, db, target, server.ca.rootFingerprint, pods);
    }
  }
  return {
    certManagerOnly: Object.values(issuers).some((i) => i.class === 'cert-manager-only'),
    newCaAlreadyTrusted,
    serverIssuerChanges,
    serverCaRenewed,
  };
}

/** The workload's pod template already carries the target's TLS wiring (so no pod would change). */
async function wiredAsAsked(deps: Deps, db: PerconaXtraDB, target: TargetTls): Promise<boolean> {
  const workload = await getWorkload(deps.kube, db.metadata.namespace!, db.metadata.name!);
  if (!workload) return false;
  const wiring = {
    enabled: target.enabled,
    requireSSL: target.requireSSL,
    secretNames: secretNamesOf(target.certificates, db.metadata.name!),
  };
  return !applyWiring(workload.object.spec.template, wiring).changed;
}

/** The database's pods (one list call). */
async function podsOf(deps: Deps, db: PerconaXtraDB): Promise<PodObject[]> {
  const pods = await deps.kube.list<PodObject>(KINDS.Pod, db.metadata.namespace!, {
    labelSelector: `${INSTANCE_LABEL}=${db.metadata.name}`,
  });
  return pods.items;
}

/**
 * `apply: IfReady`: every pod of the workload must exist and be Ready before anything is paused,
 * or the request fails naming the pod and its readiness message.
 */
function checkPodsReady(db: PerconaXtraDB, pods: PodObject[]): void {
  const ns = db.metadata.namespace!;
  const name = db.metadata.name!;
  const byName = new Map(pods.map((p) => [p.metadata.name!, p]));
  const replicas = db.spec.replicas ?? 3;
  for (let i = 0; i < replicas; i++) {
    const pod = byName.get(`${name}-${i}`);
    if (!isPodReady(pod)) {
      throw new DatabaseStateError(
        `pod ${ns}/${name}-${i} is not Ready (${readinessMessage(pod)}); apply: IfReady only runs when every pod of PerconaXtraDB ${ns}/${name} is Ready (use apply: Always to proceed anyway: pods this request does not restart are then never restarted by a rollback)`,
      );
    }
  }
}

/**
 * Add or remove TLS on a cluster whose Galera traffic is encrypted would split it: each node the
 * rolling restart reaches comes back with Galera TLS turned on (add) or off (remove) while its
 * peers still have it the other way, and Galera cannot connect the two (real servers,
 * docs/galera.md). Refused before anything is paused, saying how to go on; `socket.dynamic=yes`
 * (Galera accepts both while the roll is under way) lets it through.
 */
function refuseGaleraSplit(db: PerconaXtraDB, action: 'add' | 'remove', pods: PodObject[]): void {
  for (const pod of pods) {
    const c = (
      pod.spec?.containers as Array<{ name?: string; command?: unknown[]; args?: unknown[] }> | undefined
    )?.find((x) => x.name === DB_CONTAINER);
    const traffic = galeraTraffic([...(c?.command ?? []), ...(c?.args ?? [])].map(String));
    if (!traffic.encrypted || traffic.dynamic) continue;
    const ns = db.metadata.namespace!;
    const [on, off] = action === 'add' ? ['on', 'off'] : ['off', 'on'];
    throw new DatabaseStateError(
      `PerconaXtraDB ${ns}/${db.metadata.name} encrypts Galera traffic (--pxc-encrypt-cluster-traffic=ON in pod ${pod.metadata.name}): ${action === 'add' ? 'adding' : 'removing'} TLS pod by pod would restart each node with Galera TLS ${on} while its peers still have it ${off}, and it could not join them (the cluster splits). Add socket.dynamic=yes to the pods' wsrep_provider_options first (Galera then accepts both during the roll), or turn pxc_encrypt_cluster_traffic off, then run this request again`,
    );
  }
}

/**
 * The Secrets the request will write: no two aliases share one, none is an issuer's CA Secret or
 * the request's own backup, and each is either the Secret the database already uses for that alias,
 * a Secret that does not exist yet, one this project manages for this database and alias (by its
 * labels), or (cert-manager) the Secret of a Certificate KubeDB keeps for this database and alias.
 * Reads only the names the database does not already use.
 */
export async function checkSecretNames(
  deps: Deps,
  a: {
    ops: PerconaXtraDBOpsRequest;
    db: PerconaXtraDB;
    target: Array<{ alias: string; secretName?: string }>;
    caSecrets: Array<{ namespace: string; name: string }>;
    /** The namespace's cert-manager Certificates. */
    certificates?: CertManagerCertificate[];
  },
): Promise<void> {
  const ns = a.db.metadata.namespace!;
  const database = a.db.metadata.name!;
  const targetNames = secretNamesOf(a.target, database);
  const current = a.db.spec.tls?.issuerRef ? secretNamesOf(a.db.spec.tls.certificates, database) : undefined;
  const problems: string[] = [];
  const aliasesOf = new Map<string, CertificateAlias[]>();
  for (const [alias, name] of Object.entries(targetNames) as Array<[CertificateAlias, string]>)
    aliasesOf.set(name, [...(aliasesOf.get(name) ?? []), alias]);
  for (const [name, aliases] of aliasesOf) {
    if (aliases.length > 1)
      problems.push(
        `aliases ${aliases.join(' and ')} would share Secret ${ns}/${name}: each alias needs its own`,
      );
  }
  for (const [alias, name] of Object.entries(targetNames) as Array<[CertificateAlias, string]>) {
    if (a.caSecrets.some((ca) => ca.namespace === ns && ca.name === name)) {
      problems.push(`${alias}: Secret ${ns}/${name} is the issuer's CA Secret and is never written`);
      continue;
    }
    if (name === backupSecretName(database, a.ops.metadata.name!)) {
      problems.push(`${alias}: Secret ${ns}/${name} is the name of this request's backup`);
      continue;
    }
    if (current?.[alias] === name) continue;
    const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
    if (!secret) continue;
    const labels = secret.metadata.labels ?? {};
    const ours =
      labels[MANAGED_BY_LABEL] === MANAGED_BY &&
      labels[INSTANCE_LABEL] === database &&
      labels[ALIAS_LABEL] === alias;
    if (!ours && !keptByDatabaseCertificate(a.certificates, a.db, alias, name)) {
      problems.push(
        `${alias}: Secret ${ns}/${name} already exists and is not the ${alias} certificate pxc-tls-ops manages for PerconaXtraDB ${ns}/${database} (labels ${MANAGED_BY_LABEL}=${MANAGED_BY}, ${INSTANCE_LABEL}=${database}, ${ALIAS_LABEL}=${alias}); choose another secretName or remove that Secret`,
      );
    }
  }
  if (problems.length > 0)
    throw new InvalidRequestError(`invalid request: spec.tls.certificates: ${problems.join('; ')}`);
}

/** A cert-manager Certificate of this database (KubeDB's name for the alias, or owned by it) writes this Secret. */
function keptByDatabaseCertificate(
  certificates: CertManagerCertificate[] | undefined,
  db: PerconaXtraDB,
  alias: CertificateAlias,
  secretName: string,
): boolean {
  return (certificates ?? []).some(
    (c) =>
      c.spec?.secretName === secretName &&
      (c.metadata.name === certificateName(db.metadata.name!, alias) ||
        (!!db.metadata.uid && (c.metadata.ownerReferences ?? []).some((o) => o.uid === db.metadata.uid))),
  );
}

/**
 * Whether every pod already trusts the new CA, so a CA change needs no trust pass: the server
 * Secret's ca.crt holds it, and every pod started after that ca.crt was written (a pod started
 * before still trusts only what it loaded then — an interrupted trust pass leaves exactly that).
 */
async function podsTrust(
  deps: Deps,
  db: PerconaXtraDB,
  target: { certificates: { alias: string; secretName?: string }[] },
  rootFingerprint: string,
  pods: PodObject[],
): Promise<boolean> {
  const ns = db.metadata.namespace!;
  const database = db.metadata.name!;
  const name =
    target.certificates.find((c) => c.alias === 'server')?.secretName ||
    defaultSecretName(database, 'server');
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
  if (!secret?.data?.['tls.crt']) return false;
  const byName = new Map(pods.map((p) => [p.metadata.name!, p]));
  for (let i = 0; i < (db.spec.replicas ?? 3); i++) {
    const pod = byName.get(`${database}-${i}`);
    if (!pod || pod.metadata.deletionTimestamp || !loadedCurrentCa(secret, pod)) return false;
  }
  const { decodeSecretData, inspectTlsSecret } = await loadPki();
  try {
    return inspectTlsSecret(decodeSecretData(secret.data), { now: deps.clock.now() }).caFingerprints.includes(
      rootFingerprint,
    );
  } catch {
    return false;
  }
}

/**
 * Whether the server Secret's ca.crt lacks the issuer's CA while the CA it has is still valid: the
 * issuer's CA was renewed. With the old CA already expired there is nothing to overlap with (its
 * certificates are refused by every peer anyway): the new certificates go out in one pass.
 */
async function caRenewedSince(
  deps: Deps,
  db: PerconaXtraDB,
  target: { certificates: { alias: string; secretName?: string }[] },
  rootFingerprint: string,
): Promise<boolean> {
  const name =
    target.certificates.find((c) => c.alias === 'server')?.secretName ||
    defaultSecretName(db.metadata.name!, 'server');
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: db.metadata.namespace!, name });
  if (!secret?.data?.['tls.crt'] || !secret.data['ca.crt']) return false;
  const { certificateValidity, decodeSecretData, inspectTlsSecret } = await loadPki();
  try {
    const data = decodeSecretData(secret.data);
    if (inspectTlsSecret(data, { now: deps.clock.now() }).caFingerprints.includes(rootFingerprint))
      return false;
    const signer = certificateValidity(data['tls.crt']!, { caCrt: data['ca.crt'] }).ca;
    return !!signer && Date.parse(signer.notAfter) > deps.clock.now().getTime();
  } catch {
    return false;
  }
}
