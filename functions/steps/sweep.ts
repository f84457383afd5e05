import type { Kube } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import {
  isPendingReconfigureTLS,
  type PendingDetail,
  type Publish,
  pendingDetail,
  pendingEntry,
} from '../triggers/events.js';
import { listAll } from '../triggers/list.js';
import type { StepLogger } from '../triggers/logger.js';

export interface SweepDeps {
  kube: Kube;
  publish: Publish;
  /** Cluster name put in each event's detail (EKS_CLUSTER_NAME). */
  cluster: string;
  logger: StepLogger;
  pageSize?: number;
}

export interface SweepResult {
  listed: number;
  pending: PendingDetail[];
  listCalls: number;
}

/** Pure: the waiting ReconfigureTLS requests among those listed, oldest first. */
export function pendingRequests(items: PerconaXtraDBOpsRequest[], cluster: string): PendingDetail[] {
  return items
    .filter(isPendingReconfigureTLS)
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
    )
    .map((ops) => pendingDetail(ops, cluster));
}

/**
 * Sweep: lists OpsRequests across all namespaces (paginated: one call per 500) and puts a
 * `PerconaXtraDBOpsRequest Pending` event for every ReconfigureTLS request nobody has taken yet.
 *
 * Safe to repeat on every schedule tick: it writes nothing to the cluster, and a request already
 * claimed by an execution is no longer Pending; a duplicate event starts an execution whose
 * Validate finds the claim and stops. Throws the Kube error families and AwsUnavailableError.
 */
export async function sweep(deps: SweepDeps): Promise<SweepResult> {
  const { items, calls } = await listAll<PerconaXtraDBOpsRequest>(
    deps.kube,
    KINDS.PerconaXtraDBOpsRequest,
    undefined,
    {
      pageSize: deps.pageSize,
    },
  );
  const pending = pendingRequests(items, deps.cluster);
  if (pending.length) await deps.publish(pending.map(pendingEntry));
  deps.logger.info('sweep done', {
    listed: items.length,
    pending: pending.length,
    listCalls: calls,
    requests: pending.map((p) => `${p.namespace}/${p.name}`),
  });
  return { listed: items.length, pending, listCalls: calls };
}
