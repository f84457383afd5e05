import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { decodeLogsData, forwardAudit, opsRequestCreates } from '../../functions/steps/forward-audit.js';
import { pendingRequests, sweep } from '../../functions/steps/sweep.js';
import { eventBridgePublish } from '../../functions/triggers/aws.js';
import { DETAIL_TYPE_PENDING, EVENT_SOURCE } from '../../functions/triggers/events.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { auditRecord, logsSubscriptionEvent } from '../../local/aws/logs.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { putOpsRequest, recordingLogger, TEST_CREDENTIALS } from './helpers.js';

const BUS = 'pxc-tls-ops-test';

describe('Triggers', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let kube: Kube;
  const deps = () => ({
    kube,
    publish: eventBridgePublish(BUS, {
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: TEST_CREDENTIALS,
    }),
    cluster: 'demo-cluster',
    logger: recordingLogger(),
  });

  beforeAll(async () => {
    sim = await startSimulator({ namespaces: ['demo', 'team-a', 'team-b'] });
    aws = await startAwsStandIn();
    kube = kubeFromKubeconfig(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });
  beforeEach(() => {
    for (const o of sim.store.list<{ metadata: { namespace: string; name: string } }>(
      'ops.kubedb.com/v1alpha1',
      'PerconaXtraDBOpsRequest',
    )) {
      sim.store.delete(
        'ops.kubedb.com/v1alpha1',
        'PerconaXtraDBOpsRequest',
        o.metadata.namespace,
        o.metadata.name,
      );
    }
    aws.events.length = 0;
    aws.calls.length = 0;
    sim.requests.reset();
  });

  describe('Sweep', () => {
    it('announces waiting ReconfigureTLS requests in every namespace, and nothing else', async () => {
      putOpsRequest(sim, 'demo', 'new-one'); // no status yet: just created
      putOpsRequest(sim, 'team-a', 'pending-one', { phase: 'Pending', database: 'orders' });
      putOpsRequest(sim, 'team-a', 'running-one', { phase: 'Progressing' });
      putOpsRequest(sim, 'team-b', 'done-one', { phase: 'Successful' });
      putOpsRequest(sim, 'team-b', 'scale-one', { type: 'HorizontalScaling' });

      const result = await sweep(deps());

      expect(result.pending.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual([
        'demo/new-one',
        'team-a/pending-one',
      ]);
      expect(aws.events.map((e) => [e.EventBusName, e.Source, e.DetailType])).toEqual([
        [BUS, EVENT_SOURCE, DETAIL_TYPE_PENDING],
        [BUS, EVENT_SOURCE, DETAIL_TYPE_PENDING],
      ]);
      const stored = sim.store.get<{ metadata: { uid: string } }>(
        'ops.kubedb.com/v1alpha1',
        'PerconaXtraDBOpsRequest',
        'team-a',
        'pending-one',
      )!;
      expect(aws.events.map((e) => e.detail)).toContainEqual({
        cluster: 'demo-cluster',
        namespace: 'team-a',
        name: 'pending-one',
        uid: stored.metadata.uid,
        type: 'ReconfigureTLS',
        database: 'orders',
      });
    });

    it('reads every page of the list and puts at most 10 entries per PutEvents call', async () => {
      for (let i = 0; i < 25; i++)
        putOpsRequest(sim, i % 2 ? 'team-a' : 'team-b', `req-${String(i).padStart(2, '0')}`);

      const result = await sweep({ ...deps(), pageSize: 10 });

      expect(result.pending).toHaveLength(25);
      expect(result.listCalls).toBe(3);
      expect(sim.requests.countBy({ verb: 'list', resource: 'perconaxtradbopsrequests' })).toBe(3);
      expect(aws.calls.filter((c) => c === 'AWSEvents.PutEvents')).toHaveLength(3);
      expect(aws.events).toHaveLength(25);
    });

    it('puts nothing when nothing waits', async () => {
      putOpsRequest(sim, 'demo', 'done', { phase: 'Successful' });
      await sweep(deps());
      expect(aws.calls).toEqual([]);
    });

    it('orders pending requests oldest first (pure)', () => {
      const at = (name: string, ts: string) => ({
        metadata: { namespace: 'demo', name, creationTimestamp: ts },
        spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' } },
      });
      expect(
        pendingRequests([at('b', '2026-11-28T00:00:02Z'), at('a', '2026-11-28T00:00:01Z')], 'c').map(
          (p) => p.name,
        ),
      ).toEqual(['a', 'b']);
    });
  });

  describe('Forward audit', () => {
    it('decodes the sample subscription event and keeps only completed creates of OpsRequests', () => {
      const sample = JSON.parse(readFileSync('events/forward-audit/audit-create.json', 'utf8'));
      expect(opsRequestCreates(decodeLogsData(sample))).toEqual([
        { namespace: 'demo', name: 'pxops-rotate', object: undefined },
      ]);
    });

    it('forwards a created request that still waits, reading it from the cluster', async () => {
      putOpsRequest(sim, 'demo', 'pxops-rotate');
      const sample = JSON.parse(readFileSync('events/forward-audit/audit-create.json', 'utf8'));

      const result = await forwardAudit(sample, deps());

      expect(result.pending.map((p) => p.name)).toEqual(['pxops-rotate']);
      expect(sim.requests.countBy({ verb: 'get', resource: 'perconaxtradbopsrequests' })).toBe(1);
      expect(aws.events.map((e) => e.detail)).toEqual([
        expect.objectContaining({ namespace: 'demo', name: 'pxops-rotate' }),
      ]);
    });

    it('skips requests deleted or already taken since, and failed creates', async () => {
      putOpsRequest(sim, 'demo', 'taken', { phase: 'Progressing' });
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'demo', name: 'taken' }),
        auditRecord({ namespace: 'demo', name: 'gone' }),
        auditRecord({ namespace: 'demo', name: 'refused', code: 422 }),
      ]);

      const result = await forwardAudit(event, deps());

      expect(result.creates).toBe(2);
      expect(result.pending).toEqual([]);
      expect(aws.calls).toEqual([]);
    });

    it('uses the object in a RequestResponse audit record without reading the cluster', async () => {
      const object = {
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        metadata: { namespace: 'team-b', name: 'from-audit', uid: 'uid-1' },
        spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotateCertificates: true } },
      };
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'team-b', name: 'from-audit', responseObject: object }),
      ]);

      const result = await forwardAudit(event, deps());

      expect(result.pending).toEqual([
        {
          cluster: 'demo-cluster',
          namespace: 'team-b',
          name: 'from-audit',
          uid: 'uid-1',
          type: 'ReconfigureTLS',
          database: 'db',
        },
      ]);
      expect(sim.requests.countBy({ verb: 'get' })).toBe(0);
    });

    it('ignores control messages and rejects a payload that is not base64 gzip', async () => {
      const control = logsSubscriptionEvent([], { messageType: 'CONTROL_MESSAGE' });
      await expect(forwardAudit(control, deps())).resolves.toEqual({ creates: 0, pending: [] });
      await expect(forwardAudit({ awslogs: { data: 'not-gzip' } }, deps())).rejects.toMatchObject({
        name: 'InvalidRequestError',
      });
    });
  });
});
