/**
 * Pause: ensures the database is paused the way KubeDB's ops requests pause it — the `Paused`
 * condition with status Unknown and `spec.healthChecker.disableWriteCheck: true` — and that the
 * KubeDB provisioner has confirmed it (turned the condition True), so nothing re-renders the
 * PetSet while certificates and wiring change. Records it on the OpsRequest.
 * Pausing is also the per-database lock (written under a resourceVersion precondition): while
 * another request holds it this throws DatabaseBusyError (the ASL retries with backoff), and
 * DatabaseStateError once this request's timeout has passed.
 * Waiting for the confirmation: a short watch on the database (CHECK_POD_HOLD_SECONDS, as Check
 * pod), then PauseNotConfirmedError (retried by the ASL) until `spec.timeout` has passed since the
 * pause was requested; then DatabaseStateError: no provisioner answered, and the failure path
 * resumes the database (nothing else was changed yet).
 * Safe to repeat: our own pause is left as is. Keeps the claim's lease (LeaseLostError when another
 * execution took the request over). Throws DatabaseStateError when the database has gone, Kube*
 * errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { DatabaseBusyError, DatabaseStateError, PauseNotConfirmedError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { CLAIMED_AT_ANNOTATION } from '../model/names.js';
import { pauseConfirmed, pausedCondition } from '../model/pause.js';
import type { Plan } from '../model/plan.js';
import type { PerconaXtraDB } from '../model/types.js';
import { DEFAULT_HOLD_SECONDS } from './check-pod.js';
import {
  getDatabase,
  getOpsRequest,
  pauseDatabase,
  pausedBy,
  type RequestIds,
  recordEvent,
  updateOpsStatus,
} from './common.js';
import { fenced } from './fence.js';
import { holdLease } from './lease.js';

export interface PauseInput extends RequestIds {
  plan: Plan;
}

export async function pause(input: PauseInput, given: Deps): Promise<{ paused: boolean }> {
  const { namespace: ns, opsRequest, plan } = input;
  // The pause is refused by the API server once another execution holds the request.
  const deps = input.execution
    ? fenced(given, { namespace: ns, opsRequest, execution: input.execution })
    : given;
  const db = await getDatabase(deps.kube, ns, plan.database);
  if (!db) throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} not found`);
  const ops = await getOpsRequest(deps.kube, ns, opsRequest);
  if (input.execution) await holdLease(deps, ops, input.execution);
  let changed: boolean;
  let latest: PerconaXtraDB;
  try {
    ({ changed, latest } = await pauseDatabase(deps, db, { namespace: ns, name: opsRequest }));
  } catch (caught) {
    // A holder that no longer exists is named as such (a recovery frees the database).
    const err = caught instanceof DatabaseBusyError ? await explainHolder(deps, db, caught) : caught;
    // Someone else holds the database: wait (the ASL retries) up to this request's timeout.
    const since = Date.parse(
      ops.metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? ops.metadata.creationTimestamp ?? '',
    );
    const waited = Number.isNaN(since) ? 0 : (deps.clock.now().getTime() - since) / 1000;
    if (err instanceof DatabaseBusyError && waited > plan.timeoutSeconds) {
      throw new DatabaseStateError(
        `${err.message}; waited ${Math.round(waited)}s, longer than this request's timeout (${plan.timeoutSeconds}s)`,
      );
    }
    if (err instanceof DatabaseBusyError) {
      const message = `Waiting: ${err.message}; this request gives up in ${Math.max(0, plan.timeoutSeconds - Math.round(waited))}s`;
      await recordEvent(deps, ops, 'Normal', 'Waiting', message, { series: 'database-busy' });
      throw new DatabaseBusyError(message, { cause: err });
    }
    throw err;
  }
  if (changed)
    await recordEvent(
      deps,
      ops,
      'Normal',
      'PauseDatabase',
      `Pausing PerconaXtraDB database: ${ns}/${plan.database}`,
    );
  await awaitConfirmation(deps, ns, plan, latest);
  await updateOpsStatus(deps, ops, {
    conditions: [
      {
        type: 'DatabasePauseSucceeded',
        status: 'True',
        reason: 'DatabasePauseSucceeded',
        message: `Successfully paused PerconaXtraDB database: ${ns}/${plan.database}`,
      },
    ],
  });
  deps.logger.info('database paused', { changed });
  return { paused: true };
}

function holdSeconds(): number {
  const v = Number(process.env.CHECK_POD_HOLD_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_HOLD_SECONDS;
}

/** Returns once the provisioner has turned Paused True; throws PauseNotConfirmedError / DatabaseStateError otherwise. */
async function awaitConfirmation(deps: Deps, ns: string, plan: Plan, seen: PerconaXtraDB): Promise<void> {
  const name = plan.database;
  // The provisioner often confirms before our last write returns: then its answer is already here.
  if (pauseConfirmed(seen)) return;
  let db: PerconaXtraDB | undefined = await getDatabase(deps.kube, ns, name);
  if (!db) throw new DatabaseStateError(`PerconaXtraDB ${ns}/${name} not found`);
  if (pauseConfirmed(db)) return;
  const since = Date.parse(pausedCondition(db)?.lastTransitionTime ?? '');
  const deadline = (Number.isNaN(since) ? deps.clock.now().getTime() : since) + plan.timeoutSeconds * 1000;
  const left = (deadline - deps.clock.now().getTime()) / 1000;
  if (left > 0) {
    const confirmed = await deps.kube.watch<PerconaXtraDB>(
      KINDS.PerconaXtraDB,
      ns,
      {
        fieldSelector: `metadata.name=${name}`,
        timeoutSeconds: Math.max(1, Math.min(holdSeconds(), Math.ceil(left))),
      },
      (type, obj) => {
        if (type !== 'DELETED') db = obj;
        return type !== 'DELETED' && pauseConfirmed(obj);
      },
    );
    if (confirmed) return;
  }
  const what = `the KubeDB provisioner has not confirmed the pause of PerconaXtraDB ${ns}/${name} (its Paused condition is still ${pausedCondition(db)?.status ?? 'missing'})`;
  if (deps.clock.now().getTime() >= deadline) {
    throw new DatabaseStateError(
      `${what} within this request's timeout (${plan.timeoutSeconds}s): is the KubeDB operator running? Nothing was changed; the database is resumed`,
    );
  }
  throw new PauseNotConfirmedError(`${what}; waiting`);
}

/**
 * A database paused by a request that no longer exists stays paused until a recovery resumes it
 * (the sweep starts one); say so, so whoever waits knows what to do. One read, only while busy.
 */
async function explainHolder(
  deps: Deps,
  db: { metadata: { namespace?: string } } & Parameters<typeof pausedBy>[0],
  err: DatabaseBusyError,
): Promise<DatabaseBusyError> {
  const holder = pausedBy(db);
  if (!holder) return err;
  const [namespace, name] = holder.split('/') as [string, string];
  const exists = await deps.kube.get(KINDS.PerconaXtraDBOpsRequest, { namespace, name });
  if (exists) return err;
  return new DatabaseBusyError(
    `${err.message}, which no longer exists: the sweep resumes such a database, or run \`npm run local -- --namespace ${namespace} --recover ${name}\``,
  );
}
