/**
 * Restart pod: ensures one pod is being replaced, through the Eviction API so PodDisruptionBudgets
 * hold.
 * Safe to repeat: a pod that already has a new UID (or is gone) is not evicted again (the eviction
 * carries the UID as a precondition, so one still in flight from a try that timed out cannot evict
 * the replacement either: KubeConflictError, retried), and when the
 * workload's controller rolls the pods itself (RollingUpdate after a template change) nothing is
 * evicted at all. Then holds the same short watch as Check pod, so a pod that is back quickly
 * needs no Check pod at all. Returns readiness and the deadline of this step (now + spec.timeout,
 * carried over from the previous try while an eviction is being waited for).
 * A PodDisruptionBudget's refusal is not an error while the deadline is ahead: it returns
 * `blocked` with the budget's numbers (the ASL waits and comes back here) and refreshes a Warning
 * Event; past the deadline it throws EvictionBlockedError naming the budget. Other 429s
 * (API throttling) stay KubeThrottledError, retried by the ASL.
 *
 * Each eviction is first recorded on the OpsRequest (`evictedAnnotation`) in a JSON patch that
 * tests the claim: a late try of an execution that lost the request evicts nothing (LeaseLostError).
 * With `replace` (state "Replace restored pod", one pod at a time after a rollback): evicts the
 * pod too (PodDisruptionBudgets hold), only while it is the very pod the rollback named (same UID)
 * and still not Ready: a Ready pod is never touched. The rollback names only pods this request evicted.
 * Keeps the claim's lease it was handed (LeaseLostError when the request was taken over).
 */
import type { Deps } from '../deps.js';
import {
  EvictionBlockedError,
  InvalidRequestError,
  KubeRequestError,
  KubeThrottledError,
  LeaseLostError,
} from '../errors.js';
import { KINDS } from '../kube/types.js';
import { annotationPointer, claimOf, type Lease } from '../model/lease.js';
import { CLAIM_ANNOTATION, evictedAnnotation } from '../model/names.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import { awaitRestart, type CheckPodOutput } from './check-pod.js';
import {
  isPodReady,
  opsRef,
  type PodObject,
  readinessMessage,
  readPausedByUs,
  recordEvent,
} from './common.js';
import { keepTrustOf } from './keep-trust.js';
import { keepLease } from './lease.js';
import type { PodToRestart } from './round.js';

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
  /** The previous try's result, while an eviction is being waited for (it carries the deadline). */
  previous?: { deadline?: string };
  execution?: string;
  lease?: Lease;
  /** A rollback's replacement: evict the named pod only if it is still that pod and not Ready. */
  replace?: boolean;
}

export interface RestartPodOutput extends CheckPodOutput {
  evicted: boolean;
  /** When this try evicted the pod (ISO time). */
  evictedAt?: string;
  /** A PodDisruptionBudget refused the eviction; `message` says which and why. */
  blocked?: boolean;
}

interface Budget {
  metadata: { name?: string; namespace?: string };
  spec?: { selector?: { matchLabels?: Record<string, string> } };
  status?: {
    disruptionsAllowed?: number;
    currentHealthy?: number;
    desiredHealthy?: number;
    expectedPods?: number;
  };
}

export async function restartPod(input: RestartPodInput, deps: Deps): Promise<RestartPodOutput> {
  const { namespace: ns, pod } = input;
  const lease = await keepLease(
    deps,
    { namespace: ns, name: input.opsRequest },
    input.execution,
    input.lease,
  );
  const deadline =
    input.previous?.deadline ??
    new Date(deps.clock.now().getTime() + input.timeoutSeconds * 1000).toISOString();
  // Only a rollback's replacement reads the pod first (it never deletes a Ready one). An eviction
  // needs no read: it carries the UID as a precondition, so the API server itself refuses it for a
  // pod that has already come back (a retried try, or a late request of a try cut off at its
  // Timeout), and answers 404 for one that is gone.
  const current = input.replace
    ? await deps.kube.get<PodObject>(KINDS.Pod, { namespace: ns, name: pod.name })
    : undefined;
  let alreadyReplaced =
    !!input.replace && (!current || current.metadata.uid !== pod.uid || !!current.metadata.deletionTimestamp);
  if (input.replace && !alreadyReplaced && isPodReady(current!)) {
    // Ready again on its own since the rollback looked: leave it alone.
    deps.logger.info('not replacing a pod that is Ready', { pod: pod.name });
    return { evicted: false, ready: true, message: `${pod.name} is Ready`, deadline, lease: lease ?? null };
  }
  const evict = !input.rollout && !alreadyReplaced;
  let evictedAt: string | undefined;
  if (evict && input.replace) {
    await replaceAndRecord(input, current!, deps);
    evictedAt = deps.clock.now().toISOString();
  } else if (evict) {
    await beforeEviction(input, deps);
    // Recorded first, under the claim (the API server refuses it once the request is taken over,
    // so a late try evicts nothing): a rollback replaces only pods this request evicted.
    if (input.execution) await recordEviction(deps, input, input.execution);
    try {
      // The UID precondition: an eviction that lands late (sent by a try Lambda cut off at its
      // Timeout, then retried) never takes down the pod that has already come back.
      alreadyReplaced =
        (await deps.kube.evict({ namespace: ns, name: pod.name }, { uid: pod.uid })) === false;
    } catch (err) {
      if (!(err instanceof KubeThrottledError) || !refusedByBudget(err)) throw err;
      const now = await deps.kube.get<PodObject>(KINDS.Pod, { namespace: ns, name: pod.name });
      const why = await explainRefusal(deps, input, now ?? { metadata: { name: pod.name } }, err);
      const late = deps.clock.now().getTime() >= Date.parse(deadline);
      if (late)
        throw new EvictionBlockedError(
          `Pod ${ns}/${pod.name} could not be evicted before the request's timeout (${deadline}): ${why}`,
          { cause: err },
        );
      await recordEvent(
        deps,
        opsRef(ns, input.opsRequest, input.database, input.opsRequestUid),
        'Warning',
        'EvictionBlocked',
        `Waiting to evict pod ${ns}/${pod.name} (${pod.index + 1}/${pod.total}): ${why}; retrying until ${deadline}`,
        { series: `evict/${pod.name}/${pod.uid}` },
      );
      deps.logger.info('eviction refused by a PodDisruptionBudget', { pod: pod.name, why });
      return { evicted: false, blocked: true, ready: false, message: why, deadline, lease: lease ?? null };
    }
    if (alreadyReplaced) {
      deps.logger.info('not evicted: the pod is gone or has come back already', { pod: pod.name });
    } else {
      evictedAt = deps.clock.now().toISOString();
      await recordEvent(
        deps,
        opsRef(ns, input.opsRequest, input.database, input.opsRequestUid),
        'Normal',
        'Starting', // KubeDB's reason for "Restarting Pod: ..." (kubedb/docs, PerconaXtraDB ops request Events)
        `Restarting Pod: ${ns}/${pod.name} (${pod.index + 1}/${pod.total}), evicted pod UID ${pod.uid}`,
      );
      deps.logger.info('pod evicted', { pod: pod.name });
    }
  } else deps.logger.info('not evicting', { pod: pod.name, rollout: input.rollout, alreadyReplaced });
  const check = await awaitRestart(
    {
      namespace: ns,
      opsRequest: input.opsRequest,
      ...(input.opsRequestUid ? { opsRequestUid: input.opsRequestUid } : {}),
      database: input.database,
      replicas: input.replicas,
      selector: input.selector,
      pod,
      deadline,
    },
    deps,
    lease,
  );
  return { evicted: !!evictedAt, ...(evictedAt ? { evictedAt } : {}), ...check, lease: lease ?? null };
}

/**
 * What must hold right before an eviction: the database is still paused by this request (one GET:
 * KubeDB resumes it when any of its OpsRequests completes; PauseLostError otherwise), and on a
 * change of CA under cert-manager, ca.crt still holds both CAs (a renewal writes the issuing CA
 * alone): written back, fenced, when it does not.
 */
async function beforeEviction(input: RestartPodInput, deps: Deps): Promise<void> {
  const { namespace: ns, pod } = input;
  await readPausedByUs(
    deps,
    { namespace: ns, name: input.opsRequest },
    input.database,
    `evict pod ${pod.name}`,
  );
  await keepTrustOf(deps, input, [pod]);
}

/** Notes on the OpsRequest that this request evicts `pod` (its UID now), testing the claim in the same patch. */
async function recordEviction(deps: Deps, input: RestartPodInput, execution: string): Promise<void> {
  const ref = { namespace: input.namespace, name: input.opsRequest };
  try {
    await deps.kube.patch(
      KINDS.PerconaXtraDBOpsRequest,
      ref,
      [
        { op: 'test', path: annotationPointer(CLAIM_ANNOTATION), value: execution },
        { op: 'add', path: annotationPointer(evictedAnnotation(input.pod.name)), value: input.pod.uid },
      ],
      'json',
    );
  } catch (err) {
    if (!(err instanceof KubeRequestError)) throw err;
    // A failed test (422) or a request that is gone (404): say which.
    const ops = await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ref);
    if (!ops) throw new InvalidRequestError(`PerconaXtraDBOpsRequest ${ref.namespace}/${ref.name} not found`);
    if (claimOf(ops).holder === execution) throw err;
    throw new LeaseLostError(
      `PerconaXtraDBOpsRequest ${ref.namespace}/${ref.name} is no longer claimed by this execution (${execution}): pod ${input.pod.name} is not evicted`,
      { cause: err },
    );
  }
}

async function replaceAndRecord(input: RestartPodInput, current: PodObject, deps: Deps): Promise<void> {
  const { namespace: ns, pod } = input;
  // Through the Eviction API, so PodDisruptionBudgets hold (a refusal is retried by the ASL); the
  // UID precondition: never the replacement the controller may already have created.
  await deps.kube.evict({ namespace: ns, name: pod.name }, { uid: current.metadata.uid });
  await recordEvent(
    deps,
    opsRef(ns, input.opsRequest, input.database, input.opsRequestUid),
    'Warning',
    'RestartPodForRollback',
    `Restarting Pod on the restored certificates: ${ns}/${pod.name} (${pod.index + 1}/${pod.total}), evicted pod UID ${pod.uid}`,
  );
  deps.logger.info('pod evicted for the rollback', { pod: pod.name });
}

/** A 429 from the Eviction API is a budget's refusal when its Status names one (else: throttling). */
function refusedByBudget(err: KubeThrottledError): boolean {
  return (
    err.status?.causes?.some((c) => c.reason === 'DisruptionBudget') === true ||
    /disruption budget/i.test(err.status?.message ?? err.message)
  );
}

/**
 * The refusal in words: which budget, how many disruptions it allows and why (the pods it counts
 * as unhealthy, with their readiness message). Two reads, only on a refusal.
 */
async function explainRefusal(
  deps: Deps,
  input: RestartPodInput,
  pod: PodObject,
  err: KubeThrottledError,
): Promise<string> {
  const ns = input.namespace;
  const labels = pod.metadata.labels ?? {};
  const budgets = (await deps.kube.list<Budget>(KINDS.PodDisruptionBudget, ns)).items.filter((b) => {
    const want = b.spec?.selector?.matchLabels;
    return !!want && Object.entries(want).every(([k, v]) => labels[k] === v);
  });
  const pods = await deps.kube.list<PodObject>(KINDS.Pod, ns, { labelSelector: input.selector });
  const unhealthy = pods.items
    .filter((p) => p.metadata.name !== pod.metadata.name && !isPodReady(p))
    .map((p) => `${p.metadata.name} is not Ready (${readinessMessage(p)})`);
  // The API server's own words go to the log only: this text becomes Events and conditions.
  const detail = err.status?.causes?.map((c) => c.message).find(Boolean) ?? err.status?.message;
  if (detail) deps.logger.info('eviction refused', { pod: pod.metadata.name, api: detail });
  const about = budgets.length
    ? budgets
        .map((b) => {
          const s = b.status ?? {};
          return (
            `PodDisruptionBudget ${ns}/${b.metadata.name} allows ${s.disruptionsAllowed ?? 0} disruption(s) now` +
            (s.desiredHealthy !== undefined
              ? ` (${s.currentHealthy ?? 0} of ${s.expectedPods ?? '?'} pods healthy, ${s.desiredHealthy} needed)`
              : '')
          );
        })
        .join('; ')
    : 'a PodDisruptionBudget refuses the eviction';
  return `${about}${unhealthy.length ? `: ${unhealthy.join('; ')}` : ''}`;
}
