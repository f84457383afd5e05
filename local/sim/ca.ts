/**
 * Small X.509 helpers for the simulator itself (independent of the project's functions/pki):
 * the serving CA and certificate of HTTPS mode, and CA/leaf pairs for `npm run sim`'s sample
 * data and the simulator's tests. Keys come from node:crypto, certificates are signed with
 * node-forge.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface ServingCerts {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface KeyPair {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  pem: string;
}

export interface Issued {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  keys: KeyPair;
}

export function rsaKeys(bits = 2048): KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const priv = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e), pem };
}

export interface CertOptions {
  notBefore?: Date;
  notAfter?: Date;
  keys?: KeyPair;
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** A self-signed CA certificate. */
export function makeCa(commonName: string, o: CertOptions = {}): Issued {
  const keys = o.keys ?? rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 365 * 24 * 3600_000);
  const name = [{ name: 'commonName', value: commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem, cert, keys };
}

/** A leaf certificate (server and client auth) signed by `ca`. */
export function issueCert(ca: Issued, commonName: string, o: CertOptions = {}): Issued {
  const keys = o.keys ?? rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = `02${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 90 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const altNames = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(o.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(ca.keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem, cert, keys };
}

export function makeServingCerts(): ServingCerts {
  const ca = makeCa('pxc-tls-ops simulator CA');
  const srv = issueCert(ca, 'kube-apiserver', {
    dnsNames: ['localhost', 'kubernetes.default.svc'],
    ipAddresses: ['127.0.0.1'],
    notAfter: new Date(Date.now() + 365 * 24 * 3600_000),
  });
  return { caPem: ca.certPem, certPem: srv.certPem, keyPem: srv.keyPem };
}
