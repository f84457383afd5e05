/**
 * The controllers a cluster would run for this project's workloads:
 * - StatefulSet / PetSet: pods `<set>-<i>` from the template (Parallel pod management), a deleted
 *   or evicted pod comes back with the same name and a new UID; `OnDelete` leaves running pods
 *   alone, `RollingUpdate` replaces out-of-date pods from the highest ordinal down, one at a
 *   time, each once every pod is Ready; status replicas/readyReplicas/updatedReplicas/
 *   currentRevision/updateRevision/observedGeneration.
 * - PodDisruptionBudget status (the numbers Eviction uses).
 * - A kubelet stand-in: a new pod turns Running after `podReadyDelayMs` and is Ready when its TLS
 *   wiring loads and its started peers trust it (see tls.ts); a pod that fails stays NotReady with
 *   the reason in its Ready condition and is retried every 100 ms, like a crash-looping mysqld.
 */
import { createHash } from 'node:crypto';
import { type Api, isPodReady, PDB, POD, type Timers } from './api.js';
import type { GaleraServers } from './galera.js';
import { findByKind, RESOURCES, type SimResource } from './resources.js';
import type { J, Obj, Store, StoreEvent } from './store.js';
import { galeraTlsOn, loadPodTls, peerTrust, type TlsSnapshot } from './tls.js';
import type { SecretVolumes } from './volumes.js';

const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;
const EVENT = RESOURCES.find((r) => r.kind === 'Event')!;
const SET_KINDS = new Set(['StatefulSet', 'PetSet']);

export interface ReadinessRecord {
  at: number;
  namespace: string;
  pod: string;
  uid: string;
  ready: boolean;
  reason: string;
  message: string;
}

/** `<set>-<hash of the pod template>`, as the controller-revision-hash label. */
export function templateRevision(set: Obj): string {
  const h = createHash('sha256')
    .update(stableJson(set.spec?.template ?? {}))
    .digest('hex')
    .slice(0, 10);
  return `${set.metadata.name}-${h}`;
}

function stableJson(x: J): string {
  if (Array.isArray(x)) return `[${x.map(stableJson).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x)
      .sort()
      .filter((k) => x[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(x[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x);
}

function ownerOf(pod: Obj): J | undefined {
  return pod.metadata.ownerReferences?.find((o: J) => o.controller);
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class Controllers {
  private readonly dirtySets = new Map<string, { res: SimResource; ns: string; name: string }>();
  private readonly dirtyPdbs = new Map<string, { ns: string; name: string }>();
  private scheduled = false;
  private readonly unsubscribe: () => void;
  readonly kubelet: Kubelet;

  constructor(
    private readonly store: Store,
    private readonly api: Api,
    timers: Timers,
    podReadyDelayMs: number,
    volumes?: SecretVolumes,
    galera?: GaleraServers,
  ) {
    this.kubelet = new Kubelet(store, api, timers, podReadyDelayMs, volumes, galera);
    this.unsubscribe = store.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe();
    this.kubelet.stop();
  }

  private onEvent(ev: StoreEvent): void {
    if (SET_KINDS.has(ev.res.kind)) {
      this.markSet(ev.res, ev.obj.metadata.namespace, ev.obj.metadata.name);
    } else if (ev.res === POD) {
      this.kubelet.onPodEvent(ev);
      const owner = ownerOf(ev.obj);
      const ownerRes = owner && findByKind(owner.apiVersion, owner.kind);
      if (ownerRes && SET_KINDS.has(ownerRes.kind))
        this.markSet(ownerRes, ev.obj.metadata.namespace, owner.name);
      const ns = ev.obj.metadata.namespace;
      for (const n of this.api.labels.pdbsSelecting(ns, ev.obj.metadata.labels)) this.markPdb(ns, n);
      if (ev.old)
        for (const n of this.api.labels.pdbsSelecting(ns, ev.old.metadata.labels)) this.markPdb(ns, n);
    } else if (ev.res === PDB && ev.type !== 'DELETED') {
      if (ev.type === 'ADDED' || ev.old?.metadata.generation !== ev.obj.metadata.generation) {
        this.markPdb(ev.obj.metadata.namespace, ev.obj.metadata.name);
      }
    }
  }

  private markSet(res: SimResource, ns: string, name: string): void {
    this.dirtySets.set(`${res.kind}/${ns}/${name}`, { res, ns, name });
    this.schedule();
  }

  private markPdb(ns: string, name: string): void {
    this.dirtyPdbs.set(`${ns}/${name}`, { ns, name });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Runs the queued reconciles (also called synchronously by tests of the in-process handle). */
  flush(): void {
    for (let round = 0; round < 10 && (this.dirtySets.size > 0 || this.dirtyPdbs.size > 0); round++) {
      const sets = [...this.dirtySets.values()];
      this.dirtySets.clear();
      for (const s of sets) {
        try {
          this.reconcileSet(s.res, s.ns, s.name);
        } catch (err) {
          console.error(`sim: reconcile ${s.res.kind} ${s.ns}/${s.name}:`, err);
        }
      }
      const pdbs = [...this.dirtyPdbs.values()];
      this.dirtyPdbs.clear();
      for (const p of pdbs) this.reconcilePdb(p.ns, p.name);
    }
  }

  private reconcileSet(res: SimResource, ns: string, name: string): void {
    const set = this.store.get(res, ns, name);
    if (!set || set.metadata.deletionTimestamp) return;
    const replicas: number = set.spec?.replicas ?? 1;
    const updateRevision = templateRevision(set);
    const pods: Array<Obj | undefined> = [];
    for (let i = 0; i < replicas; i++) {
      let pod = this.store.get(POD, ns, `${name}-${i}`);
      if (pod && ownerOf(pod)?.uid !== set.metadata.uid) pod = undefined; // someone else's pod
      if (!pod && !this.store.get(POD, ns, `${name}-${i}`)) pod = this.createPod(res, set, i, updateRevision);
      pods.push(pod);
    }
    // Scale down: ordinals at or above replicas go, highest first.
    for (let i = replicas; ; i++) {
      const extra = this.store.get(POD, ns, `${name}-${i}`);
      if (!extra) break;
      if (ownerOf(extra)?.uid === set.metadata.uid && !extra.metadata.deletionTimestamp) {
        this.api.delete(POD, ns, extra.metadata.name);
      }
    }
    const live = pods.filter((p): p is Obj => !!p);
    const strategy = set.spec?.updateStrategy?.type ?? 'RollingUpdate';
    if (strategy === 'RollingUpdate' && live.length === replicas) {
      const settled = live.every((p) => !p.metadata.deletionTimestamp && isPodReady(p));
      const partition: number = set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
      if (settled) {
        for (let i = replicas - 1; i >= partition; i--) {
          const p = live[i]!;
          if (p.metadata.labels?.['controller-revision-hash'] !== updateRevision) {
            this.api.delete(POD, ns, p.metadata.name);
            break;
          }
        }
      }
    }
    const fresh = pods
      .map((p) => (p ? this.store.get(POD, ns, p.metadata.name) : undefined))
      .filter((p): p is Obj => !!p);
    const ready = fresh.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p)).length;
    const updated = fresh.filter(
      (p) => p.metadata.labels?.['controller-revision-hash'] === updateRevision,
    ).length;
    const prevStatus = set.status ?? {};
    const allUpdated = updated === replicas && fresh.length === replicas;
    const currentRevision = allUpdated ? updateRevision : (prevStatus.currentRevision ?? updateRevision);
    const status = {
      ...prevStatus,
      observedGeneration: set.metadata.generation,
      replicas: fresh.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: fresh.filter(
        (p) => p.metadata.labels?.['controller-revision-hash'] === currentRevision,
      ).length,
      updatedReplicas: updated,
      currentRevision,
      updateRevision,
      collisionCount: prevStatus.collisionCount ?? 0,
    };
    this.api.writeStatus(res, set, status);
  }

  private createPod(res: SimResource, set: Obj, ordinal: number, revision: string): Obj | undefined {
    const ns = set.metadata.namespace;
    const name = `${set.metadata.name}-${ordinal}`;
    const tmpl = set.spec?.template ?? {};
    const labels: Record<string, string> = {
      ...(tmpl.metadata?.labels ?? {}),
      'controller-revision-hash': revision,
      'apps.kubernetes.io/pod-index': String(ordinal),
      'statefulset.kubernetes.io/pod-name': name,
    };
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        labels,
        ...(tmpl.metadata?.annotations ? { annotations: tmpl.metadata.annotations } : {}),
        ownerReferences: [
          {
            apiVersion: set.apiVersion,
            kind: res.kind,
            name: set.metadata.name,
            uid: set.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        ...structuredClone(tmpl.spec ?? {}),
        hostname: name,
        ...(set.spec?.serviceName ? { subdomain: set.spec.serviceName } : {}),
        nodeName: 'sim-node',
      },
    };
    try {
      return this.api.create(POD, ns, pod);
    } catch (err) {
      console.error(`sim: create pod ${ns}/${name}:`, err);
      return undefined;
    }
  }

  private reconcilePdb(ns: string, name: string): void {
    {
      const pdb = this.store.get(PDB, ns, name);
      if (!pdb) return;
      const b = this.api.budget(pdb);
      const prev = pdb.status ?? {};
      if (
        prev.observedGeneration === pdb.metadata.generation &&
        prev.currentHealthy === b.currentHealthy &&
        prev.desiredHealthy === b.desiredHealthy &&
        prev.expectedPods === b.expectedPods &&
        prev.disruptionsAllowed === b.disruptionsAllowed
      ) {
        return;
      }
      const allowed = b.disruptionsAllowed > 0;
      const was = prev.conditions?.find((c: J) => c.type === 'DisruptionAllowed');
      this.api.writeStatus(PDB, pdb, {
        observedGeneration: pdb.metadata.generation,
        ...b,
        conditions: [
          {
            type: 'DisruptionAllowed',
            status: allowed ? 'True' : 'False',
            reason: allowed ? 'SufficientPods' : 'InsufficientPods',
            message: '',
            observedGeneration: pdb.metadata.generation,
            lastTransitionTime:
              was && was.status === (allowed ? 'True' : 'False') ? was.lastTransitionTime : now(),
          },
        ],
      });
    }
  }
}

interface PodState {
  uid: string;
  ns: string;
  name: string;
  started: boolean;
  everReady: boolean;
  ready: boolean;
  reason: string;
  message: string;
  ownerUid?: string;
  /** The server's TLS context (client connections): loaded at start, replaced by a reload. */
  tls?: TlsSnapshot;
  /** Galera's replication TLS context, when Galera's TLS is on (tls.ts galeraTlsOn; socket.ssl_reload). */
  galera?: TlsSnapshot;
  encrypted: boolean;
}

/** What the mysqld stand-in reads about a running pod (a copy). */
export type RunningPod = Readonly<Omit<PodState, 'tls' | 'galera'>> & {
  tls?: TlsSnapshot;
  galera?: TlsSnapshot;
};

/**
 * The kubelet stand-in. It keeps, per pod UID, what the pod loaded at start (`tls`), because a
 * running mysqld has read its files already: a changed Secret matters only after a restart. A pod
 * that never got Ready re-reads its Secrets on every retry, as a crash-looping container does.
 */
export class Kubelet {
  private readonly pods = new Map<string, PodState>();
  private readonly notReady = new Set<string>();
  private readonly holds = new Map<string, string>();
  private readonly byOwner = new Map<string, Set<string>>();
  readonly transitions: ReadinessRecord[] = [];
  private readonly interval: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly api: Api,
    private readonly timers: Timers,
    private readonly podReadyDelayMs: number,
    private readonly volumes?: SecretVolumes,
    /** Real servers (`--mysqld mariadb`): readiness is theirs, not the TLS stand-in's. */
    private readonly servers?: GaleraServers,
  ) {
    this.interval = setInterval(() => this.recheck(), 100);
    this.interval.unref();
    if (servers)
      servers.onChange = (uid) => {
        const st = this.pods.get(uid);
        if (st?.started) this.evaluate(st);
      };
  }

  stop(): void {
    clearInterval(this.interval);
  }

  onPodEvent(ev: StoreEvent): void {
    const uid: string = ev.obj.metadata.uid;
    if (ev.type === 'DELETED') {
      const st = this.pods.get(uid);
      if (st?.ready) this.record(st, false, 'Deleted', 'pod deleted');
      this.pods.delete(uid);
      this.notReady.delete(uid);
      this.volumes?.unmount(uid);
      this.servers?.remove(uid);
      if (st?.ownerUid) this.byOwner.get(st.ownerUid)?.delete(uid);
      return;
    }
    if (ev.type === 'ADDED' && !this.pods.has(uid)) {
      const st: PodState = {
        uid,
        ns: ev.obj.metadata.namespace,
        name: ev.obj.metadata.name,
        started: false,
        everReady: false,
        ready: false,
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [perconaxtradb]',
        ownerUid: ownerOf(ev.obj)?.uid,
        encrypted: galeraTlsOn(ev.obj),
      };
      this.pods.set(uid, st);
      this.volumes?.mount(uid);
      if (st.ownerUid) {
        let group = this.byOwner.get(st.ownerUid);
        if (!group) {
          group = new Set();
          this.byOwner.set(st.ownerUid, group);
        }
        group.add(uid);
      }
      if (isPodReady(ev.obj)) {
        // A fixture stored a pod that is already Ready: take it as started as it is.
        st.started = true;
        st.ready = true;
        st.everReady = true;
        const load = loadPodTls(ev.obj, this.secrets(uid));
        if (load.ok) this.loaded(st, load.tls);
        return;
      }
      this.timers.after(this.podReadyDelayMs, () => this.start(uid));
      return;
    }
    const st = this.pods.get(uid);
    if (st && ev.obj.metadata.deletionTimestamp && !ev.old?.metadata.deletionTimestamp) {
      this.notReady.delete(uid);
      st.started = false;
      this.servers?.stop(uid);
      if (st.ready) {
        st.ready = false;
        this.writeReady(ev.obj, st, false, 'Terminating', 'pod is being deleted');
      }
    }
  }

  hold(ns: string, name: string, message: string): void {
    this.holds.set(`${ns}/${name}`, message);
    for (const st of this.pods.values()) {
      if (st.ns === ns && st.name === name && st.started) this.evaluate(st);
    }
  }

  release(ns: string, name: string): void {
    this.holds.delete(`${ns}/${name}`);
    for (const st of this.pods.values()) {
      if (st.ns === ns && st.name === name && st.started) this.evaluate(st);
    }
  }

  releaseAll(): void {
    const held = [...this.holds.keys()];
    this.holds.clear();
    for (const k of held) {
      const [ns, name] = k.split('/') as [string, string];
      this.release(ns, name);
    }
  }

  private start(uid: string): void {
    const st = this.pods.get(uid);
    if (!st || st.started) return;
    const pod = this.store.get(POD, st.ns, st.name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return;
    st.started = true;
    this.servers?.start(pod, st.ownerUid);
    this.evaluate(st, true);
  }

  private recheck(): void {
    for (const uid of [...this.notReady]) {
      const st = this.pods.get(uid);
      if (!st?.started) {
        this.notReady.delete(uid);
        continue;
      }
      this.evaluate(st);
    }
  }

  /** Decides readiness now and writes the pod status when anything changed. */
  private evaluate(st: PodState, first = false): void {
    const pod = this.store.get(POD, st.ns, st.name);
    if (!pod || pod.metadata.uid !== st.uid || pod.metadata.deletionTimestamp) return;
    const verdict = this.verdict(pod, st);
    if (verdict.ready) {
      st.everReady = true;
      this.notReady.delete(st.uid);
    } else this.notReady.add(st.uid);
    if (
      !first &&
      verdict.ready === st.ready &&
      verdict.reason === st.reason &&
      verdict.message === st.message
    )
      return;
    const changed = first || verdict.ready !== st.ready || verdict.reason !== st.reason;
    st.ready = verdict.ready;
    this.writeReady(pod, st, verdict.ready, verdict.reason, verdict.message, changed);
    // Real servers pass through many transient reasons while they join; only a crash is a warning.
    const warn = this.servers ? verdict.reason === 'CrashLoopBackOff' : verdict.reason !== 'HeldNotReady';
    if (!verdict.ready && warn) this.warn(pod, verdict.reason, verdict.message);
  }

  private verdict(pod: Obj, st: PodState): { ready: boolean; reason: string; message: string } {
    const held = this.holds.get(`${st.ns}/${st.name}`);
    if (held !== undefined) return { ready: false, reason: 'HeldNotReady', message: held };
    if (this.servers) {
      const s = this.servers.status(st.uid);
      return s
        ? { ready: s.ready, reason: s.reason, message: s.message }
        : { ready: false, reason: 'ContainerCreating', message: 'starting mariadbd' };
    }
    if (!st.everReady) {
      // Not running yet (or crash-looping): (re)load the files, as a fresh mysqld would.
      const load = loadPodTls(pod, this.secrets(st.uid));
      if (!load.ok) {
        this.loaded(st, undefined);
        return { ready: false, reason: load.reason, message: load.message };
      }
      this.loaded(st, load.tls);
    }
    const mine = replicationTls(st);
    if (mine) {
      for (const peer of this.peers(st)) {
        const problem = peerTrust(mine, replicationTls(peer)!, `${peer.ns}/${peer.name}`);
        if (problem) return { ready: false, reason: 'PeerNotTrusted', message: problem };
      }
    }
    return { ready: true, reason: 'PodReady', message: '' };
  }

  /** The pod's files as its Secret volumes show them now (the Secret itself at pod start). */
  private secrets(uid: string) {
    return (ns: string, name: string, frozen?: boolean) =>
      this.volumes ? this.volumes.read(ns, name, uid, frozen) : this.store.get(SECRET, ns, name);
  }

  /** What mysqld loads when it starts: the server context, and Galera's from the same files. */
  private loaded(st: PodState, tls: TlsSnapshot | undefined): void {
    st.tls = tls;
    st.galera = st.encrypted ? tls : undefined;
  }

  /** The started pod `ns/name` as mysqld runs it now, or undefined (absent, not started, gone). */
  running(ns: string, name: string): RunningPod | undefined {
    for (const st of this.pods.values()) {
      if (st.ns !== ns || st.name !== name || !st.started) continue;
      const pod = this.store.get(POD, ns, name);
      if (!pod || pod.metadata.uid !== st.uid || pod.metadata.deletionTimestamp) continue;
      return { ...st };
    }
    return undefined;
  }

  /**
   * A reload inside the running pod replaced one of its contexts (undefined: TLS disabled for new
   * connections, `NO ROLLBACK ON ERROR`). Readiness is not re-evaluated: a running node keeps its
   * established connections; the new material matters for the next handshakes and peer checks.
   */
  replaceLoaded(uid: string, which: 'tls' | 'galera', tls: TlsSnapshot | undefined): void {
    const st = this.pods.get(uid);
    if (st) st[which] = tls;
  }

  /** The Secret reads of a running pod (its volumes as they are now), for the mysqld stand-in. */
  volumeReader(uid: string) {
    return this.secrets(uid);
  }

  /** Other pods of the same set that are Ready now with TLS loaded. */
  private peers(st: PodState): PodState[] {
    if (!st.ownerUid) return [];
    const out: PodState[] = [];
    for (const uid of this.byOwner.get(st.ownerUid) ?? []) {
      const other = this.pods.get(uid);
      if (other && other.uid !== st.uid && other.ready && replicationTls(other)) out.push(other);
    }
    return out;
  }

  private writeReady(
    pod: Obj,
    st: PodState,
    ready: boolean,
    reason: string,
    message: string,
    record = true,
  ): void {
    st.reason = reason;
    st.message = message;
    if (record) this.record(st, ready, reason, message);
    const prev = pod.status ?? {};
    const t = now();
    const cond = (type: string, status: boolean, r?: string, m?: string) => {
      const was = prev.conditions?.find((c: J) => c.type === type);
      const s = status ? 'True' : 'False';
      return {
        type,
        status: s,
        ...(r ? { reason: r } : {}),
        ...(m ? { message: m } : {}),
        lastProbeTime: null,
        lastTransitionTime: was && was.status === s ? was.lastTransitionTime : t,
      };
    };
    const containers: J[] = pod.spec?.containers ?? [];
    const status = {
      ...prev,
      phase: 'Running',
      hostIP: '10.0.0.1',
      podIP: prev.podIP ?? `10.1.${(hash(st.uid) >> 8) & 255}.${hash(st.uid) & 255}`,
      startTime: prev.startTime ?? t,
      conditions: [
        cond('PodReadyToStartContainers', true),
        cond('Initialized', true),
        cond('Ready', ready, ready ? undefined : reason, ready ? undefined : message),
        cond('ContainersReady', ready, ready ? undefined : reason, ready ? undefined : message),
        cond('PodScheduled', true),
      ],
      initContainerStatuses: (pod.spec?.initContainers ?? []).map((c: J) => ({
        name: c.name,
        image: c.image,
        ready: true,
        restartCount: 0,
        started: false,
        state: { terminated: { exitCode: 0, reason: 'Completed' } },
      })),
      containerStatuses: containers.map((c: J) => {
        const bad =
          !ready && c.name === 'perconaxtradb' && reason !== 'HeldNotReady' && reason !== 'Terminating';
        const was = prev.containerStatuses?.find((x: J) => x.name === c.name);
        return {
          name: c.name,
          image: c.image,
          ready: c.name === 'perconaxtradb' ? ready : reason !== 'Terminating',
          started: !bad,
          restartCount: (was?.restartCount ?? 0) + (bad && was?.state?.running ? 1 : 0),
          state: bad
            ? { waiting: { reason: 'CrashLoopBackOff', message } }
            : { running: { startedAt: was?.state?.running?.startedAt ?? t } },
        };
      }),
    };
    this.api.writeStatus(POD, pod, status);
  }

  private warn(pod: Obj, reason: string, message: string): void {
    try {
      this.api.create(EVENT, pod.metadata.namespace, {
        metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Pod',
          name: pod.metadata.name,
          namespace: pod.metadata.namespace,
          uid: pod.metadata.uid,
          fieldPath: 'spec.containers{perconaxtradb}',
        },
        reason: 'Unhealthy',
        message: `${reason}: ${message}`,
        type: 'Warning',
        source: { component: 'kubelet', host: 'sim-node' },
        firstTimestamp: now(),
        lastTimestamp: now(),
        count: 1,
      });
    } catch {
      // namespace going away: nothing to report to
    }
  }

  private record(st: PodState, ready: boolean, reason: string, message: string): void {
    this.transitions.push({
      at: Date.now(),
      namespace: st.ns,
      pod: st.name,
      uid: st.uid,
      ready,
      reason,
      message,
    });
  }
}

/** The material a pod presents to and trusts from its peers: Galera's when encrypted, else the server's (SST). */
function replicationTls(st: PodState): TlsSnapshot | undefined {
  return st.encrypted ? st.galera : st.tls;
}

function hash(s: string): number {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) | 0;
  return Math.abs(h);
}
