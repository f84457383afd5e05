import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import {
  bundleTrusts,
  chainsTo,
  createTestCA,
  fingerprintOf,
  issueCertificates,
  mergeTrustBundle,
} from '../../../functions/pki/index.js';
import { authority, type TestCA } from './fixtures.js';

/** The same certificate, written differently: CRLF line ends and 76-column base64. */
function rewrapped(pem: string): string {
  const body = pem.replace(/-----[^-]+-----|\s/g, '');
  const lines = body.match(/.{1,76}/g) ?? [];
  return ['-----BEGIN CERTIFICATE-----', ...lines, '-----END CERTIFICATE-----', ''].join('\r\n');
}

describe('Trust bundles', () => {
  let oldCa: TestCA;
  let newCa: TestCA;
  let third: TestCA;

  beforeAll(async () => {
    [oldCa, newCa, third] = await Promise.all([
      createTestCA({ commonName: 'old CA' }),
      createTestCA({ commonName: 'new CA' }),
      createTestCA({ commonName: 'unrelated CA' }),
    ]);
  });

  describe('mergeTrustBundle', () => {
    it.each([
      ['old + new', () => [oldCa.certPem, newCa.certPem], () => [oldCa, newCa]],
      ['a duplicate given twice', () => [oldCa.certPem, oldCa.certPem], () => [oldCa]],
      [
        'the same CA written differently (compared by fingerprint, not text)',
        () => [oldCa.certPem, rewrapped(oldCa.certPem)],
        () => [oldCa],
      ],
      [
        'a bundle merged with one of its own CAs',
        () => [oldCa.certPem + newCa.certPem, newCa.certPem, third.certPem],
        () => [oldCa, newCa, third],
      ],
      ['empty strings skipped', () => ['', oldCa.certPem, '  \n'], () => [oldCa]],
      [
        'order of first appearance kept',
        () => [newCa.certPem, oldCa.certPem + newCa.certPem],
        () => [newCa, oldCa],
      ],
    ])('handles %s', (_, input, expected) => {
      const merged = mergeTrustBundle(...input());
      const prints = (
        merged.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
      ).map(fingerprintOf);
      expect(prints).toEqual(expected().map((c) => fingerprintOf(c.certPem)));
    });

    it('rejects text that holds no certificate', () => {
      expect(() => mergeTrustBundle('not a pem')).toThrow(InvalidRequestError);
    });
  });

  describe('bundleTrusts and chainsTo', () => {
    it('trust a certificate exactly when its CA is in the bundle', async () => {
      const [fromOld] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: authority(oldCa.certPem, oldCa.keyPem),
      });
      const [fromNew] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: authority(newCa.certPem, newCa.keyPem),
      });
      const leafOld = fromOld!.data['tls.crt'];
      const leafNew = fromNew!.data['tls.crt'];
      const both = mergeTrustBundle(oldCa.certPem, newCa.certPem);

      expect(bundleTrusts(both, leafOld)).toBe(true);
      expect(bundleTrusts(both, leafNew)).toBe(true);
      expect(bundleTrusts(oldCa.certPem, leafNew)).toBe(false);
      expect(bundleTrusts(newCa.certPem, leafOld)).toBe(false);
      expect(bundleTrusts(third.certPem, leafOld)).toBe(false);
      expect(chainsTo(leafOld, oldCa.certPem)).toBe(true);
      expect(chainsTo(leafOld, newCa.certPem)).toBe(false);
    });

    it('do not trust a CA with the same name but another key', async () => {
      const impostor = await createTestCA({ commonName: 'old CA' });
      const [leaf] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: authority(oldCa.certPem, oldCa.keyPem),
      });
      expect(bundleTrusts(impostor.certPem, leaf!.data['tls.crt'])).toBe(false);
    });

    it('follow intermediates shipped in tls.crt up to the root, and not without them', async () => {
      const root = await createTestCA({ commonName: 'root' });
      const inter = await createTestCA({ commonName: 'intermediate', parent: root });
      const [leaf] = await issueCertificates({
        database: 'db',
        namespace: 'ns',
        certificates: [],
        ca: authority(inter.certPem + root.certPem, inter.keyPem),
      });
      const tlsCrt = leaf!.data['tls.crt'];
      const leafOnly = `${tlsCrt.split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n`;
      expect(chainsTo(tlsCrt, root.certPem)).toBe(true);
      expect(chainsTo(leafOnly, root.certPem)).toBe(false);
      expect(chainsTo(leafOnly, inter.certPem)).toBe(true);
      expect(bundleTrusts(mergeTrustBundle(third.certPem, root.certPem), tlsCrt)).toBe(true);
    });
  });
});
