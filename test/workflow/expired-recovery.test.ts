/**
 * Expired certificates recover without a person: the next scan renews them and the database ends
 * Ready. The order (docs/fleet.md): an expired leaf is rotated with `apply: Always` in one pass; an
 * expired CA is replaced first in the issuer (cert-manager's CA Certificate renews it, or the scan's
 * CaRenewalNeeded said so long before), and the certificates then go out from the new CA in one pass
 * — no trust overlap with a CA that signs nothing valid any more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { createTestCA } from '../../functions/pki/index.js';
import { scanExpiry } from '../../functions/steps/scan-expiry.js';
import { silentLogger } from '../../functions/triggers/logger.js';
import { createCaIssuer } from '../../local/runner/world.js';
import { createPerconaXtraDB } from '../../local/sim/fixtures.js';
import { NS, startWorld, type World } from './helpers.js';

const DAY = 86_400_000;

async function expiredDatabase(
  world: World,
  name: string,
  ca: { certPem: string; keyPem: string },
  leafDays: [number, number],
) {
  const now = Date.now();
  const leaf = await createTestCA({
    commonName: name,
    keyType: 'ec',
    parent: ca,
    notBefore: new Date(now + leafDays[0] * DAY),
    notAfter: new Date(now + leafDays[1] * DAY),
  });
  const pem = { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
  createPerconaXtraDB(world.sim, {
    namespace: NS,
    name,
    tls: {
      issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' },
      requireSSL: true,
      secrets: { server: pem, client: pem, 'metrics-exporter': pem },
    },
  });
}

/** The scan, now, against the world's simulator; executions are run by the test, not started. */
async function scanAndRun(world: World, database: string) {
  const started: Array<{ namespace: string; opsRequest: string }> = [];
  const scan = await scanExpiry(
    {},
    {
      kube: world.kube,
      startExecution: async (_, input) => {
        started.push(input as { namespace: string; opsRequest: string });
        return { alreadyExisted: false };
      },
      recordExpiry: () => {},
      now: () => new Date(),
      logger: silentLogger,
    },
  );
  const mine = started.filter((s) => world.ops(s.opsRequest)?.spec.databaseRef.name === database);
  expect(mine, JSON.stringify(scan)).toHaveLength(1);
  const ops: PerconaXtraDBOpsRequest = world.ops(mine[0]!.opsRequest);
  expect(ops.spec.apply).toBe('Always');
  return world.run(mine[0]!);
}

const podsReady = (world: World, database: string) =>
  [0, 1, 2].map(
    (i) =>
      world
        .get(KINDS.Pod, `${database}-${i}`)
        ?.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status === 'True',
  );

describe('Expired certificates recover without a person', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('renews an expired server certificate at the next scan and the database ends Ready', async () => {
    const caSecret = world.get(KINDS.Secret, world.issuer.secretName);
    const ca = {
      certPem: world.issuer.certPem,
      keyPem: Buffer.from(caSecret.data['tls.key'], 'base64').toString(),
    };
    await expiredDatabase(world, 'leaf-expired', ca, [-91, -1]);
    await new Promise((r) => setTimeout(r, 500));
    expect(podsReady(world, 'leaf-expired')).toEqual([false, false, false]);

    const result = await scanAndRun(world, 'leaf-expired');

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(podsReady(world, 'leaf-expired')).toEqual([true, true, true]);
  });

  it('renews the certificates of a database whose CA expired, from the CA its issuer holds now, and it ends Ready', async () => {
    const now = Date.now();
    const oldCa = await createTestCA({
      commonName: 'old px CA',
      keyType: 'ec',
      notBefore: new Date(now - 400 * DAY),
      notAfter: new Date(now - DAY),
    });
    await expiredDatabase(world, 'ca-expired', oldCa, [-60, 30]);
    // cert-manager renewed the CA Certificate behind the Issuer (a new key and certificate).
    const renewed = await createCaIssuer(world.sim, {
      name: 'px-issuer',
      namespace: NS,
      commonName: 'px CA renewed',
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(podsReady(world, 'ca-expired')).toEqual([false, false, false]);

    const result = await scanAndRun(world, 'ca-expired');

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(podsReady(world, 'ca-expired')).toEqual([true, true, true]);
    const crt = world.get(KINDS.Secret, 'ca-expired-server-cert').data['ca.crt'];
    expect(Buffer.from(crt, 'base64').toString()).toContain(renewed.certPem.trim().split('\n')[1]);
  });
});
