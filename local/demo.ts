/**
 * `npm start [-- --keep] [--pod-restart-seconds <s>]` — the demo: the real state machine and
 * handlers, run locally against the built-in Kubernetes simulator. Seeds a CA Issuer, a second CA
 * as a ClusterIssuer and a 3-replica PerconaXtraDB (PetSet, pods, PodDisruptionBudget), then runs
 * the six actions as KubeDB users apply them — add TLS, update certificate fields, rotate, change
 * issuer, requireSSL off, remove TLS — and adds TLS again so there is a certificate to look at.
 * For each action it prints every pod going down and coming back Ready (new UID), then a table,
 * then the commands to look at the result. Wait states keep their real durations. Leaves nothing
 * running unless --keep; exits 0 when every request succeeded and no pod was refused by a peer.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import { KINDS } from '../functions/kube/types.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { decodeSecretData, inspectTlsSecret } from '../functions/pki/index.js';
import { runExecution } from './runner/index.js';
import { progressPrinter } from './runner/progress.js';
import { createCaIssuer, opsRequestFrom, type SampleName } from './runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from './sim/fixtures.js';
import { startSimulator } from './sim/index.js';

const NS = 'demo';
const DB = 'sample-pxc';
const POD_DELETE_GRACE_MS = 100;

interface Row {
  action: string;
  request: string;
  result: string;
  seconds: number;
  restarted: number;
  serial: string;
  notAfter: string;
  ca: string;
}

const ACTIONS: Array<{
  action: string;
  sample: Exclude<SampleName, 'issuer' | 'perconaxtradb'>;
  name: string;
}> = [
  { action: 'add TLS', sample: 'pxcops-add-tls', name: 'pxops-add-tls' },
  { action: 'update fields', sample: 'pxcops-update', name: 'pxops-update' },
  { action: 'rotate', sample: 'pxcops-rotate', name: 'pxops-rotate' },
  { action: 'change issuer', sample: 'pxcops-change-issuer', name: 'pxops-change-issuer' },
  { action: 'requireSSL off', sample: 'pxcops-require-ssl-off', name: 'pxops-require-ssl-off' },
  { action: 'remove TLS', sample: 'pxcops-remove-tls', name: 'pxops-remove-tls' },
  { action: 'add TLS again', sample: 'pxcops-add-tls', name: 'pxops-add-tls-again' },
];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      keep: { type: 'boolean', default: false },
      'pod-restart-seconds': { type: 'string', default: '1.5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm start -- [--keep] [--pod-restart-seconds <s>]

  --keep                      keep the simulator running at the end, to look at the result with kubectl
  --pod-restart-seconds <s>   how long a restarted pod takes to become Ready (default 1.5)`);
    return 0;
  }
  const readyMs = Math.round(Number(values['pod-restart-seconds']) * 1000);
  const started = Date.now();
  const kubeconfigPath = join(tmpdir(), 'pxc-tls-ops-demo.kubeconfig');
  const sim = await startSimulator({
    podReadyDelayMs: readyMs,
    podDeleteGraceMs: POD_DELETE_GRACE_MS,
    kubeconfigPath,
  });
  let keep = false;
  try {
    console.log(
      `Kubernetes simulator at ${sim.url} (a restarted pod is Ready again after ~${((readyMs + POD_DELETE_GRACE_MS) / 1000).toFixed(1)} s)`,
    );
    const first = await createCaIssuer(sim, { name: 'px-issuer', namespace: NS, commonName: 'px-issuer CA' });
    const second = await createCaIssuer(sim, {
      kind: 'ClusterIssuer',
      name: 'px-new-ca',
      commonName: 'px-new-ca CA',
    });
    const created = createPerconaXtraDB(sim, { namespace: NS, name: DB, replicas: 3 });
    await waitForPodsReady(sim, NS, created.podNames);
    console.log(
      `Issuer ${NS}/${first.name}, ClusterIssuer ${second.name}, PerconaXtraDB ${NS}/${DB}: 3 Ready pods, no TLS yet\n`,
    );

    const kube = kubeFromKubeconfig(sim.kubeconfig);
    const logger = new Logger({ serviceName: 'pxc-tls-ops-demo', logLevel: 'ERROR' });
    const rows: Row[] = [];
    for (const a of ACTIONS) {
      console.log(
        `${a.action}: kubectl apply -f k8s/samples/${a.sample}.yaml  (PerconaXtraDBOpsRequest ${a.name})`,
      );
      sim.store.create(opsRequestFrom(a.sample, { name: a.name, namespace: NS, database: DB }));
      const printer = progressPrinter('');
      const result = await runExecution({
        kube,
        logger,
        input: { namespace: NS, opsRequest: a.name },
        executionName: `demo-${a.name}`,
        onProgress: printer,
      });
      printer.stop();
      const ops = sim.store.get<PerconaXtraDBOpsRequest>(
        KINDS.PerconaXtraDBOpsRequest.apiVersion,
        'PerconaXtraDBOpsRequest',
        NS,
        a.name,
      );
      const restarted = result.events.filter(
        (e) =>
          e.type === 'StateExited' &&
          (e.state?.name === 'Restart pod' || e.state?.name === 'Check pod') &&
          (e.state.output as { check?: { ready?: boolean } })?.check?.ready === true,
      ).length;
      const secret = sim.store.get<{ data?: Record<string, string> }>(
        'v1',
        'Secret',
        NS,
        `${DB}-server-cert`,
      );
      const cert = secret?.data ? inspectTlsSecret(decodeSecretData(secret.data)) : undefined;
      const db = sim.store.get<PerconaXtraDB>('kubedb.com/v1', 'PerconaXtraDB', NS, DB);
      rows.push({
        action: a.action,
        request: a.name,
        result: ops?.status?.phase ?? result.status,
        seconds: result.durationMs / 1000,
        restarted,
        serial: cert ? cert.serial.slice(0, 16) : '-',
        notAfter: cert ? cert.notAfter.slice(0, 10) : '-',
        ca: db?.spec.tls?.issuerRef ? `${db.spec.tls.issuerRef.kind} ${db.spec.tls.issuerRef.name}` : '-',
      });
      const reason = ops?.status?.conditions?.find((c) => c.type === 'Failed')?.message;
      console.log(
        `  → ${ops?.status?.phase ?? result.status} in ${(result.durationMs / 1000).toFixed(1)}s${reason ? `: ${reason}` : ''}\n`,
      );
      if (ops?.status?.phase !== 'Successful') break;
    }

    printTable(rows);
    const peerRefusals = sim.readiness().filter((r) => r.reason === 'PeerNotTrusted').length;
    console.log(`\npods refused by a peer during the whole demo: ${peerRefusals}`);
    console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    const ok =
      rows.length === ACTIONS.length && rows.every((r) => r.result === 'Successful') && peerRefusals === 0;
    keep = values.keep;
    printNextSteps(kubeconfigPath, keep);
    if (keep) await untilInterrupted();
    return ok ? 0 : 1;
  } finally {
    await sim.stop();
  }
}

function printNextSteps(kubeconfigPath: string, keep: boolean): void {
  const k = `kubectl --kubeconfig ${kubeconfigPath} -n ${NS}`;
  console.log(`
Look at the result${keep ? ' (the simulator keeps running until Ctrl-C)' : ' (run `npm start -- --keep` to keep the simulator running, or use your own cluster)'}:
  # every request and its phase
  ${k} get pxcops
  # one request's conditions and Events, pod by pod
  ${k} describe pxcops pxops-rotate
  # the server certificate now: serial, dates, issuer, names
  ${k} get secret ${DB}-server-cert -o jsonpath='{.data.tls\\.crt}' | base64 -d \\
    | openssl x509 -noout -serial -dates -issuer -ext subjectAltName`);
}

function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function printTable(rows: Row[]): void {
  const head = [
    'action',
    'request',
    'result',
    'took',
    'pods restarted',
    'server cert serial',
    'notAfter',
    'issuer',
  ];
  const body = rows.map((r) => [
    r.action,
    r.request,
    r.result,
    `${r.seconds.toFixed(1)}s`,
    String(r.restarted),
    r.serial,
    r.notAfter,
    r.ca,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
