import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Issued, issueCert, makeCa, rsaKeys } from '../../local/sim/ca.js';
import {
  ALIASES,
  type CertAlias,
  createPerconaXtraDB,
  type PemSet,
  tlsSecret,
  waitForPodsReady,
} from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { eventually, isReady, startFast } from './helpers.js';

/**
 * The kubelet stand-in's readiness: each TLS failure mode keeps the pod NotReady with a reason and
 * a message saying why, and each test here fails if its check is removed (the pod would turn
 * Ready, or fail for another reason).
 */
describe('Kubelet TLS readiness', () => {
  let sim: Simulator;
  let ca1: Issued;
  let ca2: Issued;
  let leaf1: Issued;
  let leaf2: Issued;
  let n = 0;
  beforeAll(async () => {
    sim = await startFast();
    ca1 = makeCa('px-ca-old');
    ca2 = makeCa('px-ca-new');
    leaf1 = issueCert(ca1, 'sample-pxc.demo.svc');
    leaf2 = issueCert(ca2, 'sample-pxc.demo.svc');
  });
  afterAll(async () => {
    await sim.stop();
  });

  const pem = (ca: Issued, leaf: Issued): PemSet => ({
    caPem: ca.certPem,
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
  });
  const allAliases = (p: PemSet) =>
    Object.fromEntries(ALIASES.map((a) => [a, p])) as Record<CertAlias, PemSet>;
  const fresh = () => `tls-${++n}`;
  const pod = (ns: string, name: string) => sim.store.get<J>('v1', 'Pod', ns, name);
  const readyCondition = (p: J) => p?.status?.conditions?.find((c: J) => c.type === 'Ready');

  /** Waits until the pod has started (Running) and returns its Ready condition. */
  async function startedCondition(ns: string, name: string): Promise<J> {
    return eventually(() => {
      const p = pod(ns, name);
      return p?.status?.phase === 'Running' ? readyCondition(p) : undefined;
    });
  }

  function dbWith(secrets: Partial<Record<CertAlias, PemSet>>, name = fresh()) {
    return createPerconaXtraDB(sim, { namespace: 'demo', name, replicas: 3, tls: { secrets } });
  }

  it('makes a pod with complete, valid TLS Secrets Ready', async () => {
    const db = dbWith(allAliases(pem(ca1, leaf1)));
    await waitForPodsReady(sim, 'demo', db.podNames);
    expect(db.podNames.map((p) => isReady(pod('demo', p)))).toEqual([true, true, true]);
  });

  it('keeps a pod without TLS args Ready without any Secret', async () => {
    const db = createPerconaXtraDB(sim, { namespace: 'demo', name: fresh() });
    await waitForPodsReady(sim, 'demo', db.podNames);
    expect(pod('demo', db.podNames[0]!).spec.containers[0].args.join(' ')).not.toContain('--ssl');
  });

  it('keeps a pod NotReady when a mounted Secret is missing', async () => {
    const { server, client } = allAliases(pem(ca1, leaf1));
    const db = dbWith({ server, client });
    const cond = await startedCondition('demo', db.podNames[0]!);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSSecretMissing' });
    expect(cond.message).toBe(
      `tls: secret demo/${db.database.metadata.name}-metrics-exporter-cert not found`,
    );
  });

  it('keeps a pod NotReady when a Secret lacks one of ca.crt, tls.crt, tls.key', async () => {
    const name = fresh();
    const db = dbWith(allAliases(pem(ca1, leaf1)), name);
    const broken = tlsSecret('demo', `${name}-server-cert`, pem(ca1, leaf1));
    delete broken.data['tls.key'];
    sim.store.put(broken);
    sim.store.delete('v1', 'Pod', 'demo', db.podNames[0]!);
    const cond = await eventually(() => {
      const p = pod('demo', db.podNames[0]!);
      return p?.status?.phase === 'Running' && readyCondition(p)?.reason !== 'Terminating'
        ? readyCondition(p)
        : undefined;
    });
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSKeyMissing' });
    expect(cond.message).toContain(`secret demo/${name}-server-cert has no tls.key`);
  });

  it('keeps a pod NotReady when tls.key does not match tls.crt', async () => {
    const other = rsaKeys();
    const db = dbWith({ ...allAliases(pem(ca1, leaf1)), server: { ...pem(ca1, leaf1), keyPem: other.pem } });
    const cond = await startedCondition('demo', db.podNames[0]!);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSKeyMismatch' });
  });

  it('keeps a pod NotReady when the certificate does not chain to ca.crt', async () => {
    const db = dbWith({
      ...allAliases(pem(ca1, leaf1)),
      server: { caPem: ca2.certPem, certPem: leaf1.certPem, keyPem: leaf1.keyPem },
    });
    const cond = await startedCondition('demo', db.podNames[0]!);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSUntrustedCA' });
    expect(cond.message).toContain('px-ca-old');
  });

  it('keeps a pod NotReady when its certificate has expired', async () => {
    const expired = issueCert(ca1, 'old', {
      keys: leaf1.keys,
      notBefore: new Date(Date.now() - 10 * 24 * 3600_000),
      notAfter: new Date(Date.now() - 24 * 3600_000),
    });
    const db = dbWith({ ...allAliases(pem(ca1, leaf1)), client: pem(ca1, expired) });
    const cond = await startedCondition('demo', db.podNames[0]!);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSCertExpired' });
  });

  it('keeps a pod NotReady when its certificate is not valid yet', async () => {
    const future = issueCert(ca1, 'future', {
      keys: leaf1.keys,
      notBefore: new Date(Date.now() + 24 * 3600_000),
    });
    const db = dbWith({ ...allAliases(pem(ca1, leaf1)), server: pem(ca1, future) });
    const cond = await startedCondition('demo', db.podNames[0]!);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSCertNotYetValid' });
  });

  it('lets a NotReady pod become Ready once its Secret is fixed, as a crash-looping mysqld restarts', async () => {
    const name = fresh();
    const db = dbWith({ server: pem(ca1, leaf1), client: pem(ca1, leaf1) }, name);
    const first = db.podNames[0]!;
    const cond = await startedCondition('demo', first);
    expect(cond).toMatchObject({ status: 'False', reason: 'TLSSecretMissing' });
    expect(isReady(pod('demo', first))).toBe(false);
    const uid = pod('demo', first).metadata.uid;

    sim.store.put(tlsSecret('demo', `${name}-metrics-exporter-cert`, pem(ca1, leaf1)));
    await waitForPodsReady(sim, 'demo', db.podNames, 10_000);

    // The same pod (no one recreated it) turned Ready once the Secret was there.
    expect(pod('demo', first).metadata.uid).toBe(uid);
    expect(db.podNames.map((p) => isReady(pod('demo', p)))).toEqual([true, true, true]);
    expect(readyCondition(pod('demo', first))).toMatchObject({ status: 'True' });
  });

  describe('peers', () => {
    /** Restarts one pod and returns its Ready condition once it has started again. */
    async function restartAndCheck(podName: string): Promise<J> {
      const uid = pod('demo', podName).metadata.uid;
      sim.store.delete('v1', 'Pod', 'demo', podName);
      return eventually(() => {
        const p = pod('demo', podName);
        return p && p.metadata.uid !== uid && p.status?.phase === 'Running' ? readyCondition(p) : undefined;
      });
    }

    it('refuses a pod whose certificate its started peers do not trust (one-pass CA change)', async () => {
      const name = fresh();
      const db = dbWith(allAliases(pem(ca1, leaf1)), name);
      await waitForPodsReady(sim, 'demo', db.podNames);
      // The Secret now has the new CA and certificate; the running pods loaded the old CA at start.
      sim.store.put(
        tlsSecret('demo', `${name}-server-cert`, {
          caPem: ca1.certPem + ca2.certPem,
          certPem: leaf2.certPem,
          keyPem: leaf2.keyPem,
        }),
      );
      const cond = await restartAndCheck(`${name}-2`);
      expect(cond).toMatchObject({ status: 'False', reason: 'PeerNotTrusted' });
      expect(cond.message).toMatch(/^tls: peer demo\/.+-[01] does not trust this pod's certificate/);
      expect(sim.readiness().some((r) => r.pod === `${name}-2` && r.reason === 'PeerNotTrusted')).toBe(true);
      expect(isReady(pod('demo', `${name}-0`))).toBe(true);
    });

    it("refuses a pod that does not trust its started peers' certificates", async () => {
      const name = fresh();
      const bundle = ca1.certPem + ca2.certPem;
      const db = dbWith(
        {
          ...allAliases(pem(ca1, leaf1)),
          server: { caPem: bundle, certPem: leaf1.certPem, keyPem: leaf1.keyPem },
        },
        name,
      );
      await waitForPodsReady(sim, 'demo', db.podNames);
      // Peers trust both CAs; the restarted pod trusts only the new one and the peers present old.
      sim.store.put(tlsSecret('demo', `${name}-server-cert`, pem(ca2, leaf2)));
      const cond = await restartAndCheck(`${name}-1`);
      expect(cond).toMatchObject({ status: 'False', reason: 'PeerNotTrusted' });
      expect(cond.message).toMatch(/^tls: this pod does not trust peer demo\/.+-[02]'s certificate/);
    });

    it('accepts a CA change done in two passes: old+new CA bundle first, new certificates second', async () => {
      const name = fresh();
      const db = dbWith(allAliases(pem(ca1, leaf1)), name);
      await waitForPodsReady(sim, 'demo', db.podNames);
      const bundle = ca1.certPem + ca2.certPem;
      const restartAll = async () => {
        for (const p of db.podNames) {
          const uid = pod('demo', p).metadata.uid;
          sim.store.delete('v1', 'Pod', 'demo', p);
          await eventually(() => {
            const x = pod('demo', p);
            return x &&
              x.metadata.uid !== uid &&
              x.status?.phase === 'Running' &&
              readyCondition(x)?.reason !== 'Terminating'
              ? x
              : undefined;
          });
          await waitForPodsReady(sim, 'demo', db.podNames);
        }
      };
      sim.store.put(
        tlsSecret('demo', `${name}-server-cert`, {
          caPem: bundle,
          certPem: leaf1.certPem,
          keyPem: leaf1.keyPem,
        }),
      );
      await restartAll();
      sim.store.put(
        tlsSecret('demo', `${name}-server-cert`, {
          caPem: bundle,
          certPem: leaf2.certPem,
          keyPem: leaf2.keyPem,
        }),
      );
      await restartAll();
      const refused = sim
        .readiness()
        .filter((r) => r.pod.startsWith(`${name}-`) && r.reason === 'PeerNotTrusted');
      expect(refused).toEqual([]);
    });
  });

  describe('what a started pod loaded', () => {
    it('keeps a running pod on the certificates it loaded at start, even when its Secret changes', async () => {
      const name = fresh();
      const db = dbWith(allAliases(pem(ca1, leaf1)), name);
      await waitForPodsReady(sim, 'demo', db.podNames);
      // A Secret the pod could not start with; it has not restarted, so it never reads it.
      sim.store.put(
        tlsSecret('demo', `${name}-server-cert`, {
          caPem: ca2.certPem,
          certPem: leaf1.certPem,
          keyPem: leaf1.keyPem,
        }),
      );
      sim.faults.holdNotReady('demo', `${name}-0`);
      sim.faults.release('demo', `${name}-0`);
      await waitForPodsReady(sim, 'demo', db.podNames);
      const restarted = await (async () => {
        const uid = pod('demo', `${name}-0`).metadata.uid;
        sim.store.delete('v1', 'Pod', 'demo', `${name}-0`);
        return eventually(() => {
          const p = pod('demo', `${name}-0`);
          return p && p.metadata.uid !== uid && p.status?.phase === 'Running' ? readyCondition(p) : undefined;
        });
      })();
      expect(restarted.reason).toBe('TLSUntrustedCA');
    });
  });

  describe('holdNotReady', () => {
    it('keeps a pod NotReady across recreation until released', async () => {
      const db = createPerconaXtraDB(sim, { namespace: 'demo', name: fresh() });
      await waitForPodsReady(sim, 'demo', db.podNames);
      const target = db.podNames[1]!;
      sim.faults.holdNotReady('demo', target, 'held for the test');
      expect(readyCondition(pod('demo', target))).toMatchObject({
        status: 'False',
        reason: 'HeldNotReady',
        message: 'held for the test',
      });
      const uid = pod('demo', target).metadata.uid;
      sim.store.delete('v1', 'Pod', 'demo', target);
      const recreated = await eventually(() => {
        const p = pod('demo', target);
        return p && p.metadata.uid !== uid && p.status?.phase === 'Running' ? p : undefined;
      });
      expect(readyCondition(recreated).reason).toBe('HeldNotReady');
      sim.faults.release('demo', target);
      await waitForPodsReady(sim, 'demo', db.podNames);
    });
  });
});
