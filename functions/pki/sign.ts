/**
 * Building and signing an X.509 v3 certificate.
 *
 * node-forge builds the structure (names, extensions, ASN.1/DER); the signature itself is made
 * with `node:crypto` using the CA's key, whatever its type (RSA, ECDSA P-256/384/521, Ed25519).
 * Two reasons: forge can only sign with RSA keys, and the issuer Name is copied byte for byte
 * from the CA certificate's subject so no verifier ever sees a re-encoded name that differs.
 */
import { createPrivateKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import forge from 'node-forge';
import { InvalidIssuerError } from '../errors.js';
import type { X509Subject } from '../model/types.js';
import { derToAsn1 } from './x509.js';

const { asn1 } = forge;
const { Class, Type } = asn1;

export interface SignatureAlgorithm {
  oid: string;
  hash: string | null;
  /** RSA's AlgorithmIdentifier carries an explicit NULL; ECDSA and Ed25519 omit parameters. */
  nullParams: boolean;
}

/** The signature algorithm a CA key signs with; InvalidIssuerError for key types we do not sign with. */
export function signatureAlgorithmFor(key: KeyObject, who = 'CA key'): SignatureAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { oid: '1.2.840.113549.1.1.11', hash: 'sha256', nullParams: true };
    case 'ec':
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case 'prime256v1':
          return { oid: '1.2.840.10045.4.3.2', hash: 'sha256', nullParams: false };
        case 'secp384r1':
          return { oid: '1.2.840.10045.4.3.3', hash: 'sha384', nullParams: false };
        case 'secp521r1':
          return { oid: '1.2.840.10045.4.3.4', hash: 'sha512', nullParams: false };
      }
      throw new InvalidIssuerError(
        `${who}: EC curve ${key.asymmetricKeyDetails?.namedCurve} is not supported`,
      );
    case 'ed25519':
      return { oid: '1.3.101.112', hash: null, nullParams: false };
    default:
      throw new InvalidIssuerError(
        `${who}: key type ${key.asymmetricKeyType} is not supported (use RSA, ECDSA or Ed25519)`,
      );
  }
}

/** A random positive serial: 16 bytes, first byte in 0x40..0x7f (so DER needs no padding and it is ≥ 126 random bits). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

const SUBJECT_FIELDS: Array<[keyof X509Subject, string, number]> = [
  ['countries', 'countryName', Type.PRINTABLESTRING],
  ['provinces', 'stateOrProvinceName', Type.UTF8],
  ['localities', 'localityName', Type.UTF8],
  ['streetAddresses', 'streetAddress', Type.UTF8],
  ['postalCodes', 'postalCode', Type.UTF8],
  ['organizations', 'organizationName', Type.UTF8],
  ['organizationalUnits', 'organizationalUnitName', Type.UTF8],
];

/** The subject Name: the spec's fields (one RDN per value) then serialNumber and CN, like cert-manager. */
export function subjectName(commonName: string, subject: X509Subject = {}): forge.asn1.Asn1 {
  const attrs: Array<{ name: string; value: string; valueTagClass: number }> = [];
  for (const [key, name, tag] of SUBJECT_FIELDS) {
    for (const value of (subject[key] as string[] | undefined) ?? []) {
      attrs.push({ name, value: key === 'countries' ? value.toUpperCase() : value, valueTagClass: tag });
    }
  }
  if (subject.serialNumber) {
    attrs.push({ name: 'serialNumber', value: subject.serialNumber, valueTagClass: Type.PRINTABLESTRING });
  }
  attrs.push({ name: 'commonName', value: commonName, valueTagClass: Type.UTF8 });
  const holder = forge.pki.createCertificate();
  holder.setSubject(attrs as never);
  return forge.pki.distinguishedNameToAsn1(holder.subject);
}

function timeNode(date: Date): forge.asn1.Asn1 {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function algorithmIdentifier(alg: SignatureAlgorithm): forge.asn1.Asn1 {
  const parts = [asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(alg.oid).getBytes())];
  if (alg.nullParams) parts.push(asn1.create(Class.UNIVERSAL, Type.NULL, false, ''));
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, parts);
}

function octets(hex: string): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, forge.util.hexToBytes(hex));
}

export interface CertificateTemplate {
  subject: forge.asn1.Asn1;
  /** The issuer's subject Name as parsed from its certificate; undefined for a self-signed certificate. */
  issuer?: forge.asn1.Asn1;
  /** The subject's public key, SubjectPublicKeyInfo DER. */
  spkiDer: Buffer;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  subjectKeyId: string;
  authorityKeyId?: string;
  isCA: boolean;
  /** forge keyUsage flags, e.g. { digitalSignature: true, keyEncipherment: true }. */
  keyUsage: Record<string, boolean>;
  extKeyUsage?: string[];
  altNames?: Array<{ type: number; value?: string; ip?: string }>;
}

/** Builds the TBSCertificate with forge and signs it with `signerKey`; returns the certificate PEM. */
export function signCertificate(t: CertificateTemplate, signerKey: KeyObject | string): string {
  const key = typeof signerKey === 'string' ? createPrivateKey(signerKey) : signerKey;
  const alg = signatureAlgorithmFor(key);

  const holder = forge.pki.createCertificate();
  const extensions: Array<Record<string, unknown>> = [
    { name: 'basicConstraints', cA: t.isCA, critical: true },
    { name: 'keyUsage', critical: true, ...t.keyUsage },
  ];
  if (t.extKeyUsage && t.extKeyUsage.length > 0) {
    extensions.push({ name: 'extKeyUsage', ...Object.fromEntries(t.extKeyUsage.map((u) => [u, true])) });
  }
  extensions.push({ name: 'subjectKeyIdentifier', value: octets(t.subjectKeyId) });
  if (t.authorityKeyId) {
    extensions.push({
      name: 'authorityKeyIdentifier',
      value: asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
        asn1.create(Class.CONTEXT_SPECIFIC, 0, false, forge.util.hexToBytes(t.authorityKeyId)),
      ]),
    });
  }
  if (t.altNames && t.altNames.length > 0) {
    // RFC 5280: critical when the subject is empty; ours always has a CN, so not critical.
    extensions.push({ name: 'subjectAltName', altNames: t.altNames });
  }
  holder.setExtensions(extensions as never);

  const tbs = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(2).getBytes()),
    ]),
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, forge.util.hexToBytes(t.serialHex)),
    algorithmIdentifier(alg),
    t.issuer ?? t.subject,
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [timeNode(t.notBefore), timeNode(t.notAfter)]),
    t.subject,
    derToAsn1(t.spkiDer),
    (
      forge.pki as unknown as { certificateExtensionsToAsn1(e: unknown): forge.asn1.Asn1 }
    ).certificateExtensionsToAsn1(holder.extensions),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign(alg.hash, tbsDer, key);
  const cert = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(alg),
    asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, `\0${signature.toString('binary')}`),
  ]);
  const der = Buffer.from(asn1.toDer(cert).getBytes(), 'binary');
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
