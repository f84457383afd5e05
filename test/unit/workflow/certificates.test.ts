import { describe, expect, it } from 'vitest';
import {
  type CertManagerCertificate,
  certificateSpecPatch,
  classifyIssuer,
  effectiveIssuerRef,
  issuanceState,
  type ReissueRecord,
} from '../../../functions/model/certificates.js';

const ref = (kind: string, name: string, apiGroup?: string) => ({
  kind,
  name,
  ...(apiGroup ? { apiGroup } : {}),
});

describe('Issuers: who can sign', () => {
  it.each([
    { why: 'a CA issuer', r: ref('Issuer', 'a'), spec: { ca: { secretName: 's' } }, want: 'ca' },
    { why: 'a Vault issuer', r: ref('ClusterIssuer', 'v'), spec: { vault: {} }, want: 'cert-manager-only' },
    { why: 'a Venafi issuer', r: ref('Issuer', 'v'), spec: { venafi: {} }, want: 'cert-manager-only' },
    {
      why: 'an external issuer (AWS Private CA)',
      r: ref('AWSPCAClusterIssuer', 'pca', 'awspca.cert-manager.io'),
      spec: undefined,
      want: 'cert-manager-only',
    },
  ])('$why: $want', ({ r, spec, want }) => {
    expect(classifyIssuer(r, spec)).toBe(want);
  });

  it.each([
    { spec: { acme: {} }, why: /ACME issuer cannot issue certificates for cluster-internal names/ },
    { spec: { selfSigned: {} }, why: /would not trust each other/ },
    { spec: {}, why: /not supported/ },
  ])('refuses %o', ({ spec, why }) => {
    expect(classifyIssuer(ref('Issuer', 'x'), spec)).toEqual({ refused: expect.stringMatching(why) });
  });

  it("uses an alias's own issuerRef before the database's", () => {
    const certs = [{ alias: 'client', issuerRef: ref('Issuer', 'clients') }];
    expect(effectiveIssuerRef(certs, 'client', ref('Issuer', 'db'))?.name).toBe('clients');
    expect(effectiveIssuerRef(certs, 'server', ref('Issuer', 'db'))?.name).toBe('db');
  });
});

describe('Certificate spec: only what differs, only the fields this project manages', () => {
  const current: CertManagerCertificate['spec'] = {
    secretName: 's',
    issuerRef: { group: 'cert-manager.io', kind: 'Issuer', name: 'a' },
    commonName: 'db.demo.svc',
    dnsNames: ['b', 'a'],
    usages: ['server auth', 'digital signature'],
    secretTemplate: { labels: { team: 'x' } },
    privateKey: { algorithm: 'RSA', size: 4096 },
  };

  it('changes nothing for the same names in another order and a defaulted issuerRef group', () => {
    const want = {
      ...current,
      issuerRef: { kind: 'Issuer', name: 'a' },
      dnsNames: ['a', 'b'],
      usages: ['digital signature', 'server auth'],
      privateKey: { algorithm: 'RSA' },
    };
    expect(certificateSpecPatch(current, want)).toBeUndefined();
  });

  it('sets a new issuer and rotation policy, keeps secretTemplate and the key size someone set', () => {
    const want = {
      ...current,
      issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'b' },
      privateKey: { rotationPolicy: 'Always', encoding: 'PKCS8' },
    };
    expect(certificateSpecPatch(current, want)).toEqual({
      spec: {
        issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'b' },
        privateKey: { rotationPolicy: 'Always', encoding: 'PKCS8' },
      },
    });
  });

  it('removes a managed field the wanted spec does not have (null in the merge patch)', () => {
    expect(certificateSpecPatch({ ...current, emailAddresses: ['x@y.z'] }, current)).toEqual({
      spec: { emailAddresses: null },
    });
  });
});

describe('Issuance: has the re-issuance this request triggered completed?', () => {
  const at = '2026-11-30T10:00:00.000Z';
  const record: ReissueRecord = { by: 'uid/1', revisionBefore: 3, at };
  const cert = (status: CertManagerCertificate['status'], generation = 2): CertManagerCertificate => ({
    metadata: { name: 'c', generation },
    spec: { secretName: 's', issuerRef: { name: 'a' } },
    status,
  });
  const ready = (g = 2) => ({ type: 'Ready', status: 'True', observedGeneration: g });

  it.each([
    {
      why: 'a new revision, Ready for this generation',
      s: { revision: 4, conditions: [ready()] },
      done: true,
    },
    { why: 'the old revision', s: { revision: 3, conditions: [ready()] }, done: false },
    {
      why: 'a new revision but Ready for an older generation',
      s: { revision: 4, conditions: [ready(1)] },
      done: false,
    },
    {
      why: 'still issuing',
      s: { revision: 4, conditions: [ready(), { type: 'Issuing', status: 'True' }] },
      done: false,
    },
  ])('$why: done=$done', ({ s, done }) => {
    expect(issuanceState(cert(s), record).done).toBe(done);
  });

  it('reports a failure cert-manager marked after the trigger, with its message', () => {
    const failed = cert({
      revision: 3,
      lastFailureTime: '2026-11-30T10:00:05Z',
      conditions: [
        { type: 'Issuing', status: 'False', reason: 'Failed', message: 'vault: permission denied' },
      ],
    });
    expect(issuanceState(failed, record)).toMatchObject({ done: false, failed: 'vault: permission denied' });
  });

  it('ignores a failure from before the trigger (it was retried)', () => {
    const old = cert({
      revision: 3,
      lastFailureTime: '2026-11-30T09:00:00Z',
      conditions: [{ type: 'Issuing', status: 'False', reason: 'Failed', message: 'old' }],
    });
    expect(issuanceState(old, record)).toMatchObject({ done: false });
    expect(issuanceState(old, record)).not.toHaveProperty('failed');
  });
});
