/**
 * Reload mode against the kubelet as it really syncs Secret volumes (local/sim/volumes.ts,
 * `kubelet`): a running pod's files change at its periodic sync, or at once when the pod object is
 * updated. Here the periodic sync never comes within the test (10 min), so only the touch — the
 * annotation Reload pods sets on each pod — brings the files; without it every pod would wait until
 * spec.timeout and be restarted instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTART_MODE_ANNOTATION, TLS_SECRET_VERSION_ANNOTATION } from '../../functions/model/names.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import type { J } from '../../local/sim/store.js';
import { addTls, evictions, NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'kubelet-pxc';
const PODS = [`${DB}-0`, `${DB}-1`, `${DB}-2`];
const RELOAD = { [RESTART_MODE_ANNOTATION]: 'Reload' };
/** Far above what a touched pod needs, far below the periodic sync. */
const TIMEOUT = '30s';

function serverSerial(world: World): string {
  return inspectTlsSecret({
    'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt'),
  }).serial.toUpperCase();
}

function loadedSerials(world: World): Record<string, string | undefined> {
  return Object.fromEntries(PODS.map((p) => [p, world.sim.mysqld.view(NS, p)?.server?.serial]));
}

/** Each pod's touch annotation. */
function touches(world: World): Record<string, string | undefined> {
  return Object.fromEntries(
    PODS.map((p) => [
      p,
      world.sim.store.get<J>('v1', 'Pod', NS, p)?.metadata.annotations?.[TLS_SECRET_VERSION_ANNOTATION],
    ]),
  );
}

function secretVersion(world: World): string {
  return world.sim.store.get<J>('v1', 'Secret', NS, `${DB}-server-cert`)!.metadata.resourceVersion;
}

describe('Reload mode with the realistic kubelet: touching each pod syncs its volumes now', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ simulator: { kubelet: { syncPeriodMs: 600_000 } } });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'kubelet-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('rotates without a restart long before any periodic sync: each pod annotated with the Secret version it shows', async () => {
    const before = podUids(world, DB);
    const oldSerial = serverSerial(world);
    world.sim.requests.reset();
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'kubelet-rotate',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: TIMEOUT },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'kubelet-rotate' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const serial = serverSerial(world);
    expect(serial).not.toBe(oldSerial);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    expect(evictions(world)).toEqual({});
    expect(podUids(world, DB)).toEqual(before);
    expect(touches(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, secretVersion(world)])));
  });

  it('changes the issuer in three reloaded passes, each pass touching each pod once', async () => {
    const before = podUids(world, DB);
    await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'kubelet-new-ca' });
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'kubelet-change-issuer',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: TIMEOUT },
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: 'kubelet-new-ca' } },
      }),
    );
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'kubelet-change-issuer' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(evictions(world)).toEqual({});
    expect(podUids(world, DB)).toEqual(before);
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    expect(touches(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, secretVersion(world)])));
    // Once per pod per pass: three passes, three pods.
    const podPatches = world.sim.requests
      .all()
      .filter(
        (r) => r.verb === 'patch' && r.resource === 'pods' && PODS.some((p) => r.path.includes(`/pods/${p}`)),
      );
    expect(podPatches).toHaveLength(9);
  });
});
