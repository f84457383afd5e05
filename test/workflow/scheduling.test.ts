import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDB } from '../../functions/model/types.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, podUids, startWorld, type World } from './helpers.js';

const DB = 'px-sched';

function entered(
  result: { events: Array<{ type: string; timestamp: number; state?: { name: string } }> },
  state: string,
) {
  return result.events
    .filter((e) => e.type === 'StateEntered' && e.state?.name === state)
    .map((e) => e.timestamp);
}

describe('One request per database, apply policy, controller-driven rollouts', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'sched-add', database: DB }));
    const added = await world.run({ namespace: NS, opsRequest: 'sched-add' });
    expect(added.status, added.cause).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('a second request for the same database waits with backoff until the first is done, then runs', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sched-first', database: DB }));
    world.createOps(opsRequestFrom('pxcops-update', { name: 'sched-second', database: DB }));

    const [first, second] = await Promise.all([
      world.run({ namespace: NS, opsRequest: 'sched-first' }),
      world.run({ namespace: NS, opsRequest: 'sched-second' }),
    ]);

    expect([first.status, second.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(world.ops('sched-first').status?.phase).toBe('Successful');
    expect(world.ops('sched-second').status?.phase).toBe('Successful');
    const waited = [first, second].filter((r) => r.events.some((e) => e.type === 'StateRetried'));
    expect(waited.length).toBeGreaterThanOrEqual(1);
    // The two never overlap: whichever changed certificates last started after the other resumed.
    const [a, b] =
      entered(first, 'Change certificates')[0]! < entered(second, 'Change certificates')[0]!
        ? [first, second]
        : [second, first];
    expect(entered(b, 'Change certificates')[0]!).toBeGreaterThan(entered(a, 'Resume')[0]!);
  });

  it('fails with a clear reason when the other request outlives this one’s timeout, touching nothing', async () => {
    const stuck = world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sched-stuck', database: DB }));
    world.sim.store.put({ ...stuck, status: { phase: 'Progressing' } });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sched-late', database: DB, spec: { timeout: '2s' } }),
    );
    const dbVersion = world.db(DB).metadata.resourceVersion;

    const result = await world.run({ namespace: NS, opsRequest: 'sched-late' });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DatabaseStateError');
    expect(result.cause).toMatch(
      /sched-stuck is still Progressing .* longer than this request's timeout \(2s\)/,
    );
    expect(world.ops('sched-late').status?.phase).toBe('Failed');
    expect(world.db(DB).metadata.resourceVersion).toBe(dbVersion);
    world.sim.store.put({ ...world.ops('sched-stuck'), status: { phase: 'Failed' } });
  });

  it('apply: Always proceeds on a database that is not Ready (IfReady refuses it: see invalid-requests)', async () => {
    const db = world.db(DB) as PerconaXtraDB;
    world.sim.store.put({ ...db, status: { ...db.status, phase: 'Critical' } });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sched-always', database: DB, spec: { apply: 'Always' } }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'sched-always' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.ops('sched-always').status?.phase).toBe('Successful');
  });
});

describe('A StatefulSet with RollingUpdate', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: 'px-sts', workload: 'StatefulSet', updateStrategy: 'RollingUpdate' });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('adds TLS by letting the controller roll the pods after the template change, evicting none', async () => {
    const before = podUids(world, 'px-sts');
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'sts-add', database: 'px-sts' }));
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'sts-add' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.sim.requests.countBy({ verb: 'evict' })).toBe(0);
    const sts = world.get(KINDS.StatefulSet, 'px-sts');
    expect(sts.spec.template.spec.volumes.map((v: { name: string }) => v.name)).toContain(
      'tls-server-config',
    );
    const after = podUids(world, 'px-sts');
    for (const pod of Object.keys(before)) expect(after[pod], pod).not.toBe(before[pod]);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });
});
