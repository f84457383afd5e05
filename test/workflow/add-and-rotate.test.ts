import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { chainsTo, inspectTlsSecret } from '../../functions/pki/index.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, PRIVATE_KEY, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'sample-pxc';
const ALIASES = ['server', 'client', 'metrics-exporter'];

describe('ReconfigureTLS: add TLS, then rotate', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('adds TLS: Secrets from the issuer, spec and pod wiring updated, every pod restarted and Ready', async () => {
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-add-tls', { database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'pxops-add-tls' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(world.ops('pxops-add-tls').status?.phase).toBe('Successful');
    for (const alias of ALIASES) {
      const crt = secretPem(world, `${DB}-${alias}-cert`, 'tls.crt');
      expect(crt && chainsTo(crt, world.issuer.certPem), alias).toBe(true);
    }
    const db = world.db(DB);
    expect(db.spec.tls?.issuerRef?.name).toBe('px-issuer');
    expect(db.spec.requireSSL).toBe(true);
    expect(db.status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    const petset = world.get(KINDS.PetSet, DB);
    const container = petset.spec.template.spec.containers.find(
      (c: { name: string }) => c.name === 'perconaxtradb',
    );
    expect(container.args).toContain('--require-secure-transport=ON');
    expect(container.env).toContainEqual({ name: 'SSL_ENABLED', value: 'true' });
    const after = podUids(world, DB);
    expect(Object.keys(before)).toHaveLength(3);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const pod of Object.keys(before)) expect(after[pod], pod).not.toBe(before[pod]);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('rotates: every certificate gets a new serial from the same CA and every pod restarts on it', async () => {
    const serials = Object.fromEntries(
      ALIASES.map((a) => [
        a,
        inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-${a}-cert`, 'tls.crt') }).serial,
      ]),
    );
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-rotate', { database: DB }));
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'pxops-rotate' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const ops = world.ops('pxops-rotate');
    expect(ops.status?.phase).toBe('Successful');
    const types = ops.status?.conditions?.map((c) => c.type) ?? [];
    expect(Object.keys(before)).toHaveLength(3);
    for (const pod of Object.keys(before)) {
      expect(types).toEqual(
        expect.arrayContaining([`EvictPod--${pod}`, `GetPod--${pod}`, `CheckPodRunning--${pod}`]),
      );
    }
    expect(types).toEqual(
      expect.arrayContaining([
        'Running',
        'DatabasePauseSucceeded',
        'IssueCertificatesSucceeded',
        'RestartPods',
        'Successful',
      ]),
    );
    expect(ops.status?.conditions?.every((c) => c.observedGeneration === ops.metadata.generation)).toBe(true);
    // kubectl describe pxcops: a core Event per step, attached to the request by UID.
    const events = world.sim.store
      .list<{ reason: string; message: string; involvedObject: { name: string; uid?: string } }>(
        'v1',
        'Event',
        NS,
      )
      .filter((e) => e.involvedObject.name === 'pxops-rotate');
    expect(events.every((e) => e.involvedObject.uid === ops.metadata.uid)).toBe(true);
    expect(events.map((e) => e.reason).sort()).toEqual(
      [
        'Starting',
        'PauseDatabase',
        'IssueCertificates',
        'Starting',
        'Starting',
        'Starting',
        'PodReady',
        'PodReady',
        'PodReady',
        'Successful',
      ].sort(),
    );
    expect(events.find((e) => e.reason === 'PauseDatabase')?.message).toBe(
      `Pausing PerconaXtraDB database: ${NS}/${DB}`,
    );
    for (const alias of ALIASES) {
      const crt = secretPem(world, `${DB}-${alias}-cert`, 'tls.crt')!;
      expect(inspectTlsSecret({ 'tls.crt': crt }).serial, alias).not.toBe(serials[alias]);
      expect(chainsTo(crt, world.issuer.certPem), alias).toBe(true);
    }
    const after = podUids(world, DB);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const pod of Object.keys(before)) expect(after[pod], pod).not.toBe(before[pod]);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
    // Budgets the benchmark checks: transitions ≤ 12 + 6 per pod, requests ≤ 30 + 8 per pod, plus
    // what fencing costs (docs/fencing.md): one claim-tested record per eviction, and in the worst
    // case Pause's write racing the provisioner's confirmation (refused, read again, checked: 3), and
    // one read of the database per eviction: the pause must still be this request's (issue 19).
    expect(result.transitions).toBeLessThanOrEqual(12 + 6 * 3);
    expect(world.sim.requests.all().length).toBeLessThanOrEqual(30 + 10 * 3 + 3);
    expect(JSON.stringify(result.events)).not.toMatch(PRIVATE_KEY);
  });
});
