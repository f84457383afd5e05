import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import type { CertificateSpec } from '../../../functions/model/types.js';
import {
  certificateSpecProblems,
  isValidDnsName,
  isValidEmail,
  isValidIp,
  isValidUri,
  validateCertificateSpecs,
} from '../../../functions/pki/index.js';

describe('Request validation', () => {
  describe('DNS names (RFC 1123, a wildcard only as the whole first label)', () => {
    it.each([
      'localhost',
      'sample-pxc',
      'sample-pxc-0.sample-pxc-pods.demo.svc',
      '*.sample-pxc-pods.demo.svc',
      'Example.COM',
      '1password.com',
      `${'a'.repeat(63)}.example.com`,
    ])('accepts %s', (name) => expect(isValidDnsName(name)).toBe(true));
    it.each([
      '',
      '*',
      '*.com',
      'a.*.example.com',
      'foo*.example.com',
      '-leading.example.com',
      'trailing-.example.com',
      'under_score.example.com',
      'double..dot',
      'trailing.dot.',
      'space in.example.com',
      `${'a'.repeat(64)}.example.com`,
      `${'a.'.repeat(127)}ab`,
    ])('rejects %j', (name) => expect(isValidDnsName(name)).toBe(false));
  });

  it.each([
    ['127.0.0.1', true],
    ['10.0.0.255', true],
    ['::1', true],
    ['fd00::10:1', true],
    ['2001:db8::8a2e:370:7334', true],
    ['256.0.0.1', false],
    ['1.2.3', false],
    ['localhost', false],
    ['::g', false],
    ['127.0.0.1/32', false],
  ])('IP address %s valid: %s', (ip, ok) => expect(isValidIp(ip)).toBe(ok));

  it.each([
    ['dba@example.com', true],
    ['first.last+tag@sub.example.org', true],
    ['no-at-sign', false],
    ['@example.com', false],
    ['dba@', false],
    ['dba@exa mple.com', false],
    ['two@@example.com', false],
    ['dba@*.example.com', false],
    ['.dot@example.com', false],
  ])('email %s valid: %s', (email, ok) => expect(isValidEmail(email)).toBe(ok));

  it.each([
    ['spiffe://cluster.local/ns/demo/sa/pxc', true],
    ['https://example.com/path?q=1', true],
    ['urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66', true],
    ['example.com/path', false],
    ['https://exa mple.com', false],
    ['', false],
    ['://missing-scheme', false],
  ])('URI %s valid: %s', (uri, ok) => expect(isValidUri(uri)).toBe(ok));

  it('accepts the KubeDB guide example and the empty list', () => {
    expect(() =>
      validateCertificateSpecs([
        {
          alias: 'server',
          subject: { organizations: ['kubedb:server'] },
          dnsNames: ['localhost'],
          ipAddresses: ['127.0.0.1'],
        },
        { alias: 'client', duration: '720h', renewBefore: '240h', privateKey: { encoding: 'PKCS8' } },
        { alias: 'metrics-exporter', subject: { countries: ['US'], serialNumber: 'A-1' } },
      ]),
    ).not.toThrow();
    expect(() => validateCertificateSpecs([])).not.toThrow();
  });

  it.each<[string, CertificateSpec, string]>([
    ['an unknown alias', { alias: 'backup' }, 'spec.tls.certificates[0].alias: "backup"'],
    ['a bad duration', { alias: 'server', duration: '90d' }, 'spec.tls.certificates[0].duration: "90d"'],
    [
      'a duration under 1h',
      { alias: 'server', duration: '59m' },
      'spec.tls.certificates[0].duration: "59m" is shorter than the minimum 1h',
    ],
    [
      'renewBefore not under duration',
      { alias: 'server', duration: '24h', renewBefore: '24h' },
      'spec.tls.certificates[0].renewBefore: "24h" must be shorter than duration 24h',
    ],
    [
      'renewBefore over the default duration',
      { alias: 'server', renewBefore: '2200h' },
      'renewBefore: "2200h" must be shorter than duration 2160h',
    ],
    [
      'renewBefore under 5m',
      { alias: 'server', renewBefore: '1m' },
      'spec.tls.certificates[0].renewBefore: "1m" is shorter than the minimum 5m',
    ],
    [
      'an unparsable renewBefore',
      { alias: 'server', renewBefore: 'soon' },
      'spec.tls.certificates[0].renewBefore: "soon"',
    ],
    [
      'a bad DNS name',
      { alias: 'server', dnsNames: ['localhost', 'bad_name'] },
      'spec.tls.certificates[0].dnsNames[1]: "bad_name"',
    ],
    [
      'a misplaced wildcard',
      { alias: 'server', dnsNames: ['a.*.svc'] },
      'spec.tls.certificates[0].dnsNames[0]: "a.*.svc"',
    ],
    [
      'a bad IP',
      { alias: 'server', ipAddresses: ['300.1.1.1'] },
      'spec.tls.certificates[0].ipAddresses[0]: "300.1.1.1"',
    ],
    [
      'a bad email',
      { alias: 'client', emailAddresses: ['dba'] },
      'spec.tls.certificates[0].emailAddresses[0]: "dba"',
    ],
    ['a bad URI', { alias: 'client', uris: ['not a uri'] }, 'spec.tls.certificates[0].uris[0]: "not a uri"'],
    [
      'a bad encoding',
      { alias: 'client', privateKey: { encoding: 'PKCS12' } },
      'spec.tls.certificates[0].privateKey.encoding: "PKCS12"',
    ],
    [
      'a bad Secret name',
      { alias: 'client', secretName: 'My_Secret' },
      'spec.tls.certificates[0].secretName: "My_Secret"',
    ],
    [
      'a bad country',
      { alias: 'client', subject: { countries: ['USA'] } },
      'spec.tls.certificates[0].subject.countries[0]: "USA"',
    ],
    [
      'an unknown subject field',
      { alias: 'client', subject: { organisation: ['x'] } as never },
      'spec.tls.certificates[0].subject.organisation',
    ],
    [
      'a bad issuer kind',
      { alias: 'client', issuerRef: { kind: 'Vault', name: 'v' } },
      'spec.tls.certificates[0].issuerRef.kind: "Vault"',
    ],
  ])('rejects %s, naming the field and the value', (_, spec, message) => {
    const attempt = () => validateCertificateSpecs([spec]);
    expect(attempt).toThrow(InvalidRequestError);
    expect(attempt).toThrow(message);
  });

  it('rejects the same alias twice', () => {
    expect(() => validateCertificateSpecs([{ alias: 'server' }, { alias: 'server' }])).toThrow(
      'spec.tls.certificates[1].alias: "server" appears more than once',
    );
  });

  it('reports every bad value at once, under the prefix it is given', () => {
    const problems = certificateSpecProblems(
      [
        { alias: 'server', dnsNames: ['ok.example.com', 'x_y'], ipAddresses: ['1.2.3.4.5'] },
        { alias: 'client', duration: '30m' },
      ],
      'spec.tls.certificates',
    );
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(
      /\[0\]\.dnsNames\[1\].*\n.*\[0\]\.ipAddresses\[0\].*\n.*\[1\]\.duration/,
    );
  });
});
