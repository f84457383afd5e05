/**
 * A stand-in for KubeDB's provisioner (the community operator's PerconaXtraDB controller), for
 * the two things this project meets on a real cluster:
 * - it confirms pauses: a `Paused` condition with status Unknown (how KubeDB's ops requests pause
 *   a database) turns True — optionally after `confirmDelayMs` — and from then on it leaves the
 *   database alone;
 * - when the database changes while it is not paused (a resume, a spec edit), it re-renders the
 *   TLS wiring of the database's PetSet (or StatefulSet) from `spec.tls`/`spec.requireSSL`, and
 *   the AppBinding `<db>`, and writes them when they differ. A template the workflow left different from this render is changed again
 *   here: under RollingUpdate, a second full restart.
 *
 * The render is written independently of the workflow's (functions/model/wiring.ts), from the
 * same public material (kubedb/docs' PerconaXtraDB TLS guide, kubedb/percona-xtradb-init-docker,
 * KubeDB's public MariaDB PetSet builder): KubeDB's own PerconaXtraDB renderer is not public. Its
 * AppBinding: `clientConfig.caBundle` = the server certificate Secret's `ca.crt` (what the pods
 * trust), `tlsSecret` = the client certificate Secret; both absent without TLS.
 */
import { Timers } from './api.js';
import { RESOURCES, type SimResource } from './resources.js';
import { clone, type J, type Obj, type Store, type StoreEvent, sameJson } from './store.js';

const PXC = RESOURCES.find((r) => r.kind === 'PerconaXtraDB')!;
const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;
const APPBINDING = RESOURCES.find((r) => r.kind === 'AppBinding')!;
const SETS = RESOURCES.filter((r) => r.kind === 'PetSet' || r.kind === 'StatefulSet');

const DB_CONTAINER = 'perconaxtradb';
const CERTS = '/etc/mysql/certs';
const ALIASES = ['server', 'client', 'metrics-exporter'] as const;
const FILES = ['ca.crt', 'tls.crt', 'tls.key'];
const TLS_FLAGS = ['--ssl-capath=', '--ssl-ca=', '--ssl-cert=', '--ssl-key=', '--require-secure-transport='];

export interface ProvisionerWrite {
  at: number;
  namespace: string;
  database: string;
  /** What it wrote: "confirm-pause", "template" (the workload's pod template), "appbinding". */
  what: 'confirm-pause' | 'template' | 'appbinding';
}

export interface ProvisionerOptions {
  /** Delay before confirming a pause (default 0: on the next tick). */
  confirmDelayMs?: number;
}

/** What writes go through: the API's in-process paths, so the usual defaulting and events apply. */
export interface ProvisionerApi {
  writeStatus(res: SimResource, prev: Obj, status: J): Obj;
  patch(res: SimResource, ns: string | undefined, name: string, patch: J, format: 'merge'): Obj;
  create(res: SimResource, ns: string | undefined, body: J): Obj;
}

function secretName(db: J, alias: string): string {
  const cert = (db.spec?.tls?.certificates ?? []).find((c: J) => c?.alias === alias);
  return cert?.secretName || `${db.metadata.name}-${alias}-cert`;
}

function upsert(list: J[] | undefined, items: J[]): J[] {
  const out = [...(list ?? [])];
  for (const item of items) {
    const i = out.findIndex((x) => x?.name === item.name);
    if (i >= 0) out[i] = item;
    else out.push(item);
  }
  return out;
}

function without(list: J[] | undefined, names: Set<string>): J[] | undefined {
  if (!list) return list;
  return list.filter((x) => !names.has(x?.name));
}

/**
 * The pod spec with the database's TLS wiring as the provisioner renders it (a copy). Exported
 * for the fixtures, so a database the simulator provisions looks like one KubeDB provisioned.
 */
export function renderTlsWiring(podSpec: J, db: J): J {
  const spec = clone(podSpec);
  const c = (spec.containers ?? []).find((x: J) => x.name === DB_CONTAINER);
  if (!c) return spec;
  const tls = !!db.spec?.tls?.issuerRef;
  const volumeNames = new Set(ALIASES.map((a) => `tls-${a}-config`));
  const baseArgs = (c.args ?? []).filter((a: string) => !TLS_FLAGS.some((f) => String(a).startsWith(f)));
  if (tls) {
    spec.volumes = upsert(
      spec.volumes,
      ALIASES.map((alias) => ({
        name: `tls-${alias}-config`,
        secret: { secretName: secretName(db, alias), items: FILES.map((f) => ({ key: f, path: f })) },
      })),
    );
    c.volumeMounts = upsert(
      c.volumeMounts,
      ALIASES.map((alias) => ({ name: `tls-${alias}-config`, mountPath: `${CERTS}/${alias}` })),
    );
    c.env = upsert(c.env, [{ name: 'SSL_ENABLED', value: 'true' }]);
    c.args = [
      ...baseArgs,
      `--ssl-capath=${CERTS}/server`,
      `--ssl-ca=${CERTS}/server/ca.crt`,
      `--ssl-cert=${CERTS}/server/tls.crt`,
      `--ssl-key=${CERTS}/server/tls.key`,
      ...(db.spec.requireSSL ? ['--require-secure-transport=ON'] : []),
    ];
  } else {
    const keep = (o: J, k: string, v: J[] | undefined) => {
      if (v === undefined || (v.length === 0 && o[k] === undefined)) delete o[k];
      else o[k] = v;
    };
    keep(spec, 'volumes', without(spec.volumes, volumeNames));
    keep(c, 'volumeMounts', without(c.volumeMounts, volumeNames));
    keep(c, 'env', without(c.env, new Set(['SSL_ENABLED'])));
    keep(c, 'args', c.args === undefined ? undefined : baseArgs);
  }
  return spec;
}

/** The AppBinding's spec as the provisioner renders it from the database and its Secrets. */
export function renderAppBindingSpec(current: J, db: J, getSecret: (name: string) => J): J {
  const spec = clone(current ?? {});
  spec.clientConfig = { ...(spec.clientConfig ?? {}) };
  delete spec.clientConfig.caBundle;
  delete spec.tlsSecret;
  if (db.spec?.tls?.issuerRef) {
    const ca = getSecret(secretName(db, 'server'))?.data?.['ca.crt'];
    if (ca) spec.clientConfig.caBundle = ca;
    spec.tlsSecret = { name: secretName(db, 'client') };
  }
  return spec;
}

/** A new AppBinding for a database, as KubeDB creates it (before any TLS). */
export function appBindingFor(db: J): J {
  const name = db.metadata.name;
  return {
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    metadata: {
      name,
      namespace: db.metadata.namespace,
      labels: {
        'app.kubernetes.io/component': 'database',
        'app.kubernetes.io/instance': name,
        'app.kubernetes.io/managed-by': 'kubedb.com',
        'app.kubernetes.io/name': 'perconaxtradbs.kubedb.com',
      },
      ownerReferences: [
        {
          apiVersion: 'kubedb.com/v1',
          kind: 'PerconaXtraDB',
          name,
          uid: db.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      type: 'kubedb.com/perconaxtradb',
      version: db.spec?.version,
      appRef: { apiGroup: 'kubedb.com', kind: 'PerconaXtraDB', name, namespace: db.metadata.namespace },
      clientConfig: { service: { name, port: 3306, scheme: 'tcp' } },
      secret: { name: `${name}-auth` },
    },
  };
}

function pausedStatus(db: J): string | undefined {
  return (db.status?.conditions ?? []).find(
    (c: J) => c.type === 'Paused' && (c.status === 'True' || c.status === 'Unknown'),
  )?.status;
}

export class Provisioner {
  readonly writes: ProvisionerWrite[] = [];
  private readonly dirty = new Map<string, { ns: string; name: string; render: boolean }>();
  private scheduled = false;
  private readonly unsubscribe: () => void;
  /** Stopped with the provisioner: nothing it scheduled runs after `stop()`. */
  private readonly timers = new Timers();

  constructor(
    private readonly store: Store,
    private readonly api: ProvisionerApi,
    private readonly opts: ProvisionerOptions = {},
  ) {
    this.unsubscribe = store.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe();
    this.timers.clear();
  }

  /**
   * Reconciles on changes of the database only (a resume, a spec change) — not on edits of the
   * workload, which KubeDB's controller also watches, nor on a database just created (the
   * fixtures provision it as KubeDB would): tests that hand-edit a template (subPath mounts) keep
   * their edit until the database itself changes.
   */
  private onEvent(ev: StoreEvent): void {
    if (ev.res !== PXC || ev.type === 'DELETED') return;
    this.mark(ev.obj.metadata.namespace, ev.obj.metadata.name, ev.type === 'MODIFIED');
  }

  private mark(ns: string, name: string, render: boolean): void {
    const key = `${ns}/${name}`;
    this.dirty.set(key, { ns, name, render: render || !!this.dirty.get(key)?.render });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const work = [...this.dirty.values()];
      this.dirty.clear();
      for (const { ns: n, name: d, render } of work) {
        try {
          this.reconcile(n, d, render);
        } catch (err) {
          if (!this.timers.stopped) console.error(`sim provisioner: ${n}/${d}:`, err);
        }
      }
    });
  }

  private record(namespace: string, database: string, what: ProvisionerWrite['what']): void {
    this.writes.push({ at: Date.now(), namespace, database, what });
  }

  private reconcile(ns: string, name: string, render: boolean): void {
    if (this.timers.stopped) return;
    const db = this.store.get(PXC, ns, name);
    if (!db) return;
    const paused = pausedStatus(db);
    if (paused === 'Unknown') {
      this.confirm(ns, name);
      return;
    }
    if (paused === 'True' || !render) return;
    this.renderWorkload(db);
    this.renderAppBinding(db);
  }

  private confirm(ns: string, name: string): void {
    const go = () => {
      const db = this.store.get(PXC, ns, name);
      if (!db || pausedStatus(db) !== 'Unknown' || this.timers.stopped) return;
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const conditions = db.status.conditions.map((c: J) =>
        c.type === 'Paused' ? { ...c, status: 'True', lastTransitionTime: now } : c,
      );
      this.api.writeStatus(PXC, db, { ...db.status, conditions });
      this.record(ns, name, 'confirm-pause');
    };
    const delay = this.opts.confirmDelayMs ?? 0;
    if (delay <= 0) {
      go();
      return;
    }
    this.timers.after(delay, go);
  }

  private renderWorkload(db: Obj): void {
    for (const res of SETS) {
      const set = this.store.get(res, db.metadata.namespace, db.metadata.name);
      if (!set || set.metadata.deletionTimestamp) continue;
      const owned = (set.metadata.ownerReferences ?? []).some((o: J) => o.uid === db.metadata.uid);
      if (!owned || !set.spec?.template?.spec) continue;
      const rendered = renderTlsWiring(set.spec.template.spec, db);
      if (sameJson(rendered, set.spec.template.spec)) return;
      this.api.patch(
        res,
        db.metadata.namespace,
        db.metadata.name,
        { spec: { template: { ...set.spec.template, spec: rendered } } },
        'merge',
      );
      this.record(db.metadata.namespace, db.metadata.name, 'template');
      return;
    }
  }

  private renderAppBinding(db: Obj): void {
    const ns = db.metadata.namespace;
    const current = this.store.get(APPBINDING, ns, db.metadata.name);
    if (!current) {
      this.api.create(APPBINDING, ns, appBindingFor(db));
      this.record(ns, db.metadata.name, 'appbinding');
      return;
    }
    const spec = renderAppBindingSpec(current.spec, db, (n) => this.store.get(SECRET, ns, n));
    if (sameJson(spec, current.spec)) return;
    // A merge patch cannot drop keys it does not name: set the removed ones to null.
    const patch = {
      spec: { ...spec, tlsSecret: spec.tlsSecret ?? null, clientConfig: { ...spec.clientConfig } },
    };
    if (!spec.clientConfig.caBundle) patch.spec.clientConfig.caBundle = null;
    this.api.patch(APPBINDING, ns, db.metadata.name, patch, 'merge');
    this.record(ns, db.metadata.name, 'appbinding');
  }
}
