/**
 * `npm start` — the demo: the real state machine and handlers, run locally against the built-in
 * Kubernetes simulator. Creates a CA Issuer (and a second CA as a ClusterIssuer), a 3-replica
 * PerconaXtraDB with its PetSet and pods, then runs add TLS → rotate → change issuer →
 * requireSSL off → remove TLS with live progress, and closes with a table. Wait states keep
 * their real durations. Leaves nothing running; exits 0 when every action succeeded.
 */
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
const POD_READY_DELAY_MS = 1500;
const POD_DELETE_GRACE_MS = 100;

interface Row {
  action: string;
  result: string;
  seconds: number;
  restarted: number;
  serial: string;
  notAfter: string;
  ca: string;
  transitions: number;
  requests: number;
}

const ACTIONS: Array<{
  action: string;
  sample: Exclude<SampleName, 'issuer' | 'perconaxtradb'>;
  name: string;
}> = [
  { action: 'add TLS', sample: 'pxcops-add-tls', name: 'pxops-add-tls' },
  { action: 'rotate', sample: 'pxcops-rotate', name: 'pxops-rotate' },
  { action: 'change issuer', sample: 'pxcops-change-issuer', name: 'pxops-change-issuer' },
  { action: 'requireSSL off', sample: 'pxcops-require-ssl-off', name: 'pxops-require-ssl-off' },
  { action: 'remove TLS', sample: 'pxcops-remove-tls', name: 'pxops-remove-tls' },
];

async function main(): Promise<number> {
  const started = Date.now();
  const sim = await startSimulator({
    podReadyDelayMs: POD_READY_DELAY_MS,
    podDeleteGraceMs: POD_DELETE_GRACE_MS,
  });
  try {
    console.log(
      `Kubernetes simulator at ${sim.url} (pods restart in ~${POD_READY_DELAY_MS + POD_DELETE_GRACE_MS} ms)`,
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
      `Issuer ${NS}/${first.name}, ClusterIssuer ${second.name}, PerconaXtraDB ${NS}/${DB} with 3 Ready pods\n`,
    );

    const kube = kubeFromKubeconfig(sim.kubeconfig);
    const logger = new Logger({ serviceName: 'pxc-tls-ops-demo', logLevel: 'ERROR' });
    const rows: Row[] = [];
    for (const a of ACTIONS) {
      console.log(`${a.action}: kubectl apply -f k8s/samples/${a.sample}.yaml`);
      sim.store.create(opsRequestFrom(a.sample, { name: a.name, namespace: NS, database: DB }));
      sim.requests.reset();
      const result = await runExecution({
        kube,
        logger,
        input: { namespace: NS, opsRequest: a.name },
        executionName: `demo-${a.name}`,
        onProgress: progressPrinter(a.action),
      });
      const requests = sim.requests.all().length;
      const ops = sim.store.get<PerconaXtraDBOpsRequest>(
        KINDS.PerconaXtraDBOpsRequest.apiVersion,
        'PerconaXtraDBOpsRequest',
        NS,
        a.name,
      );
      const restarted = result.events.filter(
        (e) => e.type === 'StateEntered' && e.state?.name === 'Restart pod',
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
        result: ops?.status?.phase ?? result.status,
        seconds: result.durationMs / 1000,
        restarted,
        serial: cert ? cert.serial.slice(0, 16) : '-',
        notAfter: cert ? cert.notAfter.slice(0, 10) : '-',
        ca: db?.spec.tls?.issuerRef ? `${db.spec.tls.issuerRef.kind} ${db.spec.tls.issuerRef.name}` : '-',
        transitions: result.transitions,
        requests,
      });
      const reason = ops?.status?.conditions?.find((c) => c.type === 'Failed')?.message;
      console.log(
        `  → ${ops?.status?.phase ?? result.status} in ${(result.durationMs / 1000).toFixed(1)}s${reason ? `: ${reason}` : ''}\n`,
      );
      if (ops?.status?.phase !== 'Successful') break;
    }

    printTable(rows);
    const rotate = rows.find((r) => r.action === 'rotate');
    if (rotate) {
      const floor = (3 * (POD_READY_DELAY_MS + POD_DELETE_GRACE_MS)) / 1000;
      console.log(
        `\nrotate on 3 pods: ${rotate.seconds.toFixed(2)}s wall time vs ${floor.toFixed(2)}s = 3 × pod restart ` +
          `(${POD_DELETE_GRACE_MS} ms grace + ${POD_READY_DELAY_MS} ms to Ready), ratio ${(rotate.seconds / floor).toFixed(2)}; ` +
          `${rotate.transitions} state transitions; ${rotate.requests} Kubernetes API requests`,
      );
    }
    const peerRefusals = sim.readiness().filter((r) => r.reason === 'PeerNotTrusted').length;
    console.log(`pods refused by a peer during the whole demo: ${peerRefusals}`);
    console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return rows.length === ACTIONS.length &&
      rows.every((r) => r.result === 'Successful') &&
      peerRefusals === 0
      ? 0
      : 1;
  } finally {
    await sim.stop();
  }
}

function printTable(rows: Row[]): void {
  const head = [
    'action',
    'result',
    'duration',
    'pods restarted',
    'server cert serial',
    'notAfter',
    'CA (issuer)',
  ];
  const body = rows.map((r) => [
    r.action,
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
