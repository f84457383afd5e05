/**
 * The "an OpsRequest is waiting" event, as the sweep and the audit-log forwarder put it on the
 * bus and as the EventBridge rule in template.yaml matches it. DESIGN.md "Triggers" is the contract.
 */
import type { PerconaXtraDBOpsRequest } from '../model/types.js';

export const EVENT_SOURCE = 'pxc-tls-ops';
export const DETAIL_TYPE_PENDING = 'PerconaXtraDBOpsRequest Pending';
/** PutEvents takes at most 10 entries per call. */
export const PUT_EVENTS_BATCH = 10;

export interface PendingDetail {
  cluster: string;
  namespace: string;
  name: string;
  uid: string;
  type: string;
  database: string;
}

export interface BusEntry {
  Source: string;
  DetailType: string;
  Detail: string;
}

/** Puts entries on the bus; implementations batch and throw AwsUnavailableError on failure. */
export type Publish = (entries: BusEntry[]) => Promise<void>;

/** Phases in which nobody has taken the request yet (absent status = just created). */
export function isWaiting(ops: PerconaXtraDBOpsRequest): boolean {
  const phase = ops.status?.phase;
  return phase === undefined || phase === '' || phase === 'Pending';
}

/** True for the requests this project runs: ReconfigureTLS, not yet taken, not being deleted. */
export function isPendingReconfigureTLS(ops: PerconaXtraDBOpsRequest): boolean {
  return ops.spec?.type === 'ReconfigureTLS' && isWaiting(ops) && !ops.metadata.deletionTimestamp;
}

export function pendingDetail(ops: PerconaXtraDBOpsRequest, cluster: string): PendingDetail {
  return {
    cluster,
    namespace: ops.metadata.namespace ?? '',
    name: ops.metadata.name ?? '',
    uid: ops.metadata.uid ?? '',
    type: ops.spec.type,
    database: ops.spec.databaseRef?.name ?? '',
  };
}

export function pendingEntry(detail: PendingDetail): BusEntry {
  return { Source: EVENT_SOURCE, DetailType: DETAIL_TYPE_PENDING, Detail: JSON.stringify(detail) };
}

export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
