/**
 * Restart pod: ensures one pod is being replaced, through the Eviction API so PodDisruptionBudgets
 * hold (a 429 is KubeThrottledError, retried by the ASL).
 * Safe to repeat: a pod that already has a new UID (or is gone) is not evicted again, and when the
 * workload's controller rolls the pods itself (RollingUpdate after a template change) nothing is
 * evicted at all. Returns the deadline of this step (now + spec.timeout) for Check pod.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import type { PodToRestart } from './change-certificates.js';
import { type PodObject, recordEvent } from './common.js';

export interface RestartPodInput {
  namespace: string;
  opsRequest: string;
  database: string;
  pod: PodToRestart;
  rollout: boolean;
  timeoutSeconds: number;
}

export interface RestartPodOutput {
  evicted: boolean;
  deadline: string;
}

export async function restartPod(input: RestartPodInput, deps: Deps): Promise<RestartPodOutput> {
  const { namespace: ns, pod } = input;
  const deadline = new Date(deps.clock.now().getTime() + input.timeoutSeconds * 1000).toISOString();
  const current = await deps.kube.get<PodObject>(KINDS.Pod, { namespace: ns, name: pod.name });
  const alreadyReplaced =
    !current || current.metadata.uid !== pod.uid || !!current.metadata.deletionTimestamp;
  if (input.rollout || alreadyReplaced) {
    deps.logger.info('not evicting', { pod: pod.name, rollout: input.rollout, alreadyReplaced });
    return { evicted: false, deadline };
  }
  await deps.kube.evict({ namespace: ns, name: pod.name });
  await recordEvent(
    deps,
    {
      apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
      kind: KINDS.PerconaXtraDBOpsRequest.kind,
      metadata: { namespace: ns, name: input.opsRequest },
      spec: { type: 'ReconfigureTLS', databaseRef: { name: input.database } },
    },
    'Normal',
    'EvictPod',
    `Restarting Pod: ${ns}/${pod.name} (${pod.index + 1}/${pod.total})`,
  );
  deps.logger.info('pod evicted', { pod: pod.name });
  return { evicted: true, deadline };
}
