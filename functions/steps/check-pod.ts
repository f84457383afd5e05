/**
 * Check pod: is the restarted pod back — a new UID, Running and Ready — with every replica Ready?
 *
 * Holds one short watch on the database's pods (CHECK_POD_HOLD_SECONDS, default 10, never past
 * the deadline) so readiness is noticed within moments, without a Lambda blocking for minutes; the
 * ASL loops with a short Wait when the answer is "not yet". Reads only (one watch request), so it
 * is safe to repeat; the per-pod conditions are written by Resume with the others.
 * Throws StepTimeoutError naming the pod and its readiness message once the deadline has passed.
 */
import type { Deps } from '../deps.js';
import { StepTimeoutError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import type { PodToRestart } from './change-certificates.js';
import { isPodReady, type PodObject, readinessMessage } from './common.js';

export interface CheckPodInput {
  namespace: string;
  opsRequest?: string;
  database: string;
  replicas: number;
  selector: string;
  pod: PodToRestart;
  deadline: string;
}

export interface CheckPodOutput {
  ready: boolean;
  message: string;
  /** Passed through, so the ASL loop carries it to the next check. */
  deadline: string;
}

/**
 * Long enough that a pod restarting in the usual few seconds is seen in the first hold (no Wait,
 * no lag), short enough to stay far inside the function's timeout.
 */
export const DEFAULT_HOLD_SECONDS = 10;

/** Pure: is the restart of `target` complete in this view of the pods? */
export function restartComplete(
  pods: ReadonlyMap<string, PodObject>,
  target: { name: string; uid: string },
  replicas: number,
): boolean {
  const pod = pods.get(target.name);
  if (!pod || pod.metadata.uid === target.uid || !isPodReady(pod)) return false;
  let ready = 0;
  for (const p of pods.values()) if (isPodReady(p)) ready++;
  return ready >= replicas;
}

function holdSeconds(): number {
  const v = Number(process.env.CHECK_POD_HOLD_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_HOLD_SECONDS;
}

export async function checkPod(input: CheckPodInput, deps: Deps): Promise<CheckPodOutput> {
  return awaitRestart(input, deps);
}

/**
 * The watch behind Check pod, also used by Restart pod right after the eviction (so a pod that is
 * back within the hold costs no extra state transitions).
 */
export async function awaitRestart(input: CheckPodInput, deps: Deps): Promise<CheckPodOutput> {
  const { namespace: ns, pod } = input;
  const deadline = Date.parse(input.deadline);
  const left = (deadline - deps.clock.now().getTime()) / 1000;
  const hold = Math.max(1, Math.min(holdSeconds(), Math.ceil(left)));
  const pods = new Map<string, PodObject>();
  // A watch without resourceVersion starts with the current pods (ADDED), then follows changes.
  const done = await deps.kube.watch<PodObject>(
    KINDS.Pod,
    ns,
    { labelSelector: input.selector, timeoutSeconds: hold },
    (type, obj) => {
      if (type === 'DELETED') pods.delete(obj.metadata.name!);
      else pods.set(obj.metadata.name!, obj);
      return restartComplete(pods, pod, input.replicas);
    },
  );
  const current = pods.get(pod.name);
  if (done) {
    deps.logger.info('pod is back and all replicas are Ready', { pod: pod.name });
    return { ready: true, message: `${pod.name} is Ready`, deadline: input.deadline };
  }
  const why =
    current && current.metadata.uid === pod.uid
      ? 'the old pod is still there'
      : isPodReady(current)
        ? `${countReady(pods)}/${input.replicas} replicas Ready`
        : readinessMessage(current);
  if (deps.clock.now().getTime() >= deadline) {
    throw new StepTimeoutError(
      `pod ${ns}/${pod.name} was not Ready by the timeout (${input.deadline}): ${why}`,
    );
  }
  return { ready: false, message: why, deadline: input.deadline };
}

function countReady(pods: ReadonlyMap<string, PodObject>): number {
  return [...pods.values()].filter(isPodReady).length;
}
