/**
 * Pause: ensures the database carries the `Paused` condition (KubeDB's convention: the community
 * operator reconciles nothing for a paused database) and records it on the OpsRequest.
 * Pausing is also the per-database lock (written under a resourceVersion precondition): while
 * another request holds it this throws DatabaseBusyError (the ASL retries with backoff), and
 * DatabaseStateError once this request's timeout has passed.
 * Safe to repeat: our own Paused condition is left as is. Throws DatabaseStateError when the
 * database has gone, Kube* errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { DatabaseBusyError, DatabaseStateError } from '../errors.js';
import { CLAIMED_AT_ANNOTATION } from '../model/names.js';
import type { Plan } from '../model/plan.js';
import {
  ensureDatabasePaused,
  getDatabase,
  getOpsRequest,
  type RequestIds,
  recordEvent,
  updateOpsStatus,
} from './common.js';

export interface PauseInput extends RequestIds {
  plan: Plan;
}

export async function pause(input: PauseInput, deps: Deps): Promise<{ paused: boolean }> {
  const { namespace: ns, opsRequest, plan } = input;
  const db = await getDatabase(deps.kube, ns, plan.database);
  if (!db) throw new DatabaseStateError(`PerconaXtraDB ${ns}/${plan.database} not found`);
  const ops = await getOpsRequest(deps.kube, ns, opsRequest);
  let changed: boolean;
  try {
    changed = await ensureDatabasePaused(deps, db, true, { namespace: ns, name: opsRequest });
  } catch (err) {
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
  if (changed)
    await recordEvent(
      deps,
      ops,
      'Normal',
      'PauseDatabase',
      `Pausing PerconaXtraDB database: ${ns}/${plan.database}`,
    );
  deps.logger.info('database paused', { changed });
  return { paused: true };
}
