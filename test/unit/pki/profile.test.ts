import { describe, expect, it } from 'vitest';
import {
  certificateProfile,
  certificateProfiles,
  defaultIdentity,
  mergeCertificateSpecs,
  renewalTime,
} from '../../../functions/pki/index.js';

const H = 3_600_000;

describe('certificate profiles', () => {
  it.each([
    [
      'server',
      'sample-pxc.demo.svc',
      [
        '*.sample-pxc-pods.demo.svc',
        '*.sample-pxc-pods.demo.svc.cluster.local',
        '*.sample-pxc.demo.svc',
        'sample-pxc',
        'sample-pxc.demo.svc',
      ],
      ['serverAuth', 'clientAuth'],
    ],
    ['client', 'root', [], ['clientAuth']],
    [
      'metrics-exporter',
      'sample-pxc-stats.demo.svc',
      ['sample-pxc-stats', 'sample-pxc-stats.demo.svc', 'sample-pxc-stats.demo.svc.cluster.local'],
      ['serverAuth', 'clientAuth'],
    ],
  ] as const)(
    'gives the %s certificate CN %s, its default DNS names and usages',
    (alias, cn, dns, usages) => {
      expect(defaultIdentity(alias, 'sample-pxc', 'demo')).toEqual({
        commonName: cn,
        dnsNames: dns,
        extendedUsages: usages,
      });
    },
  );

  it("adds the spec's names after the defaults, without duplicates", () => {
    const p = certificateProfile(
      'server',
      {
        alias: 'server',
        dnsNames: ['localhost', 'sample-pxc', 'localhost'],
        ipAddresses: ['127.0.0.1', '127.0.0.1'],
        emailAddresses: ['dba@example.com'],
        uris: ['spiffe://cluster.local/ns/demo/sa/pxc'],
      },
      'sample-pxc',
      'demo',
    );
    expect(p.dnsNames).toEqual([
      '*.sample-pxc-pods.demo.svc',
      '*.sample-pxc-pods.demo.svc.cluster.local',
      '*.sample-pxc.demo.svc',
      'sample-pxc',
      'sample-pxc.demo.svc',
      'localhost',
    ]);
    expect(p.ipAddresses).toEqual(['127.0.0.1']);
    expect(p.emailAddresses).toEqual(['dba@example.com']);
    expect(p.uris).toEqual(['spiffe://cluster.local/ns/demo/sa/pxc']);
  });

  it.each([
    [{ alias: 'client' }, 'sample-pxc-client-cert', 2160 * H, undefined, 'PKCS1'],
    [
      {
        alias: 'client',
        secretName: 'my-client',
        duration: '720h',
        renewBefore: '240h',
        privateKey: { encoding: 'PKCS8' },
      },
      'my-client',
      720 * H,
      240 * H,
      'PKCS8',
    ],
  ])('applies defaults and overrides to %j', (spec, secretName, durationMs, renewBeforeMs, encoding) => {
    const p = certificateProfile('client', spec, 'sample-pxc', 'demo');
    expect(p).toMatchObject({ secretName, durationMs, renewBeforeMs, encoding });
  });

  it('always yields the three aliases in a fixed order, whatever the request lists', () => {
    const ps = certificateProfiles([{ alias: 'metrics-exporter', duration: '24h' }], 'db', 'ns');
    expect(ps.map((p) => p.alias)).toEqual(['server', 'client', 'metrics-exporter']);
    expect(ps[2]!.durationMs).toBe(24 * H);
    expect(ps[0]!.durationMs).toBe(2160 * H);
  });
});

describe('renewal time', () => {
  const nb = new Date('2026-01-01T00:00:00Z');
  it.each([
    [
      'a third of the lifetime before the end when renewBefore is unset',
      90 * 24,
      undefined,
      '2026-03-02T00:00:00.000Z',
    ],
    ['renewBefore before the end when set', 90 * 24, 720, '2026-03-02T00:00:00.000Z'],
    ['renewBefore before the end (short)', 24, 1, '2026-01-01T23:00:00.000Z'],
    ['a third of the lifetime when renewBefore is not shorter than it', 3, 5, '2026-01-01T02:00:00.000Z'],
  ])('is %s', (_, lifetimeH, renewBeforeH, expected) => {
    const na = new Date(nb.getTime() + lifetimeH * H);
    expect(renewalTime(nb, na, renewBeforeH === undefined ? undefined : renewBeforeH * H).toISOString()).toBe(
      expected,
    );
  });
});

describe('mergeCertificateSpecs', () => {
  it.each([
    [
      'keeps the database entries when the request has none',
      [{ alias: 'server', dnsNames: ['a'] }],
      [],
      [{ alias: 'server', dnsNames: ['a'] }],
    ],
    [
      'replaces a field the request sets and keeps the others',
      [{ alias: 'server', dnsNames: ['a'], duration: '720h' }],
      [{ alias: 'server', emailAddresses: ['x@example.com'], duration: '24h' }],
      [{ alias: 'server', dnsNames: ['a'], duration: '24h', emailAddresses: ['x@example.com'] }],
    ],
    [
      'adds an alias the database lacks',
      [{ alias: 'server' }],
      [{ alias: 'client', subject: { organizations: ['o'] } }],
      [{ alias: 'server' }, { alias: 'client', subject: { organizations: ['o'] } }],
    ],
    [
      'ignores fields the request leaves undefined',
      [{ alias: 'client', duration: '24h' }],
      [{ alias: 'client', duration: undefined }],
      [{ alias: 'client', duration: '24h' }],
    ],
  ])('%s', (_, base, overlay, expected) => {
    expect(mergeCertificateSpecs(base, overlay)).toEqual(expected);
  });

  it('does not modify its inputs', () => {
    const base = [{ alias: 'server', dnsNames: ['a'] }];
    mergeCertificateSpecs(base, [{ alias: 'server', dnsNames: ['b'] }]);
    expect(base).toEqual([{ alias: 'server', dnsNames: ['a'] }]);
  });
});
