/**
 * Inspecting an existing TLS Secret: what the expiry scanner and Validate need to know about it.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { InvalidRequestError } from '../errors.js';
import { parseDuration } from './duration.js';
import { renewalTime } from './profile.js';
import { findPath, type ParsedCertificate, parseBundle } from './x509.js';

export interface SecretInspection {
  serial: string;
  notBefore: string;
  notAfter: string;
  /** notAfter − renewBefore, else two thirds into the lifetime (cert-manager's rule). */
  renewalTime: string;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
  /**
   * Fingerprint of the certificate that signed tls.crt's leaf (the CA in ca.crt, or an
   * intermediate shipped in tls.crt) when the chain reaches a CA in ca.crt; undefined otherwise.
   * Compare with CertificateAuthority.fingerprint.
   */
  issuerFingerprint?: string;
  /** Fingerprint of the CA in ca.crt that the chain reaches (compare with rootFingerprint). */
  rootFingerprint?: string;
  /** Every CA in ca.crt. */
  caFingerprints: string[];
  keyMatches: boolean;
  expired: boolean;
  /** True when now ≥ renewalTime (expired ones included). */
  due: boolean;
  /** sha256 of the leaf's DER. */
  fingerprint: string;
}

/**
 * data = Secret.data values already decoded to strings; renewBefore like "720h".
 * Throws InvalidRequestError on unparsable input (missing tls.crt, bad PEM, bad renewBefore).
 * A missing or unreadable tls.key is not an error: keyMatches is then false.
 */
export function inspectTlsSecret(
  data: Record<string, string | undefined>,
  opts: { renewBefore?: string; now?: Date } = {},
): SecretInspection {
  const now = opts.now ?? new Date();
  const tlsCrt = data['tls.crt'];
  if (!tlsCrt?.trim()) throw new InvalidRequestError('tls.crt: missing or empty');
  const chain = parseBundle(tlsCrt, 'tls.crt');
  const leaf = chain[0]!;
  const cas: ParsedCertificate[] = data['ca.crt']?.trim() ? parseBundle(data['ca.crt'], 'ca.crt') : [];
  const renewBeforeMs = opts.renewBefore ? parseDuration(opts.renewBefore, 'renewBefore') : undefined;

  let keyMatches = false;
  const keyPem = data['tls.key'];
  if (keyPem?.trim()) {
    let key: KeyObject | undefined;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      key = undefined;
    }
    keyMatches = key !== undefined && leaf.x509.checkPrivateKey(key);
  }

  const path = cas.length > 0 ? findPath(chain, cas) : undefined;
  const renewal = renewalTime(leaf.notBefore, leaf.notAfter, renewBeforeMs);
  return {
    serial: leaf.serial,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    renewalTime: renewal.toISOString(),
    subject: leaf.subject,
    dnsNames: leaf.san.dnsNames,
    ipAddresses: leaf.san.ipAddresses,
    emailAddresses: leaf.san.emailAddresses,
    uris: leaf.san.uris,
    issuerFingerprint: path?.signer.fingerprint,
    rootFingerprint: path?.anchor.fingerprint,
    caFingerprints: cas.map((c) => c.fingerprint),
    keyMatches,
    expired: now.getTime() > leaf.notAfter.getTime(),
    due: now.getTime() >= renewal.getTime(),
    fingerprint: leaf.fingerprint,
  };
}

export interface CertificateValidity {
  serial: string;
  notBefore: string;
  notAfter: string;
  renewalTime: string;
  /** With `caCrt`: the CA in it that signed the leaf (its notAfter and fingerprint); absent when none did. */
  ca?: { notAfter: string; fingerprint: string; subject: string };
}

/**
 * Only the leaf's serial and validity, from tls.crt alone: what the expiry scanner needs for
 * thousands of Secrets. It never reads tls.key and skips the chain walk, which is most of what
 * inspectTlsSecret costs. Same serial form and renewal rule as inspectTlsSecret.
 */
export function certificateValidity(
  tlsCrt: string,
  opts: { renewBefore?: string; caCrt?: string } = {},
): CertificateValidity {
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(tlsCrt)?.[0];
  if (!pem) throw new InvalidRequestError('tls.crt: no PEM certificate in it');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pem);
  } catch (err) {
    throw new InvalidRequestError(`tls.crt: not a readable X.509 certificate (${(err as Error).message})`, {
      cause: err,
    });
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  const renewBeforeMs = opts.renewBefore ? parseDuration(opts.renewBefore, 'renewBefore') : undefined;
  return {
    // OpenSSL prints the serial as upper-case hex without leading zero bytes, as parseCertificate does.
    serial: leaf.serialNumber.toLowerCase(),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    renewalTime: renewalTime(notBefore, notAfter, renewBeforeMs).toISOString(),
    ...(opts.caCrt ? signingCa(leaf, opts.caCrt) : {}),
  };
}

/** The CA of a ca.crt bundle that signed the leaf, the latest-expiring one when several did (a renewed CA with the same key). */
function signingCa(leaf: X509Certificate, caCrt: string): Pick<CertificateValidity, 'ca'> {
  let best: X509Certificate | undefined;
  for (const pem of caCrt.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    let ca: X509Certificate;
    try {
      ca = new X509Certificate(pem);
      if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) continue;
    } catch {
      continue;
    }
    if (!best || Date.parse(ca.validTo) > Date.parse(best.validTo)) best = ca;
  }
  if (!best) return {};
  return {
    ca: {
      notAfter: new Date(best.validTo).toISOString(),
      fingerprint: best.fingerprint256.replace(/:/g, '').toLowerCase(),
      subject: best.subject.replace(/\n/g, ', '),
    },
  };
}
