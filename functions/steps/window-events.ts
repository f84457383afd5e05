/**
 * Scan expiry, act: a Warning Event on the database for each maintenance window that cannot be
 * met, one per problem (named by it), so an hourly scan does not send it again.
 */
import { createHash } from 'node:crypto';
import { KubeAlreadyExistsError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import type { PerconaXtraDB } from '../model/types.js';
import { MANAGED_BY } from './renewal-plan.js';

/**
 * A Warning Event on the database for a window that cannot be met, named by the problem: the same
 * problem on every hourly scan is one Event (listed first; 409 is success too), a new problem a new Event.
 */
export const WINDOW_EVENT_REASON = 'MaintenanceWindowUnsatisfiable';

export function windowEventName(database: string, problem: string): string {
  return `${database}.window-${createHash('sha256').update(problem).digest('hex').slice(0, 12)}`;
}

export async function windowEvent(kube: Kube, db: PerconaXtraDB, problem: string, now: Date): Promise<void> {
  const namespace = db.metadata.namespace!;
  try {
    await kube.create(KINDS.Event, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace, name: windowEventName(db.metadata.name!, problem) },
      involvedObject: {
        apiVersion: KINDS.PerconaXtraDB.apiVersion,
        kind: KINDS.PerconaXtraDB.kind,
        namespace,
        name: db.metadata.name,
        uid: db.metadata.uid,
      },
      type: 'Warning',
      reason: WINDOW_EVENT_REASON,
      message: problem.slice(0, 1000),
      source: { component: MANAGED_BY },
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      count: 1,
    } as KubeObject);
  } catch (err) {
    if (!(err instanceof KubeAlreadyExistsError)) throw err;
  }
}
