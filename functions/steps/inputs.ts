/**
 * Edge validators of the handlers' events (the shapes the ASL passes). Hand-written, so nothing
 * is compiled at cold start; a bad event is an InvalidRequestError naming the field.
 */
import { InvalidRequestError } from '../errors.js';
import { numberField, objectOf, stringField } from '../middleware/index.js';
import type { Lease } from '../model/lease.js';
import type { Plan } from '../model/plan.js';
import type { CheckPodInput } from './check-pod.js';
import type { ChangeCertificatesInput } from './pass-context.js';
import type { PauseInput } from './pause.js';
import type { ReloadPodsInput, ReloadRound } from './reload-pods.js';
import type { RestartPodInput } from './restart-pod.js';
import type { ResumeInput } from './resume.js';
import type { FailedState, RollBackInput } from './roll-back.js';
import type { PodToRestart } from './round.js';

function plan(o: Record<string, unknown>, what: string): Plan {
  const p = objectOf(o.plan, `${what}.plan`);
  stringField(p, 'action', `${what}.plan`);
  stringField(p, 'database', `${what}.plan`);
  numberField(p, 'replicas', `${what}.plan`);
  numberField(p, 'timeoutSeconds', `${what}.plan`);
  if (!Array.isArray(p.pods) || !Array.isArray(p.passes))
    throw new InvalidRequestError(`${what}.plan: pods and passes must be lists`);
  return p as unknown as Plan;
}

function ids(o: Record<string, unknown>, what: string) {
  return {
    namespace: stringField(o, 'namespace', what),
    opsRequest: stringField(o, 'opsRequest', what),
    ...(typeof o.execution === 'string' ? { execution: o.execution } : {}),
  };
}

/** The claim's lease handed down the ASL (optional: absent in older payloads and the samples). */
function lease(o: Record<string, unknown>, what: string): { lease?: Lease } {
  if (o.lease === undefined || o.lease === null) return {};
  const l = objectOf(o.lease, `${what}.lease`);
  const until = stringField(l, 'until', `${what}.lease`);
  if (Number.isNaN(Date.parse(until)))
    throw new InvalidRequestError(`${what}.lease: "until" is not a timestamp`);
  return { lease: { until, seconds: numberField(l, 'seconds', `${what}.lease`) } };
}

function execution(o: Record<string, unknown>): { execution?: string } {
  return typeof o.execution === 'string' && o.execution ? { execution: o.execution } : {};
}

function pod(o: Record<string, unknown>, what: string): PodToRestart {
  const p = objectOf(o.pod, `${what}.pod`);
  stringField(p, 'name', `${what}.pod`);
  if (typeof p.uid !== 'string') throw new InvalidRequestError(`${what}.pod: "uid" must be a string`);
  const keep = p.mustTrust as Record<string, unknown> | undefined | null;
  const mustTrust =
    keep && typeof keep.secret === 'string' && typeof keep.cas === 'string'
      ? { mustTrust: { secret: keep.secret, cas: keep.cas } }
      : {};
  return {
    name: p.name as string,
    uid: p.uid,
    index: Number(p.index ?? 0),
    total: Number(p.total ?? 1),
    ...mustTrust,
  };
}

export function parsePause(event: unknown): PauseInput {
  const o = objectOf(event, 'Pause input');
  return { ...ids(o, 'Pause input'), plan: plan(o, 'Pause input') };
}

export function parseResume(event: unknown): ResumeInput {
  const o = objectOf(event, 'Resume input');
  const restarted = Array.isArray(o.restarted)
    ? o.restarted.filter(
        (p): p is { name: string } => !!p && typeof (p as { name?: unknown }).name === 'string',
      )
    : [];
  return { ...ids(o, 'Resume input'), plan: plan(o, 'Resume input'), restarted };
}

export function parseChangeCertificates(event: unknown): ChangeCertificatesInput {
  const o = objectOf(event, 'Change certificates input');
  return {
    ...ids(o, 'Change certificates input'),
    plan: plan(o, 'Change certificates input'),
    pass: numberField(o, 'pass', 'Change certificates input'),
  };
}

export function parseRestartPod(event: unknown): RestartPodInput {
  const w = 'Restart pod input';
  const o = objectOf(event, w);
  return {
    namespace: stringField(o, 'namespace', w),
    opsRequest: stringField(o, 'opsRequest', w),
    ...(typeof o.opsRequestUid === 'string' && o.opsRequestUid ? { opsRequestUid: o.opsRequestUid } : {}),
    database: stringField(o, 'database', w),
    replicas: numberField(o, 'replicas', w),
    selector: stringField(o, 'selector', w),
    pod: pod(o, w),
    rollout: o.rollout === true,
    timeoutSeconds: numberField(o, 'timeoutSeconds', w),
    ...(previousDeadline(o.previous) ? { previous: { deadline: previousDeadline(o.previous)! } } : {}),
    ...execution(o),
    ...lease(o, w),
    ...(o.replace === true ? { replace: true } : {}),
  };
}

/** The deadline a previous Restart pod try returned (while an eviction is waited for), if any. */
function previousDeadline(previous: unknown): string | undefined {
  const d = (previous as { deadline?: unknown } | undefined)?.deadline;
  return typeof d === 'string' && !Number.isNaN(Date.parse(d)) ? d : undefined;
}

export function parseCheckPod(event: unknown): CheckPodInput {
  const w = 'Check pod input';
  const o = objectOf(event, w);
  const deadline = stringField(o, 'deadline', w);
  if (Number.isNaN(Date.parse(deadline)))
    throw new InvalidRequestError(`${w}: "deadline" is not a timestamp`);
  return {
    namespace: stringField(o, 'namespace', w),
    ...(typeof o.opsRequest === 'string' && o.opsRequest ? { opsRequest: o.opsRequest } : {}),
    ...(typeof o.opsRequestUid === 'string' && o.opsRequestUid ? { opsRequestUid: o.opsRequestUid } : {}),
    database: stringField(o, 'database', w),
    replicas: numberField(o, 'replicas', w),
    selector: stringField(o, 'selector', w),
    pod: pod(o, w),
    deadline,
    ...execution(o),
    ...lease(o, w),
  };
}

export function parseRollBack(event: unknown): RollBackInput {
  const w = 'Roll back input';
  const o = objectOf(event, w);
  if (o.stage !== 'restore' && o.stage !== 'finish')
    throw new InvalidRequestError(`${w}: "stage" must be restore or finish`);
  return {
    stage: o.stage,
    execution: typeof o.execution === 'string' ? o.execution : '',
    state: (o.state && typeof o.state === 'object' ? o.state : {}) as FailedState,
  };
}

export function parseReloadPods(event: unknown): ReloadPodsInput {
  const w = 'Reload pods input';
  const o = objectOf(event, w);
  const r = objectOf(o.round, `${w}.round`);
  numberField(r, 'pass', `${w}.round`);
  stringField(r, 'kind', `${w}.round`);
  stringField(r, 'selector', `${w}.round`);
  if (!Array.isArray(r.pods)) throw new InvalidRequestError(`${w}.round: "pods" must be a list`);
  const pods = r.pods.map((p, i) => pod({ pod: p }, `${w}.round.pods[${i}]`));
  if (pods.length === 0) throw new InvalidRequestError(`${w}.round: "pods" is empty`);
  if (r.reload !== undefined) {
    const st = objectOf(r.reload, `${w}.round.reload`);
    const deadline = stringField(st, 'deadline', `${w}.round.reload`);
    if (Number.isNaN(Date.parse(deadline)))
      throw new InvalidRequestError(`${w}.round.reload: "deadline" is not a timestamp`);
    if (!Array.isArray(st.pending) || !Array.isArray(st.reloaded) || !Array.isArray(st.fallback))
      throw new InvalidRequestError(`${w}.round.reload: pending, reloaded and fallback must be lists`);
  }
  return {
    ...ids(o, w),
    plan: plan(o, w),
    round: { ...(r as unknown as ReloadRound), pods, trustOverlap: r.trustOverlap === true },
  };
}
