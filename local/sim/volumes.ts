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

export class SecretVolumes {
  private readonly versions = new Map<string, Version[]>();
  private readonly mounts = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    /** Delay between a Secret write and running pods seeing it in their volumes. */
    public propagationMs: number,
    private readonly clock: () => number = Date.now,
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
  }

  /**
   * The Secret as the pod's volume shows it now; `frozen` for a subPath mount (content of the
   * moment the pod started). A pod this module never saw mounting reads the current Secret.
   */
  read(namespace: string, name: string, podUid: string, frozen = false): Obj | undefined {
    const mountedAt = this.mounts.get(podUid);
    if (mountedAt === undefined) return this.store.get(SECRET, namespace, name);
    const t = frozen ? mountedAt : Math.max(mountedAt, this.clock() - this.propagationMs);
    return this.versionAt(namespace, name, t);
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
    const horizon = now - Math.max(this.propagationMs, KEEP_MS);
    while (list.length > 1 && list[1]!.at <= horizon) {
      const dropped = list.shift()!;
      list[0]!.before = dropped.secret;
    }
  }
}
