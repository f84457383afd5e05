import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import {
  ANNOTATIONS,
  type CertificateAuthority,
  createTestCA,
  fingerprintOf,
  inspectTlsSecret,
  issueCertificates,
  mergeTrustBundle,
  secretData,
  secretManifest,
} from '../../../functions/pki/index.js';
import { authority, intermediateSetup, type TestCA } from './fixtures.js';

function leafOf(tlsCrt: string): X509Certificate {
  return new X509Certificate(tlsCrt.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n');
}

function certCount(pem: string): number {
  return pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
}

describe('Issuing certificates', () => {
  let root: TestCA;
  let ca: CertificateAuthority;

  beforeAll(async () => {
    root = await createTestCA();
    ca = authority(root.certPem, root.keyPem);
  });

  it('issues the three aliases with their default Secret names', async () => {
    const issued = await issueCertificates({
      database: 'sample-pxc',
      namespace: 'demo',
      certificates: [],
      ca,
    });
    expect(issued.map((s) => [s.alias, s.secretName])).toEqual([
      ['server', 'sample-pxc-server-cert'],
      ['client', 'sample-pxc-client-cert'],
      ['metrics-exporter', 'sample-pxc-metrics-exporter-cert'],
    ]);
  });

  it('gives the server certificate the KubeDB subject, SANs and usages plus the request additions', async () => {
    const [server] = await issueCertificates({
      database: 'sample-pxc',
      namespace: 'demo',
      ca,
      certificates: [
        {
          alias: 'server',
          subject: { organizations: ['kubedb:server'] },
          dnsNames: ['localhost'],
          ipAddresses: ['127.0.0.1', '::1'],
        },
      ],
    });
    const x = leafOf(server!.data['tls.crt']);
    expect(x.subject.split('\n')).toEqual(['O=kubedb:server', 'CN=sample-pxc.demo.svc']);
    expect(x.subjectAltName).toBe(
      'DNS:*.sample-pxc-pods.demo.svc, DNS:*.sample-pxc-pods.demo.svc.cluster.local, DNS:*.sample-pxc.demo.svc, ' +
        'DNS:sample-pxc, DNS:sample-pxc.demo.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(x.ca).toBe(false);
    expect(x.checkHost('sample-pxc-0.sample-pxc-pods.demo.svc')).toBe('*.sample-pxc-pods.demo.svc');
    expect(x.checkHost('sample-pxc.other.svc')).toBeUndefined();
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('makes the client certificate for the MySQL user root, for client auth only', async () => {
    const [, client] = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca });
    const x = leafOf(client!.data['tls.crt']);
    expect(x.subject).toBe('CN=root');
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x.subjectAltName).toBeUndefined();
  });

  it('signs with the CA: issuer name, authority key id and signature line up', async () => {
    const issued = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca });
    const caX = new X509Certificate(root.certPem);
    for (const s of issued) {
      const x = leafOf(s.data['tls.crt']);
      expect(x.issuer).toBe(caX.subject);
      expect(x.checkIssued(caX)).toBe(true);
      expect(x.verify(caX.publicKey)).toBe(true);
      expect(s.data['ca.crt']).toBe(root.certPem);
      expect(certCount(s.data['tls.crt'])).toBe(1);
      const info = inspectTlsSecret(s.data);
      expect(info.issuerFingerprint).toBe(fingerprintOf(root.certPem));
      expect(info.keyMatches).toBe(true);
    }
  });

  it('makes a new RSA 2048 key and a new random positive serial of at least 64 bits every time', async () => {
    const a = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca });
    const b = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca });
    const keys = [...a, ...b].map((s) => s.data['tls.key']);
    expect(new Set(keys).size).toBe(6);
    const serials = [...a, ...b].map((s) => s.serial);
    expect(new Set(serials).size).toBe(6);
    for (const s of [...a, ...b]) {
      const key = createPrivateKey(s.data['tls.key']);
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      const x = leafOf(s.data['tls.crt']);
      expect(x.serialNumber.toLowerCase()).toBe(s.serial);
      expect(BigInt(`0x${s.serial}`) >= 2n ** 64n).toBe(true);
      expect(Number.parseInt(s.serial.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });

  it('writes PKCS1 keys by default and PKCS8 when asked', async () => {
    const issued = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      ca,
      certificates: [{ alias: 'client', privateKey: { encoding: 'PKCS8' } }],
    });
    const byAlias = Object.fromEntries(issued.map((s) => [s.alias, s.data['tls.key']]));
    expect(byAlias.server).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(byAlias.client).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(byAlias['metrics-exporter']).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
  });

  it('backdates notBefore a little and ends after the requested duration', async () => {
    const now = new Date('2026-06-01T12:00:00.400Z');
    const [server] = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      ca,
      now,
      certificates: [{ alias: 'server', duration: '720h', renewBefore: '240h' }],
    });
    const x = leafOf(server!.data['tls.crt']);
    expect(new Date(x.validFrom).toISOString()).toBe('2026-06-01T11:55:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2026-07-01T12:00:00.000Z');
    expect(server!.notAfter).toBe('2026-07-01T12:00:00.000Z');
    expect(server!.renewalTime).toBe('2026-06-21T12:00:00.000Z');
    expect(server!.annotations[ANNOTATIONS.renewalTime]).toBe('2026-06-21T12:00:00.000Z');
  });

  it('records the CA fingerprint, notAfter, renewal time and serial on the Secret', async () => {
    const [server] = await issueCertificates({
      database: 'sample-pxc',
      namespace: 'demo',
      certificates: [],
      ca,
    });
    expect(server!.labels).toMatchObject({
      'app.kubernetes.io/instance': 'sample-pxc',
      'pxc-tls-ops.io/alias': 'server',
    });
    expect(server!.annotations).toMatchObject({
      [ANNOTATIONS.caFingerprint]: ca.fingerprint,
      [ANNOTATIONS.rootFingerprint]: ca.rootFingerprint,
      [ANNOTATIONS.notAfter]: server!.notAfter,
      [ANNOTATIONS.renewalTime]: server!.renewalTime,
      [ANNOTATIONS.serial]: server!.serial,
    });
    // The default renewal time is two thirds into the lifetime, and inspect agrees with issue.
    expect(inspectTlsSecret(server!.data).renewalTime).toBe(server!.renewalTime);
  });

  it('never outlives its CA', async () => {
    const shortRoot = await createTestCA({ notAfter: new Date(Date.now() + 48 * 3_600_000) });
    const shortCa = authority(shortRoot.certPem, shortRoot.keyPem);
    const [server] = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      certificates: [],
      ca: shortCa,
    });
    expect(Date.parse(server!.notAfter)).toBeLessThanOrEqual(Date.parse(shortCa.notAfter));
  });

  it.each([
    ['in tls.crt after the intermediate', 'tls.crt'],
    ["in the CA Secret's ca.crt", 'ca.crt'],
  ])(
    'never outlives a CA above the signing one: a root ending in 48h, %s, caps every leaf',
    async (_, where) => {
      const rootEnd = new Date(Date.now() + 48 * 3_600_000);
      const shortRoot = await createTestCA({ commonName: 'short root', notAfter: rootEnd });
      // The intermediate itself is valid for ten years: only the root above it ends soon.
      const longIntermediate = await createTestCA({ commonName: 'long intermediate', parent: shortRoot });
      const ica =
        where === 'tls.crt'
          ? authority(longIntermediate.certPem + shortRoot.certPem, longIntermediate.keyPem)
          : authority(longIntermediate.certPem, longIntermediate.keyPem, shortRoot.certPem);
      const rootNotAfter = Date.parse(new X509Certificate(shortRoot.certPem).validTo);
      expect(Date.parse(new X509Certificate(longIntermediate.certPem).validTo)).toBeGreaterThan(rootNotAfter);

      const issued = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca: ica });

      expect(issued).toHaveLength(3);
      for (const s of issued) {
        expect(Date.parse(leafOf(s.data['tls.crt']).validTo), s.alias).toBe(rootNotAfter);
        expect(Date.parse(s.notAfter), s.alias).toBe(rootNotAfter);
      }
    },
  );

  it('writes the trust bundle it is given into ca.crt (old and new CA during a CA change)', async () => {
    const other = await createTestCA({ commonName: 'old CA' });
    const bundle = mergeTrustBundle(other.certPem, root.certPem);
    const issued = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      certificates: [],
      ca,
      trustBundlePem: bundle,
    });
    for (const s of issued) {
      expect(s.data['ca.crt']).toBe(bundle);
      expect(inspectTlsSecret(s.data).caFingerprints).toEqual([
        fingerprintOf(other.certPem),
        fingerprintOf(root.certPem),
      ]);
    }
  });

  it('signs an alias with its own CA when the request gives one (per-certificate issuerRef)', async () => {
    const other = await createTestCA({ commonName: 'client CA' });
    const issued = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      certificates: [],
      ca,
      caByAlias: { client: authority(other.certPem, other.keyPem, undefined, 'client-issuer') },
    });
    const info = Object.fromEntries(issued.map((s) => [s.alias, inspectTlsSecret(s.data)]));
    expect(info.server!.issuerFingerprint).toBe(fingerprintOf(root.certPem));
    expect(info.client!.issuerFingerprint).toBe(fingerprintOf(other.certPem));
    expect(info['metrics-exporter']!.issuerFingerprint).toBe(fingerprintOf(root.certPem));
    expect(issued[1]!.annotations[ANNOTATIONS.issuerName]).toBe('client-issuer');
  });

  it('refuses an invalid request before making any key', async () => {
    await expect(
      issueCertificates({
        database: 'db',
        namespace: 'ns',
        ca,
        certificates: [{ alias: 'server', dnsNames: ['bad_name'] }],
      }),
    ).rejects.toThrow(InvalidRequestError);
  });

  it('builds a kubernetes.io/tls Secret with base64 data', async () => {
    const [server] = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca });
    const secret = secretManifest(server!, 'ns');
    expect(secret).toMatchObject({
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'db-server-cert', namespace: 'ns' },
    });
    expect(Buffer.from(secret.data['tls.crt']!, 'base64').toString()).toBe(server!.data['tls.crt']);
    expect(Object.keys(secretData(server!)).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  });

  describe('from an intermediate CA', () => {
    it('puts leaf + intermediate in tls.crt and the root in ca.crt', async () => {
      const { root: r, intermediate, ca: ica } = await intermediateSetup();
      expect(ica.rootPem).toBe(r.certPem);
      expect(ica.chainPem).toEqual([]);
      expect(ica.fingerprint).not.toBe(ica.rootFingerprint);
      const [server] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: ica,
      });
      expect(certCount(server!.data['tls.crt'])).toBe(2);
      expect(server!.data['tls.crt']).toContain(intermediate.certPem.trim());
      expect(server!.data['ca.crt']).toBe(r.certPem);
      const info = inspectTlsSecret(server!.data);
      expect(info.issuerFingerprint).toBe(fingerprintOf(intermediate.certPem));
      expect(info.rootFingerprint).toBe(fingerprintOf(r.certPem));
    });

    it('carries every intermediate up to the root (two levels)', async () => {
      const r = await createTestCA({ commonName: 'root' });
      const i1 = await createTestCA({ commonName: 'level 1', parent: r });
      const i2 = await createTestCA({ commonName: 'level 2', parent: i1 });
      const ica = authority(i2.certPem + i1.certPem + r.certPem, i2.keyPem);
      expect(ica.chainPem.map(fingerprintOf)).toEqual([fingerprintOf(i1.certPem)]);
      const [client] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: ica,
      });
      expect(certCount(client!.data['tls.crt'])).toBe(3);
      expect(inspectTlsSecret(client!.data).issuerFingerprint).toBe(fingerprintOf(i2.certPem));
    });
  });

  it('writes dates from 2050 on as GeneralizedTime that OpenSSL reads back', async () => {
    const longRoot = await createTestCA({ notAfter: new Date('2060-01-01T00:00:00Z') });
    const [server] = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      ca: authority(longRoot.certPem, longRoot.keyPem),
      now: new Date('2049-12-01T00:00:00Z'),
      certificates: [{ alias: 'server', duration: '2160h' }],
    });
    const x = leafOf(server!.data['tls.crt']);
    expect(new Date(x.validFrom).toISOString()).toBe('2049-11-30T23:55:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2050-03-01T00:00:00.000Z');
    expect(inspectTlsSecret(server!.data, { now: new Date('2050-01-01T00:00:00Z') }).notAfter).toBe(
      '2050-03-01T00:00:00.000Z',
    );
  });

  it('signs with an ECDSA CA too', async () => {
    const ec = await createTestCA({ keyType: 'ec', commonName: 'ec CA' });
    const ecCa = authority(ec.certPem, ec.keyPem);
    const [server] = await issueCertificates({ database: 'db', namespace: 'ns', certificates: [], ca: ecCa });
    const x = leafOf(server!.data['tls.crt']);
    expect(x.verify(new X509Certificate(ec.certPem).publicKey)).toBe(true);
    expect(createPrivateKey(server!.data['tls.key']).asymmetricKeyType).toBe('rsa');
  });
});
