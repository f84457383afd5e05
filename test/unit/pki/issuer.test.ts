import { describe, expect, it } from 'vitest';
import { InvalidIssuerError, KubeUnavailableError } from '../../../functions/errors.js';
import type { Kube } from '../../../functions/kube/types.js';
import { createTestCA, fingerprintOf, resolveIssuer } from '../../../functions/pki/index.js';
import { caSecret, fakeKube, issuer } from './fixtures.js';

const DAY = 24 * 3_600_000;

describe('Resolving an issuer', () => {
  it('reads an Issuer and its CA Secret in the same namespace', async () => {
    const root = await createTestCA();
    const kube = fakeKube([
      issuer('Issuer', 'px-issuer', { ca: { secretName: 'px-ca' } }, 'demo'),
      caSecret('demo', 'px-ca', { 'tls.crt': root.certPem, 'tls.key': root.keyPem }),
    ]);
    const ca = await resolveIssuer(
      kube,
      { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' },
      { namespace: 'demo' },
    );
    expect(ca).toMatchObject({
      issuerRef: { kind: 'Issuer', name: 'px-issuer' },
      secretRef: { namespace: 'demo', name: 'px-ca' },
      certPem: root.certPem,
      rootPem: root.certPem,
      chainPem: [],
      keyPem: root.keyPem,
      fingerprint: fingerprintOf(root.certPem),
      rootFingerprint: fingerprintOf(root.certPem),
    });
    expect(Date.parse(ca.notAfter)).toBeGreaterThan(Date.now());
  });

  it.each([
    ['the default cluster resource namespace', undefined, 'cert-manager'],
    ['a configured cluster resource namespace', 'security', 'security'],
  ])('reads a ClusterIssuer with its Secret in %s', async (_, configured, secretNs) => {
    const root = await createTestCA();
    const kube = fakeKube([
      issuer('ClusterIssuer', 'px-new-ca', { ca: { secretName: 'root-ca' } }),
      caSecret(secretNs, 'root-ca', { 'tls.crt': root.certPem, 'tls.key': root.keyPem }),
    ]);
    const ca = await resolveIssuer(
      kube,
      { kind: 'ClusterIssuer', name: 'px-new-ca' },
      { namespace: 'demo', clusterResourceNamespace: configured },
    );
    expect(ca.secretRef).toEqual({ namespace: secretNs, name: 'root-ca' });
  });

  it('resolves an intermediate CA: chain in tls.crt, root found at its top', async () => {
    const root = await createTestCA({ commonName: 'root' });
    const inter = await createTestCA({ commonName: 'intermediate', parent: root });
    const kube = fakeKube([
      issuer('Issuer', 'i', { ca: { secretName: 's' } }, 'demo'),
      caSecret('demo', 's', { 'tls.crt': inter.certPem + root.certPem, 'tls.key': inter.keyPem }),
    ]);
    const ca = await resolveIssuer(kube, { kind: 'Issuer', name: 'i' }, { namespace: 'demo' });
    expect(ca.fingerprint).toBe(fingerprintOf(inter.certPem));
    expect(ca.rootFingerprint).toBe(fingerprintOf(root.certPem));
    expect(ca.rootPem).toBe(root.certPem);
  });

  it("finds the root in the CA Secret's ca.crt when tls.crt holds only the intermediate", async () => {
    const root = await createTestCA({ commonName: 'root' });
    const inter = await createTestCA({ commonName: 'intermediate', parent: root });
    const kube = fakeKube([
      issuer('Issuer', 'i', { ca: { secretName: 's' } }, 'demo'),
      caSecret('demo', 's', { 'tls.crt': inter.certPem, 'tls.key': inter.keyPem, 'ca.crt': root.certPem }),
    ]);
    const ca = await resolveIssuer(kube, { kind: 'Issuer', name: 'i' }, { namespace: 'demo' });
    expect(ca.rootPem).toBe(root.certPem);
    expect(ca.chainPem).toEqual([]);
  });

  it('lets Kubernetes errors through unchanged (the state machine retries them)', async () => {
    const failing = fakeKube([]);
    const kube: Kube = {
      ...failing,
      get: async () => {
        throw new KubeUnavailableError('503');
      },
    };
    await expect(resolveIssuer(kube, { kind: 'Issuer', name: 'x' }, { namespace: 'demo' })).rejects.toThrow(
      KubeUnavailableError,
    );
  });

  describe('refuses, naming the issuer and the problem,', () => {
    type Case = [string, () => Promise<{ objects: ReturnType<typeof fakeKube>; kind?: string }>, RegExp];
    const cases: Case[] = [
      ['a missing issuer', async () => ({ objects: fakeKube([]) }), /^Issuer demo\/px-issuer not found$/],
      [
        'an ACME issuer',
        async () => ({
          objects: fakeKube([issuer('Issuer', 'px-issuer', { acme: { server: 'https://acme' } }, 'demo')]),
        }),
        /Issuer demo\/px-issuer is not a CA issuer .*it is acme/,
      ],
      [
        'a self-signed issuer without ca',
        async () => ({ objects: fakeKube([issuer('Issuer', 'px-issuer', { selfSigned: {} }, 'demo')]) }),
        /Issuer demo\/px-issuer is not a CA issuer .*it is selfSigned/,
      ],
      [
        'a Vault ClusterIssuer',
        async () => ({
          objects: fakeKube([issuer('ClusterIssuer', 'px-issuer', { vault: {} })]),
          kind: 'ClusterIssuer',
        }),
        /ClusterIssuer px-issuer is not a CA issuer .*it is vault/,
      ],
      [
        'a missing CA Secret',
        async () => ({
          objects: fakeKube([issuer('Issuer', 'px-issuer', { ca: { secretName: 'gone' } }, 'demo')]),
        }),
        /Issuer demo\/px-issuer: its CA Secret demo\/gone not found/,
      ],
      [
        'a Secret without tls.key',
        async () => {
          const r = await createTestCA();
          return {
            objects: fakeKube([
              issuer('Issuer', 'px-issuer', { ca: { secretName: 's' } }, 'demo'),
              caSecret('demo', 's', { 'tls.crt': r.certPem }),
            ]),
          };
        },
        /Issuer demo\/px-issuer: its CA Secret demo\/s has no tls.key/,
      ],
      [
        'a key that does not match',
        async () => {
          const [a, b] = await Promise.all([createTestCA(), createTestCA()]);
          return { objects: withCa(a.certPem, b.keyPem) };
        },
        /Issuer demo\/px-issuer \(Secret demo\/s\): tls.key does not match the CA certificate/,
      ],
      [
        'a certificate that is not a CA',
        async () => {
          const r = await createTestCA({ isCA: false });
          return { objects: withCa(r.certPem, r.keyPem) };
        },
        /Issuer demo\/px-issuer \(Secret demo\/s\): the CA certificate .* is not a CA/,
      ],
      [
        'a CA whose key usage does not allow signing certificates',
        async () => {
          const r = await createTestCA({ keyCertSign: false });
          return { objects: withCa(r.certPem, r.keyPem) };
        },
        /Issuer demo\/px-issuer \(Secret demo\/s\): the CA certificate .* may not sign certificates \(keyUsage lacks keyCertSign\)/,
      ],
      [
        'an expired intermediate above the signing CA',
        async () => {
          const root = await createTestCA({ commonName: 'root' });
          const i1 = await createTestCA({
            commonName: 'expired level 1',
            parent: root,
            notBefore: new Date(Date.now() - 30 * DAY),
            notAfter: new Date(Date.now() - DAY),
          });
          const i2 = await createTestCA({ commonName: 'level 2', parent: i1 });
          return { objects: withCa(i2.certPem + i1.certPem + root.certPem, i2.keyPem) };
        },
        /the chain certificate .*CN=expired level 1 \(tls.crt #2\) expired at/,
      ],
      [
        'an expired CA',
        async () => {
          const r = await createTestCA({
            notBefore: new Date(Date.now() - 30 * DAY),
            notAfter: new Date(Date.now() - DAY),
          });
          return { objects: withCa(r.certPem, r.keyPem) };
        },
        /Issuer demo\/px-issuer \(Secret demo\/s\): the CA certificate .* expired at/,
      ],
      [
        'a CA not valid yet',
        async () => {
          const r = await createTestCA({
            notBefore: new Date(Date.now() + DAY),
            notAfter: new Date(Date.now() + 30 * DAY),
          });
          return { objects: withCa(r.certPem, r.keyPem) };
        },
        /is not valid before/,
      ],
      [
        'a chain out of order',
        async () => {
          const root = await createTestCA({ commonName: 'root' });
          const inter = await createTestCA({ commonName: 'intermediate', parent: root });
          const other = await createTestCA({ commonName: 'other' });
          return { objects: withCa(inter.certPem + other.certPem, inter.keyPem) };
        },
        /tls.crt #2 \(.*CN=other\) did not sign .*the chain is out of order or incomplete/,
      ],
      [
        'garbage in tls.crt',
        async () => {
          const r = await createTestCA();
          return { objects: withCa('hello', r.keyPem) };
        },
        /tls.crt is not a PEM certificate/,
      ],
      [
        'garbage in tls.key',
        async () => {
          const r = await createTestCA();
          return { objects: withCa(r.certPem, 'not a key') };
        },
        /tls.key is not a readable private key/,
      ],
    ];

    it.each(cases)('%s', async (_, arrange, message) => {
      const { objects, kind } = await arrange();
      const attempt = resolveIssuer(
        objects,
        { kind: kind ?? 'Issuer', name: 'px-issuer' },
        { namespace: 'demo' },
      );
      await expect(attempt).rejects.toThrow(InvalidIssuerError);
      await expect(attempt).rejects.toThrow(message);
    });

    it.each([
      [{ kind: 'Vault', name: 'x' }, /kind Vault is not Issuer or ClusterIssuer/],
      [{ apiGroup: 'example.com', kind: 'Issuer', name: 'x' }, /apiGroup example.com is not cert-manager.io/],
      [{ kind: 'Issuer', name: '' }, /a name is required/],
    ])('a bad issuerRef %j, without reading the cluster', async (ref, message) => {
      const kube = fakeKube([]);
      await expect(resolveIssuer(kube, ref, { namespace: 'demo' })).rejects.toThrow(message);
      expect(kube.gets).toEqual([]);
    });
  });
});

function withCa(tlsCrt: string, tlsKey: string) {
  return fakeKube([
    issuer('Issuer', 'px-issuer', { ca: { secretName: 's' } }, 'demo'),
    caSecret('demo', 's', { 'tls.crt': tlsCrt, 'tls.key': tlsKey }),
  ]);
}
