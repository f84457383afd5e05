import { describe, expect, it } from 'vitest';
import { pendingRequests, sweep } from '../../functions/steps/sweep.js';
import { DETAIL_TYPE_PENDING, EVENT_SOURCE } from '../../functions/triggers/events.js';
import { putOpsRequest, triggerWorld } from './helpers.js';

const BUS = 'pxc-tls-ops-test';

describe('Sweep (against the simulator and the EventBridge stand-in)', () => {
  const w = triggerWorld(BUS);

  describe('Sweep', () => {
    it('announces waiting ReconfigureTLS requests in every namespace, and nothing else', async () => {
      putOpsRequest(w.sim, 'demo', 'new-one'); // no status yet: just created
      putOpsRequest(w.sim, 'team-a', 'pending-one', { phase: 'Pending', database: 'orders' });
      putOpsRequest(w.sim, 'team-a', 'running-one', { phase: 'Progressing' });
      putOpsRequest(w.sim, 'team-b', 'done-one', { phase: 'Successful' });
      putOpsRequest(w.sim, 'team-b', 'scale-one', { type: 'HorizontalScaling' });

      const result = await sweep(w.deps());

      expect(result.pending.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual([
        'demo/new-one',
        'team-a/pending-one',
      ]);
      expect(w.aws.events.map((e) => [e.EventBusName, e.Source, e.DetailType])).toEqual([
        [BUS, EVENT_SOURCE, DETAIL_TYPE_PENDING],
        [BUS, EVENT_SOURCE, DETAIL_TYPE_PENDING],
      ]);
      const stored = w.sim.store.get<{ metadata: { uid: string } }>(
        'ops.kubedb.com/v1alpha1',
        'PerconaXtraDBOpsRequest',
        'team-a',
        'pending-one',
      )!;
      expect(w.aws.events.map((e) => e.detail)).toContainEqual({
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
        putOpsRequest(w.sim, i % 2 ? 'team-a' : 'team-b', `req-${String(i).padStart(2, '0')}`);

      const result = await sweep({ ...w.deps(), pageSize: 10 });

      expect(result.pending).toHaveLength(25);
      expect(result.listCalls).toBe(3);
      expect(w.sim.requests.countBy({ verb: 'list', resource: 'perconaxtradbopsrequests' })).toBe(3);
      expect(w.aws.calls.filter((c) => c === 'AWSEvents.PutEvents')).toHaveLength(3);
      expect(w.aws.events).toHaveLength(25);
    });

    it('puts nothing when nothing waits', async () => {
      putOpsRequest(w.sim, 'demo', 'done', { phase: 'Successful' });
      await sweep(w.deps());
      expect(w.aws.calls).toEqual([]);
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
