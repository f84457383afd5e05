/**
 * What a running pod sees in its Secret volumes.
 *
 * A real kubelet fills a Secret volume when the pod starts, then updates the files of a running
 * pod only on its periodic sync, from its watch cache: the new content shows up "after the
 * kubelet sync period + cache propagation delay" (Kubernetes docs, "Mounted Secrets are updated
 * automatically"), all files of the volume at once (the `..data` symlink swap). A file mounted
 * through `subPath` never changes. This module keeps every Secret's recent versions and answers,
 * for one pod, "which version is on your disk now": the version current at
 * `max(mountedAt, now - propagationMs)`, or the version current at `mountedAt` for a subPath
 * mount. With `propagationMs = 0` a running pod sees every change at once (the simulator's
 * behaviour before volumes were modelled).
 *
 * That fixed delay is the fast default. The realistic model (`kubelet`, opt-in) is the kubelet's
 * own schedule: each running pod is synced every `syncPeriodMs` (the kubelet's `syncFrequency`,
 * 1 min by default) at its own phase (the pod worker re-queues itself with jitter, so pods of one
 * node do not sync together), and a pod sees the Secret as it was at its last sync. An update of
 * the pod object's metadata or spec (e.g. an annotation) makes the kubelet sync that pod at once
 * and remount its Secret volumes (Kubernetes docs, kubernetes/website PR 32513; Elastic's
 * cloud-on-k8s PR 496 annotates pods for exactly that). `cacheMs` models the kubelet's Secret
 * cache (0: the default Watch strategy, fresh at each sync; a TTL cache shows content up to that
 * old). Everything is computed when asked, so the real-server mode's `..data` swaps (galera.ts
 * polls `read`) follow the same schedule.
 */
import { RESOURCES } from './resources.js';
import type { Obj, Store, StoreEvent } from './store.js';

const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;

interface Version {
  at: number;
  secret: Obj | undefined;
  /** On the oldest kept version: the Secret as it was before it (undefined: absent). */
  before?: Obj;
}

/** Versions older than the one in force this long ago are dropped (bounded memory). */
const KEEP_MS = 10 * 60_000;
const POD = RESOURCES.find((r) => r.kind === 'Pod')!;

/** The realistic kubelet schedule (see the top of this file). */
export interface KubeletSyncModel {
  /** Period of each pod's sync (the kubelet's syncFrequency); 60,000 on a default kubelet. */
  syncPeriodMs: number;
  /** Age of the Secret content a sync can read (a TTL cache); default 0 (Watch strategy). */
  cacheMs?: number;
  /**
   * Whether an update of the pod object syncs it at once, as a real kubelet does; default true.
   * `false` gives a workflow's touch no effect: the timing of Reload before it touched pods.
   */
  syncOnPodUpdate?: boolean;
  /** Phase of a pod's syncs, from its UID; default: spread over the period by a hash of the UID. */
  phaseMs?: (podUid: string) => number;
}

/** A stable phase in [0, period) from the pod's UID: pods sync at different moments. */
function hashPhase(uid: string, period: number): number {
  let h = 2166136261;
  for (let i = 0; i < uid.length; i++) h = Math.imul(h ^ uid.charCodeAt(i), 16777619);
  return (h >>> 0) % Math.max(1, period);
}

export class SecretVolumes {
  private readonly versions = new Map<string, Version[]>();
  private readonly mounts = new Map<string, number>();
  /** Per pod UID: when an update of the pod object last made the kubelet sync it. */
  private readonly touched = new Map<string, number>();
  /** Per pod UID: every sync the realistic model saw the pod take because of a pod update. */
  readonly podSyncs: Array<{ uid: string; at: number }> = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    /** Delay between a Secret write and running pods seeing it in their volumes. */
    public propagationMs: number,
    private readonly clock: () => number = Date.now,
    /** The realistic kubelet schedule; undefined: the fixed `propagationMs` delay. */
    public kubelet?: KubeletSyncModel,
  ) {
    this.unsubscribe = store.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe();
  }

  /** The pod (by UID) mounted its volumes now: it sees current content from here on. */
  mount(podUid: string, at = this.clock()): void {
    if (!this.mounts.has(podUid)) this.mounts.set(podUid, at);
  }

  unmount(podUid: string): void {
    this.mounts.delete(podUid);
    this.touched.delete(podUid);
  }

  /**
   * The Secret as the pod's volume shows it now; `frozen` for a subPath mount (content of the
   * moment the pod started). A pod this module never saw mounting reads the current Secret.
   */
  read(namespace: string, name: string, podUid: string, frozen = false): Obj | undefined {
    const mountedAt = this.mounts.get(podUid);
    if (mountedAt === undefined) return this.store.get(SECRET, namespace, name);
    const t = frozen ? mountedAt : this.seenAt(podUid, mountedAt);
    const seen = this.versionAt(namespace, name, t);
    // A volume whose Secret did not exist yet never mounted: the kubelet retries the mount (the pod
    // stays ContainerCreating) and mounts the Secret as soon as it exists, not at the next sync.
    if (!seen && this.kubelet) return this.store.get(SECRET, namespace, name);
    return seen;
  }

  /** The moment whose Secret content the pod's volumes show now. */
  private seenAt(podUid: string, mountedAt: number): number {
    const now = this.clock();
    if (!this.kubelet) return Math.max(mountedAt, now - this.propagationMs);
    const period = Math.max(1, this.kubelet.syncPeriodMs);
    const phase = this.kubelet.phaseMs?.(podUid) ?? hashPhase(podUid, period);
    // Periodic syncs at mountedAt + phase + k·period; the last one not after now.
    const first = mountedAt + phase;
    const periodic = now < first ? mountedAt : first + Math.floor((now - first) / period) * period;
    const lastSync = Math.max(periodic, this.touched.get(podUid) ?? mountedAt);
    return Math.max(mountedAt, lastSync - (this.kubelet.cacheMs ?? 0));
  }

  private versionAt(namespace: string, name: string, t: number): Obj | undefined {
    const list = this.versions.get(`${namespace}/${name}`);
    if (!list || list.length === 0) return this.store.get(SECRET, namespace, name);
    let found: Version | undefined;
    for (const v of list) {
      if (v.at <= t) found = v;
      else break;
    }
    // Older than anything recorded: the Secret as it was before the first recorded change.
    return found ? found.secret : list[0]!.before;
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.res === POD) {
      this.onPodEvent(ev);
      return;
    }
    if (ev.res !== SECRET) return;
    const key = `${ev.obj.metadata.namespace}/${ev.obj.metadata.name}`;
    const now = this.clock();
    let list = this.versions.get(key);
    if (!list) {
      list = [];
      this.versions.set(key, list);
    }
    const entry: Version = { at: now, secret: ev.type === 'DELETED' ? undefined : ev.obj };
    if (list.length === 0) entry.before = ev.type === 'ADDED' ? undefined : ev.old;
    list.push(entry);
    // Keep the newest version older than the window (it is what lagging pods still show).
    const horizon = now - Math.max(this.propagationMs, this.kubelet?.syncPeriodMs ?? 0, KEEP_MS);
    while (list.length > 1 && list[1]!.at <= horizon) {
      const dropped = list.shift()!;
      list[0]!.before = dropped.secret;
    }
  }

  /**
   * The kubelet syncs a pod at once when the pod object's metadata or spec changes (not on its
   * own status writes): its config source hands the pod worker an UPDATE.
   */
  private onPodEvent(ev: StoreEvent): void {
    if (!this.kubelet || this.kubelet.syncOnPodUpdate === false || ev.type !== 'MODIFIED' || !ev.old) return;
    const uid = ev.obj.metadata.uid;
    if (!uid || !this.mounts.has(uid)) return;
    const meta = (o: Obj) => {
      const { resourceVersion: _rv, managedFields: _mf, ...rest } = o.metadata as Record<string, unknown>;
      return JSON.stringify([rest, (o as { spec?: unknown }).spec]);
    };
    if (meta(ev.obj) === meta(ev.old)) return;
    const now = this.clock();
    this.touched.set(uid, now);
    this.podSyncs.push({ uid, at: now });
    if (this.podSyncs.length > 1000) this.podSyncs.shift();
  }
}
