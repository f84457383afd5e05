import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa } from '../../local/sim/ca.js';
import { type Simulator, signerKey } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { eventually, startFast } from './helpers.js';

const NS = 'demo';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const pem = (s: J, k: string) => Buffer.from(s.data[k], 'base64').toString('utf8');

describe('cert-manager stand-in', () => {
  let sim: Simulator;
  let ca: ReturnType<typeof makeCa>;
  const secret = (name: string) => sim.store.get<J>('v1', 'Secret', NS, name);
  const cert = (name: string) => sim.store.get<J>('cert-manager.io/v1', 'Certificate', NS, name);
  const certificate = (name: string, issuer = 'cm-ca') => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: NS },
    spec: {
      secretName: name,
      issuerRef: { name: issuer, kind: 'Issuer' },
      commonName: `${name}.demo.svc`,
      dnsNames: [`${name}.demo.svc`],
      usages: ['digital signature', 'key encipherment', 'server auth'],
    },
  });
  const issued = (name: string, revision: number) =>
    eventually(() => (cert(name)?.status?.revision >= revision && secret(name) ? cert(name) : undefined));

  beforeAll(async () => {
    sim = await startFast();
    ca = makeCa('cm test CA');
    sim.store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cm-ca', namespace: NS },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem) },
    });
    sim.store.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'cm-ca', namespace: NS },
      spec: { ca: { secretName: 'cm-ca' } },
    });
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('issues a new Certificate into its Secret: the CA as ca.crt, its annotations, revision 1, Ready', async () => {
    sim.store.create(certificate('cm-one'));

    const c = await issued('cm-one', 1);

    const s = secret('cm-one');
    expect(pem(s, 'ca.crt')).toBe(ca.certPem);
    expect(new X509Certificate(pem(s, 'tls.crt')).checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(s.metadata.annotations).toMatchObject({
      'cert-manager.io/issuer-name': 'cm-ca',
      'cert-manager.io/issuer-kind': 'Issuer',
      'cert-manager.io/certificate-name': 'cm-one',
    });
    expect(c.status.conditions.find((x: J) => x.type === 'Ready')?.status).toBe('True');
  });

  it('re-issues over a Secret written without its issuer annotations (what undoes direct writes)', async () => {
    const s = secret('cm-one');
    sim.store.put({ ...s, metadata: { ...s.metadata, annotations: { mine: 'yes' } } });

    await issued('cm-one', 2);

    expect(sim.certManager.issuances().at(-1)).toMatchObject({
      certificate: 'cm-one',
      reason: 'IncorrectIssuer',
    });
  });

  it('never reads ca.crt: a bundle written into it stays until the next issuance', async () => {
    const s = secret('cm-one');
    const bundle = `${pem(s, 'ca.crt')}${makeCa('another CA').certPem}`;
    const before = sim.certManager.issuances().length;
    sim.store.put({ ...s, data: { ...s.data, 'ca.crt': b64(bundle) } });
    await new Promise((r) => setTimeout(r, 150));

    expect(sim.certManager.issuances()).toHaveLength(before);
    expect(pem(secret('cm-one'), 'ca.crt')).toBe(bundle);
  });

  it('issues when asked as cmctl renew does (Issuing=True, ManuallyTriggered), with a new key', async () => {
    const c = cert('cm-one');
    const keyBefore = secret('cm-one').data['tls.key'];
    sim.store.put({
      ...c,
      status: {
        ...c.status,
        conditions: [
          ...c.status.conditions,
          { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' },
        ],
      },
    });

    await issued('cm-one', 3);

    expect(sim.certManager.issuances().at(-1)?.reason).toBe('ManuallyTriggered');
    expect(secret('cm-one').data['tls.key']).not.toBe(keyBefore);
  });

  it('re-issues when the spec changes, and re-creates a deleted Secret', async () => {
    const c = cert('cm-one');
    sim.store.put({ ...c, spec: { ...c.spec, dnsNames: [...c.spec.dnsNames, 'extra.demo.svc'] } });
    await issued('cm-one', 4);
    expect(new X509Certificate(pem(secret('cm-one'), 'tls.crt')).subjectAltName).toContain('extra.demo.svc');

    sim.store.delete('v1', 'Secret', NS, 'cm-one');
    await issued('cm-one', 5);
    expect(sim.certManager.issuances().at(-1)?.reason).toBe('DoesNotExist');
  });

  it('signs for an issuer only cert-manager can use with a simulated signer, and fails without one', async () => {
    const pca = { group: 'awspca.cert-manager.io', kind: 'AWSPCAClusterIssuer', name: 'sim-pca' };
    sim.store.create({ ...certificate('cm-pca'), spec: { ...certificate('cm-pca').spec, issuerRef: pca } });
    const failed = await eventually(() =>
      cert('cm-pca')?.status?.conditions?.find((x: J) => x.type === 'Issuing' && x.status === 'False'),
    );
    expect(failed.reason).toBe('Failed');
    expect(cert('cm-pca').status.lastFailureTime).toBeTruthy();

    const pcaCa = makeCa('sim PCA');
    sim.certManager.addSigner(signerKey(pca, NS), { certPem: pcaCa.certPem, keyPem: pcaCa.keyPem });
    const c = cert('cm-pca');
    sim.store.put({
      ...c,
      status: {
        ...c.status,
        conditions: [{ type: 'Issuing', status: 'True', reason: 'ManuallyTriggered' }],
      },
    });
    await issued('cm-pca', 1);
    expect(pem(secret('cm-pca'), 'ca.crt')).toBe(pcaCa.certPem);
  });
});
