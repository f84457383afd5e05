/**
 * Restart pod: ensures one pod is being replaced, through the Eviction API so PodDisruptionBudgets
 * hold (a 429 is KubeThrottledError, retried by the ASL).
 * Safe to repeat: a pod that already has a new UID (or is gone) is not evicted again, and when the
 * workload's controller rolls the pods itself (RollingUpdate after a template change) nothing is
 * evicted at all. Then holds the same short watch as Check pod, so a pod that is back quickly
 * needs no Check pod at all. Returns readiness and the deadline of this step (now + spec.timeout).
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import type { PodToRestart } from './change-certificates.js';
import { awaitRestart, type CheckPodOutput } from './check-pod.js';
import { type PodObject, recordEvent } from './common.js';

export interface RestartPodInput {
  namespace: string;
  opsRequest: string;
  opsRequestUid?: string;
  database: string;
  replicas: number;
  selector: string;
  pod: PodToRestart;
  rollout: boolean;
  timeoutSeconds: number;
}

export interface RestartPodOutput extends CheckPodOutput {
  evicted: boolean;
}

export async function restartPod(input: RestartPodInput, deps: Deps): Promise<RestartPodOutput> {
  const { namespace: ns, pod } = input;
  const deadline = new Date(deps.clock.now().getTime() + input.timeoutSeconds * 1000).toISOString();
  const current = await deps.kube.get<PodObject>(KINDS.Pod, { namespace: ns, name: pod.name });
  const alreadyReplaced =
    !current || current.metadata.uid !== pod.uid || !!current.metadata.deletionTimestamp;
  const evict = !input.rollout && !alreadyReplaced;
  if (evict) await evictAndRecord(input, deps);
  else deps.logger.info('not evicting', { pod: pod.name, rollout: input.rollout, alreadyReplaced });
  const check = await awaitRestart(
    {
      namespace: ns,
      opsRequest: input.opsRequest,
      database: input.database,
      replicas: input.replicas,
      selector: input.selector,
      pod,
      deadline,
    },
    deps,
  );
  return { evicted: evict, ...check };
}

async function evictAndRecord(input: RestartPodInput, deps: Deps): Promise<void> {
  const { namespace: ns, pod } = input;
  await deps.kube.evict({ namespace: ns, name: pod.name });
  await recordEvent(
    deps,
    {
      apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
      kind: KINDS.PerconaXtraDBOpsRequest.kind,
      metadata: {
        namespace: ns,
        name: input.opsRequest,
        ...(input.opsRequestUid ? { uid: input.opsRequestUid } : {}),
      },
      spec: { type: 'ReconfigureTLS', databaseRef: { name: input.database } },
    },
    'Normal',
    'EvictPod',
    `Restarting Pod: ${ns}/${pod.name} (${pod.index + 1}/${pod.total})`,
  );
  deps.logger.info('pod evicted', { pod: pod.name });
}
