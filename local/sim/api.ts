/**
 * What the API server does to objects, apart from HTTP: get, list (selectors, pagination),
 * create, update, patch, delete (with the grace period of pods and garbage collection of owned
 * objects) and eviction (honouring PodDisruptionBudgets). The HTTP layer and the in-process
 * handle both go through here.
 */
import { randomBytes } from 'node:crypto';
import { admitCustomResource } from './admission.js';
import { LabelIndexes } from './index-labels.js';
import type { KubeDbWebhooks } from './kubedb-webhooks.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { findByKind, preferredApiVersion, RESOURCES, type SimResource } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { ApiError, conflict, type J, notFound, type Obj, qualified, type Store } from './store.js';

export interface ListQuery {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continue?: string | null;
}

export interface ListPage {
  items: Obj[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export type PatchFormat = 'merge' | 'json' | 'strategic';

/** Timers that `stop()` must clear. */
export class Timers {
  private readonly set = new Set<NodeJS.Timeout>();
  stopped = false;
  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.set.delete(t);
      fn();
    }, ms);
    this.set.add(t);
  }
  clear(): void {
    this.stopped = true;
    for (const t of this.set) clearTimeout(t);
    this.set.clear();
  }
}

export const POD = RESOURCES.find((r) => r.kind === 'Pod')!;
export const NAMESPACE = RESOURCES.find((r) => r.kind === 'Namespace')!;
export const PDB = RESOURCES.find((r) => r.kind === 'PodDisruptionBudget')!;

export function isPodReady(pod: Obj | undefined): boolean {
  return !!pod?.status?.conditions?.some((c: J) => c.type === 'Ready' && c.status === 'True');
}

export class Api {
  /** Label indexes (subscribed before the controllers, so they are current when those run). */
  readonly labels: LabelIndexes;
  /** KubeDB's admission webhooks (kubedb-webhooks.ts); undefined on a cluster without KubeDB's webhook server. */
  webhooks?: KubeDbWebhooks;

  constructor(
    readonly store: Store,
    private readonly timers: Timers,
    private readonly podDeleteGraceMs: number,
  ) {
    this.labels = new LabelIndexes(store);
  }

  get(res: SimResource, namespace: string | undefined, name: string): Obj {
    const obj = this.store.get(res, namespace, name);
    if (!obj) throw notFound(res, name);
    return obj;
  }

  list(res: SimResource, namespace: string | undefined, q: ListQuery = {}): ListPage {
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector);
    const resourceVersion = this.store.resourceVersion;
    let after: string | undefined;
    if (q.continue) {
      try {
        after = JSON.parse(Buffer.from(q.continue, 'base64url').toString('utf8')).after;
      } catch {
        throw new ApiError(400, 'BadRequest', 'continue key is not valid');
      }
    }
    const all = this.store.list(res, namespace);
    const limit = q.limit && q.limit > 0 ? q.limit : Number.POSITIVE_INFINITY;
    const items: Obj[] = [];
    let last: string | undefined;
    let i = 0;
    if (after !== undefined) {
      const a = after;
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sortKey(all[mid]!) <= a) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    for (; i < all.length; i++) {
      const o = all[i]!;
      if (!labels(o) || !fields(o)) continue;
      if (items.length >= limit) break;
      items.push(o);
      last = sortKey(o);
    }
    const page: ListPage = { items, resourceVersion };
    if (i < all.length && last !== undefined) {
      let remaining = 0;
      for (let j = i; j < all.length; j++) if (labels(all[j]!) && fields(all[j]!)) remaining++;
      if (remaining > 0) {
        page.continue = Buffer.from(JSON.stringify({ after: last, rv: resourceVersion })).toString(
          'base64url',
        );
        page.remainingItemCount = remaining;
      }
    }
    return page;
  }

  /**
   * Creates an object. Over HTTP the status of kinds with a status subresource is dropped, as a
   * real server does; fixtures may keep it (`keepStatus`).
   */
  create(res: SimResource, namespace: string | undefined, body: J, opts: { keepStatus?: boolean } = {}): Obj {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ApiError(400, 'BadRequest', 'the body of the request must be a JSON object');
    }
    const meta = { ...(body.metadata ?? {}) };
    if (res.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw new ApiError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace) throw new ApiError(400, 'BadRequest', 'a namespace is required');
      if (!this.store.get(NAMESPACE, undefined, meta.namespace)) throw notFound(NAMESPACE, meta.namespace);
      if (this.store.get(NAMESPACE, undefined, meta.namespace)?.status?.phase === 'Terminating') {
        throw new ApiError(
          403,
          'Forbidden',
          `${res.plural} "${meta.name}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`,
        );
      }
    }
    if (!meta.name) {
      if (!meta.generateName) {
        throw new ApiError(
          422,
          'Invalid',
          `${res.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        );
      }
      meta.name = meta.generateName + randomBytes(4).toString('hex').slice(0, 5);
    }
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(meta.name) || meta.name.length > 253) {
      throw new ApiError(
        422,
        'Invalid',
        `${res.kind} "${meta.name}" is invalid: metadata.name: Invalid value: "${meta.name}"`,
      );
    }
    if (meta.resourceVersion && !opts.keepStatus) {
      // etcd3's store refuses it with a plain error, which the API server answers as a 500.
      throw new ApiError(500, 'Unknown', 'resourceVersion should not be set on objects to be created');
    }
    delete meta.resourceVersion;
    delete meta.uid;
    delete meta.deletionTimestamp;
    const obj: Obj = { ...body, apiVersion: preferredApiVersion(res), kind: res.kind, metadata: meta };
    if (res.status && !opts.keepStatus) delete obj.status;
    if (res.kind === 'Namespace') obj.status = { phase: 'Active' };
    if (res === POD && !obj.status) {
      obj.status = {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date().toISOString() }],
        qosClass: 'BestEffort',
      };
    }
    normalize(res, obj);
    const admitted = admitCustomResource(res, obj, { strict: !opts.keepStatus });
    const stored = this.webhooks ? this.webhooks.mutate(res, admitted) : admitted;
    if (!opts.keepStatus) this.webhooks?.admit(res, stored);
    return this.store.insert(res, stored);
  }

  /** PUT, on the object or its status subresource. */
  update(res: SimResource, namespace: string | undefined, name: string, body: J, sub?: 'status'): Obj {
    const prev = this.get(res, namespace, name);
    if (!body || typeof body !== 'object' || !body.metadata) {
      throw new ApiError(400, 'BadRequest', 'the body of the request must be an object with metadata');
    }
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw new ApiError(
        400,
        'BadRequest',
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    if (!body.metadata.resourceVersion && !res.builtIn) {
      // Custom resources do not allow unconditional updates (built-in kinds mostly do).
      throw new ApiError(
        422,
        'Invalid',
        `${res.kind}.${res.group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
      );
    }
    if (body.metadata.resourceVersion && body.metadata.resourceVersion !== prev.metadata.resourceVersion) {
      throw conflict(res, name);
    }
    if (body.metadata.uid && body.metadata.uid !== prev.metadata.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${body.metadata.uid}, UID in object meta: ${prev.metadata.uid}`,
      );
    }
    return this.write(res, prev, body, sub);
  }

  patch(
    res: SimResource,
    namespace: string | undefined,
    name: string,
    patch: J,
    format: PatchFormat,
    sub?: 'status',
  ): Obj {
    if (format === 'strategic' && !res.builtIn) {
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      );
    }
    const prev = this.get(res, namespace, name);
    const base = structuredClone(prev);
    let next: J;
    if (format === 'json') next = jsonPatch(base, patch);
    else {
      if (!patch || typeof patch !== 'object' || Array.isArray(patch)) {
        throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
      }
      next = format === 'merge' ? mergePatch(base, patch) : strategicMergePatch(base, patch);
    }
    if (!next || typeof next !== 'object' || !next.metadata) {
      throw new ApiError(422, 'Invalid', 'the patch removed metadata');
    }
    if (
      next.metadata.resourceVersion !== undefined &&
      next.metadata.resourceVersion !== prev.metadata.resourceVersion
    ) {
      throw conflict(res, name);
    }
    if (next.metadata.uid !== prev.metadata.uid) {
      // A patch naming another UID is a precondition, as the API server treats it.
      throw new ApiError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${next.metadata.uid}, UID in object meta: ${prev.metadata.uid}`,
      );
    }
    if (next.metadata.name !== name) {
      throw new ApiError(
        422,
        'Invalid',
        `${res.kind} "${name}" is invalid: metadata.name: the name cannot be changed`,
      );
    }
    return this.write(res, prev, next, sub);
  }

  private write(res: SimResource, prev: Obj, body: J, sub?: 'status'): Obj {
    let next: Obj;
    if (sub === 'status') {
      if (!res.status) throw notFound(res, `${prev.metadata.name}/status`);
      next = { ...prev, status: body.status };
    } else {
      next = { ...body, apiVersion: prev.apiVersion, kind: prev.kind };
      next.metadata = { ...body.metadata };
      if (prev.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = prev.metadata.deletionTimestamp;
        next.metadata.deletionGracePeriodSeconds = prev.metadata.deletionGracePeriodSeconds;
      } else {
        delete next.metadata.deletionTimestamp;
      }
      if (res.status) {
        if (prev.status === undefined) delete next.status;
        else next.status = prev.status;
      }
      normalize(res, next);
    }
    const admitted = admitCustomResource(res, next, { strict: true, old: prev });
    const stored = this.webhooks ? this.webhooks.mutate(res, admitted) : admitted;
    this.webhooks?.admit(res, stored, prev);
    return this.store.replace(res, prev, stored);
  }

  /** Fixtures: create, or replace unconditionally including status (API defaults still apply). */
  put(res: SimResource, obj: Obj): Obj {
    const prev = this.store.get(res, obj.metadata?.namespace, obj.metadata?.name);
    if (!prev) return this.create(res, obj.metadata?.namespace, obj, { keepStatus: true });
    const next: Obj = { ...obj, apiVersion: prev.apiVersion, kind: prev.kind, metadata: { ...obj.metadata } };
    normalize(res, next);
    return this.store.replace(res, prev, admitCustomResource(res, next, { strict: false }));
  }

  /** In-process status write used by the controllers and the kubelet (no preconditions). */
  writeStatus(res: SimResource, prev: Obj, status: J): Obj {
    return this.store.replace(res, prev, { ...prev, status });
  }

  /**
   * Deletes an object. Pods get a grace period (deletionTimestamp now, gone after
   * `podDeleteGraceMs` unless `gracePeriodSeconds: 0`); everything else goes at once, and objects
   * it owns (ownerReferences) are garbage-collected.
   */
  delete(
    res: SimResource,
    namespace: string | undefined,
    name: string,
    opts: J = {},
  ): { obj: Obj; graceful: boolean } {
    const prev = this.get(res, namespace, name);
    const pre = opts?.preconditions ?? {};
    if (pre.uid && pre.uid !== prev.metadata.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(res)} "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${prev.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== prev.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(res)} "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${prev.metadata.resourceVersion}`,
      );
    }
    if (res === POD && opts?.gracePeriodSeconds !== 0 && this.podDeleteGraceMs > 0) {
      if (prev.metadata.deletionTimestamp) return { obj: prev, graceful: true };
      const marked = this.store.replace(res, prev, {
        ...prev,
        metadata: {
          ...prev.metadata,
          deletionTimestamp: new Date(Date.now() + this.podDeleteGraceMs).toISOString(),
          deletionGracePeriodSeconds: Math.ceil(this.podDeleteGraceMs / 1000),
        },
      });
      const uid = prev.metadata.uid;
      this.timers.after(this.podDeleteGraceMs, () => {
        const cur = this.store.get(res, namespace, name);
        if (cur && cur.metadata.uid === uid) this.removeNow(res, namespace, name);
      });
      return { obj: marked, graceful: true };
    }
    if (res === NAMESPACE) {
      for (const r of RESOURCES) {
        if (!r.namespaced) continue;
        for (const o of this.store.list(r, name)) this.store.remove(r, name, o.metadata.name);
      }
    }
    const gone = this.removeNow(res, namespace, name, opts?.propagationPolicy === 'Orphan')!;
    return { obj: gone, graceful: false };
  }

  private removeNow(
    res: SimResource,
    namespace: string | undefined,
    name: string,
    orphan = false,
  ): Obj | undefined {
    const gone = this.store.remove(res, namespace, name);
    if (gone && !orphan) this.collectGarbage(gone.metadata.uid);
    return gone;
  }

  /** Deletes (in the background, like propagationPolicy Background) what the object owned. */
  private collectGarbage(ownerUid: string): void {
    for (const [r, ns, name] of this.labels.ownedBy(ownerUid)) {
      try {
        this.delete(r, ns, name);
      } catch {
        // already gone
      }
    }
  }

  /** policy/v1 Eviction: 429 when a PodDisruptionBudget has no disruption left. */
  evict(namespace: string, name: string, body: J): void {
    const pod = this.get(POD, namespace, name);
    if (body?.metadata?.name && body.metadata.name !== name) {
      throw new ApiError(400, 'BadRequest', `name in URL does not match name in Eviction object`);
    }
    if (pod.metadata.deletionTimestamp) return;
    const pre = body?.deleteOptions?.preconditions;
    if (pre?.uid && pre.uid !== pod.metadata.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${pod.metadata.uid}`,
      );
    }
    const ready = isPodReady(pod);
    for (const pdbName of this.labels.pdbsSelecting(namespace, pod.metadata.labels)) {
      const pdb = this.store.get(PDB, namespace, pdbName)!;
      const b = this.budget(pdb);
      const allowed = ready
        ? b.currentHealthy - b.desiredHealthy > 0
        : pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || b.currentHealthy >= b.desiredHealthy;
      if (!allowed) {
        throw new ApiError(
          429,
          'TooManyRequests',
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: `The disruption budget ${pdb.metadata.name} needs ${b.desiredHealthy} healthy pods and has ${b.currentHealthy} currently`,
              },
            ],
          },
        );
      }
    }
    this.delete(POD, namespace, name, body?.deleteOptions ?? {});
  }

  /** The numbers a PDB's status reports, computed from the pods it selects now. */
  budget(pdb: Obj): {
    expectedPods: number;
    currentHealthy: number;
    desiredHealthy: number;
    disruptionsAllowed: number;
  } {
    const pods = this.labels.podsSelectedBy(pdb.metadata.namespace, pdb.spec?.selector);
    let expected = pods.filter((p) => !p.metadata.deletionTimestamp).length;
    for (const p of pods) {
      const owner = p.metadata.ownerReferences?.find((o: J) => o.controller);
      const ownerRes = owner && findByKind(owner.apiVersion, owner.kind);
      const set = ownerRes && this.store.get(ownerRes, p.metadata.namespace, owner.name);
      if (set && typeof set.spec?.replicas === 'number') expected = Math.max(expected, set.spec.replicas);
    }
    const healthy = pods.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p)).length;
    const scaled = (v: J, roundUp: boolean): number => {
      if (typeof v === 'string' && v.endsWith('%')) {
        const x = (Number(v.slice(0, -1)) * expected) / 100;
        return roundUp ? Math.ceil(x) : Math.floor(x);
      }
      return Number(v);
    };
    let desired: number;
    if (pdb.spec?.maxUnavailable !== undefined)
      desired = Math.max(0, expected - scaled(pdb.spec.maxUnavailable, true));
    else if (pdb.spec?.minAvailable !== undefined) desired = scaled(pdb.spec.minAvailable, true);
    else desired = expected;
    return {
      expectedPods: expected,
      currentHealthy: healthy,
      desiredHealthy: desired,
      disruptionsAllowed: Math.max(0, healthy - desired),
    };
  }
}

/** Some of the API server's defaulting: Secret `stringData` → `data`, and the spec defaults kubectl relies on. */
function normalize(res: SimResource, obj: Obj): void {
  if (res.kind === 'Secret' && obj.stringData) {
    obj.data = { ...(obj.data ?? {}) };
    for (const [k, v] of Object.entries(obj.stringData as Record<string, string>)) {
      obj.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    }
    delete obj.stringData;
  }
  if (res.kind === 'Secret' && !obj.type) obj.type = 'Opaque';
  if (res.kind === 'StatefulSet' && obj.spec) {
    obj.spec.replicas ??= 1;
    obj.spec.podManagementPolicy ??= 'OrderedReady';
    obj.spec.revisionHistoryLimit ??= 10;
    obj.spec.updateStrategy ??= { type: 'RollingUpdate' };
    if (obj.spec.updateStrategy.type === 'RollingUpdate')
      obj.spec.updateStrategy.rollingUpdate ??= { partition: 0 };
  }
  if (res.kind === 'Pod' && obj.spec) {
    obj.spec.restartPolicy ??= 'Always';
    obj.spec.terminationGracePeriodSeconds ??= 30;
    obj.spec.dnsPolicy ??= 'ClusterFirst';
    obj.spec.schedulerName ??= 'default-scheduler';
  }
  if (res.kind === 'Service' && obj.spec) {
    obj.spec.type ??= 'ClusterIP';
    obj.spec.sessionAffinity ??= 'None';
  }
}

function sortKey(o: Obj): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}
