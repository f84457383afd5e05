/**
 * Check pod: is the restarted pod back — a new UID, Running and Ready — with every replica Ready?
 *
 * Holds one short watch on the database's pods (CHECK_POD_HOLD_SECONDS, default 7, never past
 * the deadline) so readiness is noticed within moments, without a Lambda blocking for minutes; the
 * ASL loops with a short Wait when the answer is "not yet". Reads the pods only (one watch
 * request), so it is safe to repeat; the per-pod conditions are written by Resume with the others.
 * Events tell the live story: "not Ready yet" with the pod's current readiness message (one
 * Event, refreshed at every check, so at least every 10 s while waiting) and "Ready again" with
 * the new pod's UID.
 * Throws StepTimeoutError naming the pod and its readiness message once the deadline has passed.
 * Keeps the claim's lease it was handed (renewed only when due: a long wait costs about one
 * request per half-lease), LeaseLostError when the request was taken over.
 */
import type { Deps } from '../deps.js';
import { StepTimeoutError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { type Lease, leaseLeft } from '../model/lease.js';
import { isPodReady, opsRef, type PodObject, readinessMessage, recordEvent } from './common.js';
import { keepLease, leaseTime } from './lease.js';
import type { PodToRestart } from './round.js';

export interface CheckPodInput {
  namespace: string;
  opsRequest?: string;
  opsRequestUid?: string;
  database: string;
  replicas: number;
  selector: string;
  pod: PodToRestart;
  deadline: string;
  execution?: string;
  lease?: Lease;
}

export interface CheckPodOutput {
  ready: boolean;
  message: string;
  /** Passed through, so the ASL loop carries it to the next check. */
  deadline: string;
  /** Once ready: the new pod's UID and when it became Ready (its Ready condition's time). */
  uid?: string;
  readyAt?: string;
  /** Likewise the claim's lease (renewed when due); always there (null without one) for the ASL's paths. */
  lease?: Lease | null;
}

/**
 * Long enough that a pod restarting in the usual few seconds is seen in the first hold (no Wait,
 * no lag), short enough that hold + the ASL's 2 s Wait refreshes a waiting pod's reason at
 * least every 10 s, and far inside the function's timeout.
 */
export const DEFAULT_HOLD_SECONDS = 7;

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
  const lease = input.opsRequest
    ? await keepLease(
        deps,
        { namespace: input.namespace, name: input.opsRequest },
        input.execution,
        input.lease,
      )
    : undefined;
  return { ...(await awaitRestart(input, deps, lease)), lease: lease ?? null };
}

/**
 * How long a hold may last so the next step still finds more than half of its lease left: a holder
 * that checked its lease when a step began must not outlive half of it before it checks again.
 */
export function holdLimit(lease: Lease | null | undefined, now: Date): number {
  if (!lease) return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.floor(leaseLeft(lease, now) - lease.seconds / 2));
}

/**
 * The watch behind Check pod, also used by Restart pod right after the eviction (so a pod that is
 * back within the hold costs no extra state transitions).
 */
export async function awaitRestart(
  input: CheckPodInput,
  deps: Deps,
  lease?: Lease | null,
): Promise<CheckPodOutput> {
  const { namespace: ns, pod } = input;
  const deadline = Date.parse(input.deadline);
  const left = (deadline - deps.clock.now().getTime()) / 1000;
  const hold = Math.max(
    1,
    Math.min(holdSeconds(), Math.ceil(left), holdLimit(lease, leaseTime(deps, 'holder'))),
  );
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
  const ops = input.opsRequest
    ? opsRef(ns, input.opsRequest, input.database, input.opsRequestUid)
    : undefined;
  const where = `pod ${ns}/${pod.name} (${pod.index + 1}/${pod.total})`;
  if (done) {
    const uid = current?.metadata.uid ?? '';
    // Seen by the watch within moments (the Ready condition's own time has whole seconds only).
    const readyAt = deps.clock.now().toISOString();
    deps.logger.info('pod is back and all replicas are Ready', { pod: pod.name });
    if (ops)
      await recordEvent(
        deps,
        ops,
        'Normal',
        'PodReady',
        `Pod ${ns}/${pod.name} (${pod.index + 1}/${pod.total}) is Ready again, new UID ${uid}`,
      );
    return {
      ready: true,
      message: `${pod.name} is Ready`,
      deadline: input.deadline,
      uid,
      readyAt,
    };
  }
  const why =
    current && current.metadata.uid === pod.uid
      ? 'the old pod is still there'
      : isPodReady(current)
        ? `${countReady(pods)}/${input.replicas} replicas Ready`
        : readinessMessage(current);
  if (deps.clock.now().getTime() >= deadline) {
    throw new StepTimeoutError(
      `pod ${ns}/${pod.name} was not Ready again before the request's timeout (${input.deadline}): ${why}`,
    );
  }
  if (ops)
    await recordEvent(
      deps,
      ops,
      'Normal',
      'WaitingForPod',
      `Waiting for ${where} to be Ready again: ${why}; timeout at ${input.deadline}`,
      {
        series: `ready/${pod.name}/${pod.uid}`,
      },
    );
  return { ready: false, message: why, deadline: input.deadline };
}

function countReady(pods: ReadonlyMap<string, PodObject>): number {
  return [...pods.values()].filter(isPodReady).length;
}
