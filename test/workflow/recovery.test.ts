import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import { RECOVERY_ATTEMPTS_ANNOTATION } from '../../functions/model/names.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import { claimNeedsRecovery } from '../../functions/steps/sweep.js';
import type { RunResult, TaskFn } from '../../local/runner/index.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { anyFunctionRules, rbacAllows, rbacObjects, rbacRequest } from '../sam/helpers.js';
import { addTls, NS, paused, secretPem, startWorld, sweepOnce, type World } from './helpers.js';

const DB = 'px-rec';
const LEASE = 2;

const serial = (world: World, db = DB) =>
  inspectTlsSecret({ 'tls.crt': secretPem(world, `${db}-server-cert`, 'tls.crt') }).serial;
const podsReady = (world: World, db = DB) =>
  [0, 1, 2].every((i) =>
    world
      .get(KINDS.Pod, `${db}-${i}`)
      ?.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      ),
  );
const entered = (r: RunResult) => r.events.filter((e) => e.type === 'StateEntered').map((e) => e.state!.name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Test helper: kills the execution (StopExecution: no Catch runs) when the `nth` call of `state`
 * is about to start (`before`) or has just returned (`after`).
 */
function interruptAt(state: string, o: { nth?: number; when?: 'before' | 'after' } = {}) {
  const controller = new AbortController();
  let calls = 0;
  const wrapTask = (name: string, fn: TaskFn): TaskFn =>
    name !== state
      ? fn
      : async (input) => {
          const last = ++calls === (o.nth ?? 1);
          if (last && (o.when ?? 'before') === 'before') {
            controller.abort();
            throw new Error('killed');
          }
          const out = await fn(input);
          if (last) controller.abort();
          return out;
        };
  return { signal: controller.signal, wrapTask };
}

describe('No interrupted execution strands a database', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'rec-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('a re-run waits out a live lease, then takes the request over, restores first, and ends Successful', async () => {
    const before = serial(world);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-takeover', database: DB }));
    // Killed once pod 1 has restarted on the new certificates.
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-takeover' },
      {
        ...interruptAt('Restart pod', { nth: 2, when: 'after' }),
        leaseSeconds: LEASE,
        executionName: 'rec-dead',
      },
    );
    expect(killed.status).toBe('ABORTED');
    expect(paused(world, DB)).toBe(true);
    expect(world.ops('rec-takeover').status?.phase).toBe('Progressing');

    const early = await world.run({ namespace: NS, opsRequest: 'rec-takeover' }, { leaseSeconds: LEASE });
    expect(early.output).toMatchObject({
      skip: true,
      reason: expect.stringMatching(/^claimed by execution rec-dead \(lease until /),
    });

    await sleep(LEASE * 1000 + 200);
    const rerun = await world.run({ namespace: NS, opsRequest: 'rec-takeover' }, { leaseSeconds: LEASE });

    expect(rerun.status, rerun.cause).toBe('SUCCEEDED');
    const states = entered(rerun);
    expect(states.indexOf('Roll back')).toBeGreaterThan(-1);
    expect(states.indexOf('Roll back')).toBeLessThan(states.indexOf('Pause'));
    expect(world.ops('rec-takeover').status?.phase).toBe('Successful');
    expect(serial(world)).not.toBe(before);
    expect(paused(world, DB)).toBe(false);
    expect(podsReady(world)).toBe(true);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-rec-takeover`)).toBeUndefined();
  });

  it('a recovery of a stopped execution restores, resumes, and fails the request naming the execution', async () => {
    const before = serial(world);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-stopped', database: DB }));
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-stopped' },
      { ...interruptAt('Restart pod', { nth: 1, when: 'after' }), executionName: 'rec-stopped-1' },
    );
    expect(killed.status).toBe('ABORTED');
    expect(serial(world)).not.toBe(before);

    const recovery = await world.run({
      recover: { execution: 'rec-stopped-1', status: 'ABORTED', via: 'event rule' },
    });

    expect(recovery.status).toBe('FAILED');
    expect(recovery.error).toBe('ExecutionInterrupted');
    const ops = world.ops('rec-stopped');
    expect(ops.status?.phase).toBe('Failed');
    const failed = ops.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.reason).toBe('ExecutionInterrupted');
    // px-rec-0 restarted on a new certificate from the same CA and is Ready: it is left alone.
    expect(failed?.message).toMatch(
      /^execution rec-stopped-1 was stopped \(ABORTED\) before it could roll back; recovered by execution .* \(event rule\); rolled back to the previous certificates and TLS settings$/,
    );
    expect(serial(world)).toBe(before);
    expect(paused(world, DB)).toBe(false);
    expect(podsReady(world)).toBe(true);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-rec-stopped`)).toBeUndefined();
    expect(recovery.published.map((e) => e.DetailType)).toEqual(['PerconaXtraDBOpsRequest Failed']);

    // A second recovery of the same execution (a duplicate event) finds nothing to do.
    world.sim.requests.reset();
    const again = await world.run({ recover: { execution: 'rec-stopped-1', status: 'ABORTED' } });
    expect(again.output).toMatchObject({
      skip: true,
      reason: 'no request is claimed by execution rec-stopped-1',
    });
    expect(world.sim.requests.all().filter((r) => !['get', 'list'].includes(r.verb))).toEqual([]);

    // The database takes new requests, and the interrupted one may be run again.
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-next', database: DB }));
    expect((await world.run({ namespace: NS, opsRequest: 'rec-next' })).status).toBe('SUCCEEDED');
    const rerun = await world.run({ namespace: NS, opsRequest: 'rec-stopped' });
    expect(rerun.status, rerun.cause).toBe('SUCCEEDED');
    expect(world.ops('rec-stopped').status?.phase).toBe('Successful');
    expect(world.ops('rec-stopped').status?.conditions?.find((c) => c.type === 'Failed')?.status).toBe(
      'False',
    );
  });

  it('in a namespaced install (WATCH_NAMESPACES) a recovery finds the request namespace by namespace, never across the cluster', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-namespaced', database: DB }));
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-namespaced' },
      { ...interruptAt('Restart pod', { nth: 1, when: 'after' }), executionName: 'rec-namespaced-1' },
    );
    expect(killed.status).toBe('ABORTED');
    process.env.WATCH_NAMESPACES = `other,${NS}`;
    world.sim.requests.reset();
    try {
      const recovery = await world.run({ recover: { execution: 'rec-namespaced-1', status: 'ABORTED' } });

      expect(recovery.error).toBe('ExecutionInterrupted');
      expect(world.ops('rec-namespaced').status?.phase).toBe('Failed');
      expect(paused(world, DB)).toBe(false);
      // Namespaced RoleBindings (k8s/rbac-namespaced.yaml) would refuse a list across namespaces.
      const lists = world.sim.requests.all().filter((r) => r.verb === 'list');
      expect(lists.length).toBeGreaterThan(0);
      expect(lists.filter((r) => !r.path.includes('/namespaces/')).map((r) => r.path)).toEqual([]);
    } finally {
      delete process.env.WATCH_NAMESPACES;
    }
  });

  it('a recovery only acts for a request still claimed by the execution it names', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-other', database: DB }));
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-other' },
      { ...interruptAt('Change certificates'), executionName: 'rec-other-1', leaseSeconds: LEASE },
    );
    expect(killed.status).toBe('ABORTED');
    await sleep(LEASE * 1000 + 200);
    const rerun = await world.run(
      { namespace: NS, opsRequest: 'rec-other' },
      { executionName: 'rec-other-2' },
    );
    expect(rerun.status, rerun.cause).toBe('SUCCEEDED');
    world.sim.requests.reset();

    const late = await world.run({ recover: { execution: 'rec-other-1', status: 'ABORTED' } });

    expect(late.output).toMatchObject({ skip: true });
    expect(world.ops('rec-other').status?.phase).toBe('Successful');
    expect(world.sim.requests.all().filter((r) => !['get', 'list'].includes(r.verb))).toEqual([]);
  });

  it('an execution whose request was taken over stops at its next step without writing', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-lost', database: DB }));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let evictionsAfter = -1;
    const slow = world.run(
      { namespace: NS, opsRequest: 'rec-lost' },
      {
        executionName: 'rec-lost-slow',
        leaseSeconds: LEASE,
        wrapTask: (state, fn): TaskFn =>
          state !== 'Restart pod'
            ? fn
            : async (input) => {
                if ((input as { pod: { index: number } }).pod.index === 1) {
                  await held;
                  world.sim.requests.reset();
                }
                return fn(input);
              },
      },
    );
    await sleep(LEASE * 1000 + 1500);
    const taker = await world.run(
      { namespace: NS, opsRequest: 'rec-lost' },
      { executionName: 'rec-lost-taker' },
    );
    expect(taker.status, taker.cause).toBe('SUCCEEDED');
    release();
    const slowResult = await slow;
    evictionsAfter = world.sim.requests.countBy({ verb: 'evict' });

    expect(slowResult.status).toBe('FAILED');
    expect(slowResult.error).toBe('LeaseLostError');
    expect(slowResult.cause).toMatch(/now claimed by execution rec-lost-taker/);
    expect(entered(slowResult).at(-1)).toBe('Lost the claim');
    expect(evictionsAfter).toBe(0);
    // After the take-over it wrote nothing at all (its one renewal attempt was refused).
    expect(
      world.sim.requests.all().filter((r) => !['get', 'list', 'watch'].includes(r.verb) && r.status < 300),
    ).toEqual([]);
    expect(world.ops('rec-lost').status?.phase).toBe('Successful');
    expect(paused(world, DB)).toBe(false);
  });

  it('renews its lease while it waits for a slow pod, so nobody takes it over', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-renew', database: DB }));
    const slowPod = `${DB}-0`;
    const evict: Kube['evict'] = async (ref, o) => {
      const evicted = await world.kube.evict(ref, o);
      if (ref.name === slowPod) {
        world.sim.faults.holdNotReady(NS, slowPod);
        setTimeout(() => world.sim.faults.release(NS, slowPod), LEASE * 1500);
      }
      return evicted;
    };
    const kube = new Proxy(world.kube, {
      get: (t, k) => (k === 'evict' ? evict : Reflect.get(t, k, t).bind(t)),
    });
    world.sim.requests.reset();
    const running = world.run({ namespace: NS, opsRequest: 'rec-renew' }, { kube, leaseSeconds: LEASE });
    await sleep(LEASE * 1000 + 500);
    const intruder = await world.run({ namespace: NS, opsRequest: 'rec-renew' }, { leaseSeconds: LEASE });
    const result = await running;

    expect(intruder.output).toMatchObject({ skip: true });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const renewals = world.sim.requests
      .all()
      .filter(
        (r) => r.verb === 'patch' && r.resource === 'perconaxtradbopsrequests' && !r.path.includes('/status'),
      );
    expect(renewals.length).toBeGreaterThan(0);
    // Every request it made, renewals included, is one k8s/rbac.yaml allows.
    const rules = anyFunctionRules(rbacObjects('k8s/rbac.yaml'));
    const denied = world.sim.requests
      .all()
      .map((r) => rbacRequest(r.method, r.path, r.verb))
      .filter((r) => !rbacAllows(rules, r));
    expect(denied).toEqual([]);
  });

  it('a recovery whose Finish rollback keeps failing is tried 3 times, then left as it is with a reason, an Event and a metric', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-bounded', database: DB }));
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-bounded' },
      { ...interruptAt('Restart pod', { nth: 1, when: 'after' }), executionName: 'rec-bounded-0' },
    );
    expect(killed.status).toBe('ABORTED');
    // Finish rollback can never mark the request Failed (its status writes are refused).
    world.sim.faults.inject({
      method: 'PATCH',
      path: /\/perconaxtradbopsrequests\/rec-bounded\/status$/,
      times: 1000,
      action: { status: 403 },
    });
    let last = 'rec-bounded-0';
    try {
      for (const attempt of [1, 2, 3]) {
        const r = await world.run(
          { recover: { execution: last, status: attempt === 1 ? 'ABORTED' : 'FAILED', via: 'sweep' } },
          { executionName: `rec-bounded-${attempt}` },
        );
        expect(r.status).toBe('FAILED');
        expect(entered(r)).toContain('Roll back');
        expect(world.ops('rec-bounded').metadata.annotations?.[RECOVERY_ATTEMPTS_ANNOTATION]).toBe(
          String(attempt),
        );
        last = r.executionName;
      }
      // The sweep still starts the one recovery that says it gives up.
      expect(claimNeedsRecovery(world.ops('rec-bounded'), 'FAILED', new Date())).toBe(true);
      world.sim.requests.reset();
      const from = world.logs.length;

      const fourth = await world.run({ recover: { execution: last, status: 'FAILED', via: 'sweep' } });

      expect(fourth.output).toMatchObject({
        skip: true,
        reason: expect.stringMatching(
          /^not recovered again: 3 recoveries took PerconaXtraDBOpsRequest demo\/rec-bounded over and none finished \(the last, execution rec-bounded-3,/,
        ),
      });
      expect(entered(fourth)).not.toContain('Roll back');
      // Nothing but its Event and its mark was written: no restore, no pod replaced again.
      expect(
        world.sim.requests
          .all()
          .filter((r) => !['get', 'list', 'watch'].includes(r.verb) && r.resource !== 'events')
          .map((r) => `${r.verb} ${r.resource}`),
      ).toEqual(['patch perconaxtradbopsrequests']);
      const events = world.sim.store.list<{ reason: string; involvedObject: { name: string } }>(
        'v1',
        'Event',
        NS,
      );
      expect(
        events.some((e) => e.reason === 'RecoveryAbandoned' && e.involvedObject.name === 'rec-bounded'),
      ).toBe(true);
      expect(world.logs.slice(from).join('')).toContain('"RecoveriesAbandoned":1');
      // ... and one message on the recovery dead-letter queue, naming the request and why.
      expect(entered(fourth)).toContain('Report abandoned recovery');
      expect(fourth.sent).toHaveLength(1);
      expect(fourth.sent[0]!.queueUrl).toBe('local-RecoveryDeadLetterQueueUrl');
      expect(JSON.parse(fourth.sent[0]!.body)).toEqual({
        namespace: NS,
        opsRequest: 'rec-bounded',
        attempts: 3,
        lastExecution: 'rec-bounded-3',
        reason: (fourth.output as { reason: string }).reason,
      });
      expect(world.ops('rec-bounded').metadata.annotations?.[RECOVERY_ATTEMPTS_ANNOTATION]).toBe('3');
      // The sweep starts no more recoveries for it.
      expect(claimNeedsRecovery(world.ops('rec-bounded'), 'FAILED', new Date())).toBe(false);
    } finally {
      world.sim.faults.reset();
      await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'rec-bounded' });
    }
  });

  it("a holder whose clock is a minute behind keeps its request: leases are judged in the API server's time", async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-skew', database: DB }));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let reached!: () => void;
    const atRestart = new Promise<void>((r) => {
      reached = r;
    });
    // A laptop (npm run local) whose clock is 60 s behind, holding a 30 s lease, busy restarting a pod.
    const laptop = world.run(
      { namespace: NS, opsRequest: 'rec-skew' },
      {
        executionName: 'rec-skew-laptop',
        clock: { now: () => new Date(Date.now() - 60_000) },
        leaseSeconds: 30,
        wrapTask: (state, fn): TaskFn =>
          state !== 'Restart pod'
            ? fn
            : async (input) => {
                reached();
                await held;
                return fn(input);
              },
      },
    );
    await atRestart;
    try {
      // Observers on the right time: a re-run of the request, and the sweep (which knows nothing of
      // a local execution, so it goes by the lease).
      const rerun = await world.run({ namespace: NS, opsRequest: 'rec-skew' }, { leaseSeconds: 30 });
      expect(rerun.output).toMatchObject({
        skip: true,
        reason: expect.stringMatching(/^claimed by execution rec-skew-laptop \(lease until /),
      });
      const { result: swept, started } = await sweepOnce(world);
      expect(swept.recovered).toEqual([]);
      expect(started).toEqual([]);
    } finally {
      release();
    }
    const result = await laptop;
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.ops('rec-skew').status?.phase).toBe('Successful');
  });

  it('a Paused condition whose request was deleted is recovered, and later requests say why they wait', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'rec-gone', database: DB }));
    const killed = await world.run(
      { namespace: NS, opsRequest: 'rec-gone' },
      { ...interruptAt('Restart pod', { nth: 1, when: 'after' }) },
    );
    expect(killed.status).toBe('ABORTED');
    await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'rec-gone' });
    expect(paused(world, DB)).toBe(true);
    // Its backup went with it (owned): nothing is left to restore from.
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-rec-gone`)).toBeUndefined();

    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'rec-waits', database: DB, spec: { timeout: '2s' } }),
    );
    const waits = await world.run({ namespace: NS, opsRequest: 'rec-waits' });
    expect(waits.status, waits.cause).toBe('SUCCEEDED');
    expect(world.ops('rec-waits').status?.phase).toBe('Pending');
    expect(
      world.ops('rec-waits').status?.conditions?.find((c) => c.type === 'WaitingForDatabase')?.message,
    ).toMatch(/paused by PerconaXtraDBOpsRequest demo\/rec-gone, which no longer exists/);

    const recovery = await world.run({
      recover: { namespace: NS, opsRequest: 'rec-gone', database: DB, via: 'sweep' },
    });

    expect(recovery.error).toBe('ExecutionInterrupted');
    expect(recovery.cause).toMatch(
      /left Paused by PerconaXtraDBOpsRequest demo\/rec-gone, which no longer exists/,
    );
    expect(paused(world, DB)).toBe(false);
    await sleep(500);
    expect(podsReady(world)).toBe(true);
    // The request left Pending runs once the database is free.
    expect((await world.run({ namespace: NS, opsRequest: 'rec-waits' })).status).toBe('SUCCEEDED');
  });
});
