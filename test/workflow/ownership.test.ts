import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import type { PodObject } from '../../functions/steps/common.js';
import { replacedByOthers, restartedAndNotReady } from '../../functions/steps/restore.js';
import type { TaskFn } from '../../local/runner/index.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, podUids, startWorld, type World } from './helpers.js';

const DB = 'px-own';

function podReady(world: World, name: string): boolean {
  const pod = world.get(KINDS.Pod, name);
  return !!pod?.status?.conditions?.some(
    (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
  );
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('A request touches only what it owns', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'own-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  describe('a pod that was NotReady before the request (the database itself still Ready)', () => {
    const sick = `${DB}-1`;
    beforeAll(async () => {
      // Mid state transfer, say: the database's status still says Ready.
      world.sim.faults.holdNotReady(NS, sick, 'joining the cluster (SST in progress)');
      await until(`${sick} NotReady`, () => !podReady(world, sick));
    });
    afterAll(() => {
      world.sim.faults.release(NS, sick);
    });

    it('IfReady: the request fails before anything is paused, naming the pod and its readiness message', async () => {
      const before = podUids(world, DB);
      const dbVersion = world.db(DB).metadata.resourceVersion;
      world.createOps(opsRequestFrom('pxcops-rotate', { name: 'own-ifready', database: DB }));

      const result = await world.run({ namespace: NS, opsRequest: 'own-ifready' });

      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('DatabaseStateError');
      expect(result.cause).toMatch(
        new RegExp(`pod ${NS}/${sick} is not Ready \\(.*SST in progress.*\\); apply: IfReady`),
      );
      expect(world.ops('own-ifready').status?.phase).toBe('Failed');
      expect(world.db(DB).metadata.resourceVersion).toBe(dbVersion);
      expect(podUids(world, DB)).toEqual(before);
    });

    it('Always: it proceeds, and its rollback never restarts the pod it did not restart', async () => {
      const before = podUids(world, DB);
      world.createOps(
        opsRequestFrom('pxcops-rotate', {
          name: 'own-always',
          database: DB,
          spec: { apply: 'Always', timeout: '3s' },
        }),
      );

      // The PodDisruptionBudget (maxUnavailable 1, one pod already down) refuses evicting pod 0
      // until the request's timeout.
      const result = await world.run({ namespace: NS, opsRequest: 'own-always' });

      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('EvictionBlockedError');
      expect(world.ops('own-always').status?.phase).toBe('Failed');
      expect(podUids(world, DB)[sick]).toBe(before[sick]);
      expect(podUids(world, DB)).toEqual(before);
      expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
      expect(world.get(KINDS.Secret, `${DB}-tls-backup-own-always`)).toBeUndefined();
    });
  });

  it('a pod a node drain replaced mid-request (mid state transfer) is reported by the rollback, never evicted or deleted', async () => {
    const drained = `${DB}-2`;
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'own-drain', database: DB, spec: { timeout: '3s' } }),
    );
    let replacement = '';
    let drainDone = 0;
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Restart pod'
        ? fn
        : async (input) => {
            if (!drainDone) {
              // kubectl drain: the node's pod is evicted, and comes back elsewhere joining the cluster.
              const gone = podUids(world, DB)[drained];
              world.sim.faults.holdNotReady(NS, drained, 'joining the cluster (SST in progress)');
              await world.kube.evict({ namespace: NS, name: drained });
              await until('the drained pod to come back', () => {
                const p = world.get(KINDS.Pod, drained);
                return !!p && !p.metadata.deletionTimestamp && p.metadata.uid !== gone;
              });
              replacement = podUids(world, DB)[drained]!;
              drainDone = world.sim.requests.all().length;
            }
            return fn(input);
          };
    try {
      const result = await world.run({ namespace: NS, opsRequest: 'own-drain' }, { wrapTask });

      expect(result.status).toBe('FAILED');
      // The drained pod is the one the drain made; nothing of this request evicted or deleted it.
      expect(podUids(world, DB)[drained]).toBe(replacement);
      const touched = world.sim.requests
        .all()
        .slice(drainDone)
        .filter((r) => ['evict', 'delete'].includes(r.verb) && r.path.includes(`/pods/${drained}`));
      expect(touched).toEqual([]);
      const failed = world.ops('own-drain').status?.conditions?.find((c) => c.type === 'Failed');
      expect(failed?.message).toContain(`left ${drained} alone: replaced during the request by someone else`);
    } finally {
      world.sim.faults.release(NS, drained);
    }
    await until(`${drained} Ready`, () => podReady(world, drained));
  });

  it('a rollback picks only pods this request evicted that came back as a new pod and are not Ready (pure)', () => {
    const pod = (name: string, uid: string, ready: boolean, terminating = false): PodObject => ({
      metadata: { name, uid, ...(terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    // The UIDs this request evicted (recorded on the OpsRequest as it evicted them).
    const evicted = { a: 'a1', b: 'b1', c: 'c1', d: 'd1' };
    const pods = [
      pod('a', 'a2', false), // evicted by the request, broken: restart it
      pod('b', 'b1', false), // its eviction was refused (still the same pod): leave it
      pod('c', 'c2', true), // restarted and Ready: leave it
      pod('d', 'd2', false, true), // already going
      pod('e', 'e2', false), // replaced by someone else (a drain), never evicted by the request
    ];
    expect(restartedAndNotReady(pods, evicted).map((p) => p.metadata.name)).toEqual(['a']);
    expect(restartedAndNotReady(pods, undefined)).toEqual([]);
    const before = { a: 'a1', b: 'b1', c: 'c1', d: 'd1', e: 'e1' };
    expect(replacedByOthers(pods, before, evicted).map((p) => p.metadata.name)).toEqual(['e']);
  });

  describe('the backup Secret (it holds the previous private keys)', () => {
    it('is owned by its OpsRequest while the request runs, and deleted when the request succeeds', async () => {
      world.createOps(opsRequestFrom('pxcops-rotate', { name: 'own-backup', database: DB }));
      let seen: { metadata: { ownerReferences?: unknown[] } } | undefined;
      const result = await world.run(
        { namespace: NS, opsRequest: 'own-backup' },
        {
          wrapTask: (state, fn): TaskFn =>
            state !== 'Restart pod'
              ? fn
              : async (input) => {
                  seen ??= world.get(KINDS.Secret, `${DB}-tls-backup-own-backup`);
                  return fn(input);
                },
        },
      );

      expect(result.status, result.cause).toBe('SUCCEEDED');
      const ops = world.ops('own-backup');
      expect(seen?.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'ops.kubedb.com/v1alpha1',
          kind: 'PerconaXtraDBOpsRequest',
          name: 'own-backup',
          uid: ops.metadata.uid,
        },
      ]);
      expect(world.get(KINDS.Secret, `${DB}-tls-backup-own-backup`)).toBeUndefined();
    });

    it('is kept when the rollback could not finish, and goes with its OpsRequest', async () => {
      const stuck = `${DB}-2`;
      world.createOps(
        opsRequestFrom('pxcops-rotate', { name: 'own-kept', database: DB, spec: { timeout: '2s' } }),
      );
      const evict: Kube['evict'] = async (ref, o) => {
        const evicted = await world.kube.evict(ref, o);
        if (ref.name === stuck) world.sim.faults.holdNotReady(NS, stuck);
        return evicted;
      };
      const kube = new Proxy(world.kube, {
        get: (t, k) => (k === 'evict' ? evict : Reflect.get(t, k, t).bind(t)),
      });
      const result = await world.run({ namespace: NS, opsRequest: 'own-kept' }, { kube });
      world.sim.faults.release(NS, stuck);
      await until(`${stuck} Ready`, () => podReady(world, stuck));

      expect(result.status).toBe('FAILED');
      expect(world.get(KINDS.Secret, `${DB}-tls-backup-own-kept`)).toBeDefined();

      await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'own-kept' });

      expect(world.get(KINDS.Secret, `${DB}-tls-backup-own-kept`)).toBeUndefined();
    });

    it('removing TLS leaves no backup and no certificate Secret behind', async () => {
      world.createOps(opsRequestFrom('pxcops-remove-tls', { name: 'own-remove', database: DB }));
      const result = await world.run({ namespace: NS, opsRequest: 'own-remove' });
      expect(result.status, result.cause).toBe('SUCCEEDED');
      const left = world.sim.store
        .list<{ metadata: { name: string } }>('v1', 'Secret', NS)
        .map((s) => s.metadata.name)
        .filter((n) => n.startsWith(DB) && (n.endsWith('-cert') || n.includes('-tls-backup-')));
      expect(left).toEqual([]);
    });
  });
});
