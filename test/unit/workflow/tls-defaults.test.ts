import { describe, expect, it } from 'vitest';
import { sameStoredTls, withKubedbDefaults } from '../../../functions/model/tls-defaults.js';

const issuerRef = { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' };

describe("KubeDB's TLS defaulting (SetTLSDefaults), as the workflow compares spec.tls", () => {
  it('adds an entry with the default secretName for each alias, keeping existing entries in place', () => {
    expect(
      withKubedbDefaults('db', {
        issuerRef,
        certificates: [{ alias: 'client', subject: { organizations: ['o'] } }],
      }),
    ).toEqual({
      issuerRef,
      certificates: [
        { alias: 'client', subject: { organizations: ['o'] }, secretName: 'db-client-cert' },
        { alias: 'server', secretName: 'db-server-cert' },
        { alias: 'metrics-exporter', secretName: 'db-metrics-exporter-cert' },
      ],
    });
  });

  it('keeps a secretName that is set, and leaves a spec without issuerRef alone', () => {
    expect(
      withKubedbDefaults('db', { issuerRef, certificates: [{ alias: 'server', secretName: 'mine' }] })
        ?.certificates?.[0],
    ).toEqual({ alias: 'server', secretName: 'mine' });
    expect(withKubedbDefaults('db', { certificates: [] })).toEqual({ certificates: [] });
    expect(withKubedbDefaults('db', undefined)).toBeNull();
  });

  it.each([
    [
      'what the workflow wrote and what KubeDB stored',
      { issuerRef, certificates: [{ alias: 'server' as const }] },
      true,
    ],
    [
      'the same, keys in the API server’s order',
      { certificates: [{ secretName: 'db-server-cert', alias: 'server' as const }], issuerRef },
      true,
    ],
    [
      'another secretName',
      { issuerRef, certificates: [{ alias: 'server' as const, secretName: 'other' }] },
      false,
    ],
    ['TLS off', null, false],
  ])('%s: same = %s', (_why, written, same) => {
    const stored = withKubedbDefaults('db', { issuerRef, certificates: [{ alias: 'server' }] });
    expect(sameStoredTls('db', written, stored)).toBe(same);
  });
});
