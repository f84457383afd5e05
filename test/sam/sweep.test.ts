import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../functions/errors.js';
import { scanExpiry } from '../../functions/steps/scan-expiry.js';
import { pendingRequests, sweep } from '../../functions/steps/sweep.js';
import { DETAIL_TYPE_PENDING, EVENT_SOURCE } from '../../functions/triggers/events.js';
import { watchedNamespaces } from '../../functions/triggers/list.js';
import {
  certificateAges,
  functionGroups,
  groupRules,
  putDatabaseWithTls,
  putOpsRequest,
  rbacAllows,
  rbacObjects,
  rbacRequest,
  recordingLogger,
  triggerWorld,
} from './helpers.js';

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

  describe('A namespaced install (WatchNamespaces)', () => {
    /** Requests that k8s/rbac-namespaced.yaml (RoleBindings in demo) would refuse `functionId`, or that leave the watched namespaces. */
    const refused = (functionId: string, watched: string[]) => {
      const objects = [
        ...rbacObjects('k8s/rbac.yaml').filter((o) => o.kind === 'ClusterRole'),
        ...rbacObjects('k8s/rbac-namespaced.yaml'),
      ];
      const group = functionGroups()[functionId]!;
      return w.sim.requests
        .all()
        .filter((r) => {
          const ns = /\/namespaces\/([^/]+)\//.exec(r.path)?.[1] ?? null;
          const req = rbacRequest(r.method, r.path, r.verb);
          if (ns !== null && !watched.includes(ns)) return true;
          // The manifest binds namespace demo; another watched namespace gets a copy of the same bindings.
          return !rbacAllows(groupRules(objects, group, ns === null ? null : 'demo'), req);
        })
        .map((r) => `${r.verb} ${r.path}`);
    };

    it('sweeps and recovers only in the watched namespaces, listing each (no cluster-wide list)', async () => {
      putOpsRequest(w.sim, 'demo', 'watched-one');
      putOpsRequest(w.sim, 'team-a', 'watched-two');
      putOpsRequest(w.sim, 'team-b', 'not-ours');

      const result = await sweep(
        {
          ...w.deps(),
          namespaces: ['demo', 'team-a'],
          startExecution: async () => ({ alreadyExisted: false }),
          describeExecution: async () => 'RUNNING',
        },
        { recover: true },
      );

      expect(result.pending.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual([
        'demo/watched-one',
        'team-a/watched-two',
      ]);
      expect(w.sim.requests.countBy({ verb: 'list', resource: 'perconaxtradbs' })).toBe(2);
      expect(refused('SweepFunction', ['demo', 'team-a'])).toEqual([]);
    });

    it('scans for expiry only in the watched namespaces', async () => {
      const pems = await certificateAges(new Date());
      putDatabaseWithTls(w.sim, 'team-a', 'due-here', pems.due);
      putDatabaseWithTls(w.sim, 'team-b', 'due-elsewhere', pems.due);

      const result = await scanExpiry(
        { dryRun: true },
        {
          kube: w.kube,
          startExecution: async () => ({ alreadyExisted: false }),
          recordExpiry: () => {},
          now: () => new Date(),
          logger: recordingLogger(),
          namespaces: ['team-a'],
        },
      );

      expect(result).toMatchObject({ withTls: 1, due: 1 });
      expect(refused('ScanExpiryFunction', ['team-a'])).toEqual([]);
    });

    it('reads WATCH_NAMESPACES as a list of namespace names, and refuses anything else', () => {
      expect(watchedNamespaces({})).toEqual([]);
      expect(watchedNamespaces({ WATCH_NAMESPACES: '' })).toEqual([]);
      expect(watchedNamespaces({ WATCH_NAMESPACES: 'demo, shop,demo' })).toEqual(['demo', 'shop']);
      expect(() => watchedNamespaces({ WATCH_NAMESPACES: 'demo,Not_A_Namespace' })).toThrow(
        InvalidRequestError,
      );
    });
  });
});
