import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { pendingRequests, sweep } from '../../functions/steps/sweep.js';
import { eventBridgePublish } from '../../functions/triggers/aws.js';
import { DETAIL_TYPE_PENDING, EVENT_SOURCE } from '../../functions/triggers/events.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { putOpsRequest, recordingLogger, TEST_CREDENTIALS } from './helpers.js';

const BUS = 'pxc-tls-ops-test';

describe('Sweep (against the simulator and the EventBridge stand-in)', () => {
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
});
