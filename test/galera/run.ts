/**
 * Every action of the workflow against real servers (`npm run test:galera`): the simulator in
 * `mysqld: 'mariadb'` mode, so each pod of `sample-pxc` is a real `mariadbd` with Galera and the
 * three pods one Galera cluster whose replication traffic is encrypted with the pods' server
 * certificates (`--pxc-encrypt-cluster-traffic=ON` in the pod template; Galera verifies its peers'
 * certificates for real). The workflow runs through the real ASL (local runner, Waits shortened).
 *
 * Needs Debian's mariadb-server, mariadb-client, galera-4 and rsync (.ci/run installs them).
 * Prints one PASS/FAIL line per check, exits non-zero when any fails; every server it started is
 * stopped and its directory removed, whatever happens.
 *
 * After each action: the cluster is Primary with every member Synced; every node presents, on
 * its client port, the current certificate of the Secret to a client verifying the CA and the
 * pod's host name (and on its Galera port when TLS is on); a row written on one node is read on
 * another. Then the negative control: a node whose ca.crt holds only the old CA, while its peers
 * present leaves of the new CA, does not join, and its error log says why. And Remove TLS on the
 * cluster with Galera TLS is refused before anything changes (it would split the cluster).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import { RESTART_MODE_ANNOTATION } from '../../functions/model/names.js';
import { runExecution } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { startSimulator } from '../../local/sim/index.js';
import { galeraTls, mysqlTls } from '../../local/sim/mysql-tls.js';

const NS = 'demo';
const REPLICAS = 3;
/** The database under test (two in turn: Galera TLS on, then plain Galera). */
let DB = 'sample-pxc';
let PODS: string[] = [];
let SERVER_SECRET = '';
function use(db: string): void {
  DB = db;
  PODS = Array.from({ length: REPLICAS }, (_, i) => `${db}-${i}`);
  SERVER_SECRET = `${db}-server-cert`;
}
use(DB);

for (const f of [
  '/usr/sbin/mariadbd',
  '/usr/lib/galera/libgalera_smm.so',
  '/usr/bin/mariadb',
  '/usr/bin/rsync',
]) {
  if (!existsSync(f)) {
    console.error(`test:galera needs ${f} (apt-get install mariadb-server mariadb-client galera-4 rsync)`);
    process.exit(2);
  }
}

let failures = 0;
let passes = 0;
function check(name: string, ok: boolean, detail = ''): boolean {
  if (ok) passes++;
  else failures++;
  console.log(
    `${ok ? 'PASS' : 'FAIL'}  ${name}${!ok && detail ? `\n      ${detail.trim().split('\n').join('\n      ')}` : ''}`,
  );
  return ok;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

const sim = await startSimulator({
  mysqld: 'mariadb',
  podReadyDelayMs: 100,
  podDeleteGraceMs: 50,
  secretPropagationMs: 500,
});
const stopAll = async () => {
  await sim.stop();
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

const kube = kubeFromKubeconfig(sim.kubeconfig);
const logger = new Logger({ serviceName: 'pxc-tls-ops-galera', logLevel: 'ERROR' });
let row = 0;

function secretFiles(name = SERVER_SECRET): Record<string, string> | undefined {
  const s = sim.store.get<{ data?: Record<string, string> }>('v1', 'Secret', NS, name);
  if (!s?.data) return undefined;
  return Object.fromEntries(
    Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}

function server(pod: string) {
  const s = sim
    .galera!.servers()
    .filter((x) => x.pod === pod && x.namespace === NS)
    .pop();
  if (!s) throw new Error(`no server for ${pod}`);
  return s;
}

async function sql(pod: string, text: string): Promise<{ ok: boolean; out: string }> {
  const r = await sim.galera!.sql(NS, pod, text);
  return { ok: r.exitCode === 0, out: `${r.stdout}${r.stderr}` };
}

/** waitForPodsReady, and on a timeout what each server was doing (status, error log tail). */
async function waitReady(timeoutMs = 120_000): Promise<void> {
  try {
    await waitForPodsReady(sim, NS, PODS, timeoutMs);
  } catch (err) {
    for (const s of sim.galera!.servers()) {
      let tail = '';
      try {
        tail = readFileSync(s.errorLog, 'utf8').split('\n').slice(-12).join('\n');
      } catch {}
      console.log(
        `--- ${s.pod} (${s.uid.slice(0, 8)}) running=${s.running} ${s.status.reason}: ${s.status.message}\n${tail}`,
      );
    }
    throw err;
  }
}

/** The checks after an action (see the header). */
async function verify(label: string, tls: boolean, galeraTlsOn = DB === 'sample-pxc'): Promise<void> {
  const states = await Promise.all(
    PODS.map((p) =>
      sql(
        p,
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_cluster_status','wsrep_local_state_comment')",
      ),
    ),
  );
  const bad = states
    .map((s, i) => ({ pod: PODS[i], s }))
    .filter(
      ({ s }) =>
        !s.ok ||
        !s.out.includes(`wsrep_cluster_size\t${REPLICAS}`) ||
        !s.out.includes('wsrep_cluster_status\tPrimary') ||
        !s.out.includes('wsrep_local_state_comment\tSynced'),
    );
  check(
    `${label}: cluster Primary, ${REPLICAS} members, all Synced`,
    bad.length === 0,
    bad.map((b) => `${b.pod}: ${b.s.out}`).join('\n'),
  );
  const files = secretFiles();
  if (tls && files) {
    const want = serialOf(files['tls.crt']!);
    const seen = await Promise.all(
      PODS.map((p) =>
        mysqlTls({
          port: server(p).ports.mysql,
          ca: files['ca.crt']!,
          servername: `${p}.${DB}-pods.${NS}.svc`,
        }),
      ),
    );
    const wrong = seen.map((o, i) => ({ pod: PODS[i], o })).filter(({ o }) => !o.ok || o.serial !== want);
    check(
      `${label}: every node serves the Secret's certificate (serial ${want.slice(0, 12)}…) to a client verifying CA and host name`,
      wrong.length === 0,
      wrong.map((w) => `${w.pod}: ${JSON.stringify(w.o)}`).join('\n'),
    );
    if (galeraTlsOn) {
      const galera = await Promise.all(
        PODS.map((p) =>
          galeraTls({
            port: server(p).ports.galera,
            ca: files['ca.crt']!,
            cert: files['tls.crt']!,
            key: files['tls.key']!,
          }),
        ),
      );
      const gWrong = galera
        .map((o, i) => ({ pod: PODS[i], o }))
        .filter(({ o }) => !o.ok || o.serial !== want);
      check(
        `${label}: every node's Galera port presents the Secret's certificate`,
        gWrong.length === 0,
        gWrong.map((w) => `${w.pod}: ${JSON.stringify(w.o)}`).join('\n'),
      );
    }
  } else if (!tls) {
    const seen = await mysqlTls({ port: server(PODS[0]!).ports.mysql, ca: '', servername: 'x' });
    check(`${label}: the server offers no TLS`, !seen.ok && seen.reason === 'no-tls', JSON.stringify(seen));
  }
  const id = ++row;
  const writer = PODS[id % REPLICAS]!;
  const reader = PODS[(id + 1) % REPLICAS]!;
  const w = await sql(
    writer,
    `CREATE DATABASE IF NOT EXISTS probe; CREATE TABLE IF NOT EXISTS probe.t (id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO probe.t VALUES (${id}, '${label.replace(/'/g, '')}')`,
  );
  const r = await sql(reader, `SET SESSION wsrep_sync_wait=1; SELECT v FROM probe.t WHERE id=${id}`);
  check(
    `${label}: a row written on ${writer} is read on ${reader}`,
    w.ok && r.ok && r.out.trim() === label.replace(/'/g, ''),
    `${w.out}\n${r.out}`,
  );
}

async function act(
  label: string,
  sample: Parameters<typeof opsRequestFrom>[0],
  o: { mode?: 'Reload' | 'Restart'; issuer?: string; tls?: boolean } = {},
): Promise<boolean> {
  const name = `g-${++row}-${sample.replace(/^pxcops-/, '')}`;
  sim.store.create(
    opsRequestFrom(sample, {
      name,
      namespace: NS,
      database: DB,
      ...(o.issuer
        ? { tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: o.issuer } } }
        : {}),
      ...(o.mode ? { annotations: { [RESTART_MODE_ANNOTATION]: o.mode } } : {}),
    }),
  );
  const started = Date.now();
  const uidsBefore = PODS.map((p) => server(p).uid).join(',');
  const result = await runExecution({
    kube,
    logger,
    input: { namespace: NS, opsRequest: name },
    executionName: `${name}-${started}`,
    waitScale: 0.1,
    retryScale: 0.1,
  });
  const s = ((Date.now() - started) / 1000).toFixed(1);
  const ok = check(
    `${label}: the execution succeeds (${s} s, at ${elapsed()})`,
    result.status === 'SUCCEEDED',
    `${result.status} ${'error' in result ? String((result as { error?: string }).error) : ''} ${'cause' in result ? String((result as { cause?: string }).cause) : ''}`,
  );
  if (!ok) return false;
  await waitReady();
  if (o.mode === 'Reload')
    check(
      `${label}: no pod was restarted (every reload proven on the real server)`,
      PODS.map((p) => server(p).uid).join(',') === uidsBefore,
    );
  await verify(label, o.tls ?? true);
  return true;
}

/** Remove TLS on the cluster with Galera TLS: refused before anything changes (docs/galera.md). */
async function removeRefused(): Promise<void> {
  const label = 'remove TLS with Galera TLS on';
  const name = `g-${++row}-remove-tls-encrypted`;
  sim.store.create(opsRequestFrom('pxcops-remove-tls', { name, namespace: NS, database: DB }));
  const uids = PODS.map((p) => server(p).uid).join(',');
  const result = await runExecution({
    kube,
    logger,
    input: { namespace: NS, opsRequest: name },
    executionName: `${name}-${Date.now()}`,
    waitScale: 0.1,
    retryScale: 0.1,
  });
  const why = `${(result as { cause?: string }).cause ?? ''}`;
  check(
    `${label}: refused (DatabaseStateError naming socket.dynamic)`,
    result.status === 'FAILED' && /encrypts Galera traffic/.test(why) && /socket\.dynamic=yes/.test(why),
    `${result.status} ${why}`,
  );
  check(`${label}: no pod was restarted`, PODS.map((p) => server(p).uid).join(',') === uids);
  await verify(label, true);
}

/** The negative control (see the header); returns with the cluster whole again. */
async function negativeControl(oldCaPem: string): Promise<void> {
  const label = 'negative control';
  const current = secretFiles()!;
  const victim = PODS[REPLICAS - 1]!;
  const logBefore = readFileSync(server(victim).errorLog, 'utf8').length;
  // The Secret as a bad actor would leave it: the new leaf, a ca.crt with only the old CA.
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret = sim.store.get<{ data: Record<string, string> }>('v1', 'Secret', NS, SERVER_SECRET)!;
  sim.store.put({ ...secret, data: { ...secret.data, 'ca.crt': b64(oldCaPem) } });
  await sleep(1000); // the running pods' volumes follow; their servers keep what they loaded
  sim.store.delete('v1', 'Pod', NS, victim);
  let joined = false;
  let why = '';
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    await sleep(1000);
    const p = sim.store.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      'v1',
      'Pod',
      NS,
      victim,
    );
    if (p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
      joined = true;
      break;
    }
    const log = readFileSync(server(victim).errorLog, 'utf8').slice(logBefore);
    const line = log.split('\n').find((l) => /certificate verify failed|unknown ca|tlsv1 alert/i.test(l));
    if (line && Date.now() > deadline - 30_000) {
      why = line;
      break;
    }
  }
  const sizes = await Promise.all(
    PODS.slice(0, -1).map((p) => sql(p, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")),
  );
  check(`${label}: ${victim} with only the old CA in ca.crt does not join`, !joined, 'it joined');
  check(`${label}: its error log says why`, why !== '', 'no certificate error in its log');
  if (why) console.log(`      ${why.trim().slice(0, 200)}`);
  check(
    `${label}: the others stay a Primary cluster of ${REPLICAS - 1}`,
    sizes.every((s) => s.ok && s.out.includes(`wsrep_cluster_size\t${REPLICAS - 1}`)),
    sizes.map((s) => s.out).join('\n'),
  );
  // Restore the Secret: the crash-looping pod starts again with the right files and joins.
  const now = sim.store.get<{ data: Record<string, string> }>('v1', 'Secret', NS, SERVER_SECRET)!;
  sim.store.put({ ...now, data: { ...now.data, 'ca.crt': b64(current['ca.crt']!) } });
  await waitReady();
  await verify(`${label}: restored`, true);
}

try {
  const first = await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
  await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
  await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-third-ca' });

  // 1. Galera TLS on (pxc_encrypt_cluster_traffic=ON): TLS from the start, certificates by cert-manager.
  use('sample-pxc');
  createPerconaXtraDB(sim, {
    namespace: NS,
    name: DB,
    replicas: REPLICAS,
    tls: { requireSSL: true, certManager: true },
    args: ['--pxc-encrypt-cluster-traffic=ON'],
  });
  await waitReady(180_000);
  console.log(
    `(${DB}: ${REPLICAS} real servers, Galera TLS on, up at ${elapsed()}; root ${sim.galera!.root})`,
  );
  await verify(`${DB} at start`, true);
  const plan: Array<[string, Parameters<typeof opsRequestFrom>[0], Parameters<typeof act>[2]]> = [
    ['update (Restart)', 'pxcops-update', {}],
    ['rotate (Restart)', 'pxcops-rotate', {}],
    ['requireSSL off (Restart)', 'pxcops-require-ssl-off', {}],
    ['requireSSL on (Restart)', 'pxcops-require-ssl-on', {}],
    ['rotate (Reload)', 'pxcops-rotate', { mode: 'Reload' }],
    ['change of issuer (Restart)', 'pxcops-change-issuer', { issuer: 'px-new-ca' }],
  ];
  let ok = true;
  for (const [label, sample, o] of plan) {
    if (!ok) break;
    ok = await act(label, sample, o);
  }
  if (ok) await negativeControl(first.certPem);
  if (ok)
    ok = await act('change of issuer (Reload)', 'pxcops-change-issuer', {
      mode: 'Reload',
      issuer: 'px-third-ca',
    });
  if (ok) await removeRefused();

  // 2. Plain Galera (KubeDB's PXC images): add TLS and remove TLS.
  sim.store.delete('kubedb.com/v1', 'PerconaXtraDB', NS, DB);
  use('plain-pxc');
  createPerconaXtraDB(sim, { namespace: NS, name: DB, replicas: REPLICAS });
  await waitReady(180_000);
  console.log(`(${DB}: ${REPLICAS} real servers, plain Galera, up at ${elapsed()})`);
  await verify(`${DB} at start`, false);
  if (await act('add TLS (Restart)', 'pxcops-add-tls', {}))
    await act('remove TLS (Restart)', 'pxcops-remove-tls', { tls: false });
} catch (err) {
  check('test:galera ran to the end', false, String((err as Error)?.stack ?? err));
} finally {
  await stopAll();
}
console.log(`\n${passes} passed, ${failures} failed in ${elapsed()}`);
process.exit(failures ? 1 : 0);
