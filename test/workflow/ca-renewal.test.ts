import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainsTo } from '../../functions/pki/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, secretPem, startWorld, type World } from './helpers.js';

const DB = 'sample-pxc';

describe("ReconfigureTLS: a rotation after the issuer's CA was renewed", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'pxops-add-tls');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('trusts the new CA on every pod before any pod presents a certificate from it', async () => {
    // cert-manager (or a person) renewed the CA in the Issuer's Secret: a new key, a new certificate.
    const renewed = await createCaIssuer(world.sim, {
      name: 'px-issuer',
      namespace: NS,
      commonName: 'px CA 2',
    });
    world.createOps(opsRequestFrom('pxcops-rotate', { database: DB }));
    const readinessBefore = world.sim.readiness().length;
    const restarts: string[] = [];

    const result = await world.run(
      { namespace: NS, opsRequest: 'pxops-rotate' },
      {
        onProgress: (p) =>
          p.event === 'entered' && p.state === 'Restart pod' && p.pod && restarts.push(p.pod.name),
      },
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(restarts).toHaveLength(6); // trust both CAs, then the new certificates
    const crt = secretPem(world, `${DB}-server-cert`, 'tls.crt');
    expect(crt && chainsTo(crt, renewed.certPem)).toBe(true);
    expect(
      world.sim
        .readiness()
        .slice(readinessBefore)
        .filter((r) => r.reason === 'PeerNotTrusted'),
    ).toEqual([]);
  });
});
