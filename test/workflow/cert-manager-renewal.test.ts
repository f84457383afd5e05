/**
 * cert-manager's CA issuer writes `ca.crt` (the issuing CA alone) on every issuance, automatic
 * renewals included. A renewal in the middle of a change of issuer must not leave a pod starting on
 * a ca.crt that lacks the CA its peers still use: right before each eviction the workflow checks
 * the server Secret's ca.crt against the CAs the pass keeps trusted, and writes them back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleTrusts } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { type CaIssuer, createCaIssuer, issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { NS, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-cm-renew';
const CERT = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
const SERVER = `${DB}-server-cert`;

/** What cert-manager does when a Certificate reaches its renewal time: Issuing=True, reason Renewing. */
async function renewNow(world: World, certificate: string): Promise<void> {
  const before = world.sim.certManager.issuances().filter((i) => i.certificate === certificate).length;
  const cert = world.get(CERT, certificate);
  const others = (cert.status?.conditions ?? []).filter((c: { type: string }) => c.type !== 'Issuing');
  world.sim.store.put({
    ...cert,
    status: {
      ...cert.status,
      conditions: [
        ...others,
        {
          type: 'Issuing',
          status: 'True',
          reason: 'Renewing',
          message: 'Renewing certificate as renewal was scheduled',
        },
      ],
    },
  });
  // Polled with setImmediate: inside a Task the wrapper may not get a timer's turn (see the runner).
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const issued =
      world.sim.certManager.issuances().filter((x) => x.certificate === certificate).length > before;
    // Landed: the Secret's ca.crt is the issuing CA alone again.
    if (issued && !bundleTrusts(secretPem(world, SERVER, 'ca.crt')!, world.issuer.certPem)) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`cert-manager did not renew ${certificate}`);
}

describe('A cert-manager renewal during a change of issuer', () => {
  let world: World;
  let next: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    next = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-cm-renew-new' });
    await world.createDatabase({ name: DB, tls: { requireSSL: true, certManager: true } });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('between two pods of the certificates pass: the next pod still starts trusting both CAs, the request succeeds', async () => {
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'cm-renew',
        database: DB,
        tls: { issuerRef: issuerRef(next) },
      }),
    );
    // Restart pod of each pod of each pass (first try only): pass 1 restarts pods 0-2, pass 2 again.
    const seen = new Set<string>();
    let renewedCa: string | undefined;
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Restart pod'
        ? fn
        : async (input) => {
            const pod = (input as { pod: { name: string; uid: string } }).pod;
            seen.add(`${pod.name}/${pod.uid}`);
            if (seen.size === 5 && renewedCa === undefined) {
              // Pass 2, pod 0 is back on the new certificate; pod 1 is next.
              await renewNow(world, SERVER);
              renewedCa = secretPem(world, SERVER, 'ca.crt');
            }
            return fn(input);
          };

    const result = await world.run({ namespace: NS, opsRequest: 'cm-renew' }, { wrapTask });
    // The renewal did happen, and took the old CA out of ca.crt as cert-manager does.
    expect(renewedCa).toBeDefined();
    expect(bundleTrusts(renewedCa!, world.issuer.certPem)).toBe(false);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    // No pod ever started on a ca.crt that refused a peer.
    expect(world.sim.readiness().filter((x) => x.reason === 'PeerNotTrusted')).toEqual([]);
    const ca = secretPem(world, SERVER, 'ca.crt')!;
    expect(bundleTrusts(ca, next.certPem) && bundleTrusts(ca, world.issuer.certPem)).toBe(true);
  }, 30_000);
});
