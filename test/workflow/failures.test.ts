import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import type { Plan } from '../../functions/model/plan.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { NS, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-failures';

function serial(world: World, alias: string): string {
  return inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-${alias}-cert`, 'tls.crt') }).serial;
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
  const evict: Kube['evict'] = async (ref) => {
    await world.kube.evict(ref);
    if (ref.name === pod && ++evictions === (opts.nth ?? 1)) world.sim.faults.holdNotReady(NS, pod);
  };
  const kube = new Proxy(world.kube, {
    get: (target, key) => (key === 'evict' ? evict : Reflect.get(target, key, target).bind(target)),
  });
  const wrapTask = (state: string, fn: TaskFn): TaskFn =>
    state !== 'Check restored pod' || opts.keepHeld
      ? fn
      : async (input) => {
          world.sim.faults.release(NS, pod);
          return fn(input);
        };
  return { kube, wrapTask, evictions: () => evictions };
}

describe('ReconfigureTLS failure path', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await world.createDatabase({ name: DB });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'failures-add', database: DB }));
    const added = await world.run({ namespace: NS, opsRequest: 'failures-add' });
    expect(added.status, added.cause).toBe('SUCCEEDED');
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

  it('a pod held NotReady after the change: rollback restores the old certificates, the pod comes back, the database is resumed', async () => {
    const before = Object.fromEntries(
      ['server', 'client', 'metrics-exporter'].map((a) => [a, serial(world, a)]),
    );
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'failures-held', database: DB, spec: { timeout: '3s' } }),
    );
    const held = `${DB}-1`;

    // The new pod is held NotReady from the moment the old one is evicted, until the rollback checks it.
    const result = await world.run(
      { namespace: NS, opsRequest: 'failures-held' },
      holdAfterEviction(world, held),
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('StepTimeoutError');
    const ops = world.ops('failures-held');
    expect(ops.status?.phase).toBe('Failed');
    const failed = ops.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.message).toContain(`pod ${NS}/${held}`);
    expect(failed?.message).toContain('held NotReady');
    expect(failed?.message).toContain('rolled back');
    for (const [alias, s] of Object.entries(before)) expect(serial(world, alias), alias).toBe(s);
    for (const i of [0, 1, 2]) expect(podReady(world, `${DB}-${i}`), `${DB}-${i}`).toBe(true);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-failures-held`)).toBeUndefined();
    expect(result.published.map((e) => e.DetailType)).toEqual(['PerconaXtraDBOpsRequest Failed']);
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
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'failures-ca-add', database: db }));
    expect((await world.run({ namespace: NS, opsRequest: 'failures-ca-add' })).status).toBe('SUCCEEDED');
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

    expect(hold.evictions()).toBe(2);
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
});
