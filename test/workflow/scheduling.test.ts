import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDB } from '../../functions/model/types.js';
import { chainsTo, inspectTlsSecret } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { type CaIssuer, createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, evictions, NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-sched';
const serial = (world: World) =>
  inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt') }).serial;

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
    await addTls(world, DB, 'sched-add');
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

  it('leaves a request Pending, its claim given back and nothing touched, when the other outlives its wait in the execution', async () => {
    const stuck = world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sched-stuck', database: DB }));
    world.sim.store.put({ ...stuck, status: { phase: 'Progressing' } });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sched-late', database: DB, spec: { timeout: '2s' } }),
    );
    const dbVersion = world.db(DB).metadata.resourceVersion;

    const result = await world.run({ namespace: NS, opsRequest: 'sched-late' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      skip: true,
      reason: expect.stringMatching(/^waiting: .*sched-stuck/),
    });
    const late = world.ops('sched-late');
    expect(late.status?.phase).toBe('Pending');
    expect(late.status?.conditions?.find((c) => c.type === 'WaitingForDatabase')).toMatchObject({
      status: 'True',
      reason: 'DatabaseBusy',
      message: expect.stringMatching(/sched-stuck \(Progressing\) holds PerconaXtraDB demo\/px-sched/),
    });
    expect(late.metadata.annotations?.['pxc-tls-ops.io/claimed-by']).toBeUndefined();
    expect(world.db(DB).metadata.resourceVersion).toBe(dbVersion);

    // Once the other is done, the next trigger (the sweep) runs it.
    world.sim.store.put({ ...world.ops('sched-stuck'), status: { phase: 'Failed' } });
    const again = await world.run({ namespace: NS, opsRequest: 'sched-late' });
    expect(again.status, again.cause).toBe('SUCCEEDED');
    expect(world.ops('sched-late').status?.phase).toBe('Successful');
    expect(
      world.ops('sched-late').status?.conditions?.find((c) => c.type === 'WaitingForDatabase')?.status,
    ).toBe('False');
  });

  it("never resumes the database a first request holds: a second one refused only once it is free (KubeDB's ops webhook on)", async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sched-holder', database: DB }));
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'sched-wrong-issuer',
        database: DB,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'nope' } },
        spec: { timeout: '1s' },
      }),
    );
    // Who holds the pause: the condition while it is there, named by the annotation Pause writes.
    const pausedBy = () => {
      const db = world.db(DB) as PerconaXtraDB;
      return db.status?.conditions?.some((c) => c.type === 'Paused')
        ? (db.metadata.annotations?.['pxc-tls-ops.io/paused-by'] ?? 'someone')
        : '';
    };
    const running = world.run({ namespace: NS, opsRequest: 'sched-holder' });
    for (let i = 0; i < 1000 && !/sched-holder/.test(pausedBy()); i++)
      await new Promise((r) => setTimeout(r, 20));
    // The first one then stays in Restart pods (waiting for every pod Ready) until released.
    world.sim.faults.holdNotReady(NS, `${DB}-2`);
    let resumedAt = 0;
    const poll = setInterval(() => {
      if (!resumedAt && !pausedBy()) resumedAt = Date.now();
    }, 10);

    const second = await world
      .run({ namespace: NS, opsRequest: 'sched-wrong-issuer' })
      .finally(() => world.sim.faults.release(NS, `${DB}-2`));

    expect(second.status, second.cause).toBe('SUCCEEDED');
    expect(world.ops('sched-wrong-issuer').status?.phase).toBe('Pending');
    expect(pausedBy()).toMatch(/sched-holder/);
    const first = await running;
    clearInterval(poll);
    expect(first.status, first.cause).toBe('SUCCEEDED');
    expect(world.ops('sched-holder').status?.phase).toBe('Successful');
    // Resumed once, by the first request's own Resume: never seen unpaused before it (the poll may
    // not get a turn between Resume's write and the end of the run, so 0 means "not before").
    expect(pausedBy()).toBe('');
    if (resumedAt) expect(resumedAt).toBeGreaterThanOrEqual(entered(first, 'Resume')[0]!);

    const refused = await world.run({ namespace: NS, opsRequest: 'sched-wrong-issuer' });
    expect(refused.error).toBe('InvalidIssuerError');
    expect(world.ops('sched-wrong-issuer').status?.phase).toBe('Failed');
  });

  describe('a database paused by someone else (`kubectl kubedb pause`, or an operator)', () => {
    const othersPause = {
      type: 'Paused',
      status: 'True',
      reason: 'PausedByUser',
      message: 'paused for maintenance',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    const pauseByOther = () => {
      const db = world.db(DB) as PerconaXtraDB;
      world.sim.store.put({
        ...db,
        status: { ...db.status, conditions: [...(db.status?.conditions ?? []), othersPause] },
      });
    };
    const liftPause = () => {
      const db = world.db(DB) as PerconaXtraDB;
      world.sim.store.put({
        ...db,
        status: {
          ...db.status,
          conditions: (db.status?.conditions ?? []).filter((c) => c.type !== 'Paused'),
        },
      });
    };
    const theirPause = () => world.db(DB).status?.conditions?.find((c) => c.type === 'Paused');

    it('the request waits Pending naming the holder, gives its claim back, and leaves that pause and the database alone', async () => {
      pauseByOther();
      const before = { db: world.db(DB), serial: serial(world) };
      world.createOps(
        opsRequestFrom('pxcops-rotate', { name: 'sched-paused', database: DB, spec: { timeout: '2s' } }),
      );

      const result = await world.run({ namespace: NS, opsRequest: 'sched-paused' });
      const after = world.db(DB);
      liftPause();

      expect(result.status, result.cause).toBe('SUCCEEDED');
      expect(result.events.some((e) => e.type === 'StateRetried')).toBe(true);
      const waiting = world.ops('sched-paused');
      expect(waiting.status?.phase).toBe('Pending');
      expect(waiting.status?.conditions?.find((c) => c.type === 'WaitingForDatabase')?.message).toMatch(
        /is Paused by someone else .*paused for maintenance/,
      );
      expect(waiting.metadata.annotations?.['pxc-tls-ops.io/claimed-by']).toBeUndefined();
      expect(after.status?.conditions?.filter((c) => c.type === 'Paused')).toEqual([othersPause]);
      expect(serial(world)).toBe(before.serial);
      expect(after.spec).toEqual(before.db.spec);
      expect(after.metadata.annotations).toEqual(before.db.metadata.annotations);
    });

    it('the request runs once that pause is lifted, never having lifted it itself', async () => {
      pauseByOther();
      world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sched-unpaused', database: DB }));
      const stillTheirs: boolean[] = [];
      // The holder lifts its pause while the request waits at Validate.
      const wrapTask = (state: string, fn: TaskFn): TaskFn =>
        state !== 'Validate'
          ? fn
          : async (input) => {
              stillTheirs.push(JSON.stringify(theirPause()) === JSON.stringify(othersPause));
              if (stillTheirs.length === 2) liftPause();
              return fn(input);
            };

      const result = await world.run({ namespace: NS, opsRequest: 'sched-unpaused' }, { wrapTask });

      expect(result.status, result.cause).toBe('SUCCEEDED');
      expect(stillTheirs.slice(0, 2)).toEqual([true, true]);
      expect(theirPause()).toBeUndefined();
    });
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
  const STS = 'px-sts';
  let world: World;
  let newCa: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    newCa = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await world.createDatabase({ name: STS, workload: 'StatefulSet', updateStrategy: 'RollingUpdate' });
  });
  afterAll(async () => {
    await world?.stop();
  });

  /** The pods the restart waits were for, in order, and the pods' UIDs when each wait ended. */
  function recordWaits() {
    const waits: Array<{ pod: string; uidsAfter: Record<string, string> }> = [];
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Restart pod' && state !== 'Check pod'
        ? fn
        : async (input) => {
            const out = await fn(input);
            if ((out as { ready?: boolean }).ready === true)
              waits.push({
                pod: (input as { pod: { name: string } }).pod.name,
                uidsAfter: podUids(world, STS),
              });
            return out;
          };
    return { waits, wrapTask };
  }

  it('adds TLS by letting the controller roll the pods after the template change, evicting none, one wait per pod in the controller order', async () => {
    const before = podUids(world, STS);
    expect(Object.keys(before)).toHaveLength(3);
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'sts-add', database: STS }));
    world.sim.requests.reset();
    const { waits, wrapTask } = recordWaits();

    const result = await world.run({ namespace: NS, opsRequest: 'sts-add' }, { wrapTask });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.sim.requests.countBy({ verb: 'evict' })).toBe(0);
    const sts = world.get(KINDS.StatefulSet, STS);
    expect(sts.spec.template.spec.volumes.map((v: { name: string }) => v.name)).toContain(
      'tls-server-config',
    );
    const after = podUids(world, STS);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const pod of Object.keys(before)) expect(after[pod], pod).not.toBe(before[pod]);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
    // The controller rolls from the highest ordinal down; each wait covers one pod, so the first
    // ends while the last pod still runs its old UID (a wait in ordinal order would cover them all).
    expect(waits.map((w) => w.pod)).toEqual([`${STS}-2`, `${STS}-1`, `${STS}-0`]);
    expect(waits[0]!.uidsAfter[`${STS}-0`]).toBe(before[`${STS}-0`]);
  });

  // Rotate, update and change of issuer leave the pod template as it is: the controller rolls
  // nothing, so each pod is evicted, in ordinal order, once per pass. A short timeout makes a wait
  // for a rollout that never comes fail in seconds.
  it.each([
    ['rotates', 'pxcops-rotate' as const, 1],
    ['updates certificate fields', 'pxcops-update' as const, 1],
    ['changes the issuer', 'pxcops-change-issuer' as const, 2],
  ])(
    '%s by evicting each pod in ordinal order, once per pass (%s, passes: %i)',
    async (_, sample, passes) => {
      const serial = () =>
        inspectTlsSecret({ 'tls.crt': secretPem(world, `${STS}-server-cert`, 'tls.crt') }).serial;
      const before = { serial: serial(), uids: podUids(world, STS) };
      expect(Object.keys(before.uids)).toHaveLength(3);
      const name = `sts-${sample.replace('pxcops-', '')}`;
      world.createOps(opsRequestFrom(sample, { name, database: STS, spec: { timeout: '10s' } }));
      world.sim.requests.reset();
      const { waits, wrapTask } = recordWaits();

      const result = await world.run({ namespace: NS, opsRequest: name }, { wrapTask });

      expect(result.status, result.cause).toBe('SUCCEEDED');
      expect(world.ops(name).status?.phase).toBe('Successful');
      const order = [`${STS}-0`, `${STS}-1`, `${STS}-2`];
      expect(waits.map((w) => w.pod)).toEqual(passes === 2 ? [...order, ...order] : order);
      expect(evictions(world)).toEqual(Object.fromEntries(order.map((p) => [p, passes])));
      expect(serial()).not.toBe(before.serial);
      const after = podUids(world, STS);
      for (const pod of order) expect(after[pod], pod).not.toBe(before.uids[pod]);
      expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
      if (sample === 'pxcops-change-issuer') {
        expect(chainsTo(secretPem(world, `${STS}-server-cert`, 'tls.crt')!, newCa.certPem)).toBe(true);
        expect(world.db(STS).spec.tls?.issuerRef).toMatchObject({ kind: 'ClusterIssuer', name: 'px-new-ca' });
      }
    },
  );
});
