/**
 * Pause: ensures the database carries the `Paused` condition (KubeDB's convention: the community
 * operator reconciles nothing for a paused database) and records it on the OpsRequest.
 * Safe to repeat: an existing Paused condition is left as is. Throws DatabaseStateError when the
 * database has gone, Kube* errors from the adapter.
 */
import type { Deps } from '../deps.js';
import { DatabaseStateError } from '../errors.js';
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
  const changed = await ensureDatabasePaused(deps, db, true, `PerconaXtraDBOpsRequest ${ns}/${opsRequest}`);
  const ops = await getOpsRequest(deps.kube, ns, opsRequest);
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
