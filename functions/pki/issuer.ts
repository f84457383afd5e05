/**
 * Issuer → CA: reads a cert-manager CA Issuer or ClusterIssuer and its Secret, and checks the CA
 * before anything is signed with it. Every problem is an InvalidIssuerError that names the
 * issuer and says what is wrong, so the OpsRequest's Failed condition tells the user what to fix.
 */
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { InvalidIssuerError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import type { CAIssuer, IssuerRef } from '../model/types.js';
import { randomSerialHex, signatureAlgorithmFor, signCertificate, subjectName } from './sign.js';
import { type ParsedCertificate, parseBundle, parseCertificate, publicKeyId, signedBy } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** A resolved CA. keyPem stays in memory inside one Lambda invocation: never returned in outputs/logs. */
export interface CertificateAuthority {
  /** kind + name as resolved. */
  issuerRef: IssuerRef;
  secretRef: { namespace: string; name: string };
  /** The signing CA's certificate (first in tls.crt). */
  certPem: string;
  /** Intermediates above the signing CA, up to but excluding the root. */
  chainPem: string[];
  /** What goes into ca.crt. */
  rootPem: string;
  keyPem: string;
  /** sha256 of the signing CA's DER, hex lower-case, no colons. */
  fingerprint: string;
  rootFingerprint: string;
  /** ISO; the earliest end of the signing CA and the certificates above it. */
  notAfter: string;
}

export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = 'cert-manager';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

function decode(secret: SecretObject, key: string): string | undefined {
  const b64 = secret.data?.[key];
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

/**
 * Checks a CA (tls.crt chain + key) and works out its root and intermediates. Pure apart from
 * the crypto; `who` names the issuer in every message.
 */
export function checkCertificateAuthority(
  tlsCrt: string,
  tlsKey: string,
  opts: { who: string; caCrt?: string; now?: Date },
): Omit<CertificateAuthority, 'issuerRef' | 'secretRef'> {
  const { who } = opts;
  const now = opts.now ?? new Date();
  const fail = (problem: string, cause?: unknown): never => {
    throw new InvalidIssuerError(`${who}: ${problem}`, { cause });
  };

  let chain: ParsedCertificate[] = [];
  try {
    chain = parseBundle(tlsCrt, 'tls.crt');
  } catch (err) {
    fail(`its Secret's tls.crt is not a PEM certificate (${(err as Error).message})`, err);
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(tlsKey);
  } catch (err) {
    fail(`its Secret's tls.key is not a readable private key (${(err as Error).message})`, err);
  }
  const ca = chain[0]!;
  try {
    signatureAlgorithmFor(key!, 'tls.key');
  } catch (err) {
    fail((err as Error).message, err);
  }
  if (!ca.x509.checkPrivateKey(key!)) fail(`tls.key does not match the CA certificate ${ca.subject}`);

  chain.forEach((c, i) => {
    const what =
      i === 0 ? `the CA certificate ${c.subject}` : `the chain certificate ${c.subject} (tls.crt #${i + 1})`;
    if (c.isCA !== true) fail(`${what} is not a CA (basicConstraints CA:TRUE missing)`);
    if (c.keyCertSign === false) fail(`${what} may not sign certificates (keyUsage lacks keyCertSign)`);
    if (now < c.notBefore) fail(`${what} is not valid before ${c.notBefore.toISOString()}`);
    if (now > c.notAfter) fail(`${what} expired at ${c.notAfter.toISOString()}`);
    const next = chain[i + 1];
    if (next && !signedBy(c, next)) {
      fail(
        `tls.crt #${i + 2} (${next.subject}) did not sign ${c.subject}: the chain is out of order or incomplete`,
      );
    }
  });

  // The root: the self-signed top of tls.crt, else the CA in the Secret's ca.crt that signed the top.
  let top = chain[chain.length - 1]!;
  let above = chain.slice(1);
  if (!top.selfSigned) {
    let extra: ParsedCertificate[] = [];
    try {
      extra = opts.caCrt?.trim() ? parseBundle(opts.caCrt, 'ca.crt') : [];
    } catch (err) {
      fail(`its Secret's ca.crt is not PEM (${(err as Error).message})`, err);
    }
    const root = extra.find((c) => signedBy(top, c));
    if (root) {
      if (now > root.notAfter) fail(`the root CA ${root.subject} expired at ${root.notAfter.toISOString()}`);
      above = [...above, root];
      top = root;
    }
    // Otherwise the top of the chain is the trust anchor (a partial chain: peers must trust it directly).
  }
  const intermediates = above.filter((c) => c !== top).map((c) => c.pem);
  const validTo = Math.min(...[ca, ...above].map((c) => c.notAfter.getTime()));
  return {
    certPem: ca.pem,
    chainPem: intermediates,
    rootPem: top.pem,
    keyPem: tlsKey,
    fingerprint: ca.fingerprint,
    rootFingerprint: top.fingerprint,
    notAfter: new Date(validTo).toISOString(),
  };
}

/**
 * Reads Issuer/ClusterIssuer + its CA Secret via Kube and checks it. InvalidIssuerError (fatal)
 * names the issuer and the problem; Kube errors (retryable or not) pass through unchanged.
 */
export async function resolveIssuer(
  kube: Kube,
  ref: IssuerRef,
  opts: {
    namespace: string;
    clusterResourceNamespace?: string;
    now?: Date;
    /** The Issuer/ClusterIssuer object when the caller has just read it (saves a request). */
    issuer?: unknown;
  },
): Promise<CertificateAuthority> {
  const kindName = `${ref?.kind} ${ref?.name}`;
  if (!ref || typeof ref.name !== 'string' || ref.name === '') {
    throw new InvalidIssuerError(`issuerRef ${JSON.stringify(ref)}: a name is required`);
  }
  if (ref.apiGroup !== undefined && ref.apiGroup !== 'cert-manager.io') {
    throw new InvalidIssuerError(`${kindName}: apiGroup ${ref.apiGroup} is not cert-manager.io`);
  }
  let issuer: CAIssuer | undefined;
  let secretNamespace: string;
  let who: string;
  if (ref.kind === 'Issuer') {
    who = `Issuer ${opts.namespace}/${ref.name}`;
    issuer =
      (opts.issuer as CAIssuer | undefined) ??
      (await kube.get<CAIssuer>(KINDS.Issuer, { namespace: opts.namespace, name: ref.name }));
    secretNamespace = opts.namespace;
  } else if (ref.kind === 'ClusterIssuer') {
    who = `ClusterIssuer ${ref.name}`;
    issuer =
      (opts.issuer as CAIssuer | undefined) ??
      (await kube.get<CAIssuer>(KINDS.ClusterIssuer, { name: ref.name }));
    secretNamespace = opts.clusterResourceNamespace || DEFAULT_CLUSTER_RESOURCE_NAMESPACE;
  } else {
    throw new InvalidIssuerError(`${kindName}: kind ${ref.kind} is not Issuer or ClusterIssuer`);
  }
  if (!issuer) throw new InvalidIssuerError(`${who} not found`);

  const secretName = issuer.spec?.ca?.secretName;
  if (!secretName) {
    const types = Object.keys(issuer.spec ?? {}).filter((k) => k !== 'ca');
    const type = types.length > 0 ? types.join('/') : 'no type';
    throw new InvalidIssuerError(
      `${who} is not a CA issuer (spec.ca.secretName is missing; it is ${type}): only cert-manager CA issuers are supported`,
    );
  }
  const secret = await kube.get<SecretObject>(KINDS.Secret, { namespace: secretNamespace, name: secretName });
  if (!secret)
    throw new InvalidIssuerError(`${who}: its CA Secret ${secretNamespace}/${secretName} not found`);
  const tlsCrt = decode(secret, 'tls.crt');
  const tlsKey = decode(secret, 'tls.key');
  if (!tlsCrt)
    throw new InvalidIssuerError(`${who}: its CA Secret ${secretNamespace}/${secretName} has no tls.crt`);
  if (!tlsKey)
    throw new InvalidIssuerError(`${who}: its CA Secret ${secretNamespace}/${secretName} has no tls.key`);

  const checked = checkCertificateAuthority(tlsCrt, tlsKey, {
    who: `${who} (Secret ${secretNamespace}/${secretName})`,
    caCrt: decode(secret, 'ca.crt'),
    now: opts.now,
  });
  return {
    issuerRef: { apiGroup: 'cert-manager.io', kind: ref.kind, name: ref.name },
    secretRef: { namespace: secretNamespace, name: secretName },
    ...checked,
  };
}

/**
 * For tests, the demo and the simulator fixtures: a self-signed CA, or an intermediate signed by
 * `parent`, as PEM. RSA 2048 by default; `keyType: 'ec'` makes a P-256 CA.
 */
export async function createTestCA(
  opts: {
    commonName?: string;
    notBefore?: Date;
    notAfter?: Date;
    parent?: { certPem: string; keyPem: string };
    keyType?: 'rsa' | 'ec';
    /** For negative tests: a CA certificate without CA:TRUE / keyCertSign. */
    isCA?: boolean;
    /** For negative tests: CA:TRUE but a keyUsage without keyCertSign. */
    keyCertSign?: boolean;
  } = {},
): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey, publicKey } =
    opts.keyType === 'ec'
      ? await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' })
      : await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - 60 * 60_000);
  const notAfter = opts.notAfter ?? new Date(now + 10 * 365 * 24 * 3_600_000);
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const parent = opts.parent ? parseCertificate(opts.parent.certPem, 'parent CA') : undefined;
  const isCA = opts.isCA ?? true;
  const certPem = signCertificate(
    {
      subject: subjectName(
        opts.commonName ?? (parent ? 'pxc-tls-ops test intermediate CA' : 'pxc-tls-ops test CA'),
        {
          organizations: ['pxc-tls-ops'],
        },
      ),
      issuer: parent?.subjectName,
      spkiDer,
      serialHex: randomSerialHex(),
      notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
      notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
      subjectKeyId: publicKeyId(publicKey),
      authorityKeyId: parent?.subjectKeyId,
      isCA,
      keyUsage:
        isCA && opts.keyCertSign !== false
          ? { keyCertSign: true, cRLSign: true, digitalSignature: true }
          : { digitalSignature: true },
    },
    opts.parent ? opts.parent.keyPem : privateKey,
  );
  const keyPem = privateKey.export({
    type: opts.keyType === 'ec' ? 'sec1' : 'pkcs1',
    format: 'pem',
  }) as string;
  return { certPem, keyPem };
}
