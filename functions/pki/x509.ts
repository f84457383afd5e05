/**
 * Reading certificates: PEM bundles, fingerprints, and the fields the module needs.
 *
 * Parsing goes through `node:crypto` `X509Certificate` (any key type, real OpenSSL) plus
 * node-forge's ASN.1 reader for the extensions Node does not expose (key usage, basic
 * constraints, key identifiers, SANs). node-forge's own certificate parser is not used here
 * because it refuses every certificate whose key is not RSA, and a CA may well be ECDSA.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { InvalidRequestError } from '../errors.js';

const { asn1 } = forge;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export interface SubjectAltNames {
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
}

export interface ParsedCertificate {
  /** Normalised PEM (one certificate, trailing newline). */
  pem: string;
  der: Buffer;
  x509: X509Certificate;
  /** sha256 of the DER, hex lower-case, no colons. */
  fingerprint: string;
  /** Hex lower-case, no leading zero bytes. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** "CN=root, O=kubedb" in certificate order. */
  subject: string;
  /** The subject Name as parsed ASN.1, reused byte for byte as the issuer of what this CA signs. */
  subjectName: forge.asn1.Asn1;
  /** basicConstraints cA; undefined when the extension is absent. */
  isCA?: boolean;
  /** keyUsage keyCertSign; undefined when the extension is absent (then any use is allowed). */
  keyCertSign?: boolean;
  /** keyUsage bits that are set, by forge name (digitalSignature, keyEncipherment, ...). */
  keyUsage?: string[];
  /** extKeyUsage names (serverAuth, clientAuth, ...). */
  extKeyUsage?: string[];
  /** Hex lower-case. From the extension, else RFC 5280 method 1 (SHA-1 of the public key bits). */
  subjectKeyId: string;
  authorityKeyId?: string;
  san: SubjectAltNames;
  selfSigned: boolean;
}

/** Every certificate in a PEM string, in order. Throws InvalidRequestError when there is none. */
export function splitPem(pem: string, what = 'certificate'): string[] {
  const blocks = pem.match(PEM_CERT);
  if (!blocks || blocks.length === 0) {
    throw new InvalidRequestError(`${what}: no PEM certificate found`);
  }
  return blocks.map((b) => `${b.trim()}\n`);
}

/** DER → forge ASN.1, BIT STRING contents left as bytes so re-encoding gives back the same DER. */
export function derToAsn1(der: Buffer | string): forge.asn1.Asn1 {
  const bytes = typeof der === 'string' ? der : der.toString('binary');
  const fromDer = asn1.fromDer as unknown as (
    input: forge.util.ByteStringBuffer,
    options: { decodeBitStrings: boolean },
  ) => forge.asn1.Asn1;
  return fromDer(forge.util.createBuffer(bytes), { decodeBitStrings: false });
}

function bytesToHex(bytes: string): string {
  return Buffer.from(bytes, 'binary').toString('hex');
}

function readTime(node: forge.asn1.Asn1): Date {
  const value = node.value as string;
  return node.type === asn1.Type.UTCTIME ? asn1.utcTimeToDate(value) : asn1.generalizedTimeToDate(value);
}

interface ForgeExtension {
  id: string;
  name?: string;
  critical: boolean;
  value: string;
  cA?: boolean;
  keyCertSign?: boolean;
  altNames?: Array<{ type: number; value: string; ip?: string }>;
  subjectKeyIdentifier?: string;
  [flag: string]: unknown;
}

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

const pkiExt = forge.pki as unknown as { certificateExtensionFromAsn1(ext: forge.asn1.Asn1): ForgeExtension };

/** The TBSCertificate's fields by position (the version field is optional). */
function tbsFields(tbs: forge.asn1.Asn1) {
  const v = tbs.value as forge.asn1.Asn1[];
  const first = v[0]!;
  const i = first.tagClass === asn1.Class.CONTEXT_SPECIFIC && first.type === 0 ? 1 : 0;
  return {
    serial: v[i]!,
    issuer: v[i + 2]!,
    validity: v[i + 3]!,
    subject: v[i + 4]!,
    spki: v[i + 5]!,
    extensions: v.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3),
  };
}

/** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2 method 1). */
export function keyIdOfSpki(spkiDer: Buffer): string {
  const spki = derToAsn1(spkiDer);
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  // First byte of a BIT STRING's contents is the number of unused bits.
  return createHash('sha1')
    .update(Buffer.from(bits.slice(1), 'binary'))
    .digest('hex');
}

export function publicKeyId(key: KeyObject): string {
  return keyIdOfSpki(key.export({ type: 'spki', format: 'der' }));
}

/** Parses one PEM certificate. Throws InvalidRequestError (naming `what`) when it cannot. */
export function parseCertificate(pem: string, what = 'certificate'): ParsedCertificate {
  const [block] = splitPem(pem, what);
  let x509: X509Certificate;
  let root: forge.asn1.Asn1;
  try {
    x509 = new X509Certificate(block!);
    root = derToAsn1(x509.raw);
  } catch (err) {
    throw new InvalidRequestError(`${what}: not a readable X.509 certificate (${(err as Error).message})`, {
      cause: err,
    });
  }
  const tbs = (root.value as forge.asn1.Asn1[])[0]!;
  const f = tbsFields(tbs);
  const validity = f.validity.value as forge.asn1.Asn1[];
  const serialBytes = (f.serial.value as string).replace(/^\0+(?=[\s\S])/, '');

  const parsed: ParsedCertificate = {
    pem: block!,
    der: x509.raw,
    x509,
    fingerprint: createHash('sha256').update(x509.raw).digest('hex'),
    serial: bytesToHex(serialBytes),
    notBefore: readTime(validity[0]!),
    notAfter: readTime(validity[1]!),
    subject: x509.subject.split('\n').join(', '),
    subjectName: f.subject,
    subjectKeyId: publicKeyId(x509.publicKey),
    san: { dnsNames: [], ipAddresses: [], emailAddresses: [], uris: [] },
    selfSigned: false,
  };

  const extList = f.extensions
    ? ((f.extensions.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[])
    : [];
  for (const node of extList) {
    const ext = pkiExt.certificateExtensionFromAsn1(node);
    switch (ext.name) {
      case 'basicConstraints':
        parsed.isCA = ext.cA === true;
        break;
      case 'keyUsage':
        parsed.keyCertSign = ext.keyCertSign === true;
        parsed.keyUsage = KEY_USAGE_BITS.filter((b) => ext[b] === true);
        break;
      case 'extKeyUsage':
        parsed.extKeyUsage = Object.keys(ext).filter(
          (k) => ext[k] === true && !['critical', 'id', 'name', 'value'].includes(k),
        );
        break;
      case 'subjectKeyIdentifier':
        if (ext.subjectKeyIdentifier) parsed.subjectKeyId = ext.subjectKeyIdentifier.toLowerCase();
        break;
      case 'authorityKeyIdentifier': {
        const seq = asn1.fromDer(ext.value);
        const keyId = (seq.value as forge.asn1.Asn1[]).find(
          (n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0,
        );
        if (keyId) parsed.authorityKeyId = bytesToHex(keyId.value as string);
        break;
      }
      case 'subjectAltName':
        for (const alt of ext.altNames ?? []) {
          if (alt.type === 2) parsed.san.dnsNames.push(alt.value);
          else if (alt.type === 7 && alt.ip) parsed.san.ipAddresses.push(alt.ip);
          else if (alt.type === 1) parsed.san.emailAddresses.push(alt.value);
          else if (alt.type === 6) parsed.san.uris.push(alt.value);
        }
        break;
    }
  }
  parsed.selfSigned = x509.checkIssued(x509) && x509.verify(x509.publicKey);
  return parsed;
}

export function parseBundle(pem: string, what = 'certificate'): ParsedCertificate[] {
  return splitPem(pem, what).map((p, i) => parseCertificate(p, `${what} #${i + 1}`));
}

/** sha256 of the first certificate's DER, hex lower-case, no colons. */
export function fingerprintOf(certPem: string): string {
  return parseCertificate(certPem).fingerprint;
}

/** True when `issuer` signed `cert`: names line up and the signature verifies. */
export function signedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!cert.x509.checkIssued(issuer.x509)) return false;
  try {
    return cert.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * Walks from the leaf (first of `chain`) through the other certificates of `chain` until it
 * reaches one of `anchors`. Returns the certificate that signed the leaf and the anchor reached,
 * or undefined when no anchor is reached. Signatures only: validity dates are not checked here.
 */
export function findPath(
  chain: ParsedCertificate[],
  anchors: ParsedCertificate[],
): { signer: ParsedCertificate; anchor: ParsedCertificate } | undefined {
  const [leaf, ...pool] = chain;
  if (!leaf) return undefined;
  let current = leaf;
  let signer: ParsedCertificate | undefined;
  const seen = new Set<string>([leaf.fingerprint]);
  for (let depth = 0; depth < 10; depth++) {
    const anchor = anchors.find((a) => signedBy(current, a));
    if (anchor) return { signer: signer ?? anchor, anchor };
    const next = pool.find((c) => !seen.has(c.fingerprint) && signedBy(current, c));
    if (!next) return undefined;
    signer ??= next;
    seen.add(next.fingerprint);
    current = next;
  }
  return undefined;
}

/** True when the first certificate of `certPem` (with any intermediates after it) chains to a CA in `caPem`. */
export function chainsTo(certPem: string, caPem: string): boolean {
  return findPath(parseBundle(certPem), parseBundle(caPem, 'CA')) !== undefined;
}

/** True when some CA in the bundle (a `ca.crt`) is reached from the certificate. Same walk as chainsTo. */
export function bundleTrusts(bundlePem: string, certPem: string): boolean {
  return chainsTo(certPem, bundlePem);
}

/**
 * Old and new TLS material trust each other both ways: the new ca.crt still trusts the old
 * certificate, and the old ca.crt already trusts the new one. A server that loaded either can then
 * verify a peer that loaded the other, so pods may switch from one to the other in any order
 * (Reload mode reloads them in parallel only then). Unparsable material trusts nothing.
 */
export function trustOverlap(
  old: { certPem: string; caPem: string },
  now: { certPem: string; caPem: string },
): boolean {
  try {
    return chainsTo(old.certPem, now.caPem) && chainsTo(now.certPem, old.caPem);
  } catch {
    return false;
  }
}

/**
 * The ca.crt of a retired CA change: `current` without the CAs that were trusted before the
 * request (`original`) and anchor none of the certificates now served (`leaves`, the database's
 * three tls.crt). CAs the request added, and old ones that still anchor a leaf (an alias that kept
 * its issuer), stay; order kept. Works alike whoever issued the leaves (local CA issuer or
 * cert-manager), since it looks only at what the Secrets hold.
 */
export function retireTrust(current: string, original: string, leaves: string[]): string {
  const before = new Set(original.trim() ? parseBundle(original, 'CA bundle').map((c) => c.fingerprint) : []);
  const anchors = (ca: ParsedCertificate) => leaves.some((leaf) => leaf.trim() && chainsTo(leaf, ca.pem));
  return parseBundle(current, 'CA bundle')
    .filter((ca) => !before.has(ca.fingerprint) || anchors(ca))
    .map((ca) => ca.pem)
    .join('');
}

/** A ca.crt holding every CA given, deduplicated by fingerprint (not by text), first occurrence's order kept. */
export function mergeTrustBundle(...pems: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of pems) {
    if (!pem?.trim()) continue;
    for (const cert of parseBundle(pem, 'CA bundle')) {
      if (seen.has(cert.fingerprint)) continue;
      seen.add(cert.fingerprint);
      out.push(cert.pem);
    }
  }
  return out.join('');
}
