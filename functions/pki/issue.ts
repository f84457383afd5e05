/**
 * Issuing the three certificates of a database from a resolved CA.
 *
 * Keys are RSA 2048 from Node's native generator (OpenSSL, off the event loop, in parallel);
 * node-forge's pure-JS generator would take seconds per key. A new key on every issuance.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import type { ObjectMeta } from '../kube/types.js';
import { ALIAS_LABEL, GROUP, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../model/names.js';
import type { CertificateAlias, CertificateSpec } from '../model/types.js';
import type { CertificateAuthority } from './issuer.js';
import {
  BACKDATE_MS,
  type CertificateProfile,
  certificateProfiles,
  renewalTime as computeRenewalTime,
} from './profile.js';
import { randomSerialHex, signCertificate, subjectName } from './sign.js';
import { validateCertificateSpecs } from './validate.js';
import { keyIdOfSpki, parseCertificate } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Labels and annotations written on every issued Secret (the expiry scanner and validation read them). */
export const LABELS = {
  instance: INSTANCE_LABEL,
  name: 'app.kubernetes.io/name',
  managedBy: MANAGED_BY_LABEL,
  alias: ALIAS_LABEL,
} as const;
export const ANNOTATIONS = {
  caFingerprint: `${GROUP}/ca-fingerprint`,
  rootFingerprint: `${GROUP}/root-ca-fingerprint`,
  issuerKind: `${GROUP}/issuer-kind`,
  issuerName: `${GROUP}/issuer-name`,
  serial: `${GROUP}/serial`,
  notBefore: `${GROUP}/not-before`,
  notAfter: `${GROUP}/not-after`,
  renewalTime: `${GROUP}/renewal-time`,
  renewBefore: `${GROUP}/renew-before`,
} as const;
export const MANAGED_BY = 'pxc-tls-ops';

export interface IssueInput {
  database: string;
  namespace: string;
  /** The database's spec.tls.certificates merged with the request (may be empty → defaults). */
  certificates: CertificateSpec[];
  ca: CertificateAuthority;
  /**
   * Optional: a different CA for some aliases (KubeDB's per-certificate `issuerRef`); aliases
   * not listed use `ca`. ca.crt is then that CA's root unless trustBundlePem is given.
   */
  caByAlias?: Partial<Record<CertificateAlias, CertificateAuthority>>;
  /** ca.crt to write instead of ca.rootPem (old+new bundle during a CA change). */
  trustBundlePem?: string;
  /** Per alias, ca.crt to write instead (an alias with an issuer of its own keeps its own root in it). */
  trustBundleByAlias?: Partial<Record<CertificateAlias, string>>;
  now?: Date;
}

export interface IssuedSecret {
  alias: CertificateAlias;
  secretName: string;
  /** PEM strings (the caller base64-encodes them for the Secret; see secretData). */
  data: { 'ca.crt': string; 'tls.crt': string; 'tls.key': string };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serial: string;
  notAfter: string;
  renewalTime: string;
}

export interface GeneratedKey {
  /** PEM in the requested encoding ("RSA PRIVATE KEY" for PKCS1, "PRIVATE KEY" for PKCS8). */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo DER. */
  spkiDer: Buffer;
}

export type KeyGenerator = (encoding: 'PKCS1' | 'PKCS8') => Promise<GeneratedKey>;

/** RSA 2048 from OpenSSL via node:crypto. */
export const nativeRsaKey: KeyGenerator = async (encoding) => {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  return {
    privateKeyPem: privateKey.export({
      type: encoding === 'PKCS8' ? 'pkcs8' : 'pkcs1',
      format: 'pem',
    }) as string,
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
  };
};

/**
 * RSA 2048 from node-forge's pure-JS generator: only for the benchmark's comparison. forge
 * quietly uses node:crypto when it can, so its pure-JS switch is turned on for this one call.
 */
export const forgeRsaKey: KeyGenerator = async (encoding) => {
  const options = (forge as unknown as { options: { usePureJavaScript: boolean } }).options;
  const previous = options.usePureJavaScript;
  let pair: forge.pki.rsa.KeyPair;
  try {
    options.usePureJavaScript = true;
    pair = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  } finally {
    options.usePureJavaScript = previous;
  }
  const key = createPrivateKey(forge.pki.privateKeyToPem(pair.privateKey));
  return {
    privateKeyPem: key.export({ type: encoding === 'PKCS8' ? 'pkcs8' : 'pkcs1', format: 'pem' }) as string,
    spkiDer: createPublicKey(key).export({ type: 'spki', format: 'der' }),
  };
};

function altNames(p: CertificateProfile): Array<{ type: number; value?: string; ip?: string }> {
  return [
    ...p.dnsNames.map((value) => ({ type: 2, value })),
    ...p.ipAddresses.map((ip) => ({ type: 7, ip })),
    ...p.emailAddresses.map((value) => ({ type: 1, value })),
    ...p.uris.map((value) => ({ type: 6, value })),
  ];
}

/** Signing-CA key object, parsed once per CA (the key PEM stays in memory only). */
const caKeys = new WeakMap<CertificateAuthority, KeyObject>();
function caKeyOf(ca: CertificateAuthority): KeyObject {
  let key = caKeys.get(ca);
  if (!key) {
    key = createPrivateKey(ca.keyPem);
    caKeys.set(ca, key);
  }
  return key;
}

/** Issues one certificate from a profile. Exported for the benchmark and tests. */
export async function issueOne(
  profile: CertificateProfile,
  input: IssueInput,
  generateKey: KeyGenerator = nativeRsaKey,
): Promise<IssuedSecret> {
  const ca = input.caByAlias?.[profile.alias] ?? input.ca;
  const now = input.now ?? new Date();
  const caCert = parseCertificate(ca.certPem, 'CA certificate');
  const key = await generateKey(profile.encoding);

  const nowS = Math.floor(now.getTime() / 1000) * 1000;
  const notBefore = new Date(nowS - BACKDATE_MS);
  // Like cert-manager's CA issuer: never outlive the CA (a certificate past its CA's end is useless).
  const notAfter = new Date(Math.min(nowS + profile.durationMs, Date.parse(ca.notAfter)));
  const serial = randomSerialHex();

  const certPem = signCertificate(
    {
      subject: subjectName(profile.commonName, profile.subject),
      issuer: caCert.subjectName,
      spkiDer: key.spkiDer,
      serialHex: serial,
      notBefore,
      notAfter,
      subjectKeyId: keyIdOfSpki(key.spkiDer),
      authorityKeyId: caCert.subjectKeyId,
      isCA: false,
      keyUsage: { digitalSignature: true, keyEncipherment: true },
      extKeyUsage: profile.extendedUsages,
      altNames: altNames(profile),
    },
    caKeyOf(ca),
  );

  // tls.crt: leaf, then the signing CA when it is an intermediate, then the intermediates above it.
  const caIsRoot = ca.fingerprint === ca.rootFingerprint;
  const tlsCrt = [certPem, ...(caIsRoot ? [] : [caCert.pem]), ...ca.chainPem].join('');
  const renewal = computeRenewalTime(notBefore, notAfter, profile.renewBeforeMs);

  const annotations: Record<string, string> = {
    [ANNOTATIONS.caFingerprint]: ca.fingerprint,
    [ANNOTATIONS.rootFingerprint]: ca.rootFingerprint,
    [ANNOTATIONS.issuerKind]: ca.issuerRef.kind,
    [ANNOTATIONS.issuerName]: ca.issuerRef.name,
    [ANNOTATIONS.serial]: serial,
    [ANNOTATIONS.notBefore]: notBefore.toISOString(),
    [ANNOTATIONS.notAfter]: notAfter.toISOString(),
    [ANNOTATIONS.renewalTime]: renewal.toISOString(),
  };
  if (profile.renewBeforeMs !== undefined) {
    annotations[ANNOTATIONS.renewBefore] = `${Math.round(profile.renewBeforeMs / 1000)}s`;
  }
  return {
    alias: profile.alias,
    secretName: profile.secretName,
    data: {
      'ca.crt': input.trustBundleByAlias?.[profile.alias] ?? input.trustBundlePem ?? ca.rootPem,
      'tls.crt': tlsCrt,
      'tls.key': key.privateKeyPem,
    },
    labels: {
      [LABELS.instance]: input.database,
      [LABELS.name]: 'perconaxtradbs.kubedb.com',
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.alias]: profile.alias,
    },
    annotations,
    serial,
    notAfter: notAfter.toISOString(),
    renewalTime: renewal.toISOString(),
  };
}

/**
 * Issues all three aliases (server, client, metrics-exporter) for a database: validates the
 * entries (InvalidRequestError naming field and value), then makes three new RSA 2048 keys in
 * parallel and signs the certificates with the CA. Pure apart from randomness and the clock:
 * it writes nothing, so calling it twice just yields two fresh sets.
 */
export async function issueCertificates(
  input: IssueInput,
  generateKey: KeyGenerator = nativeRsaKey,
): Promise<IssuedSecret[]> {
  validateCertificateSpecs(input.certificates ?? []);
  const profiles = certificateProfiles(input.certificates ?? [], input.database, input.namespace);
  return Promise.all(profiles.map((p) => issueOne(p, input, generateKey)));
}

/** The Secret's `data` (base64 values), ready for a kubernetes.io/tls Secret. */
export function secretData(issued: IssuedSecret): Record<string, string> {
  return Object.fromEntries(
    Object.entries(issued.data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
  );
}

/** The whole Secret object for an issued certificate (type kubernetes.io/tls). */
export function secretManifest(
  issued: IssuedSecret,
  namespace: string,
  ownerReferences?: ObjectMeta['ownerReferences'],
): {
  apiVersion: 'v1';
  kind: 'Secret';
  type: 'kubernetes.io/tls';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: typeof ownerReferences;
  };
  data: Record<string, string>;
} {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: issued.secretName,
      namespace,
      labels: { ...issued.labels },
      annotations: { ...issued.annotations },
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    data: secretData(issued),
  };
}

/** Decodes a Secret's base64 `data` into the strings inspectTlsSecret takes. */
export function decodeSecretData(
  data: Record<string, string> | undefined,
): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}
