/**
 * Add or remove TLS on a cluster whose Galera traffic is encrypted (`--pxc-encrypt-cluster-traffic=ON`
 * in the pods' args) is refused before anything is paused: on real servers a rolling change splits
 * the cluster (test/galera, docs/galera.md). `socket.dynamic=yes` in the pods' provider options
 * lets it through; without encryption (KubeDB's images) nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { galeraTraffic } from '../../functions/model/wiring.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, paused, podUids, startWorld, type World } from './helpers.js';

describe('Add/remove TLS on a cluster with encrypted Galera traffic', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: 'px-encrypted', args: ['--pxc-encrypt-cluster-traffic=ON'] });
    await world.createDatabase({
      name: 'px-dynamic',
      args: ['--pxc-encrypt-cluster-traffic=ON', '--wsrep-provider-options=socket.dynamic=yes'],
    });
  });
  afterAll(() => world.stop());

  it('refuses add TLS, saying the cluster would split and how to go on, before pausing or restarting anything', async () => {
    const uids = podUids(world, 'px-encrypted');
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'add-encrypted', database: 'px-encrypted' }));
    const r = await world.run({ namespace: NS, opsRequest: 'add-encrypted' });
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('DatabaseStateError');
    expect(r.cause).toMatch(/encrypts Galera traffic .*the cluster splits.*socket\.dynamic=yes/);
    expect(world.ops('add-encrypted').status?.phase).toBe('Failed');
    expect(paused(world, 'px-encrypted')).toBe(false);
    expect(podUids(world, 'px-encrypted')).toEqual(uids);
  });

  it('adds TLS when the pods let Galera accept both (socket.dynamic=yes)', async () => {
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'add-dynamic', database: 'px-dynamic' }));
    const r = await world.run({ namespace: NS, opsRequest: 'add-dynamic' });
    expect(r.status, r.cause).toBe('SUCCEEDED');
  });

  it('reads the args as Galera does', () => {
    expect(galeraTraffic(['--pxc-encrypt-cluster-traffic=ON'])).toEqual({ encrypted: true, dynamic: false });
    expect(galeraTraffic(['--pxc_encrypt_cluster_traffic=OFF'])).toEqual({
      encrypted: false,
      dynamic: false,
    });
    expect(galeraTraffic(['--defaults-file=/etc/mysql/my.cnf'])).toEqual({
      encrypted: false,
      dynamic: false,
    });
    expect(
      galeraTraffic([
        '--pxc-encrypt-cluster-traffic=1',
        '--wsrep_provider_options=gcache.size=1G; socket.dynamic = YES',
      ]),
    ).toEqual({ encrypted: true, dynamic: true });
  });
});
