import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import {
  type DatabaseCerts,
  type ExpirySummary,
  planRenewals,
  renewalNames,
} from '../../functions/steps/renewal-plan.js';
import { type ScanExpiryResult, scanExpiry } from '../../functions/steps/scan-expiry.js';
import { sfnStartExecution } from '../../functions/triggers/aws.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import {
  certificateAges,
  putDatabaseWithTls,
  putOpsRequest,
  recordingLogger,
  STATE_MACHINE_ARN,
  TEST_CREDENTIALS,
} from './helpers.js';

const NOW = new Date('2026-11-28T03:15:00Z');
const DAY = 86_400_000;

/** What the function gets in AWS, pointed at the simulator and the Step Functions stand-in, at NOW. */
const scanDeps = (
  kube: Kube,
  aws: AwsStandIn,
  logger = recordingLogger(),
  recordExpiry: (summary: ExpirySummary) => void = () => {},
) => ({
  kube,
  startExecution: sfnStartExecution(STATE_MACHINE_ARN, {
    endpoint: aws.endpoint,
    region: 'eu-west-1',
    credentials: TEST_CREDENTIALS,
  }),
  recordExpiry,
  now: () => NOW,
  logger,
  // The budget's own test is test/unit/fleet/rate.test.ts; here it would only add waiting.
  requestsPerSecond: 500,
});

describe('Scan expiry: deciding', () => {
  const cert = (
    alias: 'server' | 'client' | 'metrics-exporter',
    serial: string,
    notAfterDays: number,
    renewDays: number,
  ) => ({
    alias,
    secretName: `db-${alias}-cert`,
    serial,
    notAfter: new Date(NOW.getTime() + notAfterDays * DAY).toISOString(),
    renewalTime: new Date(NOW.getTime() + renewDays * DAY).toISOString(),
  });
  const db = (certs: DatabaseCerts['certs'], database = 'db'): DatabaseCerts => ({
    namespace: 'ns',
    database,
    certs,
  });
  const ops = (name: string, phase?: string): PerconaXtraDBOpsRequest => ({
    metadata: { name, namespace: 'ns' },
    spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' } },
    ...(phase ? { status: { phase } } : {}),
  });

  it.each([
    ['fresh certificates', [cert('server', 'a', 80, 50), cert('client', 'b', 80, 50)], 'none'],
    [
      'a renewal time that has passed',
      [cert('server', 'a', 20, -10), cert('client', 'b', 80, 50)],
      'IfReady',
    ],
    ['a renewal time exactly now', [cert('server', 'a', 30, 0)], 'IfReady'],
    ['an expired certificate', [cert('server', 'a', -1, -31), cert('client', 'b', 80, 50)], 'Always'],
    [
      'no readable certificate',
      [{ alias: 'server' as const, secretName: 'x', problem: 'secret missing' }],
      'none',
    ],
  ])('with %s renews: %s', (_, certs, expected) => {
    const plan = planRenewals([db(certs)], new Map(), NOW);
    expect(plan.renew.map((r) => r.apply)).toEqual(expected === 'none' ? [] : [expected]);
  });

  it('reports days to expiry from the earliest certificate', () => {
    const plan = planRenewals(
      [db([cert('server', 'a', 12.5, -1), cert('client', 'b', 40, 10)])],
      new Map(),
      NOW,
    );
    expect(plan.daysToExpiry).toEqual([
      expect.objectContaining({ namespace: 'ns', database: 'db', days: 12.5, state: 'due' }),
    ]);
  });

  it('starts again a renewal it created that nobody has taken, and leaves a taken one alone', () => {
    const due = db([cert('server', 'a', 20, -10)]);
    const { opsRequest } = renewalNames('ns', 'db', ['a'], false);

    const pending = planRenewals([due], new Map([['ns/db', [ops(opsRequest)]]]), NOW);
    const failed = planRenewals([due], new Map([['ns/db', [ops(opsRequest, 'Failed')]]]), NOW);

    expect(pending.restart.map((r) => r.opsRequest)).toEqual([opsRequest]);
    expect(pending.renew).toEqual([]);
    expect(failed.restart).toEqual([]);
    expect(failed.renew).toEqual([]);
  });

  it.each([
    ['Progressing', 'Progressing'],
    ['Pending', 'Pending'],
    ['just created (no status yet)', undefined],
  ])('waits while a user request for the database is %s, creating no request of its own', (_, phase) => {
    const due = db([cert('server', 'a', 20, -10)]);
    const plan = planRenewals([due], new Map([['ns/db', [ops('users-own', phase)]]]), NOW);
    expect(plan.renew).toEqual([]);
    expect(plan.restart).toEqual([]);
    expect(plan.skipped).toEqual([
      expect.objectContaining({ database: 'db', reason: expect.stringContaining('users-own') }),
    ]);
  });

  describe('the CA', () => {
    // A fresh 90-day server certificate: next renewal in 60 days. Its CA has 20 days left.
    const withCa = (caDays: number, leaf = cert('server', 'a', 89, 59)) =>
      db([
        {
          ...leaf,
          notBefore: new Date(NOW.getTime() - DAY).toISOString(),
          ca: {
            notAfter: new Date(NOW.getTime() + caDays * DAY).toISOString(),
            fingerprint: 'old-ca',
            subject: 'CN=px-ca',
          },
        },
      ]);
    const issuer = (fingerprint: string, days: number) =>
      new Map([['ns/db', { fingerprint, notAfter: new Date(NOW.getTime() + days * DAY).toISOString() }]]);

    it('starts the renewal now when the issuer already holds a new CA and the old one dies before the next renewal', () => {
      const plan = planRenewals([withCa(20)], new Map(), NOW, { issuerCas: issuer('new-ca', 3650) });
      expect(plan.renew).toEqual([
        expect.objectContaining({
          database: 'db',
          caReason: expect.stringMatching(/CA expires at .* new CA/),
        }),
      ]);
      expect(plan.caRenewalNeeded).toEqual([]);
    });

    it.each([
      ['still holds the dying CA', issuer('old-ca', 20)],
      // Same fingerprint = the very certificate, whatever end date was read for it.
      ['names the very CA that signed the certificates', issuer('old-ca', 3650)],
      ['holds another CA that dies before the next renewal too', issuer('other-ca', 30)],
      ['cannot be read', new Map([['ns/db', { problem: 'Issuer ns/px not found' }]])],
    ])('reports the CA, and renews nothing early, when the issuer %s', (_, issuerCas) => {
      const plan = planRenewals([withCa(20)], new Map(), NOW, { issuerCas });
      expect(plan.renew).toEqual([]);
      expect(plan.caRenewalNeeded).toEqual([
        { namespace: 'ns', database: 'db', reason: expect.stringMatching(/renew the issuer's CA first/) },
      ]);
    });

    it('leaves a CA that outlives the next renewal alone', () => {
      const plan = planRenewals([withCa(61)], new Map(), NOW, { issuerCas: issuer('old-ca', 61) });
      expect(plan.renew).toEqual([]);
      expect(plan.caRenewalNeeded).toEqual([]);
    });
  });

  it('names requests and executions deterministically, within the services limits', () => {
    const a = renewalNames('ns', 'db', ['s1', 's2'], false);
    expect(renewalNames('ns', 'db', ['s2', 's1'], false)).toEqual(a);
    expect(renewalNames('ns', 'db', ['s1', 's3'], false)).not.toEqual(a);
    expect(renewalNames('ns', 'db', ['s1', 's2'], true).opsRequest).not.toBe(a.opsRequest);
    const long = renewalNames('n'.repeat(63), 'd'.repeat(63), ['s'], false);
    expect(long.executionName.length).toBeLessThanOrEqual(80);
    expect(long.executionName).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(long.opsRequest.length).toBeLessThanOrEqual(63);
  });
});

describe('Scan expiry: 1,000 databases in 50 namespaces, 10 due', () => {
  const NAMESPACES = Array.from({ length: 50 }, (_, i) => `team-${String(i).padStart(2, '0')}`);
  const PER_NAMESPACE = 20;
  // 8 due and 2 expired, spread over different namespaces.
  const DUE = new Set([
    'team-00/db-03',
    'team-07/db-11',
    'team-13/db-00',
    'team-21/db-19',
    'team-22/db-05',
    'team-30/db-08',
    'team-38/db-14',
    'team-49/db-02',
  ]);
  const EXPIRED = new Set(['team-05/db-07', 'team-44/db-16']);

  let sim: Simulator;
  let aws: AwsStandIn;
  let kube: Kube;
  const summaries: ExpirySummary[] = [];
  const firstLog = recordingLogger();
  let first: ScanExpiryResult;
  let firstLists: number;
  let firstGets: number;

  const run = (logger = recordingLogger()) =>
    scanExpiry(
      {},
      scanDeps(kube, aws, logger, (s) => summaries.push(s)),
    );

  beforeAll(async () => {
    sim = await startSimulator({ namespaces: NAMESPACES });
    aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
    kube = kubeFromKubeconfig(sim.kubeconfig);
    const pems = await certificateAges(NOW);
    for (const ns of NAMESPACES) {
      for (let i = 0; i < PER_NAMESPACE; i++) {
        const name = `db-${String(i).padStart(2, '0')}`;
        const key = `${ns}/${name}`;
        putDatabaseWithTls(
          sim,
          ns,
          name,
          DUE.has(key) ? pems.due : EXPIRED.has(key) ? pems.expired : pems.fresh,
        );
      }
    }
    // Requests that are not ours and must not stop the scan: another database's, another type.
    putOpsRequest(sim, 'team-01', 'someone-elses', { database: 'db-01', phase: 'Successful' });
    putOpsRequest(sim, 'team-02', 'a-scale', { database: 'db-02', type: 'HorizontalScaling' });
    sim.requests.reset();
    first = await run(firstLog);
    // Two lists are expected besides the scan's own: whether KubeDB's ops-manager runs
    // (functions/steps/ops-manager.ts: its StatefulSet or Deployment, label-selected).
    firstLists =
      sim.requests.countBy({ verb: 'list' }) -
      sim.requests.countBy({ verb: 'list', resource: 'statefulsets' }) -
      sim.requests.countBy({ verb: 'list', resource: 'deployments' });
    firstGets = sim.requests.countBy({ verb: 'get' });
  }, 180_000);
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });

  const ours = () =>
    sim.store
      .list<PerconaXtraDBOpsRequest>('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest')
      .filter((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'pxc-tls-ops');

  it('creates exactly one rotate OpsRequest per due database', () => {
    const created = ours();
    expect(created).toHaveLength(10);
    expect(first.created).toHaveLength(10);
    expect(new Set(created.map((o) => `${o.metadata.namespace}/${o.spec.databaseRef.name}`))).toEqual(
      new Set([...DUE, ...EXPIRED]),
    );
    for (const o of created) {
      expect(o.spec).toMatchObject({ type: 'ReconfigureTLS', tls: { rotateCertificates: true } });
      const expired = EXPIRED.has(`${o.metadata.namespace}/${o.spec.databaseRef.name}`);
      expect(o.spec.apply).toBe(expired ? 'Always' : 'IfReady');
      // The stack's DefaultRestartMode (unset here: Restart) is written on every renewal.
      expect(o.metadata.annotations?.['pxc-tls-ops.io/restart-mode']).toBe('Restart');
    }
  });

  it('starts exactly one execution per created request, over the Step Functions protocol', () => {
    expect(aws.executions).toHaveLength(10);
    expect(first.executionsStarted).toBe(10);
    const byInput = aws.executions.map((e) => JSON.parse(e.input));
    expect(new Set(byInput.map((i) => `${i.namespace}/${i.opsRequest}`))).toEqual(
      new Set(ours().map((o) => `${o.metadata.namespace}/${o.metadata.name}`)),
    );
    for (const input of byInput) expect(Object.keys(input).sort()).toEqual(['namespace', 'opsRequest']);
  });

  it('lists a constant number of pages, not one per database, and reads no database one by one', () => {
    expect(firstLists).toBe(first.listCalls);
    expect(firstLists).toBeLessThanOrEqual(NAMESPACES.length); // "a few per namespace" is far above this
    expect(firstLists).toBeLessThanOrEqual(12);
    expect(firstGets).toBe(0);
    console.info(`expiry scan of 1,000 databases in 50 namespaces: ${firstLists} list calls`);
  });

  it('publishes eight figures for 1,000 databases and logs each database’s days to expiry', () => {
    expect(summaries[0]).toEqual({
      databases: 1000,
      due: DUE.size + EXPIRED.size,
      expired: EXPIRED.size,
      minDaysToExpiry: expect.any(Number),
      caRenewalNeeded: 0,
      windowProblems: 0,
      waiting: 0,
      startedByDeadline: 0,
    });
    expect(summaries[0]!.minDaysToExpiry).toBeLessThan(0);
    const perDatabase = firstLog.lines.filter((l) => l.message === 'certificate expiry');
    expect(perDatabase).toHaveLength(1000);
    expect(perDatabase.filter((l) => (l.extra as { state: string }).state === 'expired')).toHaveLength(2);
    expect(perDatabase[0]!.extra).toEqual({
      namespace: expect.any(String),
      database: expect.any(String),
      daysToExpiry: expect.any(Number),
      notAfter: expect.any(String),
      renewalTime: expect.any(String),
      state: expect.stringMatching(/^(ok|due|expired)$/),
    });
  });

  it('creates nothing and starts nothing when run again', async () => {
    const again = await run();

    expect(again.created).toEqual([]);
    expect(again.executionsStarted).toBe(0);
    expect(ours()).toHaveLength(10);
    expect(aws.executions).toHaveLength(10);
    expect(again.due).toBe(10);
  }, 120_000);
});

describe('Scan expiry: databases it cannot judge', () => {
  let sim: Simulator;
  let aws: AwsStandIn;

  beforeAll(async () => {
    sim = await startSimulator({ namespaces: ['demo'] });
    aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });

  it('leaves alone databases without TLS, with missing or unreadable Secrets, and says why in the log', async () => {
    const pems = await certificateAges(NOW);
    putDatabaseWithTls(sim, 'demo', 'garbled', pems.due);
    const garbled = sim.store.get<{ data: Record<string, string> }>(
      'v1',
      'Secret',
      'demo',
      'garbled-server-cert',
    )!;
    sim.store.put({
      ...garbled,
      data: { ...garbled.data, 'tls.crt': Buffer.from('not a certificate').toString('base64') },
    });
    for (const alias of ['client', 'metrics-exporter'])
      sim.store.delete('v1', 'Secret', 'demo', `garbled-${alias}-cert`);
    sim.store.create({
      apiVersion: 'kubedb.com/v1',
      kind: 'PerconaXtraDB',
      metadata: { namespace: 'demo', name: 'plain' },
      spec: { replicas: 3 },
    });
    const logger = recordingLogger();

    const result = await scanExpiry({}, scanDeps(kubeFromKubeconfig(sim.kubeconfig), aws, logger));

    expect(result).toMatchObject({ databases: 2, withTls: 1, due: 0, created: [] });
    expect(aws.executions).toEqual([]);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'certificate secret unreadable',
        extra: expect.objectContaining({ secretName: 'garbled-server-cert' }),
      }),
    );
  });
});

describe("Scan expiry beside KubeDB's enterprise ops-manager", () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  beforeAll(async () => {
    sim = await startSimulator({ namespaces: ['demo'] });
    aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });

  it('creates no renewal request the ops-manager would process too, and says why', async () => {
    putDatabaseWithTls(sim, 'demo', 'due', (await certificateAges(NOW)).due);
    sim.store.create({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: {
        name: 'kubedb-kubedb-ops-manager',
        namespace: 'demo',
        labels: { 'app.kubernetes.io/name': 'kubedb-ops-manager' },
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/name': 'kubedb-ops-manager' } },
        template: {
          metadata: { labels: { 'app.kubernetes.io/name': 'kubedb-ops-manager' } },
          spec: { containers: [] },
        },
      },
    });

    const result = await scanExpiry({}, scanDeps(kubeFromKubeconfig(sim.kubeconfig), aws));

    expect(result).toMatchObject({ due: 1, created: [] });
    expect(result.skipped).toEqual([
      { namespace: 'demo', database: 'due', reason: expect.stringMatching(/ops-manager is running/) },
    ]);
    expect(aws.executions).toEqual([]);
  });
});

describe('Scan expiry: maintenance windows', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let result: ScanExpiryResult;
  const annotate = (name: string, value: string) => {
    const db = sim.store.get<{ metadata: { annotations?: Record<string, string> } }>(
      'kubedb.com/v1',
      'PerconaXtraDB',
      'demo',
      name,
    )!;
    sim.store.put({
      ...db,
      metadata: { ...db.metadata, annotations: { 'pxc-tls-ops.io/maintenance-window': value } },
    });
  };

  beforeAll(async () => {
    sim = await startSimulator({ namespaces: ['demo'] });
    aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
    const pems = await certificateAges(NOW);
    // NOW is Saturday 03:15 UTC; the cluster's default window is Wednesdays 01:00–05:00.
    sim.store.create({
      apiVersion: 'supervisor.appscode.com/v1alpha1',
      kind: 'ClusterMaintenanceWindow',
      metadata: { name: 'wednesdays' },
      spec: { isDefault: true, timezone: 'UTC', days: { Wednesday: [{ start: '01:00', end: '05:00' }] } },
    });
    putDatabaseWithTls(sim, 'demo', 'waits', pems.due); // 20 days left: waits for Wednesday
    putDatabaseWithTls(sim, 'demo', 'expired', pems.expired); // deadline override
    putDatabaseWithTls(sim, 'demo', 'own-window', pems.due);
    annotate('own-window', '{"cron": "0 3 * * *", "duration": "1h"}'); // open now
    putDatabaseWithTls(sim, 'demo', 'yearly', pems.fresh);
    annotate('yearly', '{"cron": "0 2 1 1 *", "duration": "1h"}'); // opens once a year: cannot be met
    result = await scanExpiry({}, scanDeps(kubeFromKubeconfig(sim.kubeconfig), aws));
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });

  const startReason = (database: string) =>
    sim.store
      .list<PerconaXtraDBOpsRequest>('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', 'demo')
      .find((o) => o.spec.databaseRef.name === database)?.metadata.annotations?.[
      'pxc-tls-ops.io/start-reason'
    ];

  it('starts a renewal only inside its window, or by deadline override saying why', () => {
    expect(result.started).toEqual({ 'no-window': 0, 'in-window': 1, deadline: 1 });
    expect(startReason('own-window')).toMatch(/^inside annotation pxc-tls-ops.io\/maintenance-window/);
    expect(startReason('expired')).toMatch(
      /^deadline override: .*ClusterMaintenanceWindow wednesdays opens next at 2026-12-02T01:00:00.000Z/,
    );
    expect(startReason('waits')).toBeUndefined();
    expect(result.waiting).toEqual([
      expect.objectContaining({
        database: 'waits',
        reason: 'outside-window',
        detail: expect.stringMatching(/2026-12-02T01:00/),
      }),
    ]);
  });

  it('reports a window that cannot be met at once, with a Warning Event on the database', () => {
    expect(result.windowProblems).toEqual([
      { namespace: 'demo', database: 'yearly', problem: expect.stringMatching(/opens only every .* days/) },
    ]);
    const events = sim.store
      .list<{ reason: string; involvedObject: { name: string } }>('v1', 'Event', 'demo')
      .filter((e) => e.reason === 'MaintenanceWindowUnsatisfiable');
    expect(events.map((e) => e.involvedObject.name)).toEqual(['yearly']);
  });
});
