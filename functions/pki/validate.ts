/**
 * Request validation for certificate entries. Every bad value is reported (field + value) in one
 * InvalidRequestError, so a user fixes the OpsRequest in one go.
 */
import { isIP } from 'node:net';
import { InvalidRequestError } from '../errors.js';
import { shortValue } from '../model/schema/values.js';
import type { CertificateSpec, IssuerRef } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import { formatDuration, parseDuration } from './duration.js';
import { DEFAULT_DURATION, MIN_DURATION_MS, MIN_RENEW_BEFORE_MS } from './profile.js';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** RFC 1123 host name; a wildcard only as the whole first label ("*.example.com"). */
export function isValidDnsName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels[0] === '*') {
    labels.shift();
    if (labels.length < 2) return false; // "*" or "*.com" would match far too much
  }
  return labels.every((l) => LABEL.test(l));
}

/** A Kubernetes object name (DNS-1123 subdomain, lower case). */
export function isValidSecretName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length <= 253 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)
  );
}

export function isValidIp(value: string): boolean {
  return typeof value === 'string' && isIP(value) !== 0;
}

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

export function isValidEmail(value: string): boolean {
  if (typeof value !== 'string') return false;
  const at = value.lastIndexOf('@');
  if (at <= 0 || at > 64) return false;
  const domain = value.slice(at + 1);
  return EMAIL_LOCAL.test(value.slice(0, at)) && !domain.startsWith('*') && isValidDnsName(domain);
}

export function isValidUri(value: string): boolean {
  if (typeof value !== 'string' || /[\s<>"{}|\\^`]/.test(value)) return false;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

const SUBJECT_KEYS = new Set([
  'organizations',
  'countries',
  'organizationalUnits',
  'localities',
  'provinces',
  'streetAddresses',
  'postalCodes',
  'serialNumber',
]);

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]+$/;

/** A value in a message: JSON, never more than about 100 characters of it. */
function show(value: unknown): string {
  return shortValue(value);
}

/** Problems with an issuerRef (kind, name, apiGroup), as "field: problem" strings. */
export function issuerRefProblems(ref: IssuerRef | undefined, field: string): string[] {
  if (ref === undefined) return [];
  const out: string[] = [];
  if (typeof ref !== 'object' || ref === null) return [`${field}: ${show(ref)} is not an object`];
  const group = ref.apiGroup ?? 'cert-manager.io';
  if (
    typeof group !== 'string' ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/.test(group)
  ) {
    out.push(`${field}.apiGroup: ${show(ref.apiGroup)} is not an API group`);
  } else if (group === 'cert-manager.io') {
    if (ref.kind !== 'Issuer' && ref.kind !== 'ClusterIssuer') {
      out.push(`${field}.kind: ${show(ref.kind)} is not Issuer or ClusterIssuer`);
    }
  } else if (typeof ref.kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(ref.kind)) {
    // An external issuer (e.g. awspca.cert-manager.io AWSPCAClusterIssuer): any kind, signed through cert-manager.
    out.push(`${field}.kind: ${show(ref.kind)} is not a kind name`);
  }
  if (!ref.name || !isValidSecretName(ref.name))
    out.push(`${field}.name: ${show(ref.name)} is not a valid name`);
  return out;
}

/** Every problem in the entries, as "field: problem" strings (empty when all is well). */
export function certificateSpecProblems(
  specs: CertificateSpec[],
  prefix = 'spec.tls.certificates',
): string[] {
  if (specs === undefined) return [];
  if (!Array.isArray(specs)) return [`${prefix}: ${show(specs)} is not a list`];
  const out: string[] = [];
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const at = `${prefix}[${i}]`;
    if (typeof spec !== 'object' || spec === null) {
      out.push(`${at}: ${show(spec)} is not an object`);
      return;
    }
    if (!CERTIFICATE_ALIASES.includes(spec.alias as never)) {
      out.push(`${at}.alias: ${show(spec.alias)} is not one of ${CERTIFICATE_ALIASES.join(', ')}`);
    } else if (seen.has(spec.alias)) {
      out.push(`${at}.alias: ${show(spec.alias)} appears more than once`);
    }
    seen.add(spec.alias);
    out.push(...issuerRefProblems(spec.issuerRef, `${at}.issuerRef`));
    if (spec.secretName !== undefined && !isValidSecretName(spec.secretName)) {
      out.push(`${at}.secretName: ${show(spec.secretName)} is not a valid Secret name`);
    }
    out.push(...lifetimeProblems(spec, at), ...nameListProblems(spec, at));
    const enc = spec.privateKey?.encoding;
    if (enc !== undefined && enc !== 'PKCS1' && enc !== 'PKCS8') {
      out.push(`${at}.privateKey.encoding: ${show(enc)} is not PKCS1 or PKCS8`);
    }
    if (spec.subject !== undefined) out.push(...subjectProblems(spec.subject, `${at}.subject`));
  });
  return out;
}

/** `duration` (at least 1h) and `renewBefore` (at least 5m, and shorter than the duration). */
function lifetimeProblems(spec: CertificateSpec, at: string): string[] {
  const out: string[] = [];
  let durationMs: number | undefined;
  try {
    durationMs = parseDuration(spec.duration ?? DEFAULT_DURATION, `${at}.duration`);
    if (durationMs < MIN_DURATION_MS) {
      out.push(`${at}.duration: ${show(spec.duration)} is shorter than the minimum 1h`);
    }
  } catch (err) {
    out.push((err as Error).message);
  }
  if (spec.renewBefore !== undefined) {
    try {
      const renewMs = parseDuration(spec.renewBefore, `${at}.renewBefore`);
      if (renewMs < MIN_RENEW_BEFORE_MS) {
        out.push(`${at}.renewBefore: ${show(spec.renewBefore)} is shorter than the minimum 5m`);
      } else if (durationMs !== undefined && renewMs >= durationMs) {
        out.push(
          `${at}.renewBefore: ${show(spec.renewBefore)} must be shorter than duration ${formatDuration(durationMs)}`,
        );
      }
    } catch (err) {
      out.push((err as Error).message);
    }
  }
  return out;
}

const NAME_LISTS: ReadonlyArray<[keyof CertificateSpec, (v: string) => boolean, string]> = [
  [
    'dnsNames',
    isValidDnsName,
    'is not a valid DNS name (RFC 1123; a wildcard only as the whole first label)',
  ],
  ['ipAddresses', isValidIp, 'is not an IPv4 or IPv6 address'],
  ['emailAddresses', isValidEmail, 'is not a valid email address'],
  ['uris', isValidUri, 'is not an absolute URI'],
];

/** The subject alternative names: each list a list, each entry valid for its kind. */
function nameListProblems(spec: CertificateSpec, at: string): string[] {
  const out: string[] = [];
  for (const [key, ok, problem] of NAME_LISTS) {
    const values = spec[key];
    if (values === undefined) continue;
    if (!Array.isArray(values)) {
      out.push(`${at}.${key}: ${show(values)} is not a list`);
      continue;
    }
    values.forEach((v, j) => {
      if (!ok(v as string)) out.push(`${at}.${key}[${j}]: ${show(v)} ${problem}`);
    });
  }
  return out;
}

/** The subject's fields: known keys, lists of short strings, a printable serial number. */
function subjectProblems(subject: NonNullable<CertificateSpec['subject']>, at: string): string[] {
  const out: string[] = [];
  for (const [key, values] of Object.entries(subject)) {
    const field = `${at}.${key}`;
    if (!SUBJECT_KEYS.has(key)) {
      out.push(`${field}: ${show(key)} is not a subject field (${[...SUBJECT_KEYS].join(', ')})`);
      continue;
    }
    if (key === 'serialNumber') {
      if (typeof values !== 'string' || !PRINTABLE.test(values) || values.length > 64) {
        out.push(`${field}: ${show(values)} is not a printable string of at most 64 characters`);
      }
      continue;
    }
    if (!Array.isArray(values)) {
      out.push(`${field}: ${show(values)} is not a list`);
      continue;
    }
    values.forEach((v, j) => {
      if (typeof v !== 'string' || v.length === 0 || v.length > 128) {
        out.push(`${field}[${j}]: ${show(v)} must be a non-empty string of at most 128 characters`);
      } else if (key === 'countries' && !/^[A-Za-z]{2}$/.test(v)) {
        out.push(`${field}[${j}]: ${show(v)} is not a two-letter country code`);
      }
    });
  }
  return out;
}

/** Throws InvalidRequestError listing every bad value (field + value); returns when all is well. */
export function validateCertificateSpecs(specs: CertificateSpec[], prefix = 'spec.tls.certificates'): void {
  const problems = certificateSpecProblems(specs, prefix);
  if (problems.length > 0) {
    throw new InvalidRequestError(`invalid certificate request: ${problems.join('; ')}`);
  }
}
