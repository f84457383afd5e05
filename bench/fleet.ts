/**
 * Fleet: the hourly expiry scan over several clusters (separate simulator instances) for weeks of
 * simulated time. Hundreds of databases with lifetimes from 7 days to 1 year; KubeDB
 * ClusterMaintenanceWindow / MaintenanceWindow defaults on one cluster, the stack's cron window on
 * another, per-database annotations on a third; some certificates a few hours from expiry at the
 * start; one cluster unreachable (a port nobody listens on).
 *
 * Each simulated hour: renewals the previous scan started complete (the OpsRequest is marked
 * Successful and the database gets fresh certificates of the same lifetime, issued at that hour),
 * then every cluster is scanned over HTTP (the real scanExpiry, the Step Functions stand-in), one
 * cluster failing does not stop the others. Counted independently of the scanner's own windows
 * code (plain UTC arithmetic on the windows the benchmark wrote): renewals started inside a
 * window, outside with a deadline override, outside without one (must be 0); certificates that
 * expired before being renewed (must be 0). Also: the highest API request rate any one simulator
 * saw in a second, the wall time of one scan round over the fleet, and, from one real execution of
 * a scan-created renewal per restart mode (3 pods), state transitions and their cost.
 */
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import type { Kube } from '../functions/kube/types.js';
import { KINDS } from '../functions/kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { createTestCA } from '../functions/pki/index.js';
import { renewalOpsRequest } from '../functions/steps/renewal-plan.js';
import {
  DEFAULT_REQUESTS_PER_SECOND,
  type ScanExpiryResult,
  scanExpiry,
} from '../functions/steps/scan-expiry.js';
import { sfnStartExecution } from '../functions/triggers/aws.js';
import type { StepLogger } from '../functions/triggers/logger.js';
import { startAwsStandIn } from '../local/aws/index.js';
import { putDatabaseWithTls } from '../local/fixtures/expiry.js';
import { runExecution } from '../local/runner/index.js';
import { ALIASES, tlsSecret } from '../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../local/sim/index.js';
import { type Figure, figure } from './stats.js';
import { DB, NS, quietLogger, startBenchWorld } from './world.js';

const GROUP = 'Fleet (windows, deadlines, limits)';
const H = 3_600_000;
const DAY = 24 * H;
const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:pxc-tls-ops-reconfigure-tls';
const CREDENTIALS = { accessKeyId: 'AKIDPXCTLSOPSBENCH', secretAccessKey: 'bench-secret' };
/** Step Functions Standard: $0.025 per 1,000 state transitions; Lambda: $0.20 per million requests. */
const USD_PER_TRANSITION = 0.025 / 1000;
const USD_PER_LAMBDA_REQUEST = 0.2 / 1_000_000;
const LIFETIMES_DAYS = [7, 30, 90, 365];
const silent: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same fleet. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The benchmark's own reading of its windows (UTC, weekly): independent of functions/model/windows.ts. */
type Inside = (at: Date) => boolean;
const weekly =
  (days: number[], fromHour: number, toHour: number): Inside =>
  (at) =>
    days.includes(at.getUTCDay()) && at.getUTCHours() >= fromHour && at.getUTCHours() < toHour;
const always: Inside = () => true;

interface FleetDatabase {
  cluster: string;
  namespace: string;
  name: string;
  lifetimeMs: number;
  notAfter: number;
  inside: Inside;
}

interface Cluster {
  name: string;
  sim?: Simulator;
  kube: Kube;
  env: NodeJS.ProcessEnv;
  /** Requests served, with their times (for the highest rate in a second). */
  requestTimes: number[];
  failures: string[];
}

export interface FleetResult {
  clusters: number;
  databases: number;
  simulatedDays: number;
  startedInside: number;
  startedDeadline: number;
  startedOutsideWithoutReason: number;
  expiredUnrenewed: number;
  renewals: number;
  unreachableReported: number;
  maxRequestsPerSecond: number;
  planRoundMs: number[];
  waitingForLimits: number;
  windowProblems: number;
  transitions: { restart: number; reload: number };
}

export async function benchFleet(
  opts: { databasesPerCluster?: number; days?: number; onProgress?: (line: string) => void } = {},
): Promise<{ result: FleetResult; figures: Figure[] }> {
  const perCluster = opts.databasesPerCluster ?? 100;
  const days = opts.days ?? 21;
  const rand = random(23);
  // A Monday, 00:30 UTC: the weekend windows are days away.
  const t0 = Date.parse('2027-03-01T00:30:00Z');
  const ca = await createTestCA({
    commonName: 'fleet CA',
    keyType: 'ec',
    notBefore: new Date(t0 - 400 * DAY),
    notAfter: new Date(t0 + 3650 * DAY),
  });
  const leaves = new Map<string, { certPem: string; keyPem: string }>();
  const leaf = async (notBefore: number, lifetimeMs: number) => {
    const key = `${notBefore}/${lifetimeMs}`;
    let found = leaves.get(key);
    if (!found) {
      found = await createTestCA({
        commonName: 'leaf',
        keyType: 'ec',
        parent: ca,
        notBefore: new Date(notBefore),
        notAfter: new Date(notBefore + lifetimeMs),
      });
      leaves.set(key, found);
    }
    return found;
  };

  const aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
  const clusters: Cluster[] = [];
  const databases: FleetDatabase[] = [];
  try {
    const layouts: Array<{
      name: string;
      env: NodeJS.ProcessEnv;
      windowOf: (ns: string, i: number) => { inside: Inside; annotation?: string };
    }> = [
      {
        // KubeDB's windows: the cluster default on weekends, team-0's own on Wednesday nights.
        name: 'kubedb-windows',
        env: {},
        windowOf: (ns) =>
          ns === 'team-0' ? { inside: weekly([3], 1, 5) } : { inside: weekly([0, 6], 0, 6) },
      },
      {
        // The stack's window: daily 02:00–05:00 UTC.
        name: 'stack-window',
        env: {
          RENEWAL_WINDOW_CRON: '0 2 * * *',
          RENEWAL_WINDOW_DURATION: '3h',
          RENEWAL_WINDOW_TIME_ZONE: 'UTC',
        },
        windowOf: () => ({ inside: weekly([0, 1, 2, 3, 4, 5, 6], 2, 5) }),
      },
      {
        // No default window; every third database has its own (Friday 22:00 – Saturday 02:00 UTC).
        name: 'annotations',
        env: {},
        windowOf: (_, i) =>
          i % 3 === 0
            ? {
                inside: (at) => weekly([5], 22, 24)(at) || weekly([6], 0, 2)(at),
                annotation: '{"cron": "0 22 * * FRI", "duration": "4h"}',
              }
            : { inside: always },
      },
    ];
    for (const layout of layouts) {
      const namespaces = Array.from({ length: 10 }, (_, i) => `team-${i}`);
      const sim = await startSimulator({ namespaces, provisioner: false, certManager: false });
      const cluster: Cluster = {
        name: layout.name,
        sim,
        kube: kubeFromKubeconfig(sim.kubeconfig),
        env: layout.env,
        requestTimes: [],
        failures: [],
      };
      clusters.push(cluster);
      if (layout.name === 'kubedb-windows') {
        sim.store.create({
          apiVersion: 'supervisor.appscode.com/v1alpha1',
          kind: 'ClusterMaintenanceWindow',
          metadata: { name: 'weekends' },
          spec: {
            isDefault: true,
            timezone: 'UTC',
            days: {
              Saturday: [{ start: '00:00', end: '06:00' }],
              Sunday: [{ start: '00:00', end: '06:00' }],
            },
          },
        });
        sim.store.create({
          apiVersion: 'supervisor.appscode.com/v1alpha1',
          kind: 'MaintenanceWindow',
          metadata: { name: 'wednesday-nights', namespace: 'team-0' },
          spec: { isDefault: true, timezone: 'UTC', days: { Wednesday: [{ start: '01:00', end: '05:00' }] } },
        });
      }
      for (let i = 0; i < perCluster; i++) {
        const namespace = namespaces[i % namespaces.length]!;
        const name = `db-${i}`;
        const lifetimeMs = LIFETIMES_DAYS[i % LIFETIMES_DAYS.length]! * DAY;
        // Age: anywhere in the lifetime, but none expired at the start; every tenth a few hours from expiry.
        const leftMs = i % 10 === 7 ? (6 + rand() * 12) * H : 12 * H + rand() * (lifetimeMs - 13 * H);
        const notBefore = Math.floor((t0 + leftMs - lifetimeMs) / H) * H;
        const pem = await leaf(notBefore, lifetimeMs);
        putDatabaseWithTls(sim, namespace, name, { caPem: ca.certPem, ...pem });
        const w = layout.windowOf(namespace, i);
        if (w.annotation) {
          const db = sim.store.get<{ metadata: Record<string, unknown> }>(
            'kubedb.com/v1',
            'PerconaXtraDB',
            namespace,
            name,
          )!;
          sim.store.put({
            ...db,
            metadata: { ...db.metadata, annotations: { 'pxc-tls-ops.io/maintenance-window': w.annotation } },
          });
        }
        databases.push({
          cluster: layout.name,
          namespace,
          name,
          lifetimeMs,
          notAfter: notBefore + lifetimeMs,
          inside: w.inside,
        });
      }
    }
    // The unreachable cluster: a kubeconfig for a port nobody listens on.
    const gone = await startSimulator({ namespaces: ['team-0'] });
    const goneKubeconfig = gone.kubeconfig;
    await gone.stop();
    clusters.push({
      name: 'unreachable',
      kube: kubeFromKubeconfig(goneKubeconfig),
      env: {},
      requestTimes: [],
      failures: [],
    });

    const startExecution = sfnStartExecution(STATE_MACHINE_ARN, {
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: CREDENTIALS,
    });
    const byKey = new Map(databases.map((d) => [`${d.cluster}/${d.namespace}/${d.name}`, d]));
    const result: FleetResult = {
      clusters: clusters.length,
      databases: databases.length,
      simulatedDays: days,
      startedInside: 0,
      startedDeadline: 0,
      startedOutsideWithoutReason: 0,
      expiredUnrenewed: 0,
      renewals: 0,
      unreachableReported: 0,
      maxRequestsPerSecond: 0,
      planRoundMs: [],
      waitingForLimits: 0,
      windowProblems: 0,
      transitions: { restart: 0, reload: 0 },
    };
    const running: Array<{ cluster: Cluster; namespace: string; name: string; database: string }> = [];
    const expiredSeen = new Set<string>();

    for (let hour = 0; hour < days * 24; hour++) {
      const now = t0 + hour * H;
      // Renewals started an hour ago complete: Successful, fresh certificates issued at their start.
      for (const r of running.splice(0)) {
        const sim = r.cluster.sim!;
        const ops = sim.store.get<PerconaXtraDBOpsRequest>(
          KINDS.PerconaXtraDBOpsRequest.apiVersion,
          'PerconaXtraDBOpsRequest',
          r.namespace,
          r.name,
        )!;
        sim.store.put({ ...ops, status: { phase: 'Successful' } });
        const d = byKey.get(`${r.cluster.name}/${r.namespace}/${r.database}`)!;
        const issuedAt = now - H;
        const pem = await leaf(issuedAt, d.lifetimeMs);
        for (const alias of ALIASES)
          sim.store.put(tlsSecret(r.namespace, `${r.database}-${alias}-cert`, { caPem: ca.certPem, ...pem }));
        d.notAfter = issuedAt + d.lifetimeMs;
      }
      for (const d of databases) {
        const key = `${d.cluster}/${d.namespace}/${d.name}`;
        if (d.notAfter <= now && !expiredSeen.has(key)) {
          expiredSeen.add(key);
          result.expiredUnrenewed += 1;
        }
      }
      const round = performance.now();
      const outcomes = await Promise.allSettled(
        clusters.map(async (c) => {
          const before = c.sim ? c.sim.requests.all().length : 0;
          const scan: ScanExpiryResult = await scanExpiry(
            {},
            {
              kube: c.kube,
              startExecution,
              recordExpiry: () => {},
              now: () => new Date(now),
              logger: silent,
              env: c.env,
            },
          );
          if (c.sim)
            c.requestTimes.push(
              ...c.sim.requests
                .all()
                .slice(before)
                .map((r) => r.at),
            );
          return { c, scan };
        }),
      );
      result.planRoundMs.push(performance.now() - round);
      for (const [i, o] of outcomes.entries()) {
        const c = clusters[i]!;
        if (o.status === 'rejected') {
          // One cluster's failure is reported for that cluster; the others went on.
          if (c.failures.push(String((o.reason as Error).message ?? o.reason)) === 1)
            result.unreachableReported += 1;
          continue;
        }
        const { scan } = o.value;
        result.waitingForLimits += scan.waiting.filter((w) => w.reason.endsWith('-limit')).length;
        if (hour === 0) result.windowProblems += scan.windowProblems.length;
        for (const created of scan.created) {
          const [namespace, name] = created.split('/') as [string, string];
          const ops = c.sim!.store.get<PerconaXtraDBOpsRequest>(
            KINDS.PerconaXtraDBOpsRequest.apiVersion,
            'PerconaXtraDBOpsRequest',
            namespace,
            name,
          )!;
          const database = ops.spec.databaseRef.name;
          const d = byKey.get(`${c.name}/${namespace}/${database}`)!;
          const reason = ops.metadata.annotations?.['pxc-tls-ops.io/start-reason'] ?? '';
          result.renewals += 1;
          if (d.inside(new Date(now))) result.startedInside += 1;
          else if (reason.startsWith('deadline override')) result.startedDeadline += 1;
          else result.startedOutsideWithoutReason += 1;
          running.push({ cluster: c, namespace, name, database });
        }
      }
      if (hour % 24 === 23)
        opts.onProgress?.(`fleet: day ${(hour + 1) / 24}/${days}, ${result.renewals} renewals so far`);
    }
    for (const c of clusters) {
      const times = c.requestTimes.sort((a, b) => a - b);
      let lo = 0;
      for (let hi = 0; hi < times.length; hi++) {
        while (times[hi]! - times[lo]! >= 1000) lo++;
        result.maxRequestsPerSecond = Math.max(result.maxRequestsPerSecond, hi - lo + 1);
      }
    }
    result.transitions = await renewalTransitions();
    const cost = (t: number) => t * USD_PER_TRANSITION + (t / 2) * USD_PER_LAMBDA_REQUEST;
    const figures: Figure[] = [
      figure(
        GROUP,
        `renewals started inside a window (${result.databases} databases, ${result.clusters} clusters, ${days} simulated days)`,
        'renewals',
        [result.startedInside],
        { note: `of ${result.renewals} renewals` },
      ),
      figure(GROUP, 'renewals started outside a window by deadline override', 'renewals', [
        result.startedDeadline,
      ]),
      figure(
        GROUP,
        'renewals started outside a window without a deadline reason',
        'renewals',
        [result.startedOutsideWithoutReason],
        { target: '= 0', max: 0 },
      ),
      figure(GROUP, 'certificates left to expire', 'certificates', [result.expiredUnrenewed], {
        target: '= 0',
        max: 0,
      }),
      figure(
        GROUP,
        'unreachable cluster reported, others scanned',
        'clusters',
        [result.unreachableReported],
        { target: '= 1', min: 1, max: 1 },
      ),
      figure(
        GROUP,
        'highest API request rate on one cluster (scan)',
        'req/s',
        [result.maxRequestsPerSecond],
        {
          target: `≤ ${DEFAULT_REQUESTS_PER_SECOND} (ApiRequestsPerSecond)`,
          max: DEFAULT_REQUESTS_PER_SECOND,
          note: 'over any 1-second span; renewals completed by the benchmark, not executed',
        },
      ),
      figure(
        GROUP,
        'databases whose window cannot be met, reported on the first scan',
        'databases',
        [result.windowProblems],
        {
          note: 'Warning Event + metric each; their renewals start by deadline override',
        },
      ),
      figure(
        GROUP,
        'due renewals held by the parallelism limits (summed over scans)',
        'scan × renewals',
        [result.waitingForLimits],
        {
          note: 'MaxRenewalsPerCluster 10, MaxRenewalsPerNamespace 3',
        },
      ),
      figure(GROUP, 'plan a scan round of the fleet (clusters in parallel)', 'ms', result.planRoundMs, {
        note: `${result.clusters} clusters, ${result.databases} databases`,
      }),
      figure(
        GROUP,
        'state transitions per renewal, 3 pods: Restart / Reload mode',
        'transitions',
        [result.transitions.restart, result.transitions.reload],
        {
          note: `cost ≈ $${cost(result.transitions.restart).toFixed(5)} / $${cost(result.transitions.reload).toFixed(5)} (transitions + Lambda requests)`,
        },
      ),
    ];
    return { result, figures };
  } finally {
    for (const c of clusters) await c.sim?.stop();
    await aws.stop();
  }
}

/** One real execution of a scan-created renewal request per restart mode, 3 pods: its state transitions. */
async function renewalTransitions(): Promise<{ restart: number; reload: number }> {
  const out = { restart: 0, reload: 0 };
  for (const mode of ['Restart', 'Reload'] as const) {
    const world = await startBenchWorld({ replicas: 3, podReadyDelayMs: 200, tls: true });
    try {
      const ops = renewalOpsRequest(
        {
          namespace: NS,
          database: DB,
          opsRequest: `bench-renew-${mode.toLowerCase()}`,
          executionName: 'x',
          apply: 'IfReady',
          expired: false,
          notAfter: '',
          renewalTime: '',
        },
        mode,
      );
      world.sim.store.create(ops);
      const run = await runExecution({
        kube: world.kube,
        input: { namespace: NS, opsRequest: ops.metadata.name! },
        logger: quietLogger(),
        waitScale: 0.05,
        retryScale: 0.02,
      });
      if (run.status !== 'SUCCEEDED')
        throw new Error(`renewal in ${mode} mode: ${run.status} ${run.cause ?? ''}`);
      out[mode === 'Restart' ? 'restart' : 'reload'] = run.transitions;
    } finally {
      await world.stop();
    }
  }
  return out;
}
