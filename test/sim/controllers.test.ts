import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { type Clients, clientsFor, errorOf, eventually, isReady, startFast } from './helpers.js';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const PETSET = { group: 'apps.k8s.appscode.com', version: 'v1', plural: 'petsets' };

describe('Simulator controllers', () => {
  let sim: Simulator;
  let c: Clients;
  beforeAll(async () => {
    sim = await startFast();
    c = clientsFor(sim);
  });
  afterAll(async () => {
    await sim.stop();
  });

  const pod = (ns: string, name: string) => sim.store.get<J>('v1', 'Pod', ns, name);

  describe('StatefulSet and PetSet', () => {
    it.each(['StatefulSet', 'PetSet'] as const)(
      '%s: creates pods <set>-<i> from the template, owned by the set, Running and Ready',
      async (workload) => {
        const db = createPerconaXtraDB(sim, {
          namespace: 'demo',
          name: `own-${workload.toLowerCase()}`,
          workload,
        });
        await waitForPodsReady(sim, 'demo', db.podNames);
        const set = await eventually(() => {
          const s = sim.store.get<J>(db.workloadApiVersion, workload, 'demo', db.workload.metadata.name);
          return s?.status?.readyReplicas === 3 ? s : undefined;
        });
        const pods = (
          await c.core.listNamespacedPod({
            namespace: 'demo',
            labelSelector: `app.kubernetes.io/instance=${db.database.metadata.name}`,
          })
        ).items;
        expect(pods.map((p) => p.metadata?.name)).toEqual(db.podNames);
        for (const p of pods) {
          expect(p.status?.phase).toBe('Running');
          expect(isReady(p)).toBe(true);
          expect(p.metadata?.ownerReferences?.[0]).toMatchObject({
            kind: workload,
            name: set.metadata.name,
            uid: set.metadata.uid,
            controller: true,
          });
          expect(p.metadata?.labels?.['app.kubernetes.io/component']).toBe('database');
          expect(p.metadata?.labels?.['controller-revision-hash']).toBe(set.status.updateRevision);
          expect(p.spec?.containers.map((x) => x.name)).toEqual(['perconaxtradb', 'px-coordinator']);
          expect(p.spec?.initContainers?.map((x) => x.name)).toEqual(['px-init']);
        }
        expect(set.status).toMatchObject({
          replicas: 3,
          readyReplicas: 3,
          updatedReplicas: 3,
          currentRevision: set.status.updateRevision,
          observedGeneration: set.metadata.generation,
        });
      },
    );

    it('brings a deleted pod back with the same name and a new UID', async () => {
      const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'recreate' });
      await waitForPodsReady(sim, 'demo', db.podNames);
      const before = pod('demo', 'recreate-1').metadata.uid;
      await c.core.deleteNamespacedPod({ namespace: 'demo', name: 'recreate-1' });
      const after = await eventually(() => {
        const p = pod('demo', 'recreate-1');
        return p && p.metadata.uid !== before && isReady(p) ? p : undefined;
      });
      expect(after.metadata.name).toBe('recreate-1');
      expect(after.metadata.uid).not.toBe(before);
    });

    it('OnDelete: a template change reaches only pods recreated later', async () => {
      const db = createPerconaXtraDB(sim, {
        namespace: 'demo',
        name: 'ondelete',
        updateStrategy: 'OnDelete',
      });
      await waitForPodsReady(sim, 'demo', db.podNames);
      const oldRev = pod('demo', 'ondelete-0').metadata.labels['controller-revision-hash'];
      await c.custom.patchNamespacedCustomObject(
        {
          ...PETSET,
          namespace: 'demo',
          name: 'ondelete',
          body: { spec: { template: { metadata: { annotations: { touched: '1' } } } } },
        },
        merge,
      );
      const set1 = await eventually(() => {
        const s = sim.store.get<J>('apps.k8s.appscode.com/v1', 'PetSet', 'demo', 'ondelete');
        return s.status.updateRevision !== oldRev && s.status.observedGeneration === 2 ? s : undefined;
      });
      expect(set1.status.updatedReplicas).toBe(0);
      expect(set1.status.currentRevision).toBe(oldRev);
      await c.core.deleteNamespacedPod({ namespace: 'demo', name: 'ondelete-1' });
      const fresh = await eventually(() => {
        const p = pod('demo', 'ondelete-1');
        return p && p.metadata.labels['controller-revision-hash'] === set1.status.updateRevision && isReady(p)
          ? p
          : undefined;
      });
      const set2 = await eventually(() => {
        const s = sim.store.get<J>('apps.k8s.appscode.com/v1', 'PetSet', 'demo', 'ondelete');
        return s.status.updatedReplicas === 1 && s.status.readyReplicas === 3 ? s : undefined;
      });
      expect(fresh.metadata.annotations).toEqual({ touched: '1' });
      expect(pod('demo', 'ondelete-0').metadata.labels['controller-revision-hash']).toBe(oldRev);
      expect(pod('demo', 'ondelete-2').metadata.labels['controller-revision-hash']).toBe(oldRev);
      expect(set2.status.currentRevision).toBe(oldRev);
    });

    it('RollingUpdate: replaces pods from the highest ordinal down, one at a time, each after the previous is Ready', async () => {
      const db = createPerconaXtraDB(sim, {
        namespace: 'demo',
        name: 'rolling',
        workload: 'StatefulSet',
        updateStrategy: 'RollingUpdate',
      });
      await waitForPodsReady(sim, 'demo', db.podNames);
      const order: string[] = [];
      const readyAt = new Map<string, boolean>();
      let overlap = false;
      const events: Array<[string, J]> = [];
      const unsub = watchPods(sim, 'demo', (type, p) => events.push([type, p]));
      await c.apps.patchNamespacedStatefulSet(
        {
          namespace: 'demo',
          name: 'rolling',
          body: { spec: { template: { metadata: { annotations: { v: '2' } } } } },
        },
        merge,
      );
      const set = await eventually(() => {
        const s = sim.store.get<J>('apps/v1', 'StatefulSet', 'demo', 'rolling');
        return s.status.updatedReplicas === 3 &&
          s.status.readyReplicas === 3 &&
          s.status.currentRevision === s.status.updateRevision
          ? s
          : undefined;
      }, 30_000);
      unsub();
      for (const [type, p] of events) {
        if (!p.metadata.name.startsWith('rolling-')) continue;
        if (type === 'ADDED') {
          order.push(p.metadata.name);
          if ([...readyAt.entries()].some(([n, r]) => n !== p.metadata.name && !r)) overlap = true;
          readyAt.set(p.metadata.name, false);
        } else if (type === 'MODIFIED' && readyAt.has(p.metadata.name))
          readyAt.set(p.metadata.name, isReady(p));
      }
      expect(order).toEqual(['rolling-2', 'rolling-1', 'rolling-0']);
      expect(overlap).toBe(false);
      for (const n of db.podNames)
        expect(pod('demo', n).metadata.labels['controller-revision-hash']).toBe(set.status.updateRevision);
    });

    it('deletes the pods of a deleted set, and nothing brings them back', async () => {
      const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'gc' });
      await waitForPodsReady(sim, 'demo', db.podNames);
      const state = (n: string) => {
        const p = pod('demo', n);
        return !p ? 'gone' : p.metadata.deletionTimestamp ? 'terminating' : 'running';
      };
      expect(db.podNames.map(state)).toEqual(['running', 'running', 'running']);

      await c.custom.deleteNamespacedCustomObject({ ...PETSET, namespace: 'demo', name: 'gc' });

      // Garbage collection runs within the delete call: no pod runs on once it has answered.
      expect(db.podNames.map(state)).not.toContain('running');
      await eventually(() => db.podNames.every((n) => !pod('demo', n)), 20_000, 'pods gone');
      const left = await c.core.listNamespacedPod({
        namespace: 'demo',
        labelSelector: 'app.kubernetes.io/instance=gc',
      });
      expect(left.items).toEqual([]);
      expect(sim.store.get('apps.k8s.appscode.com/v1', 'PetSet', 'demo', 'gc')).toBeUndefined();
    });
  });

  describe('deletion', () => {
    it('keeps the pods of a set deleted with propagationPolicy Orphan', async () => {
      const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'orphan', workload: 'StatefulSet' });
      await waitForPodsReady(sim, 'demo', db.podNames);
      await c.apps.deleteNamespacedStatefulSet({
        namespace: 'demo',
        name: 'orphan',
        propagationPolicy: 'Orphan',
      });
      // Garbage collection runs within the delete call, so the pods would already be terminating.
      const state = (n: string) => {
        const p = pod('demo', n);
        return p && !p.metadata.deletionTimestamp ? 'kept' : 'deleted';
      };
      expect(db.podNames.map(state)).toEqual(['kept', 'kept', 'kept']);
    });

    it('deletes a collection selected by labels', async () => {
      for (const name of ['dc-a', 'dc-b', 'dc-c']) {
        await c.core.createNamespacedConfigMap({
          namespace: 'demo',
          body: { metadata: { name, labels: { batch: name === 'dc-c' ? 'keep' : 'drop' } } },
        });
      }
      await c.core.deleteCollectionNamespacedConfigMap({ namespace: 'demo', labelSelector: 'batch=drop' });
      const left = (
        await c.core.listNamespacedConfigMap({ namespace: 'demo', labelSelector: 'batch' })
      ).items.map((x) => x.metadata?.name);
      expect(left).toEqual(['dc-c']);
    });
  });

  describe('Eviction', () => {
    let slow: Simulator;
    let sc: Clients;
    beforeAll(async () => {
      slow = await startFast({ podReadyDelayMs: 1_500 });
      sc = clientsFor(slow);
    });
    afterAll(async () => {
      await slow.stop();
    });

    it('evicts a pod, which comes back with a new UID, and refuses a second eviction with 429 while the budget is used up', async () => {
      const db = createPerconaXtraDB(slow, { namespace: 'demo', name: 'evict' });
      await waitForPodsReady(slow, 'demo', db.podNames);
      const before = slow.store.get<J>('v1', 'Pod', 'demo', 'evict-0').metadata.uid;
      await sc.core.createNamespacedPodEviction({
        namespace: 'demo',
        name: 'evict-0',
        body: { metadata: { name: 'evict-0', namespace: 'demo' } },
      });
      const refused = await errorOf(
        sc.core.createNamespacedPodEviction({
          namespace: 'demo',
          name: 'evict-1',
          body: { metadata: { name: 'evict-1', namespace: 'demo' } },
        }),
      );
      await waitForPodsReady(slow, 'demo', db.podNames);
      const after = slow.store.get<J>('v1', 'Pod', 'demo', 'evict-0').metadata.uid;
      expect(refused.code).toBe(429);
      expect(refused.body.details.causes[0].reason).toBe('DisruptionBudget');
      expect(after).not.toBe(before);
      await sc.core.createNamespacedPodEviction({
        namespace: 'demo',
        name: 'evict-1',
        body: { metadata: { name: 'evict-1', namespace: 'demo' } },
      });
      expect(slow.requests.countBy({ verb: 'evict', resource: 'pods' })).toBe(3);
    });

    it('honours a budget that selects with matchExpressions only', async () => {
      const db = createPerconaXtraDB(slow, { namespace: 'demo', name: 'expr', replicas: 3 });
      slow.store.delete('policy/v1', 'PodDisruptionBudget', 'demo', 'expr');
      slow.store.create({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'expr-budget', namespace: 'demo' },
        spec: {
          minAvailable: 3,
          selector: {
            matchExpressions: [{ key: 'app.kubernetes.io/instance', operator: 'In', values: ['expr'] }],
          },
        },
      });
      await waitForPodsReady(slow, 'demo', db.podNames);
      const refused = await errorOf(
        sc.core.createNamespacedPodEviction({
          namespace: 'demo',
          name: 'expr-0',
          body: { metadata: { name: 'expr-0' } },
        }),
      );
      expect(refused.code).toBe(429);
      expect(refused.body.details.causes[0].message).toContain('expr-budget needs 3 healthy pods and has 3');
    });

    it('reports the budget in the PodDisruptionBudget status', async () => {
      const db = createPerconaXtraDB(slow, { namespace: 'demo', name: 'budget' });
      await waitForPodsReady(slow, 'demo', db.podNames);
      const pdb = await eventually(async () => {
        const p = await sc.policy.readNamespacedPodDisruptionBudget({ namespace: 'demo', name: 'budget' });
        return p.status?.currentHealthy === 3 ? p : undefined;
      });
      expect(pdb.status).toMatchObject({
        expectedPods: 3,
        currentHealthy: 3,
        desiredHealthy: 2,
        disruptionsAllowed: 1,
      });
    });
  });
});

/** Collects pod events in-process through a real HTTP watch (so the order is the server's). */
function watchPods(sim: Simulator, ns: string, on: (type: string, pod: J) => void): () => void {
  const controller = new AbortController();
  void (async () => {
    try {
      const res = await fetch(
        `${sim.url}/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${currentRv(sim)}`,
        {
          signal: controller.signal,
        },
      );
      const reader = res.body!.getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString('utf8');
        let i = buf.indexOf('\n');
        while (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line) {
            const ev = JSON.parse(line);
            on(ev.type, ev.object);
          }
          i = buf.indexOf('\n');
        }
      }
    } catch {
      // aborted
    }
  })();
  return () => controller.abort();
}

function currentRv(sim: Simulator): string {
  const ns = sim.store.get<J>('v1', 'Namespace', undefined, 'demo');
  const pods = sim.store.list<J>('v1', 'Pod', 'demo');
  return String(
    Math.max(Number(ns.metadata.resourceVersion), ...pods.map((p) => Number(p.metadata.resourceVersion))),
  );
}
