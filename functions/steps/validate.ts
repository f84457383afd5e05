/**
 * Validate: turns the execution input into a claimed, checked OpsRequest and a plan.
 *
 * Ensures: the input and then the OpsRequest's spec conform to their schemas (every field by type,
 * names as Kubernetes requires them) before anything else is read; the OpsRequest exists (console
 * input creates it, once per execution), is claimed by this execution with a lease (annotation
 * written under a resourceVersion precondition, so of two executions only one wins) with the hash
 * of its spec (frozen from then on), passes the admission rules, the issuer's CA checks, the pod readiness rule of `apply: IfReady` and the
 * Secret ownership rules, and is `Progressing`.
 * Safe to repeat: a re-run finds its own claim and recomputes the same plan.
 * Returns `skip: true`, having written nothing, for a request claimed by another execution whose
 * lease still runs, or already finished; and `skip: true` with a `result`, having marked the
 * request Successful, for one that asks for what the database already has ("nothing to change":
 * no pause, no restart). A request whose lease has run out is taken over: the
 * output then carries `recovery` (`resume: true`), and the state machine restores what the dead
 * execution changed before it comes back here. `{"recover": ...}` input goes to ./recover.ts.
 * Throws OpsManagerPresentError, having written nothing, when KubeDB's enterprise ops-manager is
 * installed (see ops-manager.ts). Throws InvalidRequestError / DatabaseStateError / InvalidIssuerError (fatal),
 * DatabaseBusyError while another request holds the database, Kube* errors from the adapter.
 */

import type { Deps } from '../deps.js';
import {
  DatabaseBusyError,
  DatabaseStateError,
  EXECUTION_INTERRUPTED,
  InvalidRequestError,
  PxcTlsOpsError,
} from '../errors.js';
import { KINDS } from '../kube/types.js';
import { type CertManagerCertificate, certificateName, effectiveIssuerRef } from '../model/certificates.js';
import { assertSpecFrozen, frozenHash } from '../model/frozen-spec.js';
import {
  type Claim,
  claimMetadata,
  claimOf,
  leaseExpired,
  leaseSecondsFrom,
  mayRunAgain,
} from '../model/lease.js';
import {
  ALIAS_LABEL,
  backupSecretName,
  CLAIM_ANNOTATION,
  CLAIMED_AT_ANNOTATION,
  CONSOLE_SOURCE,
  EXECUTION_LABEL,
  INSTANCE_LABEL,
  labelSafe,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  SOURCE_LABEL,
} from '../model/names.js';
import {
  admit,
  admitSpec,
  asksForCurrentState,
  blockingRequest,
  buildPlan,
  checkRequestType,
  type Plan,
  sameIssuer,
  targetTls,
  timeoutSeconds,
} from '../model/plan.js';
import {
  BY_NAME_INPUT_SCHEMA,
  consoleInputSchema,
  formatSchemaErrors,
  jsonType,
  RECOVER_INPUT_SCHEMA,
  type RecoverySource,
  reconfigureTlsSpecSchema,
  type Schema,
  shortValue,
  validateValue,
} from '../model/schema/index.js';
import { loadedCurrentCa } from '../model/trust.js';
import type {
  CertificateAlias,
  PerconaXtraDB,
  PerconaXtraDBOpsRequest,
  ReconfigureTLSSpec,
} from '../model/types.js';
import { applyWiring, DB_CONTAINER, galeraTraffic } from '../model/wiring.js';
import { loadPki } from '../pki/load.js';
import { defaultSecretName } from '../pki/profile.js';
import { listWatched, watchedNamespaces } from '../triggers/list.js';
import { listCertificates } from './cert-manager.js';
import {
  getDatabase,
  getWorkload,
  isPodReady,
  type PodObject,
  readinessMessage,
  recordEvent,
  type SecretObject,
  updateOpsStatus,
} from './common.js';
import { issuersByAlias } from './issuers.js';
import { claimRequest, holdLease, leaseTime } from './lease.js';
import { assertOnlyProcessor } from './ops-manager.js';
import { secretNamesOf } from './pass-context.js';
import { recoverRequest } from './recover.js';
import type { Outcome } from './resume.js';

export const ACCEPTED_SHAPES =
  'expected {"namespace": "<ns>", "opsRequest": "<name>"} to run an existing PerconaXtraDBOpsRequest, or ' +
  '{"namespace": "<ns>", "database": "<name>", "tls": {...}} (optionally with "timeout" and "apply") to create one';

export type ExecutionInput =
  | { kind: 'by-name'; namespace: string; opsRequest: string }
  | {
      kind: 'console';
      namespace: string;
      database: string;
      tls: ReconfigureTLSSpec;
      timeout?: string;
      apply?: string;
    }
  | {
      kind: 'recover';
      execution?: string;
      status?: string;
      via?: RecoverySource;
      namespace?: string;
      opsRequest?: string;
      database?: string;
    };

/** The spec of the ReconfigureTLS request a console input stands for: what Validate creates, what a dry run plans. */
export function consoleRequestSpec(
  r: Extract<ExecutionInput, { kind: 'console' }>,
): PerconaXtraDBOpsRequest['spec'] {
  return {
    type: 'ReconfigureTLS',
    databaseRef: { name: r.database },
    tls: r.tls,
    ...(r.timeout ? { timeout: r.timeout } : {}),
    ...(r.apply ? { apply: r.apply } : {}),
  };
}

export interface ValidateInput {
  request: ExecutionInput;
  execution: string;
}

/** Why this execution is recovering a request instead of (or before) carrying it out. */
export interface Recovery {
  /** The execution that held the request (absent for a Paused condition whose request is gone). */
  from?: string;
  /** Present when the request is carried out after the recovery (a re-run that took over an expired lease). */
  resume?: true;
  via: RecoverySource | 'lease take-over';
}

export interface ValidateOutput {
  namespace: string;
  opsRequest: string;
  execution: string;
  skip: boolean;
  reason?: string;
  plan?: Plan;
  round?: { next: number };
  /** Set when Validate itself finished the request (nothing to change): the outcome to publish. */
  result?: Outcome;
  /** Set when this execution recovers the request (the ASL goes to Roll back, then on or out). */
  recovery?: Recovery;
  /** With `recovery`: what the request is failed with, as a Catch would have recorded it. */
  error?: { Error: string; Cause: string };
  /** With a recovery of a request that no longer exists: the database it left paused. */
  database?: string;
}

const BY_NAME = ['namespace', 'opsRequest'];
const CONSOLE = ['namespace', 'database', 'tls', 'timeout', 'apply'];

/**
 * One of the accepted input shapes, every field checked against its schema; anything else is an
 * InvalidRequestError that shows both shapes and never more than ~100 characters of a value.
 */
export function parseExecutionInput(raw: unknown): ExecutionInput {
  const reject = (why: string): never => {
    throw new InvalidRequestError(`invalid input (${why}): ${ACCEPTED_SHAPES}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return reject(`not a JSON object: got ${jsonType(raw)} ${shortValue(raw)}`);
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  const shape: [string[], Schema] = keys.includes('recover')
    ? [['recover'], RECOVER_INPUT_SCHEMA]
    : keys.includes('opsRequest')
      ? [BY_NAME, BY_NAME_INPUT_SCHEMA]
      : [CONSOLE, consoleInputSchema()];
  const extra = keys.filter((k) => !shape[0].includes(k));
  if (extra.length > 0)
    reject(
      `unexpected field(s) ${extra.slice(0, 5).map(fieldName).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}`,
    );
  const errors = validateValue(shape[1], o, { unknownFields: 'reject' });
  if (errors.length > 0) reject(formatSchemaErrors(errors));
  if (shape[1] === RECOVER_INPUT_SCHEMA) {
    const r = o.recover as Omit<Extract<ExecutionInput, { kind: 'recover' }>, 'kind'>;
    if (!r.execution && !(r.namespace && r.opsRequest))
      reject('recover needs "execution", or "namespace" and "opsRequest"');
    return { kind: 'recover', ...r };
  }
  if (shape[1] === BY_NAME_INPUT_SCHEMA)
    return { kind: 'by-name', namespace: o.namespace as string, opsRequest: o.opsRequest as string };
  return {
    kind: 'console',
    namespace: o.namespace as string,
    database: o.database as string,
    tls: o.tls as ReconfigureTLSSpec,
    ...(o.timeout !== undefined ? { timeout: o.timeout as string } : {}),
    ...(o.apply !== undefined ? { apply: o.apply as string } : {}),
  };
}

/** A field name as typed, unless it is long or odd (then quoted and shortened). */
function fieldName(k: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(k) ? k : shortValue(k, 40);
}

/** The edge validator of the Validate handler. */
export function parseValidateEvent(event: unknown): ValidateInput {
  const e = (event && typeof event === 'object' ? event : {}) as Record<string, unknown>;
  const execution = typeof e.execution === 'string' && e.execution ? e.execution : 'local';
  return { request: parseExecutionInput(e.request), execution };
}

/** The spec of a ReconfigureTLS request against KubeDB's schema (names tightened); InvalidRequestError naming each bad field. */
export function checkSpecSchema(ops: PerconaXtraDBOpsRequest): void {
  const errors = validateValue(reconfigureTlsSpecSchema(), ops.spec, {
    path: 'spec',
    unknownFields: 'reject',
  });
  if (errors.length > 0) throw new InvalidRequestError(`invalid request: ${formatSchemaErrors(errors)}`);
}

export async function validate(input: ValidateInput, deps: Deps): Promise<ValidateOutput> {
  const { kube, logger } = deps;
  const { request, execution } = input;
  if (request.kind === 'recover') return recoverRequest(request, execution, deps);
  const ns = request.namespace;
  // Before anything is created or claimed: with KubeDB's ops-manager installed the request is its.
  await assertOnlyProcessor(kube);
  const name = request.kind === 'console' ? await ensureConsoleRequest(input, deps) : request.opsRequest;
  const out = (skip: boolean, reason?: string): ValidateOutput => ({
    namespace: ns,
    opsRequest: name,
    execution,
    skip,
    ...(reason ? { reason } : {}),
  });

  let ops = await findOpsRequest(deps, ns, name);
  // A request a recovery failed because its execution was interrupted may be run again.
  const rerun = request.kind === 'by-name' && mayRunAgain(ops);
  const phase = ops.status?.phase;
  if (!rerun && (phase === 'Successful' || phase === 'Failed' || phase === 'Skipped')) {
    logger.info('request already finished, nothing to do', { phase });
    return out(true, `already ${phase}`);
  }
  checkRequestType(ops);
  const claim = claimOf(ops);
  if (claim.holder && claim.holder !== execution && !rerun) {
    if (!leaseExpired(claim, leaseTime(deps, 'observer'))) {
      logger.info('request claimed by another execution, nothing to do', { owner: claim.holder });
      return out(
        true,
        `claimed by execution ${claim.holder}${claim.lease ? ` (lease until ${claim.lease.until})` : ''}`,
      );
    }
    return takeOver(ops, claim, execution, deps, out(false));
  }
  // The claim records the spec's hash (console-created requests are claimed at creation, so
  // their hash is added on the first pass here); from then on an edited spec fails the request.
  if (claim.holder !== execution || frozenHash(ops) === undefined)
    ops = await claimRequest(ops, execution, deps, rerun);
  else await holdLease(deps, ops, execution);
  assertSpecFrozen(ops);

  // Every field by type before anything else is read: a list for a name never reaches a URL.
  checkSpecSchema(ops);
  // A request that can never run is refused now, not after waiting for another one to finish.
  admitSpec(ops);
  await waitForOtherRequests(ops, deps);

  const db = await getDatabase(kube, ns, ops.spec.databaseRef.name);
  const action = admit(ops, db);
  const target = targetTls(action, ops.spec.tls, db!);
  if (asksForCurrentState(action, target, db!) && (await wiredAsAsked(deps, db!, target))) {
    return { ...out(true, 'nothing to change'), result: await finishUnchanged(ops, db!, action, deps) };
  }
  const ifReady = (ops.spec.apply ?? 'IfReady') === 'IfReady';
  let pods = ifReady ? await podsOf(deps, db!) : undefined;
  if (ifReady) checkPodsReady(db!, pods!);
  if (action === 'add' || action === 'remove') {
    pods ??= await podsOf(deps, db!);
    refuseGaleraSplit(db!, action, pods);
  }
  const database = db!.metadata.name!;
  // Certificates that own the database's Secrets (now or after the request) make it cert-manager's.
  const certificates = await listCertificates(deps, ns);
  const names = [
    ...Object.values(secretNamesOf(db!.spec.tls?.certificates, database)),
    ...Object.values(secretNamesOf(target.certificates, database)),
  ];
  let issuance: Plan['issuance'] = certificates.some((c) => names.includes(c.spec?.secretName))
    ? 'cert-manager'
    : 'local';
  let newCaAlreadyTrusted = false;
  let serverIssuerChanges = false;
  let serverCaRenewed = false;
  if (target.enabled && action !== 'require-ssl') {
    // Checks every issuer (exists, is supported, and for CA issuers: not expired, key matches)
    // before anything is paused.
    const issuers = await issuersByAlias(deps, ns, target);
    if (Object.values(issuers).some((i) => i.class === 'cert-manager-only')) issuance = 'cert-manager';
    await checkSecretNames(deps, {
      ops,
      db: db!,
      target: target.certificates,
      caSecrets: Object.values(issuers).flatMap((i) => (i.ca ? [i.ca.secretRef] : [])),
      certificates,
    });
    const before = effectiveIssuerRef(db!.spec.tls?.certificates, 'server', db!.spec.tls?.issuerRef);
    const server = issuers.server;
    serverIssuerChanges = !!before && !sameIssuer(before, server.ref);
    if ((action === 'change-issuer' || serverIssuerChanges) && server.ca) {
      pods ??= await podsOf(deps, db!);
      newCaAlreadyTrusted = await podsTrust(deps, db!, target, server.ca.rootFingerprint, pods);
    } else if (action === 'rotate' && server.ca) {
      // The issuer's CA was renewed (cert-manager, or a person) since these certificates were issued:
      // rolled out like a change of issuer, so no pod ever presents a certificate its peers cannot check.
      serverCaRenewed = await caRenewedSince(deps, db!, target, server.ca.rootFingerprint);
      if (serverCaRenewed) {
        pods ??= await podsOf(deps, db!);
        newCaAlreadyTrusted = await podsTrust(deps, db!, target, server.ca.rootFingerprint, pods);
      }
    }
  }
  const plan = buildPlan(ops, db!, action, {
    newCaAlreadyTrusted,
    serverIssuerChanges,
    serverCaRenewed,
    issuance,
    ...(process.env.DEFAULT_RESTART_MODE ? { stackRestartMode: process.env.DEFAULT_RESTART_MODE } : {}),
  });
  plan.secretNames = [...new Set(names)];

  if (ops.status?.phase !== 'Progressing') {
    await updateOpsStatus(deps, ops, {
      phase: 'Progressing',
      conditions: [
        {
          type: 'Running',
          status: 'True',
          reason: 'Running',
          message: `Controller has started to Progress the PerconaXtraDBOpsRequest: ${ns}/${name} (ReconfigureTLS ${action} of PerconaXtraDB ${ns}/${plan.database}: ${plan.passes.length} pass(es) over ${plan.replicas} pods${plan.restartMode === 'Reload' ? '; Reload mode: TLS reloaded in running pods, restarts only where a reload cannot be proven' : ''})`,
        },
        ...(rerun
          ? [
              {
                type: 'Failed',
                status: 'False' as const,
                reason: 'RunAgain',
                message: `Run again by execution ${execution} after an interrupted execution`,
              },
            ]
          : []),
      ],
    });
    await recordEvent(
      deps,
      ops,
      'Normal',
      'Starting',
      `Start processing for PerconaXtraDBOpsRequest: ${ns}/${name} (ReconfigureTLS ${action} of PerconaXtraDB ${ns}/${plan.database})`,
    );
  }
  logger.info('request validated', { action, passes: plan.passes, restartMode: plan.restartMode });
  return { ...out(false), plan, round: { next: 0 } };
}

/** The workload's pod template already carries the target's TLS wiring (so no pod would change). */
async function wiredAsAsked(
  deps: Deps,
  db: PerconaXtraDB,
  target: ReturnType<typeof targetTls>,
): Promise<boolean> {
  const workload = await getWorkload(deps.kube, db.metadata.namespace!, db.metadata.name!);
  if (!workload) return false;
  const wiring = {
    enabled: target.enabled,
    requireSSL: target.requireSSL,
    secretNames: secretNamesOf(target.certificates, db.metadata.name!),
  };
  return !applyWiring(workload.object.spec.template, wiring).changed;
}

/** Marks a request that asks for the current state Successful, without pausing or restarting anything. */
async function finishUnchanged(
  ops: PerconaXtraDBOpsRequest,
  db: PerconaXtraDB,
  action: string,
  deps: Deps,
): Promise<Outcome> {
  const ns = ops.metadata.namespace!;
  const reason = `PerconaXtraDB ${ns}/${db.metadata.name} already has the TLS settings this request asks for: nothing to change, no pod restarted`;
  await updateOpsStatus(deps, ops, {
    phase: 'Successful',
    conditions: [
      { type: 'Running', status: 'False', reason: 'NothingToChange', message: reason },
      { type: 'Successful', status: 'True', reason: 'NothingToChange', message: reason },
    ],
  });
  await recordEvent(deps, ops, 'Normal', 'NothingToChange', reason);
  deps.logger.info('nothing to change');
  return {
    namespace: ns,
    opsRequest: ops.metadata.name!,
    database: db.metadata.name!,
    action,
    phase: 'Successful',
    reason,
  };
}

/**
 * The claim's lease has run out: its execution stopped renewing it (killed, or gone without a
 * trace). Take the request over; the state machine then restores what that execution changed
 * (Roll back, Check restored pods) and comes back to Validate to carry the request out afresh.
 */
async function takeOver(
  ops: PerconaXtraDBOpsRequest,
  claim: Claim,
  execution: string,
  deps: Deps,
  out: ValidateOutput,
): Promise<ValidateOutput> {
  const taken = await claimRequest(ops, execution, deps);
  const cause =
    `execution ${claim.holder} stopped renewing its claim (lease expired at ${claim.lease?.until}); ` +
    `execution ${execution} took the request over`;
  deps.logger.warn('took over a request whose lease had expired', { from: claim.holder });
  await recordEvent(
    deps,
    taken,
    'Warning',
    'TakeOver',
    `${cause}; restoring what it changed, then starting over`,
  );
  return {
    ...out,
    recovery: { from: claim.holder!, resume: true, via: 'lease take-over' },
    error: { Error: EXECUTION_INTERRUPTED, Cause: cause },
  };
}

async function waitForOtherRequests(ops: PerconaXtraDBOpsRequest, deps: Deps): Promise<void> {
  const ns = ops.metadata.namespace!;
  const all = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ns);
  const other = blockingRequest(ops, all.items, CLAIM_ANNOTATION);
  if (!other) return;
  const since = Date.parse(
    ops.metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? ops.metadata.creationTimestamp ?? '',
  );
  let limit = 600;
  try {
    limit = timeoutSeconds(ops);
  } catch {
    // admission reports a bad timeout once the database is free
  }
  const waited =
    (deps.clock.now().getTime() - (Number.isNaN(since) ? deps.clock.now().getTime() : since)) / 1000;
  const otherClaim = claimOf(other);
  const stale = otherClaim.holder && leaseExpired(otherClaim, leaseTime(deps, 'observer'));
  // A request whose execution died without a trace holds the database until it is run again or recovered.
  const dead = stale
    ? ` (its execution ${otherClaim.holder} stopped renewing its lease at ${otherClaim.lease?.until}: run that request again, or recover it, to free the database)`
    : '';
  const what = `PerconaXtraDBOpsRequest ${ns}/${other.metadata.name} is still ${other.status?.phase ?? 'claimed'} on PerconaXtraDB ${ns}/${ops.spec.databaseRef.name}${dead}`;
  if (waited > limit) {
    throw new DatabaseStateError(
      `${what}; waited ${Math.round(waited)}s, longer than this request's timeout (${limit}s)`,
    );
  }
  deps.logger.info('waiting for another request on the same database', { other: other.metadata.name });
  const message = `Waiting: PerconaXtraDBOpsRequest ${ns}/${other.metadata.name} (${other.status?.phase ?? 'claimed'}) holds PerconaXtraDB ${ns}/${ops.spec.databaseRef.name}${dead}; this request gives up in ${Math.max(0, limit - Math.round(waited))}s`;
  await recordEvent(deps, ops, 'Normal', 'Waiting', message, { series: 'database-busy' });
  throw new DatabaseBusyError(message);
}

/**
 * The OpsRequest the input names, or an InvalidRequestError that says where it is when it exists
 * in another namespace (one list across namespaces, only when it is missing).
 */
async function findOpsRequest(deps: Deps, ns: string, name: string): Promise<PerconaXtraDBOpsRequest> {
  const ops = await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
    namespace: ns,
    name,
  });
  if (ops) return ops;
  let elsewhere: string[] = [];
  try {
    const all = await listWatched<PerconaXtraDBOpsRequest>(
      deps.kube,
      KINDS.PerconaXtraDBOpsRequest,
      watchedNamespaces(),
      { fieldSelector: `metadata.name=${name}` },
    );
    elsewhere = all.items.map((o) => o.metadata.namespace!).filter((n) => n && n !== ns);
  } catch {
    // Not allowed to list across namespaces: the plain "not found" below still says what is wrong.
  }
  throw new InvalidRequestError(
    `There is no PerconaXtraDBOpsRequest "${name}" in namespace "${ns}"` +
      (elsewhere.length
        ? `; one with that name is in namespace ${elsewhere.map((n) => `"${n}"`).join(', ')}: use that namespace`
        : ': check the name and namespace (kubectl get pxcops -A)'),
  );
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

/** Console input: the OpsRequest this execution created, or a new one (generated name, labelled, claimed). */
async function ensureConsoleRequest(input: ValidateInput, deps: Deps): Promise<string> {
  const r = input.request as Extract<ExecutionInput, { kind: 'console' }>;
  const label = labelSafe(input.execution);
  const existing = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, r.namespace, {
    labelSelector: `${EXECUTION_LABEL}=${label}`,
  });
  const mine = existing.items[0];
  if (mine) return mine.metadata.name!;
  const claim = claimMetadata(
    input.execution,
    leaseTime(deps, 'holder'),
    leaseSecondsFrom(deps.leaseSeconds),
  );
  const created = await deps.kube
    .create<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
      kind: KINDS.PerconaXtraDBOpsRequest.kind,
      metadata: {
        generateName: `${r.database}-tls-`,
        namespace: r.namespace,
        labels: { [SOURCE_LABEL]: CONSOLE_SOURCE, [EXECUTION_LABEL]: label, ...claim.labels },
        annotations: claim.annotations,
      },
      spec: consoleRequestSpec(r),
    })
    .catch((err: unknown) => {
      // Creating in a namespace that does not exist is a 404: say so instead of the REST path.
      if (err instanceof PxcTlsOpsError && err.status?.code === 404)
        throw new InvalidRequestError(
          `Namespace "${r.namespace}" does not exist: fix "namespace" in the input (the database's namespace) [API: 404 ${err.status.message ?? ''}]`,
          { cause: err },
        );
      throw err;
    });
  deps.logger.info('created the OpsRequest from console input', { opsRequest: created.metadata.name });
  return created.metadata.name!;
}
