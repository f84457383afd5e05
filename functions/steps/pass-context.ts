/**
 * Change certificates, gather: everything one pass reads before it writes — the request (still
 * the claimed spec, still this execution's), the database, its workload and pods, the certificate
 * Secrets — and the AppBinding write every pass that changes `ca.crt` brings along.
 */
import type { Deps } from '../deps.js';
import { DatabaseStateError, InvalidRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { assertSpecFrozen } from '../model/frozen-spec.js';
import type { Lease } from '../model/lease.js';
import { CA_SINCE_ANNOTATION } from '../model/names.js';
import { type PassKind, type Plan, type TargetTls, targetTls } from '../model/plan.js';
import type { CertificateAlias, PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import type { Pki } from '../pki/load.js';
import { defaultSecretName } from '../pki/profile.js';
import { type AppBinding, base64, ensureAppBinding, getAppBinding } from './appbinding.js';
import {
  assertPausedByUs,
  getDatabase,
  getOpsRequest,
  getWorkload,
  type PodObject,
  type RequestIds,
  type SecretObject,
  selectorOf,
  type Workload,
} from './common.js';
import { holdLease } from './lease.js';

export interface ChangeCertificatesInput extends RequestIds {
  plan: Plan;
  pass: number;
}

/** One pass's view of the cluster, read before its first write. */
export interface PassContext {
  ns: string;
  opsRequest: string;
  plan: Plan;
  pass: number;
  kind: PassKind;
  /** The last pass: the database spec and the pod template are brought to the request. */
  final: boolean;
  ops: PerconaXtraDBOpsRequest;
  lease: Lease | undefined;
  db: PerconaXtraDB;
  workload: { kind: typeof KINDS.PetSet | typeof KINDS.StatefulSet; object: Workload };
  target: TargetTls;
  /** The database has TLS now (an issuer in its spec). */
  hasTls: boolean;
  currentNames: Record<CertificateAlias, string>;
  targetNames: Record<CertificateAlias, string>;
  /** The certificate Secrets as they were at the start of the pass, by name. */
  secrets: Map<string, SecretObject>;
  selector: string;
  /** Listed before any write: the UIDs the restarts wait to see change (and the backup's snapshot). */
  pods: PodObject[];
  /** Read on the first pass only, for the backup; later passes read it only when it may change. */
  appBinding: { binding: AppBinding | undefined } | undefined;
  /** During a change of the server's CA every pod keeps trusting the old CA too. */
  keepOld: boolean;
}

/** The Secret name of every alias: the request's `secretName`, else KubeDB's default. */
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

/**
 * Reads what the pass needs. Throws InvalidRequestError for a pass not in the plan,
 * DatabaseStateError when the database or its workload is gone, LeaseLostError (through the
 * lease) when another execution holds the request, and an error when the spec was edited.
 */
export async function gatherPass(input: ChangeCertificatesInput, deps: Deps): Promise<PassContext> {
  const { kube } = deps;
  const { namespace: ns, opsRequest, plan, pass } = input;
  const kind = plan.passes[pass];
  if (!kind) throw new InvalidRequestError(`pass ${pass} is not in the plan (${plan.passes.join(', ')})`);
  const ops = await getOpsRequest(kube, ns, opsRequest);
  // Every pass re-reads spec.tls: it must still be the spec that was claimed.
  assertSpecFrozen(ops);
  const lease = input.execution ? await holdLease(deps, ops, input.execution) : undefined;
  const db = await getDatabase(kube, ns, plan.database);
  if (!db) throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} not found`);
  // Every pass acts only while the pause is still ours (PauseLostError otherwise), before any write.
  assertPausedByUs(db, { namespace: ns, name: opsRequest }, 'change certificates');
  const workload = await getWorkload(kube, ns, plan.database);
  if (!workload)
    throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} has no PetSet or StatefulSet`);
  const target = targetTls(plan.action, ops.spec.tls, db);
  const hasTls = !!db.spec.tls?.issuerRef;
  const currentNames = secretNamesOf(db.spec.tls?.certificates, plan.database);
  const targetNames = secretNamesOf(target.certificates, plan.database);
  const secrets = await readSecrets(deps, ns, plan.database, hasTls ? Object.values(currentNames) : []);
  const selector = selectorOf(workload.object, plan.database);
  const pods = await deps.kube.list<PodObject>(KINDS.Pod, ns, { labelSelector: selector });
  const appBinding = pass === 0 ? { binding: await getAppBinding(deps, ns, plan.database) } : undefined;
  return {
    ns,
    opsRequest,
    plan,
    pass,
    kind,
    final: pass === plan.passes.length - 1,
    ops,
    lease,
    db,
    workload,
    target,
    hasTls,
    currentNames,
    targetNames,
    secrets,
    selector,
    pods: pods.items,
    appBinding,
    keepOld: plan.action === 'change-issuer' || plan.passes.includes('trust-bundle'),
  };
}

/**
 * Points the AppBinding at what the pods now trust. Every pass that changed the server's ca.crt
 * (or the client Secret) brings it along, and the first pass always does: one that changes
 * neither leaves it as it is.
 */
export async function syncAppBinding(
  deps: Deps,
  ctx: PassContext,
  serverCaPem: string,
  tlsSecret: string,
): Promise<void> {
  const caBundle = base64(serverCaPem);
  const unchanged =
    ctx.pass > 0 &&
    ctx.secrets.get(ctx.currentNames.server)?.data?.['ca.crt'] === caBundle &&
    ctx.currentNames.client === tlsSecret;
  if (!unchanged)
    await ensureAppBinding(deps, ctx.ns, ctx.plan.database, { caBundle, tlsSecret }, ctx.appBinding);
}

/** A Secret's data decoded (undefined when there is no Secret or no data). */
export function decoded(
  pki: Pki,
  secret: SecretObject | undefined,
): Record<string, string | undefined> | undefined {
  return secret?.data ? pki.decodeSecretData(secret.data) : undefined;
}

/** The database's certificate Secrets by name: one labelled list, plus a get for named ones it missed. */
export async function readSecrets(
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

/**
 * Writes `bundle` (PEM) as the Secret's ca.crt, stamping when it changed: pods started before that
 * time do not hold it yet (model/trust.ts). A replace under the Secret's resourceVersion as read.
 */
export async function writeCaBundle(deps: Deps, secret: SecretObject, bundle: string): Promise<void> {
  await deps.kube.replace(KINDS.Secret, {
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
