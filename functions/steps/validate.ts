/**
 * Validate: turns the execution input into a claimed, checked OpsRequest and a plan.
 *
 * Ensures: the OpsRequest exists (console input creates it, once per execution), is claimed by
 * this execution (annotation written under a resourceVersion precondition, so of two executions
 * only one wins) with the hash of its spec (frozen from then on), passes the admission rules and the issuer's CA checks, and is `Progressing`.
 * Safe to repeat: a re-run finds its own claim and recomputes the same plan.
 * Returns `skip: true`, having written nothing, for a request claimed by another execution or
 * already finished; and `skip: true` with a `result`, having marked the request Successful, for
 * one that asks for what the database already has ("nothing to change": no pause, no restart).
 * Throws OpsManagerPresentError, having written nothing, when KubeDB's enterprise ops-manager is
 * installed (see ops-manager.ts). Throws InvalidRequestError / DatabaseStateError / InvalidIssuerError (fatal),
 * DatabaseBusyError while another request holds the database, Kube* errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { DatabaseBusyError, DatabaseStateError, InvalidRequestError, PxcTlsOpsError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { effectiveIssuerRef } from '../model/certificates.js';
import { assertSpecFrozen, frozenHash, specHash } from '../model/frozen-spec.js';
import {
  CLAIM_ANNOTATION,
  CLAIMED_AT_ANNOTATION,
  CONSOLE_SOURCE,
  EXECUTION_LABEL,
  labelSafe,
  SOURCE_LABEL,
  SPEC_HASH_ANNOTATION,
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
import type { PerconaXtraDB, PerconaXtraDBOpsRequest, ReconfigureTLSSpec } from '../model/types.js';
import { applyWiring } from '../model/wiring.js';
import { loadPki } from '../pki/load.js';
import { defaultSecretName } from '../pki/profile.js';
import { listCertificates } from './cert-manager.js';
import { secretNamesOf } from './change-certificates.js';
import { getDatabase, getWorkload, recordEvent, type SecretObject, updateOpsStatus } from './common.js';
import { issuersByAlias } from './issuers.js';
import { assertOnlyProcessor } from './ops-manager.js';
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
    };

export interface ValidateInput {
  request: ExecutionInput;
  execution: string;
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
}

const BY_NAME = ['namespace', 'opsRequest'];
const CONSOLE_REQUIRED = ['namespace', 'database', 'tls'];
const CONSOLE_OPTIONAL = ['timeout', 'apply'];

/** The two accepted input shapes; anything else is an InvalidRequestError that shows both. */
export function parseExecutionInput(raw: unknown): ExecutionInput {
  const reject = (why: string): never => {
    throw new InvalidRequestError(`invalid input (${why}): ${ACCEPTED_SHAPES}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return reject('not a JSON object');
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  const nonEmpty = (k: string) => typeof o[k] === 'string' && (o[k] as string) !== '';
  if (keys.includes('opsRequest')) {
    const extra = keys.filter((k) => !BY_NAME.includes(k));
    if (extra.length > 0) reject(`unexpected field(s) ${extra.join(', ')}`);
    if (!nonEmpty('namespace') || !nonEmpty('opsRequest'))
      reject('namespace and opsRequest must be non-empty strings');
    return { kind: 'by-name', namespace: o.namespace as string, opsRequest: o.opsRequest as string };
  }
  const extra = keys.filter((k) => !CONSOLE_REQUIRED.includes(k) && !CONSOLE_OPTIONAL.includes(k));
  if (extra.length > 0) reject(`unexpected field(s) ${extra.join(', ')}`);
  const missing = CONSOLE_REQUIRED.filter((k) => !(k in o));
  if (missing.length > 0) reject(`missing ${missing.join(', ')}`);
  if (!nonEmpty('namespace') || !nonEmpty('database'))
    reject('namespace and database must be non-empty strings');
  if (!o.tls || typeof o.tls !== 'object' || Array.isArray(o.tls)) reject('tls must be an object');
  for (const k of CONSOLE_OPTIONAL) if (k in o && !nonEmpty(k)) reject(`${k} must be a non-empty string`);
  return {
    kind: 'console',
    namespace: o.namespace as string,
    database: o.database as string,
    tls: o.tls as ReconfigureTLSSpec,
    ...(o.timeout !== undefined ? { timeout: o.timeout as string } : {}),
    ...(o.apply !== undefined ? { apply: o.apply as string } : {}),
  };
}

/** The edge validator of the Validate handler. */
export function parseValidateEvent(event: unknown): ValidateInput {
  const e = (event ?? {}) as Record<string, unknown>;
  const execution = typeof e.execution === 'string' && e.execution ? e.execution : 'local';
  return { request: parseExecutionInput(e.request), execution };
}

export async function validate(input: ValidateInput, deps: Deps): Promise<ValidateOutput> {
  const { kube, logger } = deps;
  const { request, execution } = input;
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
  const phase = ops.status?.phase;
  if (phase === 'Successful' || phase === 'Failed' || phase === 'Skipped') {
    logger.info('request already finished, nothing to do', { phase });
    return out(true, `already ${phase}`);
  }
  checkRequestType(ops);
  const owner = ops.metadata.annotations?.[CLAIM_ANNOTATION];
  if (owner && owner !== execution) {
    logger.info('request claimed by another execution, nothing to do', { owner });
    return out(true, `claimed by execution ${owner}`);
  }
  // The claim records the spec's hash (console-created requests are claimed at creation, so
  // their hash is added on the first pass here); from then on an edited spec fails the request.
  if (!owner || frozenHash(ops) === undefined) ops = await claim(ops, execution, deps);
  assertSpecFrozen(ops);

  // A request that can never run is refused now, not after waiting for another one to finish.
  admitSpec(ops);
  await waitForOtherRequests(ops, deps);

  const db = await getDatabase(kube, ns, ops.spec.databaseRef?.name);
  const action = admit(ops, db);
  const target = targetTls(action, ops.spec.tls, db!);
  if (asksForCurrentState(action, target, db!) && (await wiredAsAsked(deps, db!, target))) {
    return { ...out(true, 'nothing to change'), result: await finishUnchanged(ops, db!, action, deps) };
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
  if (target.enabled && action !== 'require-ssl') {
    // Checks every issuer (exists, is supported, and for CA issuers: not expired, key matches)
    // before anything is paused.
    const issuers = await issuersByAlias(deps, ns, target);
    if (Object.values(issuers).some((i) => i.class === 'cert-manager-only')) issuance = 'cert-manager';
    const before = effectiveIssuerRef(db!.spec.tls?.certificates, 'server', db!.spec.tls?.issuerRef);
    const server = issuers.server;
    serverIssuerChanges = !!before && !sameIssuer(before, server.ref);
    if ((action === 'change-issuer' || serverIssuerChanges) && server.ca)
      newCaAlreadyTrusted = await serverTrusts(deps, ns, database, target, server.ca.rootFingerprint);
  }
  const plan = buildPlan(ops, db!, action, {
    newCaAlreadyTrusted,
    serverIssuerChanges,
    issuance,
    ...(process.env.DEFAULT_RESTART_MODE ? { stackRestartMode: process.env.DEFAULT_RESTART_MODE } : {}),
  });

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

async function claim(
  ops: PerconaXtraDBOpsRequest,
  execution: string,
  deps: Deps,
): Promise<PerconaXtraDBOpsRequest> {
  // PUT with the resourceVersion just read: a concurrent claim makes this a KubeConflictError,
  // the ASL retries, and the re-read finds the other execution's claim.
  const claimed: PerconaXtraDBOpsRequest = {
    ...ops,
    metadata: {
      ...ops.metadata,
      annotations: {
        ...(ops.metadata.annotations ?? {}),
        [CLAIM_ANNOTATION]: execution,
        [CLAIMED_AT_ANNOTATION]:
          ops.metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? deps.clock.now().toISOString(),
        [SPEC_HASH_ANNOTATION]: specHash(ops.spec),
      },
    },
  };
  delete (claimed as { status?: unknown }).status;
  const written = await deps.kube.replace<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, claimed);
  deps.logger.info('request claimed');
  return { ...written, status: written.status ?? ops.status };
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
  const what = `PerconaXtraDBOpsRequest ${ns}/${other.metadata.name} is still ${other.status?.phase ?? 'claimed'} on PerconaXtraDB ${ns}/${ops.spec.databaseRef.name}`;
  if (waited > limit) {
    throw new DatabaseStateError(
      `${what}; waited ${Math.round(waited)}s, longer than this request's timeout (${limit}s)`,
    );
  }
  deps.logger.info('waiting for another request on the same database', { other: other.metadata.name });
  const message = `Waiting: PerconaXtraDBOpsRequest ${ns}/${other.metadata.name} (${other.status?.phase ?? 'claimed'}) holds PerconaXtraDB ${ns}/${ops.spec.databaseRef.name}; this request gives up in ${Math.max(0, limit - Math.round(waited))}s`;
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
    const all = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, undefined, {
      fieldSelector: `metadata.name=${name}`,
    });
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

/** Whether the running pods already trust the new CA (then a CA change needs no trust pass). */
async function serverTrusts(
  deps: Deps,
  ns: string,
  database: string,
  target: { certificates: { alias: string; secretName?: string }[] },
  rootFingerprint: string,
): Promise<boolean> {
  const name =
    target.certificates.find((c) => c.alias === 'server')?.secretName ||
    defaultSecretName(database, 'server');
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
  if (!secret?.data?.['tls.crt']) return false;
  const { decodeSecretData, inspectTlsSecret } = await loadPki();
  try {
    return inspectTlsSecret(decodeSecretData(secret.data), { now: deps.clock.now() }).caFingerprints.includes(
      rootFingerprint,
    );
  } catch {
    return false;
  }
}

/** Console input: the OpsRequest this execution created, or a new one (generated name, labelled). */
async function ensureConsoleRequest(input: ValidateInput, deps: Deps): Promise<string> {
  const r = input.request as Extract<ExecutionInput, { kind: 'console' }>;
  const label = labelSafe(input.execution);
  const existing = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, r.namespace, {
    labelSelector: `${EXECUTION_LABEL}=${label}`,
  });
  const mine = existing.items[0];
  if (mine) return mine.metadata.name!;
  const created = await deps.kube
    .create<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
      kind: KINDS.PerconaXtraDBOpsRequest.kind,
      metadata: {
        generateName: `${r.database}-tls-`,
        namespace: r.namespace,
        labels: { [SOURCE_LABEL]: CONSOLE_SOURCE, [EXECUTION_LABEL]: label },
        annotations: {
          [CLAIM_ANNOTATION]: input.execution,
          [CLAIMED_AT_ANNOTATION]: deps.clock.now().toISOString(),
        },
      },
      spec: {
        type: 'ReconfigureTLS',
        databaseRef: { name: r.database },
        tls: r.tls,
        ...(r.timeout ? { timeout: r.timeout } : {}),
        ...(r.apply ? { apply: r.apply } : {}),
      },
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
