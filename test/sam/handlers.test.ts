import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as forwardAuditHandler } from '../../functions/handlers/forward-audit.js';
import { handler as scanExpiryHandler } from '../../functions/handlers/scan-expiry.js';
import { handler as sweepHandler } from '../../functions/handlers/sweep.js';
import { resetKube } from '../../functions/kube/index.js';
import { resetTriggerDeps } from '../../functions/triggers/deps.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import {
  AWS_CALLS,
  certificateAges,
  iamAction,
  putDatabaseWithTls,
  putOpsRequest,
  STATE_MACHINE_ARN,
  TEST_CREDENTIALS,
} from './helpers.js';

const context = (functionName: string): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: `req-${functionName}`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'test',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

const sample = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/**
 * The Lambda entry points as `sam local invoke -e events/...` runs them: configuration only from
 * the environment the template sets (KUBECONFIG standing in for EKS), AWS calls to the stand-ins
 * through AWS_ENDPOINT_URL, the sample events as input.
 */
describe('Trigger handlers, configured by the environment', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let dir: string;
  const stdout: string[] = [];
  /** The AWS actions each handler called, to hold against what its role grants. */
  const called = new Map<string, Set<string>>();
  async function invoke<T>(functionId: string, call: () => Promise<T>): Promise<T> {
    const from = aws.calls.length;
    try {
      return await call();
    } finally {
      const set = called.get(functionId) ?? new Set();
      for (const c of aws.calls.slice(from)) set.add(iamAction(c));
      called.set(functionId, set);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pxc-handlers-'));
    sim = await startSimulator({ kubeconfigPath: join(dir, 'kubeconfig'), namespaces: ['demo', 'shop'] });
    aws = await startAwsStandIn({ stateMachineArns: [STATE_MACHINE_ARN] });
    Object.assign(process.env, {
      KUBECONFIG: join(dir, 'kubeconfig'),
      EKS_CLUSTER_NAME: 'demo-cluster',
      EVENT_BUS_NAME: 'pxc-tls-ops-bus',
      STATE_MACHINE_ARN,
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    });
    resetKube();
    resetTriggerDeps();
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      stdout.push(String(chunk));
      return true;
    });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await sim?.stop();
    await aws?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sweep: puts the Pending event on the configured bus', async () => {
    putOpsRequest(sim, 'demo', 'pxops-rotate');

    const out = await invoke('SweepFunction', () =>
      sweepHandler(sample('events/sweep/start-pending-requests.json'), context('sweep')),
    );

    expect(out).toMatchObject({ pending: 1 });
    expect(aws.events.map((e) => [e.EventBusName, (e.detail as { cluster: string }).cluster])).toEqual([
      ['pxc-tls-ops-bus', 'demo-cluster'],
    ]);
  });

  it('sweep and scan-expiry: work on, and name, the cluster their input names (the fleet fan-out)', async () => {
    aws.events.length = 0;
    putOpsRequest(sim, 'shop', 'pxops-fleet');

    await invoke('SweepFunction', () => sweepHandler({ cluster: 'prod-eu' }, context('sweep')));

    expect(
      aws.events
        .map((e) => e.detail as { cluster: string; name: string })
        .filter((d) => d.name === 'pxops-fleet')
        .map((d) => d.cluster),
    ).toEqual(['prod-eu']);

    const from = stdout.length;
    await invoke('ScanExpiryFunction', () =>
      scanExpiryHandler({ dryRun: true, cluster: 'prod-eu' }, context('scan-expiry')),
    );
    const emf = stdout
      .slice(from)
      .flatMap((s) => s.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
    expect(emf.map((e) => e.Cluster)).toEqual(['prod-eu']);
  });

  it('forward-audit: turns the sample subscription payload into the same event', async () => {
    aws.events.length = 0;

    const out = await invoke('ForwardAuditFunction', () =>
      forwardAuditHandler(
        sample('events/forward-audit/opsrequest-created-audit-record.json'),
        context('forward-audit'),
      ),
    );

    expect(out).toEqual({ creates: 1, forwarded: 1 });
    expect(aws.events.map((e) => (e.detail as { name: string }).name)).toEqual(['pxops-rotate']);
  });

  it('scan-expiry: a dry run changes nothing; the scheduled run renews and publishes metrics', async () => {
    const pems = await certificateAges(new Date());
    putDatabaseWithTls(sim, 'shop', 'orders', pems.due);
    putDatabaseWithTls(sim, 'shop', 'carts', pems.fresh);

    const dry = await invoke('ScanExpiryFunction', () =>
      scanExpiryHandler(
        sample('events/scan-expiry/report-due-certificates-only.json'),
        context('scan-expiry'),
      ),
    );
    expect(dry).toMatchObject({ due: 1, created: [] });
    expect(aws.executions).toEqual([]);

    const run = await invoke('ScanExpiryFunction', () =>
      scanExpiryHandler(sample('events/scan-expiry/renew-due-certificates.json'), context('scan-expiry')),
    );
    expect(run).toMatchObject({ due: 1, created: [expect.stringMatching(/^shop\/orders-tls-renew-/)] });
    expect(aws.executions.map((e) => JSON.parse(e.input))).toEqual([
      { namespace: 'shop', opsRequest: run.created[0]!.split('/')[1] },
    ]);
    const emf = stdout
      .flatMap((s) => s.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
    // Eight series per cluster, named by the cluster, never by a database: the metric bill does not
    // grow with the number of databases (the per-database figures are log lines).
    const series = emf.flatMap((e) =>
      e._aws.CloudWatchMetrics.flatMap(
        (m: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }) =>
          m.Metrics.map(
            (x) => `${m.Namespace}/${x.Name} by ${m.Dimensions.map((d) => d.join('+')).join(',')}`,
          ),
      ),
    );
    expect(new Set(series)).toEqual(
      new Set(
        [
          'DatabasesWithTls',
          'DatabasesDue',
          'DatabasesExpired',
          'MinDaysToExpiry',
          'CaRenewalNeeded',
          'WindowsUnsatisfiable',
          'RenewalsWaiting',
          'RenewalsStartedByDeadline',
        ].map((name) => `PxcTlsOps/${name} by service+Cluster`),
      ),
    );
    expect(emf.at(-1)).toMatchObject({ Cluster: 'demo-cluster', DatabasesWithTls: 2, DatabasesDue: 1 });
    const logged = stdout.flatMap((s) => s.split('\n')).filter((l) => l.includes('"certificate expiry"'));
    expect(logged.map((l) => JSON.parse(l).database).sort()).toEqual(['carts', 'carts', 'orders', 'orders']);
  });

  it('calls only AWS actions its role grants (test/sam/helpers.ts AWS_CALLS, held against template.yaml)', () => {
    expect([...called.keys()].sort()).toEqual([
      'ForwardAuditFunction',
      'ScanExpiryFunction',
      'SweepFunction',
    ]);
    for (const [id, actions] of called) {
      expect(actions.size, id).toBeGreaterThan(0);
      for (const a of actions) expect(AWS_CALLS[id], `${id} calls ${a}`).toContain(a);
    }
  });
});
