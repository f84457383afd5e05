import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import { CLAIM_ANNOTATION } from '../../functions/model/names.js';
import type { Plan } from '../../functions/model/plan.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import type { RunResult, TaskFn } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import {
  addTls,
  evictions,
  NS,
  podUids,
  secretPem,
  startWorld,
  type World,
  watchAvailability,
} from './helpers.js';

const DB = 'px-failures';

function serial(world: World, alias: string): string {
  return inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-${alias}-cert`, 'tls.crt') }).serial;
}

/** Pod name → UID and readiness, for the database's pods in the simulator's store. */
function podStates(world: World, database: string): Record<string, { uid: string; ready: boolean }> {
  const uids = podUids(world, database);
  return Object.fromEntries(
    Object.entries(uids).map(([name, uid]) => [name, { uid, ready: podReady(world, name) }]),
  );
}

/** The RestartPodForRollback Events of one request: type and message. */
function rollbackRestarts(world: World, ops: string) {
  return world.sim.store
    .list<{ type: string; reason: string; message: string; involvedObject: { name: string } }>(
      'v1',
      'Event',
      NS,
    )
    .filter((e) => e.involvedObject.name === ops && e.reason === 'RestartPodForRollback')
    .map((e) => ({ type: e.type, message: e.message }));
}

function podReady(world: World, name: string): boolean {
  const pod = world.get(KINDS.Pod, name);
  return !!pod?.status?.conditions?.some(
    (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
  );
}

/** Test helper: makes Validate plan a CA change as a single pass (what the two-pass plan avoids). */
const forceOnePass = (state: string, fn: TaskFn): TaskFn =>
  state !== 'Validate'
    ? fn
    : async (input) => {
        const out = (await fn(input)) as { plan?: Plan };
        if (out.plan) out.plan.passes = ['certificates'];
        return out as never;
      };

/**
 * Test helper: the pod is held NotReady from its `nth` eviction on (the new pod never gets Ready),
 * and released when the rollback starts checking the restored pods, unless `keepHeld`.
 */
function holdAfterEviction(world: World, pod: string, opts: { nth?: number; keepHeld?: boolean } = {}) {
  let evictions = 0;
  // The rollback evicts the broken pod again (never a Ready one): its replacement starts on the
  // restored material and is let become Ready, unless keepHeld.
  const evict: Kube['evict'] = async (ref, o) => {
    const evicted = await world.kube.evict(ref, o);
    if (ref.name === pod) {
      const n = ++evictions;
      if (n === (opts.nth ?? 1)) world.sim.faults.holdNotReady(NS, pod);
      else if (evicted && n > (opts.nth ?? 1) && !opts.keepHeld) world.sim.faults.release(NS, pod);
    }
    return evicted;
  };
  const del: Kube['delete'] = (kind, ref, o) => world.kube.delete(kind, ref, o);
  const kube = new Proxy(world.kube, {
    get: (target, key) =>
      key === 'evict' ? evict : key === 'delete' ? del : Reflect.get(target, key, target).bind(target),
  });
  const wrapTask = (_state: string, fn: TaskFn): TaskFn => fn;
  return { kube, wrapTask, evictions: () => evictions };
}

/** Fails the next `times` evictions of one pod with 503, past every retry of "Restart pod" (1 + 6 attempts). */
function failEvictionOf(world: World, pod: string, times = 7) {
  world.sim.faults.inject({
    method: 'POST',
    path: new RegExp(`/pods/${pod}/eviction$`),
    times,
    action: { status: 503 },
  });
}

function wiringArgs(world: World, database: string): string[] {
  const template = world.get(KINDS.PetSet, database)?.spec.template;
  return template.spec.containers.find((c: { name: string }) => c.name === 'perconaxtradb').args ?? [];
}

describe('ReconfigureTLS failure path', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'failures-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('a one-pass CA change fails: the first restarted pod is refused by its peers, and is rolled back', async () => {
    const serverSerial = serial(world, 'server');
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'failures-one-pass',
        database: DB,
        spec: { timeout: '3s' },
      }),
    );

    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-one-pass' },
      { wrapTask: forceOnePass },
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('StepTimeoutError');
    expect(world.sim.readiness().some((r) => r.reason === 'PeerNotTrusted')).toBe(true);
    const ops = world.ops('failures-one-pass');
    expect(ops.status?.phase).toBe('Failed');
    expect(ops.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(/px-failures-0/);
    expect(serial(world, 'server')).toBe(serverSerial);
    expect(world.db(DB).spec.tls?.issuerRef?.name).toBe('px-issuer');
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    for (const i of [0, 1, 2]) expect(podReady(world, `${DB}-${i}`), `${DB}-${i}`).toBe(true);
  });

  it('a pod held NotReady after the change: rollback restores the old certificates and restarts that pod alone, never a Ready one, the database is resumed', async () => {
    const before = Object.fromEntries(
      ['server', 'client', 'metrics-exporter'].map((a) => [a, serial(world, a)]),
    );
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'failures-held', database: DB, spec: { timeout: '3s' } }),
    );
    const held = `${DB}-1`;
    const hold = holdAfterEviction(world, held);
    // The pods as Roll back finds them: which were Ready, and the UID of each.
    let atRollback: Record<string, { uid: string; ready: boolean }> = {};
    const wrapTask = (state: string, fn: TaskFn): TaskFn => {
      const inner = hold.wrapTask(state, fn);
      return state !== 'Roll back'
        ? inner
        : async (input) => {
            atRollback = podStates(world, DB);
            return inner(input);
          };
    };
    const availability = watchAvailability(world, DB);
    await availability.ready;

    // The new pod is held NotReady from the moment the old one is evicted, until the rollback checks it.
    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-held' },
      { kube: hold.kube, wrapTask },
    );
    availability.stop();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('StepTimeoutError');
    const ops = world.ops('failures-held');
    expect(ops.status?.phase).toBe('Failed');
    const failed = ops.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.message).toContain(`pod ${NS}/${held}`);
    expect(failed?.message).toContain('held NotReady');
    expect(failed?.message).toContain('rolled back');
    for (const [alias, s] of Object.entries(before)) expect(serial(world, alias), alias).toBe(s);
    // Roll back replaced the pod the change broke, and only it: the Ready ones kept running.
    expect(Object.keys(atRollback).sort()).toEqual([`${DB}-0`, `${DB}-1`, `${DB}-2`]);
    expect(atRollback[held]?.ready).toBe(false);
    const after = podStates(world, DB);
    expect(after[held]?.uid).not.toBe(atRollback[held]?.uid);
    for (const [pod, was] of Object.entries(atRollback).filter(([, p]) => p.ready))
      expect(after[pod]?.uid, `${pod} was Ready when the rollback started`).toBe(was.uid);
    // One pod down at a time, as the PodDisruptionBudget (maxUnavailable 1) asks, rollback included.
    expect(availability.maxUnavailable()).toBe(1);
    for (const i of [0, 1, 2]) expect(podReady(world, `${DB}-${i}`), `${DB}-${i}`).toBe(true);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-failures-held`)).toBeUndefined();
    expect(result.published.map((e) => e.DetailType)).toEqual(['PerconaXtraDBOpsRequest Failed']);
    // What `kubectl describe` shows for it: one Warning naming the pod and the UID deleted.
    expect(rollbackRestarts(world, 'failures-held')).toEqual([
      {
        type: 'Warning',
        message: `Restarting Pod on the restored certificates: ${NS}/${held} (1/1), evicted pod UID ${atRollback[held]?.uid}`,
      },
    ]);
  });

  it('a pod the rollback named that gets Ready on its own before it is replaced is left running', async () => {
    const held = `${DB}-1`;
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'failures-recovers', database: DB, spec: { timeout: '2s' } }),
    );
    const hold = holdAfterEviction(world, held, { keepHeld: true });
    let named: { name: string; uid: string }[] = [];
    // Between the rollback's look at the pods and the replacement: the pod comes back by itself.
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Roll back'
        ? fn
        : async (input) => {
            const out = (await fn(input)) as { pods?: { name: string; uid: string }[] };
            named = out.pods ?? [];
            world.sim.faults.release(NS, held);
            const end = Date.now() + 5000;
            while (!podReady(world, held) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
            return out as never;
          };

    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-recovers' },
      { kube: hold.kube, wrapTask },
    );

    expect(result.status).toBe('FAILED');
    expect(named.map((p) => p.name)).toEqual([held]);
    expect(podUids(world, DB)[held]).toBe(named[0]!.uid);
    expect(podReady(world, held)).toBe(true);
    expect(rollbackRestarts(world, 'failures-recovers')).toEqual([]);
    expect(world.ops('failures-recovers').status?.phase).toBe('Failed');
  });

  it('when the rollback cannot bring the pod back, the database is still resumed and the backup is kept', async () => {
    const stuck = `${DB}-2`;
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'failures-stuck', database: DB, spec: { timeout: '2s' } }),
    );
    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-stuck' },
      holdAfterEviction(world, stuck, { keepHeld: true }),
    );
    world.sim.faults.release(NS, stuck);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('StepTimeoutError');
    const failed = world.ops('failures-stuck').status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.message).toContain('rollback did not complete');
    expect(world.ops('failures-stuck').status?.phase).toBe('Failed');
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-failures-stuck`)).toBeDefined();
  });

  it('a write that keeps failing with 5xx fails the request after the retries, changing nothing and leaving nothing paused', async () => {
    const versions = () => ({
      server: world.get(KINDS.Secret, `${DB}-server-cert`)?.metadata.resourceVersion,
      // The template, not the resourceVersion: the controller writes the PetSet's status as pods come and go.
      template: JSON.stringify(world.get(KINDS.PetSet, DB)?.spec.template),
      db: JSON.stringify(world.db(DB).spec),
    });
    const before = versions();
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'failures-5xx', database: DB }));
    world.sim.faults.inject({ method: 'POST', path: /\/secrets$/, times: 7, action: { status: 503 } });

    const result = await world.run({ namespace: NS, opsRequest: 'failures-5xx' });
    world.sim.faults.reset();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('KubeUnavailableError');
    expect(
      result.events.filter((e) => e.type === 'StateRetried' && e.state?.name === 'Change certificates'),
    ).toHaveLength(6);
    expect(world.ops('failures-5xx').status?.phase).toBe('Failed');
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(versions()).toEqual(before);
  });

  it('a 403 naming our IAM role fails the request with a plain sentence; the role is in the log, not in the conditions or Events', async () => {
    const FORBIDDEN =
      'secrets is forbidden: User "arn:aws:sts::123456789012:assumed-role/pxc-tls-ops-WorkflowFunctionRole-AbC/pxc-tls-ops-ChangeCertificatesFunction-XyZ" cannot create resource "secrets" in API group "" in the namespace "demo"';
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'failures-403', database: DB }));
    world.sim.faults.inject({
      method: 'POST',
      path: /\/secrets$/,
      times: 1,
      action: { status: 403, message: FORBIDDEN },
    });
    const logsFrom = world.logs.length;

    const result = await world.run({ namespace: NS, opsRequest: 'failures-403' });
    world.sim.faults.reset();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('KubeForbiddenError');
    const ops = world.ops('failures-403');
    expect(ops.status?.phase).toBe('Failed');
    const failed = ops.status?.conditions?.find((c: { type: string }) => c.type === 'Failed');
    expect(failed?.message).toMatch(
      /The functions' identity is not allowed to do this: apply k8s\/rbac\.yaml[^[]*$/,
    );
    const events = world.sim.store
      .list<{ involvedObject: { name: string } }>('v1', 'Event', NS)
      .filter((e) => e.involvedObject.name === 'failures-403');
    expect(events.length).toBeGreaterThan(0);
    const seen = JSON.stringify([ops, events]);
    expect(seen).not.toContain('arn:aws:sts');
    expect(seen).not.toContain('is forbidden');
    expect(world.logs.slice(logsFrom).join('')).toContain('assumed-role/pxc-tls-ops-WorkflowFunctionRole');
  });

  it('an OpsRequest deleted mid-run: the execution fails, the database is still resumed and nothing is left behind', async () => {
    const before = serial(world, 'server');
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'failures-deleted', database: DB }));

    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-deleted' },
      {
        wrapTask: (state, fn) =>
          state !== 'Restart pod'
            ? fn
            : async (input) => {
                if ((input as { pod?: { index?: number } }).pod?.index === 1) {
                  world.sim.store.delete(
                    KINDS.PerconaXtraDBOpsRequest.apiVersion,
                    'PerconaXtraDBOpsRequest',
                    NS,
                    'failures-deleted',
                  );
                }
                return fn(input);
              },
      },
    );

    expect(result.status).toBe('FAILED');
    expect(result.cause).toMatch(/failures-deleted not found/);
    // The pods kept restarting (they do not read the request), so the new certificates stay: they are all in use.
    expect(serial(world, 'server')).not.toBe(before);
    for (const i of [0, 1, 2]) expect(podReady(world, `${DB}-${i}`), `${DB}-${i}`).toBe(true);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-failures-deleted`)).toBeUndefined();
  });
  it('a pod held NotReady in the second pass of a CA change: after the rollback every pod is Ready again', async () => {
    // Pass 2 hands out certificates from the new CA; a pod restored to the old state must still
    // trust the peers that already restarted with them, or the rollback itself would strand it.
    const db = 'px-failures-ca';
    await world.createDatabase({ name: db });
    await addTls(world, db, 'failures-ca-add');
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'failures-ca-pass2',
        database: db,
        spec: { timeout: '3s' },
      }),
    );
    const serverSerial = inspectTlsSecret({
      'tls.crt': secretPem(world, `${db}-server-cert`, 'tls.crt'),
    }).serial;
    const held = `${db}-1`;
    const hold = holdAfterEviction(world, held, { nth: 2 });

    const result = await world.run({ namespace: NS, opsRequest: 'failures-ca-pass2' }, hold);

    // Pass 1, pass 2, and the rollback's replacement (through the Eviction API too).
    expect(hold.evictions()).toBe(3);
    expect(result.status).toBe('FAILED');
    const failed = world.ops('failures-ca-pass2').status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.message).toContain('rolled back');
    expect(inspectTlsSecret({ 'tls.crt': secretPem(world, `${db}-server-cert`, 'tls.crt') }).serial).toBe(
      serverSerial,
    );
    expect(world.db(db).spec.tls?.issuerRef?.name).toBe('px-issuer');
    for (const i of [0, 1, 2]) expect(podReady(world, `${db}-${i}`), `${db}-${i}`).toBe(true);
    expect(world.db(db).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  });
  it('rollback of a failed requireSSL change restores spec.requireSSL and --require-secure-transport', async () => {
    expect(world.db(DB).spec.requireSSL).toBe(true);
    expect(wiringArgs(world, DB)).toContain('--require-secure-transport=ON');
    world.createOps(opsRequestFrom('pxcops-require-ssl-off', { name: 'failures-ssl-off', database: DB }));
    failEvictionOf(world, `${DB}-1`);

    const result = await world.run({ namespace: NS, opsRequest: 'failures-ssl-off' });
    world.sim.faults.reset();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('KubeUnavailableError');
    expect(
      world.ops('failures-ssl-off').status?.conditions?.find((c) => c.type === 'Failed')?.message,
    ).toContain('rolled back');
    expect(world.db(DB).spec.requireSSL).toBe(true);
    expect(wiringArgs(world, DB)).toContain('--require-secure-transport=ON');
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  });

  it('rollback of a failed add TLS deletes the certificate Secrets the request created (they hold private keys)', async () => {
    const db = 'px-failures-plain';
    await world.createDatabase({ name: db });
    const names = ['server', 'client', 'metrics-exporter'].map((a) => `${db}-${a}-cert`);
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'failures-plain-add', database: db }));
    failEvictionOf(world, `${db}-1`);
    // The Secrets were written: the first pod restarted with them before the second eviction failed.
    let written: string[] = [];
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Roll back'
        ? fn
        : async (input) => {
            written = names.filter((n) => world.get(KINDS.Secret, n));
            return fn(input);
          };

    const result = await world.run({ namespace: NS, opsRequest: 'failures-plain-add' }, { wrapTask });
    world.sim.faults.reset();

    expect(result.status).toBe('FAILED');
    expect(written).toEqual(names);
    for (const name of names) expect(world.get(KINDS.Secret, name), name).toBeUndefined();
    expect(world.db(db).spec.tls).toBeUndefined();
    expect(wiringArgs(world, db).some((a) => a.startsWith('--ssl-'))).toBe(false);
    expect(world.get(KINDS.Secret, `${db}-tls-backup-failures-plain-add`)).toBeUndefined();
    expect(world.db(db).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  });

  it('a duplicate execution that fails restores nothing of the request another execution claimed', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'failures-dup', database: DB }));
    // What the claiming execution has done by its first restart, as the cluster shows it.
    const snapshot = () => ({
      secrets: ['server', 'client', 'metrics-exporter'].map(
        (a) => world.get(KINDS.Secret, `${DB}-${a}-cert`)?.data,
      ),
      backup: world.get(KINDS.Secret, `${DB}-tls-backup-failures-dup`)?.data,
      spec: world.db(DB).spec,
      paused: world.db(DB).status?.conditions?.find((c) => c.type === 'Paused')?.message,
      ops: {
        annotations: world.ops('failures-dup').metadata.annotations,
        status: world.ops('failures-dup').status,
      },
      pods: podUids(world, DB),
    });
    let duplicate: RunResult | undefined;
    let before: ReturnType<typeof snapshot> | undefined;
    let after: ReturnType<typeof snapshot> | undefined;
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Restart pod'
        ? fn
        : async (input) => {
            if (!duplicate) {
              before = snapshot();
              // A second trigger of the same request meets a flaky API server and fails in Validate.
              world.sim.faults.inject({
                method: 'GET',
                path: /\/perconaxtradbopsrequests\/failures-dup$/,
                times: 7,
                action: { status: 503 },
              });
              duplicate = await world.run(
                { namespace: NS, opsRequest: 'failures-dup' },
                { executionName: 'failures-dup-second' },
              );
              after = snapshot();
            }
            return fn(input);
          };

    const first = await world.run(
      { namespace: NS, opsRequest: 'failures-dup' },
      { executionName: 'failures-dup-first', wrapTask },
    );

    expect(duplicate?.status).toBe('FAILED');
    expect(duplicate?.error).toBe('KubeUnavailableError');
    expect(before?.backup).toBeDefined();
    expect(before?.paused).toContain('failures-dup');
    expect(before?.ops.annotations?.[CLAIM_ANNOTATION]).toBe('failures-dup-first');
    expect(after).toEqual(before);
    expect(first.status, first.cause).toBe('SUCCEEDED');
    expect(world.ops('failures-dup').status?.phase).toBe('Successful');
  });

  describe('transient refusals are retried, not failed', () => {
    it('an eviction refused with 429 by the PodDisruptionBudget is retried until the budget allows it', async () => {
      const down = `${DB}-2`;
      // Another pod is down, so the budget (maxUnavailable 1) refuses the first eviction; it comes
      // back once the refusal has been seen.
      world.sim.faults.holdNotReady(NS, down);
      let refusals = 0;
      const evict: Kube['evict'] = async (ref, o) => {
        try {
          return await world.kube.evict(ref, o);
        } catch (err) {
          if ((err as Error).name === 'KubeThrottledError' && ++refusals === 1)
            world.sim.faults.release(NS, down);
          throw err;
        }
      };
      const kube = new Proxy(world.kube, {
        get: (target, key) => (key === 'evict' ? evict : Reflect.get(target, key, target).bind(target)),
      });
      // apply: Always, since IfReady refuses to start while a pod is not Ready (issue 10).
      world.createOps(
        opsRequestFrom('pxcops-rotate', { name: 'failures-pdb', database: DB, spec: { apply: 'Always' } }),
      );
      world.sim.requests.reset();

      const result = await world.run({ namespace: NS, opsRequest: 'failures-pdb' }, { kube });

      expect(refusals).toBeGreaterThanOrEqual(1);
      expect(world.sim.requests.all().some((r) => r.verb === 'evict' && r.status === 429)).toBe(true);
      expect(result.status, result.cause).toBe('SUCCEEDED');
      // A budget's refusal is waited out in the ASL (Wait to evict → Restart pod), not a retried error.
      expect(
        result.events.filter((e) => e.type === 'StateEntered' && e.state?.name === 'Wait to evict').length,
      ).toBeGreaterThanOrEqual(1);
      expect(evictions(world)).toEqual({ [`${DB}-0`]: 1, [`${DB}-1`]: 1, [`${DB}-2`]: 1 });
      expect(world.ops('failures-pdb').status?.phase).toBe('Successful');
      // The Event says which budget and why in our words; the API server's own text is only logged.
      const blocked = world.sim.store
        .list<{ reason: string; message: string; involvedObject: { name: string } }>('v1', 'Event', NS)
        .filter((e) => e.involvedObject.name === 'failures-pdb' && e.reason === 'EvictionBlocked');
      expect(blocked.map((e) => e.message)).toEqual([expect.stringContaining('PodDisruptionBudget')]);
      expect(blocked[0]!.message).not.toMatch(/\[API|The disruption budget .* needs/);
    });

    it('a retried Restart pod does not evict again the pod that already came back with a new UID', async () => {
      world.createOps(opsRequestFrom('pxcops-rotate', { name: 'failures-lost-answer', database: DB }));
      world.sim.requests.reset();
      let lost = 0;
      // The first Restart pod of the second pod does its work, then its answer is lost (a Lambda
      // service error), so Step Functions runs it again.
      const wrapTask = (state: string, fn: TaskFn): TaskFn =>
        state !== 'Restart pod'
          ? fn
          : async (input) => {
              const out = await fn(input);
              if ((input as { pod?: { index?: number } }).pod?.index === 1 && lost++ === 0) {
                expect((out as { ready?: boolean }).ready).toBe(true);
                throw Object.assign(new Error('the function answered, the answer was lost'), {
                  name: 'Lambda.ServiceException',
                });
              }
              return out;
            };

      const result = await world.run({ namespace: NS, opsRequest: 'failures-lost-answer' }, { wrapTask });

      expect(result.status, result.cause).toBe('SUCCEEDED');
      expect(lost).toBe(2);
      expect(
        result.events.filter((e) => e.type === 'StateRetried' && e.state?.name === 'Restart pod'),
      ).toHaveLength(1);
      expect(evictions(world)).toEqual({ [`${DB}-0`]: 1, [`${DB}-1`]: 1, [`${DB}-2`]: 1 });
    });
  });
});
