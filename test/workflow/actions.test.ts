import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import { bundleTrusts, chainsTo, inspectTlsSecret } from '../../functions/pki/index.js';
import { type CaIssuer, createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-actions';
const ALIASES = ['server', 'client', 'metrics-exporter'];

interface PodLike {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  status?: { conditions?: Array<{ type: string; status: string }> };
  spec: {
    volumes?: Array<{ name: string }>;
    containers: Array<{ name: string; args?: string[]; volumeMounts?: Array<{ name: string }> }>;
  };
}

function dbPods(world: World): PodLike[] {
  return world.sim.store
    .list<PodLike>('v1', 'Pod', NS)
    .filter((p) => p.metadata.labels?.['app.kubernetes.io/instance'] === DB);
}

function template(world: World) {
  const petset = world.get(KINDS.PetSet, DB);
  return petset.spec.template.spec as PodLike['spec'];
}

describe('ReconfigureTLS: update, change issuer, requireSSL, remove', () => {
  let world: World;
  let newCa: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    newCa = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'actions-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('updates certificate fields: the server certificate carries the new email address, pods restart on it', async () => {
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-update', { name: 'actions-update', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'actions-update' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const server = inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt') });
    expect(server.emailAddresses).toContain('dba@example.com');
    expect(server.dnsNames).toContain('localhost'); // kept from the add request
    const cert = world.db(DB).spec.tls?.certificates?.find((c) => c.alias === 'server');
    expect(cert?.emailAddresses).toEqual(['dba@example.com']);
    const after = podUids(world, DB);
    expect(Object.keys(before)).toHaveLength(3);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const pod of Object.keys(before)) expect(after[pod], pod).not.toBe(before[pod]);
  });

  it('changes the issuer in two passes: every pod ends on the new CA and no pod was ever refused by a peer', async () => {
    world.createOps(opsRequestFrom('pxcops-change-issuer', { name: 'actions-issuer', database: DB }));
    const restarts: string[] = [];

    const result = await world.run(
      { namespace: NS, opsRequest: 'actions-issuer' },
      {
        onProgress: (p) =>
          p.event === 'entered' && p.state === 'Restart pod' && p.pod && restarts.push(p.pod.name),
      },
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(restarts).toHaveLength(6); // two passes over three pods
    for (const alias of ALIASES) {
      const crt = secretPem(world, `${DB}-${alias}-cert`, 'tls.crt')!;
      expect(chainsTo(crt, newCa.certPem), alias).toBe(true);
      const bundle = secretPem(world, `${DB}-${alias}-cert`, 'ca.crt')!;
      expect(bundleTrusts(bundle, crt), alias).toBe(true);
    }
    expect(world.db(DB).spec.tls?.issuerRef).toMatchObject({ kind: 'ClusterIssuer', name: 'px-new-ca' });
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
    expect(
      dbPods(world)
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['px-actions-0', 'px-actions-1', 'px-actions-2']);
  });

  it('the next rotation drops the old CA from ca.crt', async () => {
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'actions-rotate-after', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'actions-rotate-after' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    for (const alias of ALIASES) {
      const bundle = secretPem(world, `${DB}-${alias}-cert`, 'ca.crt')!;
      expect(bundle.match(/BEGIN CERTIFICATE/g), alias).toHaveLength(1);
      expect(bundleTrusts(bundle, newCa.certPem), alias).toBe(true);
      expect(bundleTrusts(bundle, world.issuer.certPem), alias).toBe(false);
    }
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('turns requireSSL off: TLS stays, the pods no longer require secure transport', async () => {
    world.createOps(opsRequestFrom('pxcops-require-ssl-off', { name: 'actions-ssl-off', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'actions-ssl-off' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.db(DB).spec.requireSSL).toBe(false);
    expect(world.db(DB).spec.tls?.issuerRef?.name).toBe('px-new-ca');
    const db = template(world).containers.find((c) => c.name === 'perconaxtradb')!;
    expect(db.args).not.toContain('--require-secure-transport=ON');
    expect(db.args).toContain('--ssl-ca=/etc/mysql/certs/server/ca.crt');
    expect(dbPods(world)).toHaveLength(3);
    for (const p of dbPods(world)) {
      const c = p.spec.containers.find((x) => x.name === 'perconaxtradb')!;
      expect(c.args, p.metadata.name).not.toContain('--require-secure-transport=ON');
    }
  });

  it('removes TLS: the certificate Secrets are deleted only once every pod runs without them', async () => {
    world.createOps(opsRequestFrom('pxcops-remove-tls', { name: 'actions-remove', database: DB }));
    const before = podUids(world, DB);
    expect(Object.keys(before)).toHaveLength(3);
    const certSecrets = ALIASES.map((a) => `${DB}-${a}-cert`);
    // At each delete of a certificate Secret: the pods as they are at that moment.
    const atDelete: Array<{
      secret: string;
      pods: Array<{ name: string; restarted: boolean; mounts: boolean; ready: boolean }>;
    }> = [];
    const remove: Kube['delete'] = async (kind, ref, opts) => {
      if (kind.kind === 'Secret' && certSecrets.includes(ref.name)) {
        atDelete.push({
          secret: ref.name,
          pods: dbPods(world).map((p) => ({
            name: p.metadata.name,
            restarted: p.metadata.uid !== before[p.metadata.name],
            mounts: p.spec.volumes?.some((v) => v.name === 'tls-server-config') ?? false,
            ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          })),
        });
      }
      return world.kube.delete(kind, ref, opts);
    };
    const kube = new Proxy(world.kube, {
      get: (target, key) => (key === 'delete' ? remove : Reflect.get(target, key, target).bind(target)),
    });

    const result = await world.run({ namespace: NS, opsRequest: 'actions-remove' }, { kube });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.ops('actions-remove').status?.phase).toBe('Successful');
    for (const { secret, pods } of atDelete) {
      expect(pods, secret).toHaveLength(3);
      for (const pod of pods)
        expect(pod, `${pod.name} when ${secret} was deleted`).toMatchObject({
          restarted: true,
          mounts: false,
          ready: true,
        });
    }
    expect([...new Set(atDelete.map((d) => d.secret))].sort()).toEqual([...certSecrets].sort());
    expect(world.db(DB).spec.tls).toBeUndefined();
    expect(world.db(DB).spec.requireSSL).toBe(false);
    const pods = dbPods(world);
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.spec.volumes?.map((v) => v.name) ?? [], p.metadata.name).not.toContain('tls-server-config');
      const c = p.spec.containers.find((x) => x.name === 'perconaxtradb')!;
      expect(c.volumeMounts?.map((m) => m.name) ?? []).not.toContain('tls-server-config');
      expect(c.args?.some((a) => a.startsWith('--ssl-')) ?? false).toBe(false);
    }
    for (const name of certSecrets) expect(world.get(KINDS.Secret, name), name).toBeUndefined();
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-actions-remove`)).toBeUndefined();
  });
});
