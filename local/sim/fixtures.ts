/**
 * Fixtures for the simulator, shared by the tests, the demo and the benchmark: a KubeDB
 * PerconaXtraDB as the community operator would leave it, Ready, with everything around it.
 *
 * `createPerconaXtraDB(sim, { namespace, name })` creates, in-process (not counted as requests):
 * - the `PerconaXtraDB` `<name>` (kubedb.com/v1), status phase `Ready` with a `Ready` condition
 *   (and the other provisioning conditions), `spec.replicas`, and `spec.tls`/`spec.requireSSL`
 *   when `tls` is given;
 * - its governing headless Service `<name>-pods` and the primary Service `<name>`;
 * - the auth Secret `<name>-auth` (`username` root, a random `password`) that the perconaxtradb
 *   container gets as MYSQL_ROOT_USERNAME / MYSQL_ROOT_PASSWORD, as KubeDB wires it;
 * - a PodDisruptionBudget `<name>` with `maxUnavailable: 1`;
 * - the workload `<name>`: a PetSet (apps.k8s.appscode.com/v1, default) or a StatefulSet
 *   (apps/v1), owned by the database, `updateStrategy` `OnDelete` (default) or `RollingUpdate`,
 *   whose pod template has the init container `px-init` and the containers `perconaxtradb` and
 *   `px-coordinator`. Without `tls` the template has no TLS wiring at all; with `tls` it has the
 *   wiring of DESIGN.md "Pod TLS wiring" as the KubeDB provisioner renders it (see `addTlsWiring`),
 *   and `tls.secrets` (PEM texts per alias) are written as the `<name>-<alias>-cert` Secrets first;
 * - its AppBinding `<name>` (appcatalog.appscode.com), as KubeDB's provisioner writes it, with the
 *   server Secret's `ca.crt` as `clientConfig.caBundle` when TLS is on.
 * The set controller then creates pods `<name>-0..n-1`, Running and Ready after the simulator's
 * `podReadyDelayMs`; `waitForPodsReady` waits for that.
 */
import { randomBytes } from 'node:crypto';
import type { Simulator } from './index.js';
import { appBindingFor, renderAppBindingSpec, renderTlsWiring } from './provisioner.js';
import type { J } from './store.js';

export const PXC_LABELS = (db: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'perconaxtradbs.kubedb.com',
  'app.kubernetes.io/instance': db,
  'app.kubernetes.io/managed-by': 'kubedb.com',
});

export type CertAlias = 'server' | 'client' | 'metrics-exporter';
export const ALIASES: CertAlias[] = ['server', 'client', 'metrics-exporter'];

export interface PemSet {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface PerconaXtraDBFixture {
  namespace: string;
  name: string;
  replicas?: number;
  workload?: 'PetSet' | 'StatefulSet';
  updateStrategy?: 'OnDelete' | 'RollingUpdate';
  version?: string;
  /**
   * Arguments appended to the perconaxtradb container's (kept by the TLS wiring), e.g.
   * `--pxc-encrypt-cluster-traffic=ON` for Galera TLS on real servers.
   */
  args?: string[];
  /** Create with TLS on: spec.tls + the pod wiring; `secrets` are written as `<db>-<alias>-cert`. */
  tls?: {
    issuerRef?: { apiGroup?: string; kind: string; name: string };
    requireSSL?: boolean;
    secrets?: Partial<Record<CertAlias, PemSet>>;
    /**
     * KubeDB-style: cert-manager Certificates `<name>-<alias>-cert` (labelled and owned as KubeDB
     * makes them) own the Secrets; the simulator's cert-manager issues them.
     */
    certManager?: boolean;
  };
}

export interface CreatedPerconaXtraDB {
  database: J;
  workload: J;
  workloadApiVersion: string;
  workloadKind: 'PetSet' | 'StatefulSet';
  podNames: string[];
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function createPerconaXtraDB(sim: Simulator, f: PerconaXtraDBFixture): CreatedPerconaXtraDB {
  const { namespace, name } = f;
  const replicas = f.replicas ?? 3;
  const workloadKind = f.workload ?? 'PetSet';
  const labels = PXC_LABELS(name);
  if (f.tls?.secrets) {
    for (const alias of ALIASES) {
      const pem = f.tls.secrets[alias];
      if (pem) sim.store.put(tlsSecret(namespace, `${name}-${alias}-cert`, pem));
    }
  }
  const t = now();
  const cond = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    observedGeneration: 1,
    reason,
    message,
    lastTransitionTime: t,
  });
  const database = sim.store.create<J>({
    apiVersion: 'kubedb.com/v1',
    kind: 'PerconaXtraDB',
    metadata: { name, namespace },
    spec: {
      version: f.version ?? '8.0.40',
      replicas,
      storageType: 'Durable',
      storage: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      deletionPolicy: 'WipeOut',
      ...(f.tls
        ? {
            requireSSL: f.tls.requireSSL ?? false,
            tls: {
              issuerRef: f.tls.issuerRef ?? {
                apiGroup: 'cert-manager.io',
                kind: 'Issuer',
                name: 'px-issuer',
              },
              certificates: ALIASES.map((alias) => ({ alias, secretName: `${name}-${alias}-cert` })),
            },
          }
        : {}),
    },
    status: {
      phase: 'Ready',
      observedGeneration: 1,
      conditions: [
        cond(
          'ProvisioningStarted',
          'DatabaseProvisioningStartedSuccessfully',
          `The KubeDB operator has started the provisioning of PerconaXtraDB: ${namespace}/${name}`,
        ),
        cond('ReplicaReady', 'AllReplicasReady', 'All desired replicas are ready.'),
        cond(
          'AcceptingConnection',
          'DatabaseAcceptingConnectionRequest',
          `The PerconaXtraDB: ${namespace}/${name} is accepting client requests.`,
        ),
        cond('Ready', 'ReadinessCheckSucceeded', `The PerconaXtraDB: ${namespace}/${name} is ready.`),
        cond(
          'Provisioned',
          'DatabaseSuccessfullyProvisioned',
          `The PerconaXtraDB: ${namespace}/${name} is successfully provisioned.`,
        ),
      ],
    },
  });
  const owner = {
    apiVersion: 'kubedb.com/v1',
    kind: 'PerconaXtraDB',
    name,
    uid: database.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  sim.store.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-auth`, namespace, labels, ownerReferences: [owner] },
    type: 'kubernetes.io/basic-auth',
    data: {
      username: Buffer.from('root').toString('base64'),
      password: Buffer.from(randomBytes(12).toString('base64url')).toString('base64'),
    },
  });
  if (f.tls?.certManager) {
    for (const alias of ALIASES) sim.store.create(kubedbCertificate(database, alias, owner));
  }
  sim.store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${name}-pods`, namespace, labels, ownerReferences: [owner] },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: labels,
      ports: [{ name: 'db', port: 3306, targetPort: 'db' }],
    },
  });
  sim.store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: { type: 'ClusterIP', selector: labels, ports: [{ name: 'primary', port: 3306, targetPort: 'db' }] },
  });
  sim.store.create({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
  });
  let podSpec = basePodSpec(name, f.version ?? '8.0.40');
  if (f.args?.length) {
    const c = podSpec.containers.find((x: J) => x.name === 'perconaxtradb');
    c.args = [...(c.args ?? []), ...f.args];
  }
  if (f.tls) podSpec = addTlsWiring(podSpec, name, f.tls.requireSSL ?? false);
  const workloadApiVersion = workloadKind === 'PetSet' ? 'apps.k8s.appscode.com/v1' : 'apps/v1';
  const workload = sim.store.create<J>({
    apiVersion: workloadApiVersion,
    kind: workloadKind,
    metadata: { name, namespace, labels, ownerReferences: [owner] },
    spec: {
      replicas,
      serviceName: `${name}-pods`,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: labels },
      updateStrategy: { type: f.updateStrategy ?? 'OnDelete' },
      template: {
        metadata: { labels: { ...labels, 'app.kubernetes.io/component': 'database' } },
        spec: podSpec,
      },
    },
  });
  const binding = appBindingFor(database);
  binding.spec = renderAppBindingSpec(binding.spec, database, (n: string) =>
    sim.store.get('v1', 'Secret', namespace, n),
  );
  sim.store.put(binding);
  return {
    database,
    workload,
    workloadApiVersion,
    workloadKind,
    podNames: Array.from({ length: replicas }, (_, i) => `${name}-${i}`),
  };
}

/** The pod spec KubeDB's operator renders for a PXC member, without TLS. */
export function basePodSpec(db: string, version: string): J {
  return {
    serviceAccountName: db,
    initContainers: [
      {
        name: 'px-init',
        image: 'ghcr.io/kubedb/percona-xtradb-init:0.2.1',
        volumeMounts: [{ name: 'init-scripts', mountPath: '/scripts' }],
      },
    ],
    containers: [
      {
        name: 'perconaxtradb',
        image: `percona/percona-xtradb-cluster:${version}`,
        args: ['--defaults-file=/etc/mysql/my.cnf'],
        env: [
          { name: 'CLUSTER_NAME', value: db },
          { name: 'GOVERNING_SERVICE_NAME', value: `${db}-pods` },
          {
            name: 'MYSQL_ROOT_USERNAME',
            valueFrom: { secretKeyRef: { name: `${db}-auth`, key: 'username' } },
          },
          {
            name: 'MYSQL_ROOT_PASSWORD',
            valueFrom: { secretKeyRef: { name: `${db}-auth`, key: 'password' } },
          },
        ],
        ports: [
          { name: 'db', containerPort: 3306, protocol: 'TCP' },
          { name: 'cluster', containerPort: 4567, protocol: 'TCP' },
          { name: 'sst', containerPort: 4568, protocol: 'TCP' },
        ],
        volumeMounts: [
          { name: 'data', mountPath: '/var/lib/mysql' },
          { name: 'init-scripts', mountPath: '/scripts' },
        ],
      },
      {
        name: 'px-coordinator',
        image: 'ghcr.io/kubedb/percona-xtradb-coordinator:v0.38.0',
        args: ['run', `--db-name=${db}`],
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
      },
    ],
    volumes: [
      { name: 'init-scripts', emptyDir: {} },
      { name: 'data', emptyDir: {} },
    ],
  };
}

/**
 * DESIGN.md "Pod TLS wiring" applied to a pod spec (a copy), exactly as the KubeDB provisioner
 * stand-in renders it (provisioner.ts): the three Secret volumes mounted in `perconaxtradb`,
 * env SSL_ENABLED=true, the --ssl-* args, and --require-secure-transport=ON when `requireSSL`.
 */
export function addTlsWiring(spec: J, db: string, requireSSL: boolean): J {
  return renderTlsWiring(spec, {
    metadata: { name: db },
    spec: { requireSSL, tls: { issuerRef: { kind: 'Issuer', name: 'any' } } },
  });
}

/**
 * A Certificate as KubeDB's ops-manager makes it for an alias (kubedb/docs, PerconaXtraDB
 * reconfigure-TLS guide, `kubectl describe certificate sample-pxc-server-cert`).
 */
export function kubedbCertificate(db: J, alias: CertAlias, owner: J): J {
  const name = db.metadata.name;
  const ns = db.metadata.namespace;
  const ref = db.spec.tls.issuerRef;
  const server = alias === 'server';
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: {
      name: `${name}-${alias}-cert`,
      namespace: ns,
      labels: { ...PXC_LABELS(name), 'app.kubernetes.io/component': 'database' },
      ownerReferences: [owner],
    },
    spec: {
      secretName: `${name}-${alias}-cert`,
      issuerRef: { group: ref.apiGroup ?? 'cert-manager.io', kind: ref.kind, name: ref.name },
      commonName: server ? `${name}.${ns}.svc` : alias === 'client' ? 'root' : `${name}-stats.${ns}.svc`,
      ...(server
        ? {
            dnsNames: [
              `*.${name}-pods.${ns}.svc`,
              `*.${name}-pods.${ns}.svc.cluster.local`,
              `*.${name}.${ns}.svc`,
              name,
              `${name}.${ns}.svc`,
            ],
          }
        : {}),
      usages: [
        'digital signature',
        'key encipherment',
        ...(alias === 'client' ? [] : ['server auth']),
        'client auth',
      ],
    },
  };
}

/** A `kubernetes.io/tls` Secret with `ca.crt`, `tls.crt`, `tls.key`. */
export function tlsSecret(namespace: string, name: string, pem: PemSet): J {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(pem.caPem), 'tls.crt': b64(pem.certPem), 'tls.key': b64(pem.keyPem) },
  };
}

/** Resolves when every pod of the database is Running and Ready (in-process polling). */
export async function waitForPodsReady(
  sim: Simulator,
  namespace: string,
  podNames: string[],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = podNames.every((n) => {
      const p = sim.store.get<J>('v1', 'Pod', namespace, n);
      return (
        p &&
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some((c: J) => c.type === 'Ready' && c.status === 'True')
      );
    });
    if (ready) return;
    if (Date.now() > deadline)
      throw new Error(`pods ${namespace}/${podNames.join(',')} not Ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
