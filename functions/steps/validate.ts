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
 *
 * The input shapes are in validate-input.ts; what the request will do, and the checks before
 * anything is paused, in plan-request.ts (`planRequest`).
 */
import type { Deps } from '../deps.js';
import { DatabaseBusyError, EXECUTION_INTERRUPTED, InvalidRequestError, PxcTlsOpsError } from '../errors.js';
import { KINDS } from '../kube/types.js';
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
  CLAIM_ANNOTATION,
  CLAIMED_AT_ANNOTATION,
  CONSOLE_SOURCE,
  EXECUTION_LABEL,
  labelSafe,
  SOURCE_LABEL,
} from '../model/names.js';
import { pausedBy, pausedCondition } from '../model/pause.js';
import { admitSpec, blockingRequest, checkRequestType, type Plan, timeoutSeconds } from '../model/plan.js';
import { formatSchemaErrors, reconfigureTlsSpecSchema, validateValue } from '../model/schema/index.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import { listWatched, watchedNamespaces } from '../triggers/list.js';
import { getDatabase, recordEvent, updateOpsStatus } from './common.js';
import { claimRequest, holdLease, leaseTime, releaseClaim } from './lease.js';
import { assertOnlyProcessor } from './ops-manager.js';
import { planRequest } from './plan-request.js';
import { recoverRequest } from './recover.js';
import type { Outcome } from './resume.js';
import {
  consoleRequestSpec,
  type ExecutionInput,
  type ValidateInput,
  type ValidateOutput,
} from './validate-input.js';

/** The spec of a ReconfigureTLS request against KubeDB's schema (names tightened); InvalidRequestError naming each bad field. */
export function checkSpecSchema(ops: PerconaXtraDBOpsRequest): void {
  const errors = validateValue(reconfigureTlsSpecSchema(), ops.spec, {
    path: 'spec',
    unknownFields: 'reject',
  });
  if (errors.length > 0) throw new InvalidRequestError(`invalid request: ${formatSchemaErrors(errors)}`);
}

export async function validate(input: ValidateInput, deps: Deps): Promise<ValidateOutput> {
  const { request, execution } = input;
  if (request.kind === 'recover') return recoverRequest(request, execution, deps);
  const ns = request.namespace;
  // Before anything is created or claimed: with KubeDB's ops-manager installed the request is its.
  await assertOnlyProcessor(deps.kube);
  const name = request.kind === 'console' ? await ensureConsoleRequest(input, deps) : request.opsRequest;
  const out = (skip: boolean, reason?: string): ValidateOutput => ({
    namespace: ns,
    opsRequest: name,
    execution,
    skip,
    ...(reason ? { reason } : {}),
  });
  const claimed = await claimForThisExecution(input, deps, name, out);
  if ('skip' in claimed) return claimed;
  const { ops, rerun } = claimed;

  // Nothing is refused, finished or run while another change holds the database: KubeDB's ops
  // webhook resumes the database whenever any of its OpsRequests turns Successful or Failed.
  const { holder, db: read } = await databaseHolder(ops, deps);
  if (holder) return waitForDatabase(ops, holder, execution, deps, out(true, `waiting: ${holder}`));
  // Every field by type before anything else is read: a list for a name never reaches a URL.
  checkSpecSchema(ops);
  admitSpec(ops);

  const decision = await planRequest(ops, deps, read);
  if (decision.unchanged) {
    const result = await finishUnchanged(ops, decision.db, decision.action, deps);
    return { ...out(true, 'nothing to change'), result };
  }
  const { action, plan } = decision;
  if (ops.status?.phase !== 'Progressing')
    await markProgressing(deps, ops, { action, plan, rerun, execution });
  deps.logger.info('request validated', { action, passes: plan.passes, restartMode: plan.restartMode });
  return { ...out(false), plan, round: { next: 0 } };
}

/**
 * The request, claimed by this execution with a lease and its spec frozen; or, having written
 * nothing, why there is nothing to do (already finished, claimed by a live execution); or a
 * take-over of a request whose lease ran out.
 */
async function claimForThisExecution(
  input: ValidateInput,
  deps: Deps,
  name: string,
  out: (skip: boolean, reason?: string) => ValidateOutput,
): Promise<ValidateOutput | { ops: PerconaXtraDBOpsRequest; rerun: boolean }> {
  const { request, execution } = input;
  const { logger } = deps;
  let ops = await findOpsRequest(deps, request.namespace!, name);
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
  return { ops, rerun };
}

/** The request is `Progressing`, as KubeDB's ops-manager marks it, with its Starting Event. */
async function markProgressing(
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  a: { action: string; plan: Plan; rerun: boolean; execution: string },
): Promise<void> {
  const { action, plan } = a;
  const ns = ops.metadata.namespace!;
  const name = ops.metadata.name!;
  await updateOpsStatus(deps, ops, {
    phase: 'Progressing',
    conditions: [
      {
        type: 'Running',
        status: 'True',
        reason: 'Running',
        message: `Controller has started to Progress the PerconaXtraDBOpsRequest: ${ns}/${name} (ReconfigureTLS ${action} of PerconaXtraDB ${ns}/${plan.database}: ${plan.passes.length} pass(es) over ${plan.replicas} pods${plan.restartMode === 'Reload' ? '; Reload mode: TLS reloaded in running pods, restarts only where a reload cannot be proven' : ''})`,
      },
      ...(waitingCondition(ops)
        ? [
            {
              type: WAITING_CONDITION,
              status: 'False' as const,
              reason: 'DatabaseFree',
              message: `PerconaXtraDB ${ns}/${plan.database} is free: nothing else holds it`,
            },
          ]
        : []),
      ...(a.rerun
        ? [
            {
              type: 'Failed',
              status: 'False' as const,
              reason: 'RunAgain',
              message: `Run again by execution ${a.execution} after an interrupted execution`,
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

/** On the OpsRequest while it waits: True with what holds the database, False once it is free. */
export const WAITING_CONDITION = 'WaitingForDatabase';
/**
 * How long one execution waits for the database before it ends and leaves the request Pending
 * (at most the request's timeout): the sweep announces it again on its schedule. Below the ASL's
 * DatabaseBusyError retry budget (100 tries, 5–8 s apart), so that budget never fails a request.
 */
export const IN_EXECUTION_WAIT_SECONDS = 300;

function waitingCondition(ops: PerconaXtraDBOpsRequest) {
  return ops.status?.conditions?.find((c) => c.type === WAITING_CONDITION && c.status === 'True');
}

/**
 * What holds the request's database (`holder`), absent when it is free (then `db`: the database
 * as read, when it was): an older or Progressing ReconfigureTLS request of the same database
 * (model/plan.ts blockingRequest), or a `Paused` condition that is not this request's — KubeDB's
 * ops-manager, `kubectl kubedb pause`, or a request gone without resuming it (the sweep recovers
 * that one).
 */
async function databaseHolder(
  ops: PerconaXtraDBOpsRequest,
  deps: Deps,
): Promise<{ holder?: string; db?: PerconaXtraDB }> {
  const ns = ops.metadata.namespace!;
  const dbName = ops.spec?.databaseRef?.name;
  const all = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ns);
  const other = blockingRequest(ops, all.items, CLAIM_ANNOTATION);
  if (other) {
    const otherClaim = claimOf(other);
    const stale = otherClaim.holder && leaseExpired(otherClaim, leaseTime(deps, 'observer'));
    // A request whose execution died without a trace holds the database until it is run again or recovered.
    const dead = stale
      ? ` (its execution ${otherClaim.holder} stopped renewing its lease at ${otherClaim.lease?.until}: run that request again, or recover it, to free the database)`
      : '';
    return {
      holder: `PerconaXtraDBOpsRequest ${ns}/${other.metadata.name} (${other.status?.phase ?? 'claimed'}) holds PerconaXtraDB ${ns}/${dbName}${dead}`,
    };
  }
  // Only a name that can be one: the schema check that refuses others comes once the database is free.
  if (typeof dbName !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(dbName)) return {};
  const db = await getDatabase(deps.kube, ns, dbName);
  const holder = db ? pausedBy(db) : undefined;
  if (holder === undefined || holder === `${ns}/${ops.metadata.name}`) return { db };
  if (holder) {
    const [hns, hname] = holder.split('/');
    const gone =
      hns === ns && !all.items.some((o) => o.metadata.name === hname)
        ? `, which no longer exists: the sweep resumes such a database, or run \`npm run local -- --namespace ${hns} --recover ${hname}\``
        : '';
    return { holder: `PerconaXtraDB ${ns}/${dbName} is paused by PerconaXtraDBOpsRequest ${holder}${gone}` };
  }
  const c = pausedCondition(db!);
  return {
    holder: `PerconaXtraDB ${ns}/${dbName} is Paused by someone else (KubeDB's ops-manager or kubectl kubedb pause${c?.message ? `: ${c.message}` : ''})`,
  };
}

/**
 * The database is held: the request stays Pending with a condition naming what it waits for, and
 * is refused or run only once the database is free — finishing it now would resume someone
 * else's pause. Within IN_EXECUTION_WAIT_SECONDS (from the claim) it throws DatabaseBusyError and
 * the ASL tries again with backoff; after that it gives the claim back and ends (`skip`), and the
 * sweep starts it again. Never fails the request, whatever its timeout.
 */
async function waitForDatabase(
  ops: PerconaXtraDBOpsRequest,
  holder: string,
  execution: string,
  deps: Deps,
  out: ValidateOutput,
): Promise<ValidateOutput> {
  const ns = ops.metadata.namespace!;
  const since = Date.parse(
    ops.metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? ops.metadata.creationTimestamp ?? '',
  );
  const now = deps.clock.now().getTime();
  const waited = (now - (Number.isNaN(since) ? now : since)) / 1000;
  let budget = IN_EXECUTION_WAIT_SECONDS;
  try {
    budget = Math.min(budget, timeoutSeconds(ops));
  } catch {
    // admission reports a bad timeout once the database is free
  }
  const message = `Waiting: ${holder}; PerconaXtraDBOpsRequest ${ns}/${ops.metadata.name} stays Pending until the database is free, and is refused or run only then`;
  await updateOpsStatus(deps, ops, {
    phase: 'Pending',
    conditions: [{ type: WAITING_CONDITION, status: 'True', reason: 'DatabaseBusy', message }],
  });
  await recordEvent(deps, ops, 'Normal', 'Waiting', message, { series: 'database-busy' });
  if (waited < budget) {
    deps.logger.info('waiting for the database', { holder });
    throw new DatabaseBusyError(message);
  }
  await releaseClaim(deps, ops, execution);
  return out;
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

/** Console input: the OpsRequest this execution created, or a new one (generated name, labelled, claimed). */
async function ensureConsoleRequest(input: ValidateInput, deps: Deps): Promise<string> {
  const r = input.request as Extract<ExecutionInput, { kind: 'console' }>;
  const label = labelSafe(input.execution);
  const existing = await deps.kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, r.namespace, {
    labelSelector: `${EXECUTION_LABEL}=${label}`,
  });
  const mine = existing.items[0];
  if (mine) return mine.metadata.name!;
  // A spec KubeDB's ops webhook would deny (exactly one kind of change) is refused here, in our
  // words, before anything is created.
  const spec = consoleRequestSpec(r);
  admitSpec({ metadata: { namespace: r.namespace }, spec } as PerconaXtraDBOpsRequest);
  const claim = claimMetadata(
    input.execution,
    deps.clock.now(),
    leaseSecondsFrom(deps.leaseSeconds),
    leaseTime(deps, 'holder'),
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
      spec,
    })
    .catch((err: unknown) => {
      // KubeDB's ops webhook denies what it finds invalid (a missing database, say): a refusal.
      if (
        err instanceof PxcTlsOpsError &&
        err.status?.code === 400 &&
        /admission webhook/.test(err.status.message ?? '')
      )
        throw new InvalidRequestError(`invalid request: ${err.status.message}`, { cause: err });
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
