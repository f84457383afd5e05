import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import {
  type CertificateAuthority,
  certificateValidity,
  createTestCA,
  fingerprintOf,
  type IssuedSecret,
  inspectTlsSecret,
  issueCertificates,
  mergeTrustBundle,
} from '../../../functions/pki/index.js';
import { authority, type TestCA } from './fixtures.js';

const ISSUED_AT = new Date('2026-03-01T00:00:00Z');

describe('Inspecting a TLS Secret', () => {
  let root: TestCA;
  let ca: CertificateAuthority;
  let server: IssuedSecret;
  let client: IssuedSecret;

  beforeAll(async () => {
    root = await createTestCA({
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2036-01-01T00:00:00Z'),
    });
    ca = authority(root.certPem, root.keyPem);
    const issued = await issueCertificates({
      database: 'sample-pxc',
      namespace: 'demo',
      ca,
      now: ISSUED_AT,
      certificates: [
        { alias: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], duration: '90h' },
        { alias: 'client', emailAddresses: ['dba@example.com'], uris: ['spiffe://c/ns/demo'] },
      ],
    });
    server = issued[0]!;
    client = issued[1]!;
  });

  it('reads serial, validity, subject and SANs', () => {
    const info = inspectTlsSecret(server.data, { now: ISSUED_AT });
    expect(info).toMatchObject({
      serial: server.serial,
      notBefore: '2026-02-28T23:55:00.000Z',
      notAfter: '2026-03-04T18:00:00.000Z',
      subject: 'CN=sample-pxc.demo.svc',
      ipAddresses: ['127.0.0.1'],
      emailAddresses: [],
      uris: [],
      keyMatches: true,
      expired: false,
      due: false,
    });
    expect(info.dnsNames).toContain('localhost');
    expect(info.dnsNames).toContain('*.sample-pxc-pods.demo.svc');
    const c = inspectTlsSecret(client.data, { now: ISSUED_AT });
    expect(c.emailAddresses).toEqual(['dba@example.com']);
    expect(c.uris).toEqual(['spiffe://c/ns/demo']);
  });

  it.each([
    // lifetime = 90h + the 5m backdate, so a third of it is 30h1m40s.
    ['two thirds into the lifetime when renewBefore is unset', undefined, '2026-03-03T11:58:20.000Z'],
    ['notAfter − renewBefore when given', '24h', '2026-03-03T18:00:00.000Z'],
    [
      'two thirds into the lifetime when renewBefore is not shorter than it',
      '200h',
      '2026-03-03T11:58:20.000Z',
    ],
  ])('puts the renewal time %s', (_, renewBefore, expected) => {
    expect(inspectTlsSecret(server.data, { renewBefore, now: ISSUED_AT }).renewalTime).toBe(expected);
  });

  it.each([
    ['before the renewal time', '2026-03-02T00:00:00Z', { due: false, expired: false }],
    ['after the renewal time', '2026-03-04T00:00:00Z', { due: true, expired: false }],
    ['after notAfter', '2026-03-05T00:00:00Z', { due: true, expired: true }],
  ])('tells due and expired %s', (_, now, expected) => {
    expect(inspectTlsSecret(server.data, { now: new Date(now) })).toMatchObject(expected);
  });

  it('names the CA in ca.crt that signed the certificate, and every CA in ca.crt', async () => {
    const other = await createTestCA({ commonName: 'other' });
    const info = inspectTlsSecret({
      ...server.data,
      'ca.crt': mergeTrustBundle(other.certPem, root.certPem),
    });
    expect(info.issuerFingerprint).toBe(fingerprintOf(root.certPem));
    expect(info.caFingerprints).toEqual([fingerprintOf(other.certPem), fingerprintOf(root.certPem)]);
    const untrusted = inspectTlsSecret({ ...server.data, 'ca.crt': other.certPem });
    expect(untrusted.issuerFingerprint).toBeUndefined();
  });

  it('tells when the key does not match the certificate, or is missing', () => {
    expect(inspectTlsSecret({ ...server.data, 'tls.key': client.data['tls.key'] }).keyMatches).toBe(false);
    expect(inspectTlsSecret({ ...server.data, 'tls.key': undefined }).keyMatches).toBe(false);
    expect(inspectTlsSecret({ ...server.data, 'tls.key': 'garbage' }).keyMatches).toBe(false);
  });

  it('works without ca.crt', () => {
    const info = inspectTlsSecret({ 'tls.crt': server.data['tls.crt'] });
    expect(info.caFingerprints).toEqual([]);
    expect(info.issuerFingerprint).toBeUndefined();
  });

  it.each([
    ['no tls.crt', { 'tls.key': 'x' }, {}, /tls.crt: missing or empty/],
    ['a tls.crt that is not PEM', { 'tls.crt': 'hello' }, {}, /tls.crt: no PEM certificate found/],
    [
      'a tls.crt with a broken body',
      { 'tls.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' },
      {},
      /tls.crt #1: not a readable X.509 certificate/,
    ],
    ['a bad renewBefore', undefined, { renewBefore: 'a month' }, /renewBefore: "a month"/],
  ])('throws InvalidRequestError on %s', (_, data, opts, message) => {
    const attempt = () => inspectTlsSecret(data ?? server.data, opts);
    expect(attempt).toThrow(InvalidRequestError);
    expect(attempt).toThrow(message);
  });
});

describe('Reading only a certificate’s validity (the expiry scanner’s fast path)', () => {
  it('agrees with the full inspection on serial, validity and renewal time, and never needs the key', async () => {
    const root = await createTestCA();
    const ca = authority(root.certPem, root.keyPem);
    for (let round = 0; round < 4; round++) {
      const issued = await issueCertificates({
        database: 'sample-pxc',
        namespace: 'demo',
        ca,
        now: ISSUED_AT,
        certificates: [{ alias: 'server', duration: '2160h', renewBefore: '360h' }],
      });
      for (const secret of issued) {
        for (const renewBefore of [undefined, '360h']) {
          const full = inspectTlsSecret(secret.data, { renewBefore, now: ISSUED_AT });
          const fast = certificateValidity(secret.data['tls.crt'], { renewBefore });
          expect(fast).toEqual({
            serial: full.serial,
            notBefore: full.notBefore,
            notAfter: full.notAfter,
            renewalTime: full.renewalTime,
          });
        }
      }
    }
  });

  it('refuses a tls.crt with no readable certificate', () => {
    expect(() => certificateValidity('not a pem')).toThrow(InvalidRequestError);
    expect(() => certificateValidity('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow(
      /tls.crt: not a readable X.509 certificate/,
    );
  });
});
