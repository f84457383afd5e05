/**
 * `npm run sim -- --kubeconfig <path> [--port <n>] [--https] [--token <t>] [--empty]
 *                [--pod-restart-seconds <s>] [--secret-propagation-seconds <s>]`
 *
 * Starts the Kubernetes API simulator on its own, writes its kubeconfig to <path>, seeds the
 * `demo` namespace with a Ready PerconaXtraDB `sample-pxc` (3 pods, no TLS yet), a CA Issuer
 * `px-issuer` and a ClusterIssuer `px-new-ca` (unless --empty), prints how to use it, and serves
 * until interrupted.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCa } from './ca.js';
import { createPerconaXtraDB, waitForPodsReady } from './fixtures.js';
import { startSimulator } from './index.js';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string', default: 'sim.kubeconfig' },
    port: { type: 'string', default: '0' },
    https: { type: 'boolean', default: false },
    token: { type: 'string' },
    empty: { type: 'boolean', default: false },
    'secret-propagation-seconds': { type: 'string', default: '0' },
    'kubelet-sync-seconds': { type: 'string' },
    'pod-restart-seconds': { type: 'string', default: '1.5' },
    mysqld: { type: 'string', default: 'stand-in' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const USAGE = `usage: npm run sim -- [--kubeconfig <path>] [--port <n>] [--https] [--token <t>] [--empty]
                      [--pod-restart-seconds <s>] [--secret-propagation-seconds <s>]
                      [--kubelet-sync-seconds <s>] [--mysqld stand-in|mariadb]

  --kubeconfig <path>          where to write the kubeconfig (default ./sim.kubeconfig)
  --port <n>                   port on 127.0.0.1 (default: a free one)
  --https                      serve HTTPS with the simulator's own CA (in the kubeconfig)
  --token <t>                  require this bearer token (written to the kubeconfig)
  --empty                      no demo data (no database, no issuers)
  --pod-restart-seconds <s>    how long a restarted pod takes to become Ready (default 1.5;
                               e.g. 30 to watch realistic restarts, KubeDB says ~70 s per pod)
  --secret-propagation-seconds <s>
                               delay before a changed Secret shows in pods' mounted files
                               (default 0; the kubelet takes up to about a minute)
  --kubelet-sync-seconds <s>   instead, the real kubelet's schedule: each pod's volumes follow
                               its Secrets at that pod's periodic sync (every <s>, e.g. 60, each
                               pod at its own phase) or at once when the pod object is updated
  --mysqld <m>                 what runs in each pod's database container: the TLS stand-in
                               (default), or mariadb: a real mariadbd with Galera per pod, the
                               pods one cluster on 127.0.0.1 (apt-get install mariadb-server
                               galera-4 rsync; see docs/galera.md)`;

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.mysqld !== 'stand-in' && values.mysqld !== 'mariadb') {
  console.error(`--mysqld: "${values.mysqld}" is neither stand-in nor mariadb\n\n${USAGE}`);
  process.exit(2);
}
const mysqld = values.mysqld;
const restartSeconds = Number(values['pod-restart-seconds']);
if (!Number.isFinite(restartSeconds) || restartSeconds < 0) {
  console.error(
    `--pod-restart-seconds: ${values['pod-restart-seconds']} is not a number of seconds\n\n${USAGE}`,
  );
  process.exit(2);
}

const kubeconfigPath = resolve(values.kubeconfig);
const propagationS = Number(values['secret-propagation-seconds']);
if (!Number.isFinite(propagationS) || propagationS < 0) {
  console.error(
    `--secret-propagation-seconds must be a number of seconds >= 0, not "${values['secret-propagation-seconds']}"`,
  );
  process.exit(2);
}
const syncS =
  values['kubelet-sync-seconds'] === undefined ? undefined : Number(values['kubelet-sync-seconds']);
if (syncS !== undefined && (!Number.isFinite(syncS) || syncS <= 0)) {
  console.error(
    `--kubelet-sync-seconds must be a number of seconds > 0, not "${values['kubelet-sync-seconds']}"`,
  );
  process.exit(2);
}
const t0 = performance.now();
const sim = await startSimulator({
  port: Number(values.port),
  https: values.https,
  token: values.token,
  kubeconfigPath,
  secretPropagationMs: propagationS * 1000,
  ...(syncS === undefined ? {} : { kubelet: { syncPeriodMs: syncS * 1000 } }),
  podReadyDelayMs: Math.round(restartSeconds * 1000),
  mysqld,
});

/** A CA Secret and the Ready cert-manager issuer that names it, as a user's cluster would have. */
function seedCaIssuer(
  kind: 'Issuer' | 'ClusterIssuer',
  name: string,
  secret: { namespace: string; name: string },
  caName: string,
) {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const ca = makeCa(caName);
  sim.store.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: secret,
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem) },
  });
  sim.store.create({
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: kind === 'Issuer' ? { name, namespace: secret.namespace } : { name },
    spec: { ca: { secretName: secret.name } },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KeyPairVerified', message: 'Signing CA verified' },
      ],
    },
  });
}

if (!values.empty) {
  seedCaIssuer('Issuer', 'px-issuer', { namespace: 'demo', name: 'px-ca' }, 'px-issuer-ca');
  seedCaIssuer('ClusterIssuer', 'px-new-ca', { namespace: 'cert-manager', name: 'px-new-ca' }, 'px-new-ca');
  const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'sample-pxc' });
  await waitForPodsReady(sim, 'demo', db.podNames, mysqld === 'mariadb' ? 180_000 : 30_000);
}

const k = `kubectl --kubeconfig ${kubeconfigPath}`;
console.log(`Kubernetes API simulator listening on ${sim.url} (ready in ${Math.round(performance.now() - t0)} ms; pods restart in ${restartSeconds}s)
kubeconfig written to ${kubeconfigPath} (context "sim", namespace "demo")

Try:
  ${k} get pods -w
  ${k} get px,pxcops,petsets,pdb,secrets
  ${k} describe pod sample-pxc-0
  ${k} apply -f k8s/samples/pxcops-add-tls.yaml
  npm run local -- --kubeconfig ${kubeconfigPath} -n demo --ops-request pxops-add-tls
  ${k} describe pxcops pxops-add-tls
  (the database, issuers and CA Secrets are already seeded: apply only k8s/samples/pxcops-*.yaml;
   k8s/rbac.yaml is for a real cluster, the simulator has no RBAC)

Faults (reserved HTTP paths, JSON bodies):
  curl -X POST ${sim.url}/_sim/faults  -d '{"method":"POST","path":"/eviction$","times":2,"action":{"status":429}}'
  curl -X POST ${sim.url}/_sim/hold    -d '{"namespace":"demo","pod":"sample-pxc-1","message":"disk full"}'
  curl -X POST ${sim.url}/_sim/release -d '{"namespace":"demo","pod":"sample-pxc-1"}'
  curl -X POST ${sim.url}/_sim/reset
  curl ${sim.url}/_sim/requests        # every API request served
  curl ${sim.url}/_sim/readiness       # pod readiness transitions
  curl -X POST ${sim.url}/_sim/reload-fault -d '{"namespace":"demo","pod":"sample-pxc-1"}'  # its TLS reloads fail
  curl ${sim.url}/_sim/mysqld          # TLS reloads run inside pods (ALTER INSTANCE RELOAD TLS, socket.ssl_reload)

Exec (${mysqld === 'mariadb' ? `real mariadbd + Galera per pod under ${sim.galera?.root}` : 'mysqld stand-in'}; secret volumes follow Secrets ${syncS === undefined ? `after ${propagationS} s` : `at each pod's kubelet sync, every ${syncS} s, or when the pod is updated`}):
  ${k} exec sample-pxc-0 -c perconaxtradb -- sh -c 'mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -N -B -e "$1"' sh "SHOW GLOBAL VARIABLES LIKE 'have_ssl'"
${values.https ? '  (HTTPS: add -k to curl, or --cacert with the CA from the kubeconfig)\n' : ''}
Ctrl-C to stop.`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await sim.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
