/**
 * A cert-manager stand-in for the simulator: it issues `cert-manager.io/v1` Certificates into their
 * Secrets and re-issues them by cert-manager's rules, so that code which writes those Secrets
 * behind cert-manager's back is undone here as on a real cluster. Modelled on cert-manager's
 * source (independently of the project's functions/pki; keys from node:crypto, certificates
 * signed with node-forge, RSA CA keys only):
 * - trigger policies (internal/controller/certificates/policies, NewTriggerPolicyChain), in
 *   order: the Secret does not exist; it lacks tls.key or tls.crt; key and certificate differ;
 *   the key does not match `spec.privateKey` (RSA 2048 by default); the Secret's issuer
 *   annotations differ from `spec.issuerRef`; the spec differs from the request of the current
 *   revision (after a restart of the stand-in: the certificate's names differ from the spec);
 *   the renewal time has passed. A violation sets `Issuing=True` with its reason, then issues;
 * - an external `Issuing=True` (`cmctl renew`, reason ManuallyTriggered) issues too;
 * - issuance (issuing controller `issueCertificate`): a new key unless `rotationPolicy: Never`
 *   and the Secret's key still fits; tls.crt = leaf + intermediates, `ca.crt` = the chain's root
 *   (written only when the issuer provides one), tls.key; the Secret's other keys, labels and
 *   annotations are kept, cert-manager's annotations and label added; status revision + 1,
 *   notBefore/notAfter/renewalTime, Ready True, Issuing removed. `ca.crt` is never read to decide
 *   anything, as in cert-manager;
 * - a failed issuance: `Issuing=False` reason Failed, `lastFailureTime`, and no new attempt for an
 *   hour unless the spec changes (trigger controller `shouldBackoffReissuingOnFailure`).
 * Who signs: `ca` issuers with their CA Secret (Issuer: its namespace; ClusterIssuer: the cluster
 * resource namespace `cert-manager`); issuers only cert-manager can use (Vault, an external issuer
 * such as AWS PCA's AWSPCAClusterIssuer) with a simulated signer registered under
 * `signerKey(...)` — the stand-in cannot talk to Vault or AWS, it only simulates them.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { Timers } from './api.js';
import { RESOURCES, type SimResource } from './resources.js';
import { clone, type J, type Obj, type Store, type StoreEvent, sameJson } from './store.js';

const generateKeyPairAsync = promisify(generateKeyPair);

const CERT = RESOURCES.find((r) => r.kind === 'Certificate')!;
const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;
const ISSUER = RESOURCES.find((r) => r.kind === 'Issuer')!;
const CLUSTER_ISSUER = RESOURCES.find((r) => r.kind === 'ClusterIssuer')!;
const GROUP = 'cert-manager.io';
const HOUR = 3_600_000;

export interface SimSigner {
  certPem: string;
  keyPem: string;
}

export interface CertManagerOptions {
  /** Delay between `Issuing=True` and the Secret being written (default 20 ms). */
  issueDelayMs?: number;
  /** Simulated signers of issuers only cert-manager can sign with, by `signerKey`. */
  signers?: Record<string, SimSigner>;
  /** Where ClusterIssuers keep their CA Secrets (default cert-manager). */
  clusterResourceNamespace?: string;
}

export interface Issuance {
  at: number;
  namespace: string;
  certificate: string;
  revision: number;
  /** Why it was issued: a trigger policy's reason, or ManuallyTriggered. */
  reason: string;
}

export interface CertManagerApi {
  writeStatus(res: SimResource, prev: Obj, status: J): Obj;
  put(res: SimResource, obj: Obj): Obj;
}

/** The key a simulated signer is registered under: `Issuer/<ns>/<name>`, `ClusterIssuer/<name>`, `<group>/<kind>/<name>`. */
export function signerKey(ref: { group?: string; kind?: string; name: string }, namespace: string): string {
  const group = ref.group || GROUP;
  const kind = ref.kind || 'Issuer';
  if (group !== GROUP) return `${group}/${kind}/${ref.name}`;
  return kind === 'ClusterIssuer' ? `ClusterIssuer/${ref.name}` : `Issuer/${namespace}/${ref.name}`;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

function condition(cert: J, type: string): J | undefined {
  return (cert.status?.conditions ?? []).find((c: J) => c.type === type);
}

function issuerRefOf(cert: J): { group: string; kind: string; name: string } {
  const r = cert.spec?.issuerRef ?? {};
  return { group: r.group || GROUP, kind: r.kind || 'Issuer', name: r.name };
}

/** The fields a CertificateRequest carries: a change of any of them is a new request. */
function requestDigest(cert: J): string {
  const s = cert.spec ?? {};
  const set = (v: J) => [...(v ?? [])].map(String).sort();
  return JSON.stringify({
    issuerRef: issuerRefOf(cert),
    commonName: s.commonName ?? '',
    dnsNames: set(s.dnsNames),
    ipAddresses: set(s.ipAddresses),
    uris: set(s.uris),
    emailAddresses: set(s.emailAddresses),
    subject: s.subject ?? {},
    usages: set(s.usages),
    duration: s.duration ?? '',
    isCA: !!s.isCA,
    key: [s.privateKey?.algorithm ?? 'RSA', s.privateKey?.size ?? '', s.privateKey?.encoding ?? 'PKCS1'],
  });
}

function parseDuration(v: string | undefined, fallbackMs: number): number {
  if (!v) return fallbackMs;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * HOUR : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return ms || fallbackMs;
}

type Verdict = { reason: string; message: string } | undefined;

export class CertManager {
  readonly issuances: Issuance[] = [];
  private readonly signers: Map<string, SimSigner>;
  private readonly failing = new Map<string, string>();
  private readonly requests = new Map<string, string>();
  private readonly failedDigest = new Map<string, string>();
  private readonly inflight = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Stopped with the controller: nothing it scheduled runs after `stop()`. */
  private readonly timers = new Timers();
  private scheduled = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly api: CertManagerApi,
    private readonly opts: CertManagerOptions = {},
  ) {
    this.signers = new Map(Object.entries(opts.signers ?? {}));
    this.unsubscribe = store.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe();
    this.timers.clear();
  }

  /** Registers a simulated signer (a Vault PKI, an AWS Private CA) for an issuer. */
  addSigner(key: string, signer: SimSigner): void {
    this.signers.set(key, signer);
  }

  /** Makes every issuance by this issuer fail with `message` (undefined: succeed again). */
  failIssuer(key: string, message: string | undefined): void {
    if (message === undefined) this.failing.delete(key);
    else this.failing.set(key, message);
  }

  private onEvent(ev: StoreEvent): void {
    const ns = ev.obj.metadata.namespace;
    if (ev.res === CERT) {
      if (ev.type === 'DELETED') this.requests.delete(`${ns}/${ev.obj.metadata.name}`);
      else this.mark(`${ns}/${ev.obj.metadata.name}`);
    } else if (ev.res === SECRET) {
      for (const c of this.store.list(CERT, ns)) {
        if (c.spec?.secretName === ev.obj.metadata.name) this.mark(`${ns}/${c.metadata.name}`);
      }
    }
  }

  private mark(key: string): void {
    this.dirty.add(key);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const k of keys) {
        try {
          this.reconcile(k);
        } catch (err) {
          if (!this.timers.stopped) console.error(`sim cert-manager: ${k}:`, err);
        }
      }
    });
  }

  private reconcile(key: string): void {
    if (this.timers.stopped) return;
    const [ns, name] = key.split('/') as [string, string];
    const cert = this.store.get(CERT, ns, name);
    if (!cert?.spec?.secretName) return;
    if (condition(cert, 'Issuing')?.status === 'True') {
      if (!this.inflight.has(key)) {
        this.inflight.add(key);
        this.timers.after(this.opts.issueDelayMs ?? 20, () => {
          this.issue(ns, name)
            .catch((err) => {
              if (!this.timers.stopped) console.error(`sim cert-manager: issue ${key}:`, err);
            })
            .finally(() => this.inflight.delete(key));
        });
      }
      return;
    }
    const secret = this.store.get(SECRET, ns, cert.spec.secretName);
    const verdict = this.triggers(key, cert, secret);
    if (verdict) {
      const lastFailure = Date.parse(cert.status?.lastFailureTime ?? '');
      if (
        !Number.isNaN(lastFailure) &&
        Date.now() - lastFailure < HOUR &&
        this.failedDigest.get(key) === requestDigest(cert)
      ) {
        this.setConditions(cert, [
          { type: 'Ready', status: 'False', reason: verdict.reason, message: verdict.message },
        ]);
        return;
      }
      this.setConditions(cert, [
        { type: 'Issuing', status: 'True', reason: verdict.reason, message: verdict.message },
        { type: 'Ready', status: 'False', reason: verdict.reason, message: verdict.message },
      ]);
      return;
    }
    this.setConditions(cert, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: 'Certificate is up to date and has not expired',
      },
    ]);
  }

  /** The first trigger policy the Secret violates, as cert-manager orders them. */
  private triggers(key: string, cert: J, secret: Obj | undefined): Verdict {
    if (!secret) return { reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist' };
    const keyPem = unb64(secret.data?.['tls.key']);
    const crtPem = unb64(secret.data?.['tls.crt']);
    if (!keyPem)
      return {
        reason: 'MissingData',
        message: 'Issuing certificate as Secret does not contain a private key',
      };
    if (!crtPem)
      return {
        reason: 'MissingData',
        message: 'Issuing certificate as Secret does not contain a certificate',
      };
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(crtPem);
      if (!x509.checkPrivateKey(createPrivateKey(keyPem)))
        return {
          reason: 'InvalidKeyPair',
          message: 'Issuing certificate as Secret contains a private key that does not match the certificate',
        };
    } catch (err) {
      return {
        reason: 'InvalidCertificate',
        message: `Issuing certificate as Secret contains an invalid certificate: ${err}`,
      };
    }
    const k = createPrivateKey(keyPem);
    const algorithm = cert.spec.privateKey?.algorithm ?? 'RSA';
    const size = cert.spec.privateKey?.size ?? 2048;
    if (
      algorithm !== 'RSA' ||
      k.asymmetricKeyType !== 'rsa' ||
      k.asymmetricKeyDetails?.modulusLength !== size
    )
      return { reason: 'SecretMismatch', message: 'Existing private key is not up to date for spec' };
    const ref = issuerRefOf(cert);
    const a = secret.metadata.annotations ?? {};
    const sameKind = (a['cert-manager.io/issuer-kind'] || 'Issuer') === ref.kind;
    const sameGroup = (a['cert-manager.io/issuer-group'] || GROUP) === ref.group;
    if (a['cert-manager.io/issuer-name'] !== ref.name || !sameKind || !sameGroup)
      return {
        reason: 'IncorrectIssuer',
        message: `Issuing certificate as Secret was previously issued by ${a['cert-manager.io/issuer-kind'] || 'Issuer'}.${a['cert-manager.io/issuer-group'] || GROUP}/${a['cert-manager.io/issuer-name'] ?? ''}`,
      };
    const requested = this.requests.get(key);
    if (requested !== undefined) {
      if (requested !== requestDigest(cert))
        return {
          reason: 'RequestChanged',
          message: 'Fields on existing CertificateRequest resource not up to date',
        };
    } else {
      const want = [...(cert.spec.dnsNames ?? []), ...(cert.spec.ipAddresses ?? [])].sort();
      const have = (x509.subjectAltName ?? '')
        .split(', ')
        .filter((e) => e.startsWith('DNS:') || e.startsWith('IP Address:'))
        .map((e) => e.replace(/^DNS:|^IP Address:/, ''))
        .sort();
      if (JSON.stringify(want) !== JSON.stringify(have))
        return {
          reason: 'SecretMismatch',
          message: 'Issuing certificate as Existing issued Secret is not up to date for spec',
        };
    }
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    const renewBefore = cert.spec.renewBefore
      ? parseDuration(cert.spec.renewBefore, 0)
      : (notAfter - notBefore) / 3;
    if (Date.now() >= notAfter - renewBefore)
      return { reason: 'Renewing', message: 'Renewing certificate as renewal was scheduled' };
    return undefined;
  }

  private setConditions(
    cert: Obj,
    set: Array<{ type: string; status: string; reason: string; message: string }>,
  ): void {
    const conditions = [...(cert.status?.conditions ?? [])];
    for (const c of set) {
      const i = conditions.findIndex((x: J) => x.type === c.type);
      const old = i >= 0 ? conditions[i] : undefined;
      const next = {
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message,
        observedGeneration: cert.metadata.generation,
        lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now(),
      };
      if (i >= 0) conditions[i] = next;
      else conditions.push(next);
    }
    const status = { ...(cert.status ?? {}), conditions };
    if (!sameJson(status, cert.status)) this.api.writeStatus(CERT, cert, status);
  }

  /** The CA that signs for this Certificate's issuer, or why there is none. */
  private signer(cert: J, ns: string): { ca: SimSigner; chainCrt?: string } | { failed: string } {
    const ref = issuerRefOf(cert);
    const key = signerKey(ref, ns);
    const failing = this.failing.get(key);
    if (failing) return { failed: failing };
    if (ref.group === GROUP) {
      const issuer =
        ref.kind === 'ClusterIssuer'
          ? this.store.get(CLUSTER_ISSUER, undefined, ref.name)
          : this.store.get(ISSUER, ns, ref.name);
      if (!issuer) return { failed: `Referenced "${ref.kind}" not found: ${ref.name}` };
      if (issuer.spec?.ca?.secretName) {
        const secretNs =
          ref.kind === 'ClusterIssuer' ? (this.opts.clusterResourceNamespace ?? 'cert-manager') : ns;
        const s = this.store.get(SECRET, secretNs, issuer.spec.ca.secretName);
        if (!s) return { failed: `Referenced secret ${secretNs}/${issuer.spec.ca.secretName} not found` };
        return {
          ca: { certPem: unb64(s.data?.['tls.crt']), keyPem: unb64(s.data?.['tls.key']) },
          chainCrt: unb64(s.data?.['ca.crt']),
        };
      }
    }
    const simulated = this.signers.get(key);
    if (simulated) return { ca: simulated };
    return { failed: `the simulated cert-manager has no signer for ${key}` };
  }

  private async issue(ns: string, name: string): Promise<void> {
    const key = `${ns}/${name}`;
    let cert = this.store.get(CERT, ns, name);
    if (!cert || condition(cert, 'Issuing')?.status !== 'True' || this.timers.stopped) return;
    const reason = condition(cert, 'Issuing')?.reason ?? 'Issuing';
    const digest = requestDigest(cert);
    const signer = this.signer(cert, ns);
    const spec = cert.spec;
    let pem: { crt: string; key: string; ca?: string } | undefined;
    let failure = 'failed' in signer ? signer.failed : undefined;
    if (!failure && (spec.privateKey?.algorithm ?? 'RSA') !== 'RSA')
      failure = 'the simulated cert-manager issues RSA keys only';
    if (!failure && 'ca' in signer) {
      try {
        const existing = this.store.get(SECRET, ns, spec.secretName);
        const reuse = spec.privateKey?.rotationPolicy === 'Never' ? unb64(existing?.data?.['tls.key']) : '';
        pem = await sign(signer.ca, signer.chainCrt, spec, reuse);
      } catch (err) {
        failure = `signing failed: ${(err as Error).message}`;
      }
    }
    cert = this.store.get(CERT, ns, name);
    if (!cert || this.timers.stopped) return;
    if (failure || !pem) {
      this.failedDigest.set(key, digest);
      const conditions = (cert.status?.conditions ?? []).filter(
        (c: J) => c.type !== 'Issuing' && c.type !== 'Ready',
      );
      this.api.writeStatus(CERT, cert, {
        ...(cert.status ?? {}),
        lastFailureTime: now(),
        failedIssuanceAttempts: (cert.status?.failedIssuanceAttempts ?? 0) + 1,
        conditions: [
          ...conditions,
          {
            type: 'Issuing',
            status: 'False',
            reason: 'Failed',
            message: `The certificate request has failed to complete and will be retried: ${failure}`,
            observedGeneration: cert.metadata.generation,
            lastTransitionTime: now(),
          },
          {
            type: 'Ready',
            status: 'False',
            reason: 'Failed',
            message: failure,
            observedGeneration: cert.metadata.generation,
            lastTransitionTime: now(),
          },
        ],
      });
      return;
    }
    const existing = this.store.get(SECRET, ns, spec.secretName);
    const ref = issuerRefOf(cert);
    const x509 = new X509Certificate(pem.crt);
    this.api.put(SECRET, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: existing?.type ?? 'kubernetes.io/tls',
      metadata: {
        ...(existing ? clone(existing.metadata) : {}),
        name: spec.secretName,
        namespace: ns,
        labels: { ...(existing?.metadata.labels ?? {}), 'controller.cert-manager.io/fao': 'true' },
        annotations: {
          ...(existing?.metadata.annotations ?? {}),
          'cert-manager.io/certificate-name': name,
          'cert-manager.io/issuer-name': ref.name,
          'cert-manager.io/issuer-kind': ref.kind,
          'cert-manager.io/issuer-group': ref.group,
          'cert-manager.io/common-name': spec.commonName ?? '',
          'cert-manager.io/alt-names': (spec.dnsNames ?? []).join(','),
          'cert-manager.io/ip-sans': (spec.ipAddresses ?? []).join(','),
          'cert-manager.io/uri-sans': (spec.uris ?? []).join(','),
        },
      },
      data: {
        ...(existing?.data ?? {}),
        'tls.crt': b64(pem.crt),
        'tls.key': b64(pem.key),
        ...(pem.ca ? { 'ca.crt': b64(pem.ca) } : {}),
      },
    });
    const revision = (cert.status?.revision ?? 0) + 1;
    this.requests.set(key, digest);
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    const renewBefore = spec.renewBefore ? parseDuration(spec.renewBefore, 0) : (notAfter - notBefore) / 3;
    const { lastFailureTime: _, ...rest } = cert.status ?? {};
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    this.api.writeStatus(CERT, cert, {
      ...rest,
      revision,
      notBefore: iso(notBefore),
      notAfter: iso(notAfter),
      renewalTime: iso(notAfter - renewBefore),
      conditions: [
        ...(cert.status?.conditions ?? []).filter((c: J) => c.type !== 'Issuing' && c.type !== 'Ready'),
        {
          type: 'Ready',
          status: 'True',
          reason: 'Ready',
          message: 'Certificate is up to date and has not expired',
          observedGeneration: cert.metadata.generation,
          lastTransitionTime: now(),
        },
      ],
    });
    this.issuances.push({ at: Date.now(), namespace: ns, certificate: name, revision, reason });
  }
}

/** Signs a leaf for the Certificate spec with the CA (node-forge, RSA CA key); a new key unless `reusePem`. */
async function sign(
  ca: SimSigner,
  caCrt: string | undefined,
  spec: J,
  reusePem: string,
): Promise<{ crt: string; key: string; ca?: string }> {
  const chain = ca.certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g) ?? [];
  if (chain.length === 0) throw new Error('the CA Secret has no certificate');
  const caCert = forge.pki.certificateFromPem(chain[0]!);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  let keyPem = reusePem;
  if (!keyPem) {
    const { privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: spec.privateKey?.size ?? 2048,
    });
    keyPem = privateKey.export({
      type: spec.privateKey?.encoding === 'PKCS8' ? 'pkcs8' : 'pkcs1',
      format: 'pem',
    }) as string;
  }
  const publicPem = createPublicKey(createPrivateKey(keyPem)).export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = `1${randomBytes(15).toString('hex')}`;
  const nowMs = Date.now();
  cert.validity.notBefore = new Date(nowMs - 60_000);
  const caEnd = caCert.validity.notAfter.getTime();
  cert.validity.notAfter = new Date(Math.min(nowMs + parseDuration(spec.duration, 90 * 24 * HOUR), caEnd));
  const subject: J[] = [];
  for (const o of spec.subject?.organizations ?? []) subject.push({ name: 'organizationName', value: o });
  for (const u of spec.subject?.organizationalUnits ?? []) subject.push({ shortName: 'OU', value: u });
  if (spec.commonName) subject.push({ name: 'commonName', value: spec.commonName });
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  const usages: string[] = spec.usages ?? ['digital signature', 'key encipherment'];
  const altNames = [
    ...(spec.dnsNames ?? []).map((value: string) => ({ type: 2, value })),
    ...(spec.ipAddresses ?? []).map((ip: string) => ({ type: 7, ip })),
    ...(spec.emailAddresses ?? []).map((value: string) => ({ type: 1, value })),
    ...(spec.uris ?? []).map((value: string) => ({ type: 6, value })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    {
      name: 'keyUsage',
      critical: true,
      digitalSignature: usages.includes('digital signature'),
      keyEncipherment: usages.includes('key encipherment'),
    },
    {
      name: 'extKeyUsage',
      serverAuth: usages.includes('server auth'),
      clientAuth: usages.includes('client auth'),
    },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(caKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  const leaf = forge.pki.certificateToPem(cert);
  // tls.crt: the leaf and every CA above it that is not self-signed; ca.crt: the chain's root.
  const parsed = chain.map((p) => forge.pki.certificateFromPem(p));
  const selfSigned = (c: forge.pki.Certificate) => c.isIssuer(c);
  const intermediates = chain.filter((_, i) => !selfSigned(parsed[i]!));
  const top = parsed[parsed.length - 1]!;
  const extra = caCrt?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g) ?? [];
  const root = selfSigned(top)
    ? chain[chain.length - 1]
    : (extra.find((p) => top.isIssuer(forge.pki.certificateFromPem(p))) ?? chain[chain.length - 1]);
  return { crt: [leaf, ...intermediates].join(''), key: keyPem, ca: root };
}
