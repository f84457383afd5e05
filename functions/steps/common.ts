/**
 * Reads and writes several steps share: the OpsRequest's status and Events, the database's
 * conditions, the workload, the backup Secret. Every write is an ensure (skipped when nothing
 * changes), so a step can run twice.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Deps } from '../deps.js';
import { DatabaseBusyError, InvalidRequestError, KubeAlreadyExistsError, PauseLostError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { type ConditionInput, setConditions } from '../model/conditions.js';
import { CLAIM_ANNOTATION, MANAGED_BY } from '../model/names.js';
import { PAUSED, pausedBy, pauseMessage, pauseSpecPatch, resumeSpecPatch } from '../model/pause.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../model/types.js';
import type { PodTemplate } from '../model/wiring.js';

/** The identifiers every step after Validate gets in its input. */
export interface RequestIds {
  namespace: string;
  opsRequest: string;
  execution?: string;
}

export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    updateStrategy?: { type?: string };
    podManagementPolicy?: string;
    template: PodTemplate;
    [k: string]: unknown;
  };
}

export interface PodObject extends KubeObject {
  spec?: { containers?: unknown[]; [k: string]: unknown };
  status?: {
    phase?: string;
    conditions?: Array<{
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }>;
    containerStatuses?: Array<{
      name: string;
      ready?: boolean;
      state?: Record<string, { reason?: string; message?: string }>;
    }>;
    [k: string]: unknown;
  };
}

export async function getOpsRequest(kube: Kube, ns: string, name: string): Promise<PerconaXtraDBOpsRequest> {
  const ops = await kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, { namespace: ns, name });
  if (!ops) throw new InvalidRequestError(`PerconaXtraDBOpsRequest ${ns}/${name} not found`);
  return ops;
}

export async function getDatabase(kube: Kube, ns: string, name: string): Promise<PerconaXtraDB | undefined> {
  return kube.get<PerconaXtraDB>(KINDS.PerconaXtraDB, { namespace: ns, name });
}

export function isClaimedBy(ops: PerconaXtraDBOpsRequest, execution: string | undefined): boolean {
  return !!execution && ops.metadata.annotations?.[CLAIM_ANNOTATION] === execution;
}

/**
 * Sets conditions (and optionally the phase) on the OpsRequest's status; skips the write when
 * nothing changes. Merge patch without a precondition: only the claiming execution writes here.
 */
export async function updateOpsStatus(
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  update: { phase?: string; conditions: ConditionInput[] },
): Promise<PerconaXtraDBOpsRequest> {
  const now = deps.clock.now();
  const generation = ops.metadata.generation;
  const current = ops.status?.conditions;
  const conditions = setConditions(current, update.conditions, generation, now);
  const phase = update.phase ?? ops.status?.phase;
  if (conditions === current && phase === ops.status?.phase && ops.status?.observedGeneration === generation)
    return ops;
  const status = {
    ...(phase ? { phase } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
  };
  return deps.kube.patch<PerconaXtraDBOpsRequest>(
    KINDS.PerconaXtraDBOpsRequest,
    { namespace: ops.metadata.namespace!, name: ops.metadata.name! },
    { status },
    'merge',
    'status',
  );
}

/**
 * A core v1 Event on the OpsRequest, so `kubectl describe pxcops` tells the story. Best effort:
 * a failed Event is logged, never fails the step.
 *
 * With `series`, the Event is one line that is refreshed rather than repeated: the same name for
 * the same wait (e.g. one pod not Ready yet), its count, lastTimestamp and message updated at
 * each check, so `kubectl describe` shows "(x7 over 63s)" with the latest reason. Costs a read
 * and a write, and only ever happens while something is being waited for.
 */
export async function recordEvent(
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  opts: { series?: string } = {},
): Promise<void> {
  const now = deps.clock.now().toISOString();
  const ns = ops.metadata.namespace!;
  try {
    const suffix = opts.series
      ? createHash('sha256').update(`${reason}/${opts.series}`).digest('hex').slice(0, 16)
      : randomBytes(8).toString('hex');
    const name = `${ops.metadata.name}.${suffix}`;
    if (opts.series) {
      const existing = await deps.kube.get<KubeObject & { count?: number }>(KINDS.Event, {
        namespace: ns,
        name,
      });
      if (existing) {
        await deps.kube.patch(
          KINDS.Event,
          { namespace: ns, name },
          { message, lastTimestamp: now, count: (existing.count ?? 1) + 1 },
          'merge',
        );
        return;
      }
    }
    let uid = ops.metadata.uid;
    if (!uid) {
      // Without the UID `kubectl describe` does not list the Event under the request.
      uid = (
        await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
          namespace: ns,
          name: ops.metadata.name!,
        })
      )?.metadata.uid;
    }
    await deps.kube.create(KINDS.Event, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
        kind: KINDS.PerconaXtraDBOpsRequest.kind,
        name: ops.metadata.name,
        namespace: ns,
        uid,
        ...(ops.metadata.resourceVersion ? { resourceVersion: ops.metadata.resourceVersion } : {}),
      },
      reason,
      message,
      type,
      source: { component: MANAGED_BY },
      reportingComponent: MANAGED_BY,
      reportingInstance: MANAGED_BY,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as KubeObject);
  } catch (err) {
    deps.logger.warn('could not record an Event', { reason, error: (err as Error).message });
  }
}

/** Just enough of an OpsRequest for `recordEvent`, for steps that get only its name (and UID). */
export function opsRef(ns: string, name: string, database: string, uid?: string): PerconaXtraDBOpsRequest {
  return {
    apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
    kind: KINDS.PerconaXtraDBOpsRequest.kind,
    metadata: { namespace: ns, name, ...(uid ? { uid } : {}) },
    spec: { type: 'ReconfigureTLS', databaseRef: { name: database } },
  };
}

export { pausedBy } from '../model/pause.js';

/**
 * Throws PauseLostError unless the database is still paused by this OpsRequest. On a real cluster
 * KubeDB's ops webhook removes `Paused` when any OpsRequest of the database completes, whoever set
 * it; the provisioner then reconciles the database from its spec in the middle of our change.
 * Steps that write certificates, evict or reload call this on a database they have just read,
 * before acting: the failure path then rolls back what was done.
 */
export function assertPausedByUs(
  db: PerconaXtraDB,
  ops: { namespace: string; name: string },
  action: string,
): void {
  const me = `${ops.namespace}/${ops.name}`;
  const holder = pausedBy(db);
  if (holder === me) return;
  const now =
    holder === undefined
      ? 'is no longer Paused (KubeDB resumes a database when any of its OpsRequests completes, or someone resumed it)'
      : `is now Paused by ${holder ? `PerconaXtraDBOpsRequest ${holder}` : 'someone else'}`;
  throw new PauseLostError(
    `PerconaXtraDB ${db.metadata.namespace}/${db.metadata.name} ${now}: PerconaXtraDBOpsRequest ${me} does not ${action} on a database it no longer holds`,
  );
}

/** Reads the database and asserts the pause is still ours (for steps that do not read it otherwise): one GET. */
export async function readPausedByUs(
  deps: Deps,
  ops: { namespace: string; name: string },
  database: string,
  action: string,
): Promise<PerconaXtraDB> {
  const db = await getDatabase(deps.kube, ops.namespace, database);
  if (!db)
    throw new PauseLostError(
      `PerconaXtraDB ${ops.namespace}/${database} is gone: PerconaXtraDBOpsRequest ${ops.namespace}/${ops.name} does not ${action}`,
    );
  assertPausedByUs(db, ops, action);
  return db;
}

/**
 * Pauses or resumes the database on behalf of one OpsRequest, as KubeDB's ops requests do (see
 * ../model/pause.ts): pausing sets the `Paused` condition with status Unknown (the provisioner
 * turns it True to confirm; Pause waits for that), then disables the write check and records the
 * setting it had; resuming removes the condition, then puts the write check back and drops the
 * record. No write when already so; returns whether anything was written.
 * Pausing doubles as the per-database lock: the condition is written with the resourceVersion
 * just read (a concurrent pause is a KubeConflictError, retried), and a database paused by anyone
 * else is a DatabaseBusyError. Resuming only undoes what this request did.
 */
export async function ensureDatabasePaused(
  deps: Deps,
  db: PerconaXtraDB,
  paused: boolean,
  ops: { namespace: string; name: string },
): Promise<boolean> {
  if (paused) return (await pauseDatabase(deps, db, ops)).changed;
  const me = `${ops.namespace}/${ops.name}`;
  const ref = { namespace: db.metadata.namespace!, name: db.metadata.name! };
  const current = db.status?.conditions ?? [];
  let changed = false;
  if (pausedBy(db) === me) {
    await deps.kube.patch(
      KINDS.PerconaXtraDB,
      ref,
      { status: { conditions: current.filter((c) => c.type !== PAUSED) } },
      'merge',
      'status',
    );
    changed = true;
  }
  const restore = resumeSpecPatch(db, me);
  if (restore) {
    await deps.kube.patch(KINDS.PerconaXtraDB, ref, restore, 'merge');
    changed = true;
  }
  return changed;
}

/**
 * The pausing half of ensureDatabasePaused; also returns the database as the last write left it
 * (or as given, when nothing was written), so Pause can see a confirmation without another read.
 */
export async function pauseDatabase(
  deps: Deps,
  db: PerconaXtraDB,
  ops: { namespace: string; name: string },
): Promise<{ changed: boolean; latest: PerconaXtraDB }> {
  const me = `${ops.namespace}/${ops.name}`;
  const ref = { namespace: db.metadata.namespace!, name: db.metadata.name! };
  const holder = pausedBy(db);
  const current = db.status?.conditions ?? [];
  if (holder !== undefined && holder !== me) {
    const who = holder ? `PerconaXtraDBOpsRequest ${holder}` : 'someone else';
    throw new DatabaseBusyError(`PerconaXtraDB ${ref.namespace}/${ref.name} is paused by ${who}`);
  }
  let latest = db;
  let changed = false;
  if (holder === undefined) {
    const conditions = setConditions(
      current,
      [{ type: PAUSED, status: 'Unknown', reason: 'PausedByOpsRequest', message: pauseMessage(me) }],
      db.metadata.generation,
      deps.clock.now(),
    );
    latest = await deps.kube.replace(
      KINDS.PerconaXtraDB,
      { ...db, status: { ...(db.status ?? {}), conditions } },
      'status',
    );
    changed = true;
  }
  const disable = pauseSpecPatch(latest, me);
  if (disable) {
    latest = await deps.kube.patch<PerconaXtraDB>(KINDS.PerconaXtraDB, ref, disable, 'merge');
    changed = true;
  }
  return { changed, latest };
}

/** The database's workload: the PetSet named like it when there is one, else the StatefulSet. */
export async function getWorkload(
  kube: Kube,
  ns: string,
  database: string,
): Promise<{ kind: typeof KINDS.PetSet | typeof KINDS.StatefulSet; object: Workload } | undefined> {
  const petset = await kube.get<Workload>(KINDS.PetSet, { namespace: ns, name: database });
  if (petset) return { kind: KINDS.PetSet, object: petset };
  const sts = await kube.get<Workload>(KINDS.StatefulSet, { namespace: ns, name: database });
  return sts ? { kind: KINDS.StatefulSet, object: sts } : undefined;
}

export function selectorOf(workload: Workload, database: string): string {
  const labels = workload.spec.selector?.matchLabels;
  if (labels && Object.keys(labels).length > 0) {
    return Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }
  return `app.kubernetes.io/instance=${database}`;
}

/** Create, or replace when it exists (resourceVersion precondition: a race is a retryable conflict). */
export async function upsertSecret(
  kube: Kube,
  secret: SecretObject,
  existing: SecretObject | undefined,
): Promise<void> {
  if (existing) {
    await kube.replace(KINDS.Secret, {
      ...secret,
      metadata: {
        ...existing.metadata,
        ...secret.metadata,
        resourceVersion: existing.metadata.resourceVersion,
      },
    });
    return;
  }
  try {
    await kube.create(KINDS.Secret, secret);
  } catch (err) {
    if (!(err instanceof KubeAlreadyExistsError)) throw err;
    const now = await kube.get<SecretObject>(KINDS.Secret, {
      namespace: secret.metadata.namespace!,
      name: secret.metadata.name!,
    });
    await upsertSecret(kube, secret, now);
  }
}

/** The readiness story of a pod in one line, for messages ("not Ready: containers with unready status ..."). */
export function readinessMessage(pod: PodObject | undefined): string {
  if (!pod) return 'the pod does not exist';
  if (pod.metadata.deletionTimestamp) return 'the pod is terminating';
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const waiting = pod.status?.containerStatuses
    ?.map((c) => {
      const s = c.state && Object.values(c.state)[0];
      return s?.message || s?.reason ? `${c.name}: ${s.message ?? s.reason}` : undefined;
    })
    .filter(Boolean)
    .join('; ');
  const parts = [
    `phase ${pod.status?.phase ?? 'Unknown'}`,
    ready
      ? `Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}${ready.message ? `: ${ready.message}` : ''}`
      : 'no Ready condition',
    ...(waiting ? [waiting] : []),
  ];
  return parts.join(', ');
}

export function isPodReady(pod: PodObject | undefined): boolean {
  return (
    !!pod &&
    !pod.metadata.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** Cause strings from Step Functions: the local engine passes the message, AWS a JSON envelope. */
export function causeMessage(cause: unknown): string {
  if (typeof cause !== 'string') return cause === undefined ? '' : JSON.stringify(cause);
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // a plain message
  }
  return cause;
}

/** Options for resolveIssuer: a ClusterIssuer's Secret lives in CLUSTER_RESOURCE_NAMESPACE (cert-manager's flag; default cert-manager). */
export function issuerOptions(namespace: string, deps: Deps) {
  const crn = process.env.CLUSTER_RESOURCE_NAMESPACE;
  return { namespace, now: deps.clock.now(), ...(crn ? { clusterResourceNamespace: crn } : {}) };
}
