/**
 * Scale: the expiry scanner over 100, 1,000 and 5,000 databases (20 per namespace, 1 % of them
 * due for renewal), against the simulator over HTTP and the Step Functions stand-in, as the
 * scheduled Lambda runs it. Wall time of one scan and the list calls it made (counted at the
 * simulator). Between runs the OpsRequests it created are removed, so every run does the same work.
 */

import { kubeFromKubeconfig } from '../functions/kube/client.js';
import { KINDS } from '../functions/kube/types.js';
import { scanExpiry } from '../functions/steps/scan-expiry.js';
import { sfnStartExecution } from '../functions/triggers/aws.js';
import type { StepLogger } from '../functions/triggers/logger.js';
import { startAwsStandIn } from '../local/aws/index.js';
import { certificateAges, putDatabaseWithTls } from '../local/fixtures/expiry.js';
import { startSimulator } from '../local/sim/index.js';
import { type Figure, figure } from './stats.js';

const GROUP = 'Scale (expiry scan)';
const PER_NAMESPACE = 20;
const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:pxc-tls-ops-reconfigure-tls';
const CREDENTIALS = { accessKeyId: 'AKIDPXCTLSOPSBENCH', secretAccessKey: 'bench-secret' };

export interface ScaleCase {
  databases: number;
  namespaces: number;
  due: number;
  wallMs: number[];
  listCalls: number[];
  created: number[];
}

const silent: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };
export async function measureScan(databases: number, runs: number): Promise<ScaleCase> {
  const namespaces = Array.from({ length: Math.ceil(databases / PER_NAMESPACE) }, (_, i) => `team-${i}`);
  const now = new Date();
  const pems = await certificateAges(now);
  const sim = await startSimulator({ namespaces });
  const aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
  try {
    let due = 0;
    for (let i = 0; i < databases; i++) {
      const namespace = namespaces[Math.floor(i / PER_NAMESPACE)]!;
      const name = `db-${i % PER_NAMESPACE}`;
      const isDue = i % 100 === 37;
      if (isDue) due++;
      putDatabaseWithTls(sim, namespace, name, isDue ? pems.due : pems.fresh);
    }
    // The Lambda keeps its client across scheduled runs; the first run pays for building it.
    const kube = kubeFromKubeconfig(sim.kubeconfig);
    const startExecution = sfnStartExecution(STATE_MACHINE_ARN, {
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: CREDENTIALS,
    });
    const out: ScaleCase = {
      databases,
      namespaces: namespaces.length,
      due,
      wallMs: [],
      listCalls: [],
      created: [],
    };
    for (let r = 0; r < runs; r++) {
      for (const o of sim.store.list<{ metadata: { namespace: string; name: string } }>(
        KINDS.PerconaXtraDBOpsRequest.apiVersion,
        KINDS.PerconaXtraDBOpsRequest.kind,
      )) {
        sim.store.delete(
          KINDS.PerconaXtraDBOpsRequest.apiVersion,
          KINDS.PerconaXtraDBOpsRequest.kind,
          o.metadata.namespace,
          o.metadata.name,
        );
      }
      sim.requests.reset();
      const t = performance.now();
      const result = await scanExpiry(
        {},
        { kube, startExecution, recordExpiry: () => undefined, now: () => now, logger: silent },
      );
      out.wallMs.push(performance.now() - t);
      out.listCalls.push(sim.requests.countBy({ verb: 'list' }));
      out.created.push(result.created.length);
    }
    return out;
  } finally {
    await sim.stop();
    await aws.stop();
  }
}

export async function benchScale(opts: { sizes?: number[]; runs?: number } = {}): Promise<{
  cases: ScaleCase[];
  figures: Figure[];
}> {
  const sizes = opts.sizes ?? [100, 1000, 5000];
  const cases: ScaleCase[] = [];
  const figures: Figure[] = [];
  for (const n of sizes) {
    const c = await measureScan(n, opts.runs ?? 3);
    cases.push(c);
    const gated = n === 1000;
    const perNs = c.listCalls.map((l) => l / c.namespaces);
    figures.push(
      figure(
        GROUP,
        `${n} databases in ${c.namespaces} namespaces: scan wall time`,
        's',
        c.wallMs.map((ms) => ms / 1000),
        {
          ...(gated ? { target: '≤ 3 s', max: 3 } : {}),
          note: `${c.due} due → ${c.created[0]} OpsRequests + executions per run`,
        },
      ),
      figure(GROUP, `${n} databases: list calls`, 'calls', c.listCalls, {
        note: 'cluster-wide lists, 500 per page',
      }),
      figure(GROUP, `${n} databases: list calls per namespace`, 'calls', perNs, {
        ...(gated ? { target: '≤ 3', max: 3 } : {}),
      }),
    );
  }
  return { cases, figures };
}
