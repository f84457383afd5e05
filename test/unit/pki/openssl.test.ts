/**
 * The issued certificates checked by a tool nobody here wrote: the openssl command line.
 * Skipped, with the reason in the test name, when openssl is not installed (.ci/run installs it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateSpec } from '../../../functions/model/types.js';
import {
  type CertificateAuthority,
  createTestCA,
  type IssuedSecret,
  issueCertificates,
  mergeTrustBundle,
} from '../../../functions/pki/index.js';
import { authority } from './fixtures.js';

const OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
const TITLE = OPENSSL
  ? 'Certificates checked by openssl'
  : 'Certificates checked by openssl [SKIPPED: openssl is not on PATH; install it (apt-get install openssl) to run these]';
if (!OPENSSL) console.warn(`pki: ${TITLE}`);

const REQUEST: CertificateSpec[] = [
  {
    alias: 'server',
    subject: { organizations: ['kubedb:server'] },
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  },
];

let dir = '';
let n = 0;
function file(content: string): string {
  const path = join(dir, `f${++n}.pem`);
  writeFileSync(path, content);
  return path;
}

function openssl(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** openssl verify of tls.crt's leaf against ca.crt, with tls.crt's other certificates as untrusted intermediates. */
function verify(s: IssuedSecret, extra: string[] = [], caCrt = s.data['ca.crt']) {
  const [leaf, ...chain] = s.data['tls.crt'].match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g,
  )!;
  const args = ['verify', '-CAfile', file(caCrt), ...extra];
  if (chain.length > 0) args.push('-untrusted', file(chain.join('')));
  return openssl([...args, file(leaf!)]);
}

describe.skipIf(!OPENSSL)(TITLE, () => {
  const setups: Record<string, CertificateAuthority> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pki-openssl-'));
    const root = await createTestCA({ commonName: 'pxc root CA' });
    const inter = await createTestCA({ commonName: 'pxc intermediate CA', parent: root });
    const ec = await createTestCA({ commonName: 'pxc ECDSA CA', keyType: 'ec' });
    setups['a root CA'] = authority(root.certPem, root.keyPem);
    setups['an intermediate CA'] = authority(inter.certPem + root.certPem, inter.keyPem);
    setups['an ECDSA root CA'] = authority(ec.certPem, ec.keyPem);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe.each(['a root CA', 'an intermediate CA', 'an ECDSA root CA'])('issued from %s', (setup) => {
    describe.each(['PKCS1', 'PKCS8'] as const)('with %s keys', (encoding) => {
      let issued: Record<string, IssuedSecret>;
      beforeAll(async () => {
        const certificates = REQUEST.map((c) => ({ ...c, privateKey: { encoding } }));
        certificates.push(
          { alias: 'client', privateKey: { encoding } },
          { alias: 'metrics-exporter', privateKey: { encoding } },
        );
        const out = await issueCertificates({
          database: 'sample-pxc',
          namespace: 'demo',
          certificates,
          ca: setups[setup]!,
        });
        issued = Object.fromEntries(out.map((s) => [s.alias, s]));
      });

      it('verifies every leaf against ca.crt (openssl verify -CAfile)', () => {
        for (const alias of ['server', 'client', 'metrics-exporter']) {
          const r = verify(issued[alias]!);
          expect(r.out).toMatch(/: OK\n/);
          expect(r.ok).toBe(true);
        }
      });

      it('accepts the server certificate for TLS servers under its pod, service and localhost names', () => {
        const s = issued.server!;
        for (const host of [
          'sample-pxc-0.sample-pxc-pods.demo.svc',
          'sample-pxc.demo.svc',
          'sample-pxc',
          'localhost',
        ]) {
          expect(verify(s, ['-purpose', 'sslserver', '-verify_hostname', host]).ok, host).toBe(true);
        }
        expect(verify(s, ['-purpose', 'sslserver', '-verify_ip', '127.0.0.1']).ok).toBe(true);
        expect(verify(s, ['-purpose', 'sslclient']).ok).toBe(true);
      });

      it('refuses the server certificate for a name it does not carry', () => {
        const r = verify(issued.server!, ['-verify_hostname', 'sample-pxc-0.other-pods.demo.svc']);
        expect(r.ok).toBe(false);
        expect(r.out).toMatch(/hostname mismatch/);
      });

      it('accepts the client certificate for TLS clients and not for servers', () => {
        expect(verify(issued.client!, ['-purpose', 'sslclient']).ok).toBe(true);
        expect(verify(issued.client!, ['-purpose', 'sslserver']).ok).toBe(false);
      });

      it('prints the expected fields with openssl x509 -text', () => {
        const text = execFileSync(
          'openssl',
          ['x509', '-noout', '-text', '-in', file(issued.server!.data['tls.crt'])],
          {
            encoding: 'utf8',
          },
        );
        expect(text).toMatch(/Version: 3 \(0x2\)/);
        expect(text).toMatch(/Subject: O\s?=\s?kubedb:server, CN\s?=\s?sample-pxc\.demo\.svc/);
        expect(text).toMatch(/Public-Key: \(2048 bit\)/);
        expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
        expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment/);
        expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
        expect(text).toMatch(/X509v3 Subject Key Identifier/);
        expect(text).toMatch(/X509v3 Authority Key Identifier/);
        expect(text).toContain(
          'DNS:*.sample-pxc-pods.demo.svc, DNS:*.sample-pxc-pods.demo.svc.cluster.local, DNS:*.sample-pxc.demo.svc, ' +
            'DNS:sample-pxc, DNS:sample-pxc.demo.svc, DNS:localhost, IP Address:127.0.0.1',
        );
      });

      it(`writes ${encoding} keys that openssl pkey checks and that match their certificates`, () => {
        for (const s of Object.values(issued)) {
          const key = s.data['tls.key'];
          expect(key.split('\n')[0]).toBe(
            encoding === 'PKCS1' ? '-----BEGIN RSA PRIVATE KEY-----' : '-----BEGIN PRIVATE KEY-----',
          );
          const keyFile = file(key);
          expect(openssl(['pkey', '-in', keyFile, '-check', '-noout']).out).toMatch(/Key is valid/);
          const fromKey = openssl(['pkey', '-in', keyFile, '-pubout']).out;
          const fromCert = openssl(['x509', '-in', file(s.data['tls.crt']), '-noout', '-pubkey']).out;
          expect(fromKey).toMatch(/BEGIN PUBLIC KEY/);
          expect(fromKey).toBe(fromCert);
        }
      });
    });
  });

  it('trusts leaves of the old and the new CA with the old+new bundle, and each CA alone only its own', async () => {
    const [oldRoot, newRoot] = await Promise.all([
      createTestCA({ commonName: 'old' }),
      createTestCA({ commonName: 'new' }),
    ]);
    const bundle = mergeTrustBundle(oldRoot.certPem, newRoot.certPem);
    const [fromOld] = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      certificates: [],
      ca: authority(oldRoot.certPem, oldRoot.keyPem),
    });
    const [fromNew] = await issueCertificates({
      database: 'db',
      namespace: 'ns',
      certificates: [],
      ca: authority(newRoot.certPem, newRoot.keyPem),
      trustBundlePem: bundle,
    });
    expect(verify(fromOld!, [], bundle).ok).toBe(true);
    expect(verify(fromNew!, [], bundle).ok).toBe(true);
    expect(verify(fromOld!, [], newRoot.certPem).ok).toBe(false);
    expect(verify(fromNew!, [], oldRoot.certPem).ok).toBe(false);
  });
});
