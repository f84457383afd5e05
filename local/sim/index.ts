/**
 * A Kubernetes API server simulator for tests, benchmarks and the local demo: the real REST
 * protocol on 127.0.0.1 (HTTP, or HTTPS with its own CA), the resources this project touches,
 * StatefulSet/PetSet controllers and a kubelet stand-in that checks pods' TLS wiring for real.
 * kubectl and @kubernetes/client-node both work against it through the kubeconfig it writes.
 *
 * ```ts
 * const sim = await startSimulator({ kubeconfigPath: '/tmp/sim.kubeconfig' });
 * // ... KubeConfig.loadFromString(sim.kubeconfig) ...
 * await sim.stop();
 * ```
 */
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Api, NAMESPACE, Timers } from './api.js';
import { makeServingCerts } from './ca.js';
import {
  CertManager,
  type CertManagerOptions,
  type Issuance,
  type SimSigner,
  signerKey,
} from './cert-manager.js';
import { Controllers, type ReadinessRecord } from './controllers.js';
import { ExecEndpoint } from './exec.js';
import { type GaleraOptions, GaleraServers, type ServerInfo } from './galera.js';
import { KubeDbWebhooks, opsValidatingWebhook, VALIDATING_WEBHOOK } from './kubedb-webhooks.js';
import { Mysqld, type MysqldView, type ReloadFault, type ReloadRecord } from './mysqld.js';
import { Provisioner, type ProvisionerOptions, type ProvisionerWrite } from './provisioner.js';
import { findByKind } from './resources.js';
import { type FaultAction, type FaultRule, Handler, type RequestRecord } from './server.js';
import type { ExecResult } from './shell.js';
import { ApiError, clone, type J, type Obj, Store } from './store.js';
import { type KubeletSyncModel, SecretVolumes } from './volumes.js';

export { templateRevision } from './controllers.js';
export type {
  FaultRule,
  Issuance,
  MysqldView,
  ProvisionerWrite,
  ReadinessRecord,
  ReloadFault,
  ReloadRecord,
  RequestRecord,
  ServerInfo,
  SimSigner,
};
export { signerKey };

export interface SimulatorOptions {
  port?: number; // default 0 = a free port on 127.0.0.1
  https?: boolean; // default false; true = TLS with the simulator's own CA (in kubeconfig)
  token?: string; // bearer token written to the kubeconfig; when set, other tokens get 401
  /**
   * Extra authentication (the SAM engineer's EKS mode plugs in here): return false → 401.
   * A request passes when its token equals `token`, or else when this returns true; with neither
   * option set every request passes. `/_sim/` control calls are never authenticated.
   */
  authenticate?: (token: string | undefined, req: IncomingMessage) => boolean | Promise<boolean>;
  podReadyDelayMs?: number; // new pod → Running+Ready after this; default 200
  podDeleteGraceMs?: number; // delete/evict → pod gone after this; default 50
  kubeconfigPath?: string; // also write the kubeconfig file here
  namespaces?: string[]; // created at start; default ['default', 'demo', 'cert-manager']
  /** Namespace of the kubeconfig's context; default 'demo'. */
  contextNamespace?: string;
  /** How many changes a watch can resume across (older resourceVersions get 410 Gone); default 200,000. */
  watchHistory?: number;
  /** Interval of BOOKMARK events on watches that allow them; default 10,000 ms. */
  watchBookmarkMs?: number;
  /**
   * Delay between a Secret write and running pods seeing the new files in their Secret volumes
   * (the kubelet's sync period + cache propagation); default 0. New pods always mount the
   * Secret as it is; subPath mounts never change.
   */
  secretPropagationMs?: number;
  /**
   * The realistic kubelet instead of `secretPropagationMs` (volumes.ts): a running pod's Secret
   * volumes follow the Secret at that pod's periodic sync (every `syncPeriodMs`, each pod at its
   * own phase), or at once when the pod object's metadata/spec is updated. Opt-in; both mysqld
   * modes follow it.
   */
  kubelet?: KubeletSyncModel;
  /**
   * The KubeDB provisioner stand-in (provisioner.ts): confirms pauses, re-renders workloads and
   * AppBindings of databases that are not paused. On by default, as on a real KubeDB cluster;
   * `false` for a cluster where no provisioner answers.
   */
  provisioner?: boolean | ProvisionerOptions;
  /**
   * The cert-manager stand-in (cert-manager.ts): issues and re-issues Certificates by cert-manager's
   * rules. On by default, as on a cluster where KubeDB's TLS runs; `false` for one without cert-manager.
   */
  certManager?: boolean | CertManagerOptions;
  /**
   * What runs in each pod's database container: the mysqld stand-in (default), or a real
   * `mariadbd` with Galera per pod, the pods of a workload one cluster on loopback (galera.ts;
   * needs Debian's mariadb-server and galera-4).
   */
  mysqld?: 'stand-in' | 'mariadb';
  galera?: GaleraOptions;
  /**
   * KubeDB's admission webhooks (kubedb-webhooks.ts): TLS defaulting of PerconaXtraDB writes, the
   * ops webhook's checks and its resume-on-completion, and their ValidatingWebhookConfiguration
   * `validators.ops.kubedb.com`. On by default, as a default KubeDB install runs them; `false` for
   * a cluster without KubeDB's webhook server.
   */
  kubedbWebhooks?: boolean;
}

export interface Simulator {
  url: string; // e.g. http://127.0.0.1:41234
  kubeconfig: string; // kubeconfig YAML text (context "sim")
  kubeconfigPath?: string;
  /** In-process access that bypasses HTTP and is NOT counted in `requests` (fixtures, assertions). */
  store: {
    get<T>(apiVersion: string, kind: string, namespace: string | undefined, name: string): T | undefined;
    list<T>(apiVersion: string, kind: string, namespace?: string): T[];
    create<T>(obj: T): T; // assigns uid/resourceVersion/etc like the API server; runs controllers
    put<T>(obj: T): T; // unconditional replace, including status (fixtures only)
    /** Like the API: a pod goes after `podDeleteGraceMs`; owned objects are garbage-collected. */
    delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean;
  };
  faults: {
    /** Fail the next `times` requests matching method and path regex. */
    inject(rule: { method?: string; path: RegExp | string; times?: number; action: FaultAction }): void;
    holdNotReady(namespace: string, podName: string, message?: string): void; // pod (any UID) stays NotReady
    release(namespace: string, podName: string): void;
    reset(): void;
    /**
     * Reloads inside the pod (`ALTER INSTANCE RELOAD TLS`, `socket.ssl_reload`) fail, keeping the old
     * material; or (what: read / connect) reading the certificate files, reaching mysqld, fails.
     */
    failReload(namespace: string, podName: string, fault?: ReloadFault): void;
  };
  /**
   * The mysqld stand-in of each pod's perconaxtradb container: what it has loaded (`view`), its
   * reloads in order (`reloads`), and exec in-process (the same interpreter `pods/exec` runs).
   */
  mysqld: {
    view(namespace: string, podName: string): MysqldView | undefined;
    reloads(): ReloadRecord[];
    /** The pod (any UID) runs a Galera build without socket.ssl_reload (Galera 4.7, PXC 8.0 in 2021). */
    galeraWithoutSslReload(namespace: string, podName: string): void;
    exec(
      namespace: string,
      podName: string,
      argv: string[],
      opts?: { container?: string; stdin?: string },
    ): { stdout: string; stderr: string; exitCode: number };
    /** As `pods/exec` runs it: against the real server in `mysqld: 'mariadb'` mode. */
    execAsync(
      namespace: string,
      podName: string,
      argv: string[],
      opts?: { container?: string; stdin?: string },
    ): Promise<ExecResult>;
  };
  /** The real servers (`mysqld: 'mariadb'`), undefined with the stand-in. */
  galera?: {
    root: string;
    servers(): ServerInfo[];
    /** SQL as root over the pod's Unix socket (`-N -B`). */
    sql(namespace: string, podName: string, sql: string): Promise<ExecResult>;
  };
  /** Secret volume propagation delay (ms); may be changed while running. */
  secretPropagationMs: number;
  /** Every HTTP request served (verb = get|list|watch|create|update|patch|delete|evict, resource plural). */
  requests: {
    all(): Array<{
      at: number;
      method: string;
      path: string;
      verb: string;
      resource: string;
      namespace?: string;
      status: number;
    }>;
    countBy(filter?: { verb?: string; resource?: string }): number;
    reset(): void;
  };
  /** Pod readiness transitions, in order — used to prove "no pod was ever refused by a peer". */
  readiness(): ReadinessRecord[];
  /** What the KubeDB provisioner stand-in wrote, in order (empty when it is off). */
  provisionerWrites(): ProvisionerWrite[];
  /** Turns KubeDB's admission webhooks off or on again (a cluster without KubeDB's webhook server). */
  setKubedbWebhooks(on: boolean): void;
  /** The cert-manager stand-in (inert when it is off). */
  certManager: {
    /** Every issuance, in order. */
    issuances(): Issuance[];
    /** A simulated signer for an issuer only cert-manager can sign with (key: `signerKey(issuerRef, namespace)`). */
    addSigner(key: string, signer: SimSigner): void;
    /** Every issuance by this issuer fails with `message` (undefined: works again). */
    failIssuer(key: string, message: string | undefined): void;
  };
  stop(): Promise<void>; // closes server, timers, watches; leaves nothing running
}

const DEFAULT_NAMESPACES = ['default', 'demo', 'cert-manager'];

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const store = new Store(opts.watchHistory);
  const timers = new Timers();
  const api = new Api(store, timers, opts.podDeleteGraceMs ?? 50);
  const volumes = new SecretVolumes(store, opts.secretPropagationMs ?? 0, Date.now, opts.kubelet);
  const galera =
    opts.mysqld === 'mariadb'
      ? new GaleraServers((ns, name, uid, frozen) => volumes.read(ns, name, uid, frozen), opts.galera)
      : undefined;
  const controllers = new Controllers(store, api, timers, opts.podReadyDelayMs ?? 200, volumes, galera);
  const provisioner =
    opts.provisioner === false
      ? undefined
      : new Provisioner(store, api, typeof opts.provisioner === 'object' ? opts.provisioner : {});
  const certManager =
    opts.certManager === false
      ? undefined
      : new CertManager(store, api, typeof opts.certManager === 'object' ? opts.certManager : {});
  for (const ns of opts.namespaces ?? DEFAULT_NAMESPACES) {
    api.create(NAMESPACE, undefined, { metadata: { name: ns } });
  }
  if (opts.kubedbWebhooks !== false) {
    api.webhooks = new KubeDbWebhooks(store);
    // kubedb/installer charts/kubedb-webhook-server templates/ops-manager/validating-webhook.yaml
    // renders it for the community webhook server too.
    api.create(VALIDATING_WEBHOOK, undefined, opsValidatingWebhook());
  }

  const authenticate = async (token: string | undefined, req: IncomingMessage): Promise<boolean> => {
    if (opts.token !== undefined && token === opts.token) return true;
    if (opts.authenticate) return await opts.authenticate(token, req);
    return opts.token === undefined;
  };
  const kubelet = controllers.kubelet;
  const mysqld = new Mysqld(store, kubelet, galera);
  const exec = new ExecEndpoint(store, mysqld);
  const control = (key: string, input: J): unknown => {
    if (key === 'POST /_sim/reload-fault') {
      if (!input.namespace || !input.pod)
        throw new ApiError(400, 'BadRequest', 'a reload fault needs namespace and pod');
      mysqld.failReloads(input.namespace, input.pod, input);
      return { ok: true };
    }
    if (key === 'GET /_sim/mysqld') return { items: mysqld.reloads };
    return undefined;
  };
  const hold = (ns: string, pod: string, message?: string) =>
    kubelet.hold(ns, pod, message ?? 'held NotReady by the simulator (fault injection)');
  const handler = new Handler(store, api, {
    authenticate,
    hold,
    release: (ns, pod) => kubelet.release(ns, pod),
    reset: () => {
      handler.clearFaults();
      kubelet.releaseAll();
      mysqld.clearFaults();
    },
    readiness: () => kubelet.transitions,
    execTarget: (url, ns, pod) => exec.target(url, ns, pod),
    exec: (req, socket, head, target) => exec.upgrade(req, socket, head, target),
    control,
  });

  if (opts.watchBookmarkMs !== undefined) handler.bookmarkMs = opts.watchBookmarkMs;
  const certs = opts.https ? makeServingCerts() : undefined;
  const server: Server = certs
    ? (createHttpsServer({ cert: certs.certPem, key: certs.keyPem }, handler.handle) as unknown as Server)
    : createHttpServer(handler.handle);
  server.keepAliveTimeout = 5_000;
  server.on('upgrade', handler.upgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  handler.hostPort = `127.0.0.1:${port}`;
  const url = `${certs ? 'https' : 'http'}://127.0.0.1:${port}`;
  const kubeconfig = makeKubeconfig(url, opts.token ?? 'sim', certs?.caPem, opts.contextNamespace ?? 'demo');
  if (opts.kubeconfigPath) writeFileSync(opts.kubeconfigPath, kubeconfig, { mode: 0o600 });

  const resOf = (apiVersion: string, kind: string) => {
    const res = findByKind(apiVersion, kind);
    if (!res) throw new Error(`simulator: no resource ${apiVersion} ${kind}`);
    return res;
  };
  let stopped = false;

  return {
    url,
    kubeconfig,
    kubeconfigPath: opts.kubeconfigPath,
    store: {
      get<T>(apiVersion: string, kind: string, namespace: string | undefined, name: string): T | undefined {
        return clone(store.get(resOf(apiVersion, kind), namespace, name)) as T | undefined;
      },
      list<T>(apiVersion: string, kind: string, namespace?: string): T[] {
        return store.list(resOf(apiVersion, kind), namespace).map((o) => clone(o) as T);
      },
      create<T>(obj: T): T {
        const o = obj as unknown as Obj;
        const res = resOf(o.apiVersion ?? '', o.kind ?? '');
        const out = api.create(res, o.metadata?.namespace, clone(o), { keepStatus: true });
        controllers.flush();
        return clone(store.get(res, out.metadata.namespace, out.metadata.name) ?? out) as T;
      },
      put<T>(obj: T): T {
        const o = clone(obj as unknown as Obj);
        const out = api.put(resOf(o.apiVersion ?? '', o.kind ?? ''), o);
        controllers.flush();
        return clone(out) as T;
      },
      delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean {
        try {
          api.delete(resOf(apiVersion, kind), namespace, name);
          controllers.flush();
          return true;
        } catch (err) {
          if (err instanceof ApiError && err.code === 404) return false;
          throw err;
        }
      },
    },
    faults: {
      inject: (rule) => handler.inject(rule),
      holdNotReady: hold,
      release: (ns, pod) => kubelet.release(ns, pod),
      reset: () => {
        handler.clearFaults();
        kubelet.releaseAll();
        mysqld.clearFaults();
      },
      failReload: (ns, pod, fault) => mysqld.failReloads(ns, pod, fault),
    },
    mysqld: {
      view: (ns, pod) => mysqld.view(ns, pod),
      reloads: () => mysqld.reloads.map((r) => ({ ...r })),
      galeraWithoutSslReload: (ns, pod) => mysqld.galeraWithoutSslReload(ns, pod),
      exec: (ns, pod, argv, o = {}) => mysqld.exec(ns, pod, o.container ?? 'perconaxtradb', argv, o.stdin),
      execAsync: (ns, pod, argv, o = {}) =>
        mysqld.execAsync(ns, pod, o.container ?? 'perconaxtradb', argv, o.stdin),
    },
    ...(galera
      ? {
          galera: {
            root: galera.root,
            servers: () => galera.info(),
            sql: async (ns: string, pod: string, sql: string) => {
              const rp = kubelet.running(ns, pod);
              return rp
                ? galera.sql(rp.uid, sql)
                : { stdout: '', stderr: `pod ${ns}/${pod} is not running`, exitCode: 1 };
            },
          },
        }
      : {}),
    get secretPropagationMs() {
      return volumes.propagationMs;
    },
    set secretPropagationMs(ms: number) {
      volumes.propagationMs = ms;
    },
    requests: {
      all: () => handler.records.map((r) => ({ ...r })),
      countBy: (filter = {}) =>
        handler.records.filter(
          (r) =>
            (filter.verb === undefined || r.verb === filter.verb) &&
            (filter.resource === undefined || r.resource === filter.resource),
        ).length,
      reset: () => {
        handler.records.length = 0;
      },
    },
    readiness: () => kubelet.transitions.map((t) => ({ ...t })),
    setKubedbWebhooks: (on) => {
      api.webhooks = on ? new KubeDbWebhooks(store) : undefined;
    },
    provisionerWrites: () => (provisioner?.writes ?? []).map((w) => ({ ...w })),
    certManager: {
      issuances: () => (certManager?.issuances ?? []).map((i) => ({ ...i })),
      addSigner: (key, signer) => certManager?.addSigner(key, signer),
      failIssuer: (key, message) => certManager?.failIssuer(key, message),
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      timers.clear();
      controllers.stop();
      await galera?.shutdown();
      volumes.stop();
      provisioner?.stop();
      certManager?.stop();
      handler.closeWatches();
      exec.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function makeKubeconfig(url: string, token: string, caPem: string | undefined, namespace: string): string {
  // Plain HTTP: @kubernetes/client-node refuses http:// unless TLS verification is marked off.
  const ca = caPem
    ? `\n    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`
    : '\n    insecure-skip-tls-verify: true';
  return `apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster:
    server: ${url}${ca}
contexts:
- name: sim
  context:
    cluster: sim
    user: sim
    namespace: ${namespace}
current-context: sim
preferences: {}
users:
- name: sim
  user:
    token: ${JSON.stringify(token)}
`;
}
