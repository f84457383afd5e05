/**
 * On a real cluster KubeDB's ops webhook removes the database's `Paused` condition when any
 * OpsRequest of the database completes, whoever set it; its provisioner then reconciles the
 * database in the middle of our change. Change certificates, Restart pod and Reload pods therefore
 * act only while the pause is still this request's, and otherwise stop: rolled back, Failed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import { RESTART_MODE_ANNOTATION } from '../../functions/model/names.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, evictions, NS, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-pause-lost';

/** What KubeDB's ops webhook does when some other OpsRequest of the database completes. */
function resumeBehindOurBack(world: World): void {
  const db = world.db(DB);
  world.sim.store.put({
    ...db,
    status: { ...db.status, conditions: (db.status?.conditions ?? []).filter((c) => c.type !== 'Paused') },
  });
}

function serverSerial(world: World): string {
  return inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt') }).serial;
}

function loadedSerials(world: World): Record<string, string | undefined> {
  return Object.fromEntries(
    [0, 1, 2].map((i) => [`${DB}-${i}`, world.sim.mysqld.view(NS, `${DB}-${i}`)?.server?.serial]),
  );
}

function failedMessage(world: World, ops: string): string | undefined {
  return world.ops(ops).status?.conditions?.find((c) => c.type === 'Failed')?.message;
}

function podReady(world: World, name: string): boolean {
  return !!world
    .get(KINDS.Pod, name)
    ?.status?.conditions?.some(
      (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
    );
}

describe('A request whose pause is lost mid-change stops and rolls back', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'pause-lost-add');
  });
  afterAll(async () => {
    await world?.stop();
  });
  beforeEach(() => {
    world.sim.requests.reset();
    world.sim.faults.reset();
  });

  it('Restart pod evicts no pod once the database has been resumed under it', async () => {
    const before = serverSerial(world);
    // The first pod's eviction goes through; right after it, another request completes and the
    // webhook resumes the database.
    let lost = false;
    const evict: Kube['evict'] = async (ref, o) => {
      const evicted = await world.kube.evict(ref, o);
      if (!lost) {
        resumeBehindOurBack(world);
        lost = true;
      }
      return evicted;
    };
    const kube = new Proxy(world.kube, {
      get: (target, key) => (key === 'evict' ? evict : Reflect.get(target, key, target).bind(target)),
    });
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'pause-lost-restart', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'pause-lost-restart' }, { kube });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PauseLostError');
    expect(world.ops('pause-lost-restart').status?.phase).toBe('Failed');
    expect(failedMessage(world, 'pause-lost-restart')).toMatch(
      new RegExp(`PerconaXtraDB ${NS}/${DB} is no longer Paused .*does not evict pod ${DB}-1`),
    );
    // Only the first pod was evicted: none after the pause was lost.
    expect(evictions(world)[`${DB}-1`]).toBeUndefined();
    expect(evictions(world)[`${DB}-2`]).toBeUndefined();
    // Rolled back: the certificates are the ones from before the request, every pod Ready.
    expect(serverSerial(world)).toBe(before);
    for (const i of [0, 1, 2]) expect(podReady(world, `${DB}-${i}`), `${DB}-${i}`).toBe(true);
  });

  it('Change certificates writes nothing on a later pass once the database has been resumed', async () => {
    const before = serverSerial(world);
    let passes = 0;
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Change certificates'
        ? fn
        : async (input) => {
            if (++passes === 2) resumeBehindOurBack(world);
            return fn(input);
          };
    world.createOps(opsRequestFrom('pxcops-change-issuer', { name: 'pause-lost-pass', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'pause-lost-pass' }, { wrapTask });

    expect(passes).toBe(2);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PauseLostError');
    expect(failedMessage(world, 'pause-lost-pass')).toMatch(
      /is no longer Paused .*does not change certificates/,
    );
    expect(serverSerial(world)).toBe(before);
    expect(world.db(DB).spec.tls?.issuerRef?.name).toBe('px-issuer');
  });

  it('Reload pods reloads no pod once the database has been resumed', async () => {
    const before = serverSerial(world);
    const loaded = loadedSerials(world);
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Reload pods'
        ? fn
        : async (input) => {
            resumeBehindOurBack(world);
            return fn(input);
          };
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'pause-lost-reload',
        database: DB,
        annotations: { [RESTART_MODE_ANNOTATION]: 'Reload' },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'pause-lost-reload' }, { wrapTask });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PauseLostError');
    expect(failedMessage(world, 'pause-lost-reload')).toMatch(
      /is no longer Paused .*does not reload TLS in pods/,
    );
    // No pod reloaded: each mysqld still serves what it served before the request.
    expect(loadedSerials(world)).toEqual(loaded);
    expect(serverSerial(world)).toBe(before);
  });
});
