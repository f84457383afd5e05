/**
 * Databases whose certificate Secrets cert-manager Certificates own, as KubeDB sets them up:
 * the workflow drives the Certificates, and cert-manager (the simulator's stand-in, which
 * re-issues by cert-manager's trigger policies) never undoes a result. All six actions, changes
 * of issuer that never strand a pod, issuers only cert-manager can sign with (a simulated Vault
 * PKI and a simulated AWS Private CA issuer), and a failed issuance rolled back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { bundleTrusts, chainsTo, createTestCA, inspectTlsSecret } from '../../functions/pki/index.js';
import type { RunResult } from '../../local/runner/index.js';
import { type CaIssuer, createCaIssuer, issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { signerKey } from '../../local/sim/index.js';
import { NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-cm';
const ALIASES = ['server', 'client', 'metrics-exporter'] as const;
const CERT = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
const APPBINDING = { apiVersion: 'appcatalog.appscode.com/v1alpha1', kind: 'AppBinding' };

/** What cert-manager and the workflow left: per alias the Secret's tls.crt and ca.crt. */
function secrets(world: World) {
  return Object.fromEntries(
    ALIASES.map((a) => [
      a,
      {
        crt: secretPem(world, `${DB}-${a}-cert`, 'tls.crt'),
        ca: secretPem(world, `${DB}-${a}-cert`, 'ca.crt'),
      },
    ]),
  );
}

/** The serials the last certificates pass reported having issued, by alias (what the pods restarted on). */
function reportedSerials(result: RunResult): Record<string, string> {
  const rounds = result.events
    .filter((e) => e.type === 'StateExited' && e.state?.name === 'Change certificates')
    .map(
      (e) =>
        (e.state?.output as { round?: { certificates?: Array<{ alias: string; serial: string }> } })?.round,
    )
    .filter((r) => r?.certificates?.length);
  return Object.fromEntries((rounds.at(-1)?.certificates ?? []).map((c) => [c.alias, c.serial]));
}

function currentSerials(world: World): Record<string, string> {
  return Object.fromEntries(
    ALIASES.map((a) => [
      a,
      inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-${a}-cert`, 'tls.crt') }).serial,
    ]),
  );
}

/**
 * Runs a request, then waits as long again as cert-manager needs to react, and checks that it
 * did not undo anything: no issuance after the run, the Secrets unchanged, every pod Ready and
 * never refused by a peer, and the AppBinding's caBundle = the server Secret's ca.crt.
 */
async function runAndHold(world: World, name: string) {
  const result = await world.run({ namespace: NS, opsRequest: name });
  const ended = Date.now();
  const after = secrets(world);
  await new Promise((r) => setTimeout(r, 600));
  const late = world.sim.certManager.issuances().filter((i) => i.at >= ended && i.certificate.startsWith(DB));
  return { result, late, after, now: secrets(world) };
}

/** Names of the objects of `resource` (plural) deleted since the request log was reset, in order. */
function deletes(world: World, resource: string): string[] {
  return world.sim.requests
    .all()
    .filter((q) => q.verb === 'delete' && q.resource === resource && q.status < 300)
    .map((q) => q.path.split('/').at(-1)!);
}

/** Each alias' Certificate was deleted, and before its Secret, if that was deleted since the log was reset. */
function certificatesDeletedFirst(world: World) {
  const order = world.sim.requests
    .all()
    .filter((q) => q.verb === 'delete' && q.status < 300)
    .map((q) => `${q.resource}/${q.path.split('/').at(-1)}`);
  for (const a of ALIASES) {
    const cert = order.indexOf(`certificates/${DB}-${a}-cert`);
    const secret = order.indexOf(`secrets/${DB}-${a}-cert`);
    expect(cert, `${a}: ${order.join(', ')}`).toBeGreaterThanOrEqual(0);
    expect(secret, `${a}: ${order.join(', ')}`).toBeGreaterThan(cert);
  }
}

describe('KubeDB-style Certificates: all six actions through cert-manager, never undone', () => {
  let world: World;
  let other: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    other = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-cm-new' });
    await world.createDatabase({ name: DB, tls: { requireSSL: true, certManager: true } });
  });
  afterAll(async () => {
    await world?.stop();
  });

  const stable = (r: Awaited<ReturnType<typeof runAndHold>>, issued = true) => {
    expect(r.result.status, r.result.cause).toBe('SUCCEEDED');
    expect(r.late).toEqual([]);
    // What the pods restarted on is still what the Secrets hold: cert-manager replaced nothing.
    if (issued) expect(currentSerials(world)).toEqual(reportedSerials(r.result));
    expect(r.now).toEqual(r.after);
    expect(world.sim.readiness().filter((x) => x.reason === 'PeerNotTrusted')).toEqual([]);
    const binding = world.get(APPBINDING, DB);
    const server = world.get(KINDS.Secret, `${DB}-server-cert`);
    expect(binding?.spec?.clientConfig?.caBundle).toBe(server?.data?.['ca.crt']);
  };

  it('rotates: cert-manager re-issues every Certificate (a new key), pods restart on it', async () => {
    const before = secrets(world);
    const uids = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'cm-rotate', database: DB }));

    const r = await runAndHold(world, 'cm-rotate');

    stable(r);
    for (const a of ALIASES) expect(r.now[a]!.crt, a).not.toBe(before[a]!.crt);
    for (const a of ALIASES)
      expect(world.get(CERT, `${DB}-${a}-cert`).status.revision, a).toBeGreaterThanOrEqual(2);
    const after = podUids(world, DB);
    for (const p of Object.keys(uids)) expect(after[p], p).not.toBe(uids[p]);
  });

  it('updates fields: the Certificate spec carries them, cert-manager issues the new certificate', async () => {
    world.createOps(opsRequestFrom('pxcops-update', { name: 'cm-update', database: DB }));

    const r = await runAndHold(world, 'cm-update');

    stable(r);
    expect(world.get(CERT, `${DB}-server-cert`).spec.emailAddresses).toEqual(['dba@example.com']);
    expect(r.now.server!.crt).not.toBe(undefined);
  });

  it('changes the issuer in two passes: Certificates move to the new CA, ca.crt keeps both, no pod stranded', async () => {
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'cm-issuer',
        database: DB,
        tls: { issuerRef: issuerRef(other) },
      }),
    );
    const restarts: string[] = [];

    const result = await world.run(
      { namespace: NS, opsRequest: 'cm-issuer' },
      {
        onProgress: (p) =>
          p.event === 'entered' && p.state === 'Restart pod' && p.pod && restarts.push(p.pod.name),
      },
    );
    const ended = Date.now();
    await new Promise((r) => setTimeout(r, 600));

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(restarts).toHaveLength(6);
    for (const a of ALIASES) {
      expect(world.get(CERT, `${DB}-${a}-cert`).spec.issuerRef).toEqual({
        group: 'cert-manager.io',
        kind: 'ClusterIssuer',
        name: 'px-cm-new',
      });
      const crt = secretPem(world, `${DB}-${a}-cert`, 'tls.crt')!;
      expect(chainsTo(crt, other.certPem), a).toBe(true);
      const ca = secretPem(world, `${DB}-${a}-cert`, 'ca.crt')!;
      expect(bundleTrusts(ca, other.certPem) && bundleTrusts(ca, world.issuer.certPem), a).toBe(true);
    }
    expect(world.sim.certManager.issuances().filter((i) => i.at >= ended)).toEqual([]);
    expect(world.sim.readiness().filter((x) => x.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('turns requireSSL off: nothing to issue, nothing undone', async () => {
    const issued = world.sim.certManager.issuances().length;
    world.createOps(opsRequestFrom('pxcops-require-ssl-off', { name: 'cm-ssl', database: DB }));

    const r = await runAndHold(world, 'cm-ssl');

    stable(r, false);
    expect(world.sim.certManager.issuances()).toHaveLength(issued);
  });

  it('removes TLS: the Certificates go before their Secrets, and no Secret comes back', async () => {
    world.createOps(opsRequestFrom('pxcops-remove-tls', { name: 'cm-remove', database: DB }));
    world.sim.requests.reset();

    const r = await runAndHold(world, 'cm-remove');

    certificatesDeletedFirst(world);
    expect(r.result.status, r.result.cause).toBe('SUCCEEDED');
    expect(r.late).toEqual([]);
    for (const a of ALIASES) {
      expect(world.get(CERT, `${DB}-${a}-cert`), a).toBeUndefined();
      expect(world.get(KINDS.Secret, `${DB}-${a}-cert`), a).toBeUndefined();
    }
    expect(world.get(APPBINDING, DB).spec.clientConfig.caBundle).toBeUndefined();
  });
});

describe('Issuers only cert-manager can sign with: a simulated Vault PKI and a simulated AWS Private CA', () => {
  let world: World;
  let vaultCa: { certPem: string; keyPem: string };
  let pcaCa: { certPem: string; keyPem: string };
  const pca = { apiGroup: 'awspca.cert-manager.io', kind: 'AWSPCAClusterIssuer', name: 'px-pca' };
  beforeAll(async () => {
    world = await startWorld();
    vaultCa = await createTestCA({ commonName: 'simulated Vault PKI' });
    pcaCa = await createTestCA({ commonName: 'simulated AWS Private CA' });
    world.sim.store.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'px-vault', namespace: NS },
      spec: {
        vault: {
          server: 'https://vault.example:8200',
          path: 'pki/sign/pxc',
          auth: { kubernetes: { role: 'pxc', mountPath: '/v1/auth/kubernetes' } },
        },
      },
    });
    // The external issuer exists (Validate refuses one the cluster does not serve or have).
    world.sim.store.create({
      apiVersion: 'awspca.cert-manager.io/v1beta1',
      kind: 'AWSPCAClusterIssuer',
      metadata: { name: pca.name },
      spec: {
        arn: 'arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/simulated',
        region: 'eu-west-1',
      },
    });
    world.sim.certManager.addSigner(signerKey({ kind: 'Issuer', name: 'px-vault' }, NS), vaultCa);
    world.sim.certManager.addSigner(
      signerKey({ group: pca.apiGroup, kind: pca.kind, name: pca.name }, NS),
      pcaCa,
    );
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('a failed add of TLS deletes the Certificates it created, before their Secrets', async () => {
    // cert-manager has issued every Secret when wiring the pods is refused.
    world.sim.faults.inject({
      method: 'PATCH',
      path: new RegExp(`/petsets/${DB}$`),
      times: 1,
      action: { status: 403 },
    });
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'v-add-refused',
        database: DB,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-vault' } },
      }),
    );
    world.sim.requests.reset();

    const r = await runAndHold(world, 'v-add-refused');

    expect(r.result.status).toBe('FAILED');
    expect(r.result.error).toBe('KubeForbiddenError');
    certificatesDeletedFirst(world);
    expect(r.late).toEqual([]);
    for (const a of ALIASES) expect(world.get(KINDS.Secret, `${DB}-${a}-cert`), a).toBeUndefined();
    expect(world.db(DB).spec.tls).toBeUndefined();
  });

  it('adds TLS with a Vault issuer: Certificates are created KubeDB-style and cert-manager signs them', async () => {
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'v-add',
        database: DB,
        tls: {
          requireSSL: true,
          issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-vault' },
        },
      }),
    );

    const r = await runAndHold(world, 'v-add');

    expect(r.result.status, r.result.cause).toBe('SUCCEEDED');
    expect(r.late).toEqual([]);
    for (const a of ALIASES) {
      const cert = world.get(CERT, `${DB}-${a}-cert`);
      expect(cert.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'PerconaXtraDB', name: DB });
      expect(chainsTo(secretPem(world, `${DB}-${a}-cert`, 'tls.crt')!, vaultCa.certPem), a).toBe(true);
    }
    expect(world.sim.readiness().filter((x) => x.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('changes the issuer from Vault to the AWS PCA issuer: the new CA is learnt from a probe, no pod stranded', async () => {
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', { name: 'v-to-pca', database: DB, tls: { issuerRef: pca } }),
    );

    const r = await runAndHold(world, 'v-to-pca');

    expect(r.result.status, r.result.cause).toBe('SUCCEEDED');
    expect(r.late).toEqual([]);
    for (const a of ALIASES) {
      expect(chainsTo(secretPem(world, `${DB}-${a}-cert`, 'tls.crt')!, pcaCa.certPem), a).toBe(true);
      const ca = secretPem(world, `${DB}-${a}-cert`, 'ca.crt')!;
      expect(bundleTrusts(ca, vaultCa.certPem) && bundleTrusts(ca, pcaCa.certPem), a).toBe(true);
    }
    expect(world.get(CERT, `${DB}-tls-probe-v-to-pca`)).toBeUndefined();
    expect(world.get(KINDS.Secret, `${DB}-tls-probe-v-to-pca`)).toBeUndefined();
    expect(world.sim.readiness().filter((x) => x.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('fails at once when cert-manager cannot issue, and rolls back the Certificates before their Secrets', async () => {
    const before = secrets(world);
    const key = signerKey({ kind: 'Issuer', name: 'px-vault' }, NS);
    world.sim.certManager.failIssuer(key, 'vault: permission denied on pki/sign/pxc');
    world.sim.requests.reset();
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'v-denied',
        database: DB,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-vault' } },
      }),
    );

    const r = await runAndHold(world, 'v-denied');
    world.sim.certManager.failIssuer(key, undefined);

    expect(r.result.status).toBe('FAILED');
    expect(r.result.error).toBe('CertificateIssuanceError');
    expect(r.result.cause).toMatch(/vault: permission denied/);
    for (const a of ALIASES) {
      expect(world.get(CERT, `${DB}-${a}-cert`).spec.issuerRef.name, a).toBe('px-pca');
    }
    expect(r.late).toEqual([]);
    expect(r.now).toEqual(r.after);
    for (const a of ALIASES) expect(r.now[a]!.crt, a).toBe(before[a]!.crt);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    // The failed probe is this request's only Certificate: it goes, and nothing else does.
    expect(world.get(CERT, `${DB}-tls-probe-v-denied`)).toBeUndefined();
    expect(world.get(KINDS.Secret, `${DB}-tls-probe-v-denied`)).toBeUndefined();
    expect(deletes(world, 'certificates')).toEqual([`${DB}-tls-probe-v-denied`]);
  });

  it('a probe issued but not cleaned up when the request failed goes with the rollback, its Secret too', async () => {
    const probe = `${DB}-tls-probe-v-probe-left`;
    // The request fails right after the probe issued: deleting the probe's Secret is refused.
    world.sim.faults.inject({
      method: 'DELETE',
      path: new RegExp(`/secrets/${probe}$`),
      times: 1,
      action: { status: 403 },
    });
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'v-probe-left',
        database: DB,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-vault' } },
      }),
    );
    world.sim.requests.reset();

    const r = await runAndHold(world, 'v-probe-left');

    expect(r.result.status).toBe('FAILED');
    expect(r.result.error).toBe('KubeForbiddenError');
    expect(world.get(CERT, probe)).toBeUndefined();
    expect(world.get(KINDS.Secret, probe)).toBeUndefined();
    expect(deletes(world, 'certificates')).toEqual([probe]);
    for (const a of ALIASES) {
      expect(world.get(CERT, `${DB}-${a}-cert`).spec.issuerRef.name, a).toBe('px-pca');
    }
  });
});
