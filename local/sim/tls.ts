/**
 * The kubelet stand-in's TLS checks, done the way mysqld would fail: with Node's X.509
 * verification (node:crypto), never by comparing strings.
 *
 * `loadPodTls` reads what container `perconaxtradb` would load at start: the files its
 * `--ssl-ca/--ssl-cert/--ssl-key` args name, found through its volumeMounts in Secret volumes,
 * plus every other Secret mounted under /etc/mysql/certs. Each must exist with `ca.crt`,
 * `tls.crt`, `tls.key`; the key must match the certificate; the certificate must chain to
 * `ca.crt` and be inside its validity. `peerTrust` then checks two started pods trust each other.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { J, Obj } from './store.js';

export const TLS_CONTAINER = 'perconaxtradb';
export const CERTS_DIR = '/etc/mysql/certs';

/** What a started pod loaded: the server CA bundle and certificate (PEM), for peer checks. */
export interface TlsSnapshot {
  caPem: string;
  certPem: string;
}

export type TlsLoad =
  | { ok: true; tls?: TlsSnapshot }
  | { ok: false; reason: TlsFailureReason; message: string };

export type TlsFailureReason =
  | 'TLSConfigInvalid'
  | 'TLSSecretMissing'
  | 'TLSKeyMissing'
  | 'TLSCertInvalid'
  | 'TLSKeyMismatch'
  | 'TLSCertNotYetValid'
  | 'TLSCertExpired'
  | 'TLSUntrustedCA'
  | 'PeerNotTrusted';

/** A Secret as the pod's volume shows it; `frozen` for a subPath mount (never updated). */
type SecretLookup = (namespace: string, name: string, frozen?: boolean) => Obj | undefined;

const REQUIRED_KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const;

function fail(reason: TlsFailureReason, message: string): TlsLoad {
  return { ok: false, reason, message: `tls: ${message}` };
}

/** The value of `--flag=value` or `--flag value` in a container's command line. */
export function argValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    if (a === flag && i + 1 < args.length) return args[i + 1];
  }
  return undefined;
}

interface FileRef {
  secretName: string;
  key: string;
  /** Mounted through subPath: the kubelet never updates it in a running pod. */
  frozen: boolean;
}

/** The perconaxtradb container's command and args, as one list. */
export function containerArgs(pod: Obj): string[] {
  const container = (pod.spec?.containers ?? []).find((c: J) => c.name === TLS_CONTAINER);
  return container ? [...(container.command ?? []), ...(container.args ?? [])].map(String) : [];
}

/**
 * Whether Galera encrypts cluster traffic (`--pxc-encrypt-cluster-traffic=ON`). PXC 8.0 defaults
 * to ON, but KubeDB keeps replication traffic unencrypted (DOMAIN.md), so the stand-in defaults to
 * OFF and turns Galera's own TLS context on only when the container's args say so.
 */
export function clusterTrafficEncrypted(pod: Obj): boolean {
  const args = containerArgs(pod);
  const v =
    argValue(args, '--pxc-encrypt-cluster-traffic') ?? argValue(args, '--pxc_encrypt_cluster_traffic');
  return /^(ON|1|TRUE)$/i.test(v ?? 'OFF');
}

/**
 * Galera's provider options from the container's args (`--wsrep_provider_options="k=v; k=v"`,
 * either spelling), keys as Galera names them.
 */
export function providerOptions(pod: Obj): Record<string, string> {
  const args = containerArgs(pod);
  const raw = argValue(args, '--wsrep_provider_options') ?? argValue(args, '--wsrep-provider-options') ?? '';
  return Object.fromEntries(
    raw
      .replace(/^["']|["']$/g, '')
      .split(';')
      .map((kv) => kv.split('=').map((x) => x.trim()))
      .filter(([k, v]) => k && v !== undefined),
  );
}

/**
 * Whether Galera's own TLS is on, as Galera decides it (galerautils/src/gu_asio.cpp
 * `init_use_ssl` / `ssl_check_conf`): `socket.ssl` when set explicitly, else on as soon as
 * `socket.ssl_key` or `socket.ssl_cert` is set — whatever `pxc_encrypt_cluster_traffic` says.
 * PXC sets those options itself from the server's ssl_* files when pxc_encrypt_cluster_traffic
 * is ON.
 */
export function galeraTlsOn(pod: Obj): boolean {
  const o = providerOptions(pod);
  const explicit = o['socket.ssl'];
  if (explicit !== undefined) return /^(YES|ON|1|TRUE)$/i.test(explicit);
  return clusterTrafficEncrypted(pod) || !!o['socket.ssl_key'] || !!o['socket.ssl_cert'];
}

/**
 * Loads the pod's TLS files. `argsOnly`: only the files the --ssl-* args name (what `ALTER
 * INSTANCE RELOAD TLS` reads), not every other Secret mounted under the certificates directory.
 */
export function loadPodTls(pod: Obj, getSecret: SecretLookup, now = new Date(), argsOnly = false): TlsLoad {
  const ns: string = pod.metadata.namespace;
  const container = (pod.spec?.containers ?? []).find((c: J) => c.name === TLS_CONTAINER);
  if (!container) return { ok: true };
  const args: string[] = [...(container.command ?? []), ...(container.args ?? [])].map(String);
  const caPath = argValue(args, '--ssl-ca');
  const certPath = argValue(args, '--ssl-cert');
  const keyPath = argValue(args, '--ssl-key');
  const requireSecure = /^(ON|1|TRUE)$/i.test(argValue(args, '--require-secure-transport') ?? 'OFF');
  if (!caPath && !certPath && !keyPath) {
    if (requireSecure)
      return fail('TLSConfigInvalid', '--require-secure-transport=ON needs --ssl-cert and --ssl-key');
    return { ok: true };
  }
  if (!certPath || !keyPath || !caPath) {
    return fail('TLSConfigInvalid', '--ssl-ca, --ssl-cert and --ssl-key must be given together');
  }
  const mounts: J[] = container.volumeMounts ?? [];
  const volumes: J[] = pod.spec?.volumes ?? [];
  const resolve = (path: string): FileRef | string => {
    const mount = mounts
      .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (!mount) return `${path} is not on any volume mounted in container ${TLS_CONTAINER}`;
    const vol = volumes.find((v) => v.name === mount.name);
    if (!vol?.secret?.secretName) return `${path} is not on a Secret volume (volume ${mount.name})`;
    // A file mounted on its own (`mountPath` is the file, `subPath` names it in the volume), or a
    // file under a mounted directory (of the volume, or of its `subPath`).
    let file =
      path === mount.mountPath
        ? (mount.subPath ?? '')
        : path.slice(mount.mountPath.replace(/\/$/, '').length + 1);
    if (mount.subPath && path !== mount.mountPath) file = `${mount.subPath}/${file}`;
    const items: J[] | undefined = vol.secret.items;
    if (items) {
      const item = items.find((it) => it.path === file);
      if (!item)
        return `${path}: volume ${mount.name} does not project that file from secret ${vol.secret.secretName}`;
      file = item.key;
    }
    return { secretName: vol.secret.secretName, key: file, frozen: !!mount.subPath };
  };

  // Every Secret mounted under the certificates directory must be complete and valid.
  const secretNames = new Map<string, { name: string; frozen: boolean }>();
  const volumeKey = (name: string, frozen: boolean) => `${name}\u0000${frozen}`;
  const refs: Record<'ca' | 'cert' | 'key', FileRef> = {} as never;
  for (const [which, path] of [
    ['ca', caPath],
    ['cert', certPath],
    ['key', keyPath],
  ] as const) {
    const ref = resolve(path);
    if (typeof ref === 'string') return fail('TLSConfigInvalid', ref);
    refs[which] = ref;
    secretNames.set(volumeKey(ref.secretName, ref.frozen), { name: ref.secretName, frozen: ref.frozen });
  }
  for (const m of argsOnly ? [] : mounts) {
    if (!String(m.mountPath).startsWith(`${CERTS_DIR}/`)) continue;
    const vol = volumes.find((v) => v.name === m.name);
    if (vol?.secret?.secretName) {
      const frozen = !!m.subPath;
      secretNames.set(volumeKey(vol.secret.secretName, frozen), { name: vol.secret.secretName, frozen });
    }
  }
  const contents = new Map<string, Record<string, string>>();
  for (const [key, { name, frozen }] of secretNames) {
    const secret = getSecret(ns, name, frozen);
    if (!secret) return fail('TLSSecretMissing', `secret ${ns}/${name} not found`);
    const data = decodeSecret(secret);
    for (const k of REQUIRED_KEYS) {
      if (!data[k]) return fail('TLSKeyMissing', `secret ${ns}/${name} has no ${k}`);
    }
    const problem = checkTlsSecret(`${ns}/${name}`, data, now);
    if (problem) return problem;
    contents.set(key, data);
  }
  const read = (ref: FileRef): string | undefined =>
    contents.get(volumeKey(ref.secretName, ref.frozen))?.[ref.key];
  const caPem = read(refs.ca);
  const certPem = read(refs.cert);
  const keyPem = read(refs.key);
  if (!caPem) return fail('TLSKeyMissing', `secret ${ns}/${refs.ca.secretName} has no ${refs.ca.key}`);
  if (!certPem) return fail('TLSKeyMissing', `secret ${ns}/${refs.cert.secretName} has no ${refs.cert.key}`);
  if (!keyPem) return fail('TLSKeyMissing', `secret ${ns}/${refs.key.secretName} has no ${refs.key.key}`);
  if (
    refs.cert.secretName !== refs.key.secretName ||
    refs.cert.key !== 'tls.crt' ||
    refs.key.key !== 'tls.key'
  ) {
    // Files picked from different places: check the pair that mysqld would actually use.
    const problem = checkPair(`${ns}/${refs.cert.secretName}`, certPem, keyPem, caPem, now);
    if (problem) return problem;
  }
  return { ok: true, tls: { caPem, certPem } };
}

function decodeSecret(secret: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((secret.data ?? {}) as Record<string, string>)) {
    out[k] = Buffer.from(v, 'base64').toString('utf8');
  }
  for (const [k, v] of Object.entries((secret.stringData ?? {}) as Record<string, string>)) out[k] = v;
  return out;
}

function checkTlsSecret(where: string, data: Record<string, string>, now: Date): TlsLoad | undefined {
  return checkPair(where, data['tls.crt']!, data['tls.key']!, data['ca.crt']!, now);
}

function checkPair(
  where: string,
  certPem: string,
  keyPem: string,
  caPem: string,
  now: Date,
): TlsLoad | undefined {
  const chain = parseCerts(certPem);
  const leaf = chain[0];
  if (!leaf) return fail('TLSCertInvalid', `secret ${where}: tls.crt is not a PEM certificate`);
  const cas = parseCerts(caPem);
  if (cas.length === 0) return fail('TLSCertInvalid', `secret ${where}: ca.crt is not a PEM certificate`);
  let key: KeyObject | undefined = keyCache.get(keyPem);
  if (!key) {
    try {
      key = createPrivateKey(keyPem);
    } catch {
      return fail('TLSCertInvalid', `secret ${where}: tls.key is not a PEM private key`);
    }
    if (keyCache.size > 5000) keyCache.clear();
    keyCache.set(keyPem, key);
  }
  if (!keyMatches(leaf, certPem, keyPem, key)) {
    return fail('TLSKeyMismatch', `secret ${where}: tls.key does not match the certificate in tls.crt`);
  }
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (now.getTime() < from) {
    return fail('TLSCertNotYetValid', `secret ${where}: certificate is not valid before ${leaf.validFrom}`);
  }
  if (now.getTime() > to)
    return fail('TLSCertExpired', `secret ${where}: certificate expired at ${leaf.validTo}`);
  if (!chainsToCached(certPem, caPem, chain, cas)) {
    return fail(
      'TLSUntrustedCA',
      `secret ${where}: certificate (issuer ${oneLine(leaf.issuer)}) does not chain to ca.crt (${cas.map((c) => oneLine(c.subject)).join('; ')})`,
    );
  }
  // OpenSSL checks the trust anchor's dates too: a certificate whose every issuing CA has expired fails.
  const issuers = cas.filter((ca) => leaf.checkIssued(ca));
  if (issuers.length > 0 && issuers.every((ca) => now.getTime() > Date.parse(ca.validTo))) {
    return fail(
      'TLSCertExpired',
      `secret ${where}: the CA that signed the certificate expired at ${issuers[0]!.validTo}`,
    );
  }
  return undefined;
}

/** True when `caPem` (a bundle) verifies the certificate (and its intermediates) in `certPem`. */
export function trusts(caPem: string, certPem: string): boolean {
  const chain = parseCerts(certPem);
  return chain.length > 0 && chainsToCached(certPem, caPem, chain, parseCerts(caPem));
}

/** Both directions between two started pods; undefined when they trust each other. */
export function peerTrust(self: TlsSnapshot, peer: TlsSnapshot, peerName: string): string | undefined {
  if (!trusts(peer.caPem, self.certPem)) {
    return `tls: peer ${peerName} does not trust this pod's certificate (issuer ${issuerOf(self.certPem)} is not in the peer's ca.crt)`;
  }
  if (!trusts(self.caPem, peer.certPem)) {
    return `tls: this pod does not trust peer ${peerName}'s certificate (issuer ${issuerOf(peer.certPem)} is not in this pod's ca.crt)`;
  }
  return undefined;
}

function issuerOf(pem: string): string {
  const c = parseCerts(pem)[0];
  return c ? oneLine(c.issuer) : 'unknown';
}

function chainsTo(chain: X509Certificate[], cas: X509Certificate[]): boolean {
  let cur = chain[0]!;
  const intermediates = chain.slice(1);
  for (let depth = 0; depth < 6; depth++) {
    if (cas.some((ca) => issuedBy(cur, ca))) return true;
    const next = intermediates.find((i) => i !== cur && issuedBy(cur, i));
    if (!next) return false;
    cur = next;
  }
  return false;
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

const certCache = new Map<string, X509Certificate[]>();
const keyCache = new Map<string, KeyObject>();
const verdictCache = new Map<string, boolean>();

/** Memoised by the PEM texts: at scale thousands of pods mount Secrets with the same content. */
function memo(kind: string, a: string, b: string, compute: () => boolean): boolean {
  const k = `${kind}\u0000${a}\u0000${b}`;
  const hit = verdictCache.get(k);
  if (hit !== undefined) return hit;
  const v = compute();
  if (verdictCache.size > 5000) verdictCache.clear();
  verdictCache.set(k, v);
  return v;
}

function keyMatches(leaf: X509Certificate, certPem: string, keyPem: string, key: KeyObject): boolean {
  return memo('key', certPem, keyPem, () => leaf.checkPrivateKey(key));
}

function chainsToCached(
  certPem: string,
  caPem: string,
  chain: X509Certificate[],
  cas: X509Certificate[],
): boolean {
  return memo('chain', certPem, caPem, () => chainsTo(chain, cas));
}

/** Parses a PEM bundle (cached by text: the same Secret is checked many times). */
export function parseCerts(pem: string): X509Certificate[] {
  const hit = certCache.get(pem);
  if (hit) return hit;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out: X509Certificate[] = [];
  for (const b of blocks) {
    try {
      out.push(new X509Certificate(b));
    } catch {
      // not a certificate: ignored, an empty result says so
    }
  }
  if (certCache.size > 5000) certCache.clear();
  certCache.set(pem, out);
  return out;
}
