import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { createTestCA } from '../../functions/pki/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, startWorld, type World } from './helpers.js';

const TLS_DB = 'px-bad-tls';
const PLAIN_DB = 'px-bad-plain';
const NOT_READY_DB = 'px-bad-down';
const issuer = (kind: string, name: string) => ({ apiGroup: 'cert-manager.io', kind, name });

interface Case {
  why: string;
  /** An OpsRequest (created, then run by name) or a raw execution input. */
  ops?: PerconaXtraDBOpsRequest;
  input?: unknown;
  error: string;
  reason: RegExp;
  /** false: the request is not ours to mark (another type), so it keeps its phase. */
  marksFailed?: boolean;
  /**
   * KubeDB's ops webhook denies it at creation (and every status write of it), so on a cluster with
   * KubeDB's webhook server it never exists: the refusal below is for clusters without one.
   */
  kubedbDenies?: RegExp;
}

const rotate = (o: Parameters<typeof opsRequestFrom>[1]) =>
  opsRequestFrom('pxcops-rotate', { database: TLS_DB, ...o });
const add = (o: Parameters<typeof opsRequestFrom>[1]) =>
  opsRequestFrom('pxcops-add-tls', { database: PLAIN_DB, ...o });

const CASES: Case[] = [
  {
    why: 'remove and rotate at once',
    kubedbDenies: /more than 1 field have assigned to reconfigureTLS/,
    ops: rotate({ tls: { remove: true, rotateCertificates: true } }),
    error: 'InvalidRequestError',
    reason: /remove and rotateCertificates at once/,
  },
  {
    why: 'rotate and a new issuer at once',
    kubedbDenies: /more than 1 field have assigned to reconfigureTLS/,
    ops: rotate({ tls: { rotateCertificates: true, issuerRef: issuer('Issuer', 'px-issuer') } }),
    error: 'InvalidRequestError',
    reason: /rotateCertificates and issuerRef\/certificates\/requireSSL at once/,
  },
  {
    why: 'remove and a new issuer at once',
    kubedbDenies: /more than 1 field have assigned to reconfigureTLS/,
    ops: rotate({ tls: { remove: true, issuerRef: issuer('Issuer', 'px-issuer') } }),
    error: 'InvalidRequestError',
    reason: /remove and issuerRef/,
  },
  {
    why: 'rotate on a database without TLS',
    ops: rotate({ database: PLAIN_DB }),
    error: 'InvalidRequestError',
    reason: /has no TLS to rotate/,
  },
  {
    why: 'remove on a database without TLS',
    ops: opsRequestFrom('pxcops-remove-tls', { database: PLAIN_DB }),
    error: 'InvalidRequestError',
    reason: /has no TLS to remove/,
  },
  {
    why: 'an unknown issuer',
    ops: add({ tls: { issuerRef: issuer('Issuer', 'nope') } }),
    error: 'InvalidIssuerError',
    reason: /Issuer demo\/nope not found/,
  },
  {
    why: "cert-manager's pre-1.0 API group (certmanager.k8s.io), which the cluster does not serve",
    ops: add({ tls: { issuerRef: { apiGroup: 'certmanager.k8s.io', kind: 'Issuer', name: 'px-issuer' } } }),
    error: 'InvalidIssuerError',
    reason: /does not serve API group certmanager\.k8s\.io \(cert-manager's group before 0\.11/,
  },
  {
    why: 'an issuer kind its API group does not serve',
    ops: add({ tls: { issuerRef: { apiGroup: 'awspca.cert-manager.io', kind: 'PCAIssuer', name: 'pca' } } }),
    error: 'InvalidIssuerError',
    reason:
      /API group awspca\.cert-manager\.io serves no kind PCAIssuer \(it serves AWSPCAClusterIssuer, AWSPCAIssuer\)/,
  },
  {
    why: 'an external issuer that does not exist',
    ops: add({
      tls: { issuerRef: { apiGroup: 'awspca.cert-manager.io', kind: 'AWSPCAClusterIssuer', name: 'nope' } },
    }),
    error: 'InvalidIssuerError',
    reason: /AWSPCAClusterIssuer\.awspca\.cert-manager\.io nope not found/,
  },
  {
    why: 'an ACME issuer (it cannot issue for cluster-internal names)',
    ops: add({ tls: { issuerRef: issuer('Issuer', 'acme-issuer') } }),
    error: 'InvalidIssuerError',
    reason: /Issuer demo\/acme-issuer: an ACME issuer cannot issue certificates for cluster-internal names/,
  },
  {
    why: 'an expired CA',
    ops: add({ tls: { issuerRef: issuer('Issuer', 'expired-issuer') } }),
    error: 'InvalidIssuerError',
    reason: /expired/,
  },
  {
    why: 'a CA whose key does not match',
    ops: add({ tls: { issuerRef: issuer('Issuer', 'mismatch-issuer') } }),
    error: 'InvalidIssuerError',
    reason: /does not match/,
  },
  {
    why: 'alias foo',
    ops: add({ tls: { issuerRef: issuer('Issuer', 'px-issuer'), certificates: [{ alias: 'foo' }] } }),
    error: 'InvalidRequestError',
    reason: /alias.*foo/,
  },
  {
    why: 'a bad duration',
    ops: add({
      tls: {
        issuerRef: issuer('Issuer', 'px-issuer'),
        certificates: [{ alias: 'server', duration: '90 days' }],
      },
    }),
    error: 'InvalidRequestError',
    reason: /duration.*90 days/,
  },
  {
    why: 'renewBefore not shorter than duration',
    ops: add({
      tls: {
        issuerRef: issuer('Issuer', 'px-issuer'),
        certificates: [{ alias: 'server', duration: '24h', renewBefore: '24h' }],
      },
    }),
    error: 'InvalidRequestError',
    reason: /renewBefore/,
  },
  {
    why: 'a missing database',
    kubedbDenies: /spec.databaseRef demo\/px-nowhere, is invalid or not found/,
    ops: add({ database: 'px-nowhere' }),
    error: 'DatabaseStateError',
    reason: /PerconaXtraDB demo\/px-nowhere not found/,
  },
  {
    why: 'a database that is not Ready under IfReady',
    ops: add({ database: NOT_READY_DB }),
    error: 'DatabaseStateError',
    reason: /is NotReady; apply: IfReady/,
  },
  {
    why: 'a type other than ReconfigureTLS',
    ops: rotate({ spec: { type: 'VerticalScaling' } }),
    error: 'InvalidRequestError',
    reason: /only handles ReconfigureTLS/,
    marksFailed: false,
  },
  {
    why: 'console input with extra fields',
    input: { namespace: NS, database: TLS_DB, tls: { rotateCertificates: true }, force: true },
    error: 'InvalidRequestError',
    reason: /unexpected field\(s\) force/,
  },
  {
    why: 'no spec.tls',
    kubedbDenies: /TLS Spec is empty/,
    ops: rotate({ spec: { tls: undefined } }),
    error: 'InvalidRequestError',
    reason: /spec\.tls is required/,
  },
  {
    why: 'a spec.tls that asks for nothing',
    kubedbDenies: /no of incomplete reconfiguration is provided in TLS spec/,
    ops: rotate({ tls: {} }),
    error: 'InvalidRequestError',
    reason: /asks for nothing/,
  },
  {
    why: 'a bad timeout',
    ops: rotate({ spec: { timeout: 'soon' } }),
    error: 'InvalidRequestError',
    reason: /spec\.timeout/,
  },
  {
    why: 'an unknown apply policy',
    ops: rotate({ spec: { apply: 'Sometimes' } }),
    error: 'InvalidRequestError',
    reason: /spec\.apply/,
  },
  {
    why: 'an issuer kind cert-manager does not have',
    ops: add({ tls: { issuerRef: issuer('Vault', 'px-issuer') } }),
    error: 'InvalidRequestError',
    reason: /kind.*Vault/,
  },
];

/** resourceVersion of everything a refused request must not touch. */
function versions(world: World): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (what: string, o: { metadata: { resourceVersion?: string } } | undefined) => {
    if (o) out[what] = o.metadata.resourceVersion ?? '';
  };
  for (const db of [TLS_DB, PLAIN_DB, NOT_READY_DB]) {
    put(`db/${db}`, world.get(KINDS.PerconaXtraDB, db));
    put(`petset/${db}`, world.get(KINDS.PetSet, db));
    for (const alias of ['server', 'client', 'metrics-exporter'])
      put(`secret/${db}-${alias}`, world.get(KINDS.Secret, `${db}-${alias}-cert`));
  }
  for (const p of world.sim.store.list<{ metadata: { name: string; resourceVersion: string } }>(
    'v1',
    'Pod',
    NS,
  )) {
    put(`pod/${p.metadata.name}`, p);
  }
  // No cert-manager Certificate created either.
  out.certificates = world.sim.store
    .list<{ metadata: { name: string } }>('cert-manager.io/v1', 'Certificate', NS)
    .map((c) => c.metadata.name)
    .join(',');
  return out;
}

describe('Invalid requests end Failed with a specific reason and change nothing', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: TLS_DB });
    await world.createDatabase({ name: PLAIN_DB });
    await world.createDatabase({ name: NOT_READY_DB });
    const down = world.db(NOT_READY_DB) as PerconaXtraDB;
    world.sim.store.put({ ...down, status: { ...down.status, phase: 'NotReady' } });
    world.sim.store.put({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'acme-issuer', namespace: NS },
      spec: { acme: { server: 'https://acme.example/directory', privateKeySecretRef: { name: 'acme-key' } } },
    });
    const past = await createTestCA({
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    await createCaIssuer(world.sim, { name: 'expired-issuer', namespace: NS, ca: past });
    const [one, two] = [await createTestCA(), await createTestCA()];
    await createCaIssuer(world.sim, {
      name: 'mismatch-issuer',
      namespace: NS,
      ca: { certPem: one.certPem, keyPem: two.keyPem },
    });
    await addTls(world, TLS_DB, 'bad-setup');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it.each(CASES.map((c, i) => ({ ...c, name: `bad-${i}` })))('refuses $why', async (c) => {
    const before = versions(world);
    const ops = c.ops && { ...c.ops, metadata: { ...c.ops.metadata, name: c.name, namespace: NS } };
    if (ops && c.kubedbDenies) {
      await expect(world.kube.create(KINDS.PerconaXtraDBOpsRequest, ops)).rejects.toThrow(c.kubedbDenies);
      world.sim.setKubedbWebhooks(false);
    }
    if (ops) world.createOps(ops);

    const result = await world.run(c.input ?? { namespace: NS, opsRequest: c.name }).finally(() => {
      world.sim.setKubedbWebhooks(true);
    });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe(c.error);
    expect(result.cause).toMatch(c.reason);
    if (c.ops) {
      const ops = world.ops(c.name);
      if (c.marksFailed === false) {
        expect(ops.status?.phase).toBeUndefined();
        expect(ops.metadata.annotations ?? {}).toEqual({});
      } else {
        expect(ops.status?.phase).toBe('Failed');
        expect(ops.status?.conditions?.find((x) => x.type === 'Failed')?.message).toMatch(c.reason);
      }
    }
    expect(versions(world)).toEqual(before);
  });
});
