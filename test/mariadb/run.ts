/**
 * The issued certificates against a real MariaDB server (`npm run test:mariadb`).
 *
 * Needs Debian's `mariadb-server`, `mariadb-client` and `openssl` (.ci/run installs them). Starts
 * its own `mariadbd` as root (`--user=root`) on 127.0.0.1 with a free port, a temporary datadir
 * and socket, and kills it at the end whatever happens. Prints one PASS/FAIL line per check and
 * exits non-zero when any check fails.
 *
 * Scenario (database `sample-pxc` in namespace `demo`, as in KubeDB's guide):
 *   1. TLS added: server certificate from CA "old" with localhost/127.0.0.1 added to its SANs,
 *      require_secure_transport=ON; client verifies the server; pod-style name verified with
 *      openssl s_client; plaintext refused; REQUIRE X509 user logs in with the client certificate.
 *   2. Rotation under the same CA (PKCS8 keys this time), server restarted.
 *   3. CA change, pass 1: every peer trusts old+new (bundle) while still presenting the old certificate.
 *   4. CA change, pass 2: new certificates from CA "new", bundle kept.
 *   5. Next rotation: the old CA leaves the bundle.
 *   6. An intermediate CA: tls.crt carries the chain, clients trust the root only.
 *   7. An ECDSA CA signing the RSA leaves.
 *   8. Hot reload (issue 14): the files are replaced under the running server (atomically, as the
 *      kubelet swaps a Secret volume), the server keeps presenting the old certificate until
 *      `FLUSH SSL` (MariaDB 10.4+; MySQL's counterpart is ALTER INSTANCE RELOAD TLS), then new
 *      connections get the new certificate (serial read with s_client, pod name verified) while
 *      a connection opened before keeps working; a reload of mismatched files is refused and the
 *      server keeps the previous certificate.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateSpec } from '../../functions/model/types.js';
import {
  type CertificateAuthority,
  checkCertificateAuthority,
  createTestCA,
  decodeSecretData,
  type IssuedSecret,
  inspectTlsSecret,
  issueCertificates,
  mergeTrustBundle,
  secretManifest,
} from '../../functions/pki/index.js';

const DB = 'sample-pxc';
const NS = 'demo';
const POD_NAME = `${DB}-0.${DB}-pods.${NS}.svc`;
const USER_PASSWORD = 'app-password';

// ---- reporting -------------------------------------------------------------------------

let failures = 0;
let passes = 0;
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passes++;
  else failures++;
  console.log(
    `${ok ? 'PASS' : 'FAIL'}  ${name}${!ok && detail ? `\n      ${detail.trim().split('\n').join('\n      ')}` : ''}`,
  );
}

function which(cmd: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin']) {
    const path = join(dir, cmd);
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  return undefined;
}

// ---- the server ------------------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), 'pxc-mariadb-'));
const datadir = join(work, 'data');
const socket = join(work, 'mysqld.sock');
const certDir = join(work, 'server-certs');
let server: ChildProcess | undefined;
let port = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Writes the server's files as the pod would see them: through the Secret's base64 data and back. */
function writeServerCerts(secret: IssuedSecret): void {
  const files = decodeSecretData(secretManifest(secret, NS).data);
  mkdirSync(certDir, { recursive: true });
  writeFileSync(join(certDir, 'ca.crt'), files['ca.crt']!);
  writeFileSync(join(certDir, 'tls.crt'), files['tls.crt']!);
  writeFileSync(join(certDir, 'tls.key'), files['tls.key']!, { mode: 0o600 });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function socketSql(sql: string): { ok: boolean; out: string } {
  const r = spawnSync(
    'mariadb',
    [
      '--no-defaults',
      `--socket=${socket}`,
      '--protocol=SOCKET',
      '-uroot',
      '-N',
      '-B',
      '--connect-timeout=5',
      '-e',
      sql,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Starts mariadbd with the server certificate in certDir, the pod wiring's flags, and waits until it answers. */
async function startServer(): Promise<void> {
  const log = openSync(join(work, 'mariadbd.log'), 'a');
  server = spawn(
    which('mariadbd')!,
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${datadir}`,
      `--socket=${socket}`,
      `--pid-file=${join(work, 'mariadbd.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--performance-schema=OFF',
      '--innodb-buffer-pool-size=32M',
      `--ssl-ca=${join(certDir, 'ca.crt')}`,
      `--ssl-cert=${join(certDir, 'tls.crt')}`,
      `--ssl-key=${join(certDir, 'tls.key')}`,
      '--require-secure-transport=ON',
    ],
    { stdio: ['ignore', log, log] },
  );
  const started = server;
  let exited = false;
  started.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exited) break;
    if (socketSql('SELECT 1').ok) return;
    await sleep(250);
  }
  throw new Error(
    `mariadbd did not start; log:\n${readFileSync(join(work, 'mariadbd.log'), 'utf8').slice(-3000)}`,
  );
}

async function stopServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  const done = new Promise<void>((resolve) => s.once('exit', () => resolve()));
  s.kill('SIGTERM');
  const timer = setTimeout(() => s.kill('SIGKILL'), 60_000);
  await done;
  clearTimeout(timer);
}

async function restartServer(secret: IssuedSecret): Promise<void> {
  await stopServer();
  writeServerCerts(secret);
  await startServer();
}

// ---- clients ---------------------------------------------------------------------------

let fileNo = 0;
function tmpFile(content: string): string {
  const path = join(work, `client-${++fileNo}.pem`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

interface ClientOpts {
  user: string;
  password?: string;
  /** CA file the client trusts; undefined: a plaintext client (--skip-ssl). */
  trust?: string;
  cert?: IssuedSecret;
  host?: string;
}

/** The mariadb command-line client over TCP, verifying the server certificate; returns Ssl_cipher. */
function client(opts: ClientOpts): { ok: boolean; out: string; cipher: string; user: string } {
  const args = [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${opts.host ?? '127.0.0.1'}`,
    `--port=${port}`,
    `--user=${opts.user}`,
    '--connect-timeout=10',
    '-N',
    '-B',
  ];
  if (opts.password) args.push(`--password=${opts.password}`);
  if (opts.trust === undefined) {
    args.push('--skip-ssl');
  } else {
    args.push('--ssl', `--ssl-ca=${tmpFile(opts.trust)}`, '--ssl-verify-server-cert');
  }
  if (opts.cert) {
    args.push(
      `--ssl-cert=${tmpFile(opts.cert.data['tls.crt'])}`,
      `--ssl-key=${tmpFile(opts.cert.data['tls.key'])}`,
    );
  }
  args.push('-e', "SELECT 'current_user', CURRENT_USER(); SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  const r = spawnSync('mariadb', args, { encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const cipher = /Ssl_cipher\t(\S+)/.exec(r.stdout ?? '')?.[1] ?? '';
  const user = /current_user\t(\S+)/.exec(r.stdout ?? '')?.[1] ?? '';
  return { ok: r.status === 0, out, cipher, user };
}

/** openssl s_client speaking MySQL STARTTLS, verifying the chain and a host name. */
function sClient(trust: string, hostname: string): { ok: boolean; out: string; serial: string } {
  const r = spawnSync(
    'openssl',
    [
      's_client',
      '-starttls',
      'mysql',
      '-connect',
      `127.0.0.1:${port}`,
      '-CAfile',
      tmpFile(trust),
      '-verify_hostname',
      hostname,
      '-verify_return_error',
      '-brief',
    ],
    { encoding: 'utf8', input: '', timeout: 30_000 },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0 && /Verification: OK|Verify return code: 0/.test(out), out, serial: '' };
}

/** The serial of the certificate the server presents (openssl s_client -showcerts, no verification). */
function presentedSerial(): string {
  const r = spawnSync('openssl', ['s_client', '-starttls', 'mysql', '-connect', `127.0.0.1:${port}`], {
    encoding: 'utf8',
    input: '',
    timeout: 30_000,
  });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(r.stdout ?? '')?.[0];
  return pem ? inspectTlsSecret({ 'tls.crt': pem }).serial : '';
}

/** Connects and checks the outcome; when it should connect, also that TLS is on and who we are (user@%). */
function expectClient(name: string, opts: ClientOpts, shouldConnect: boolean): void {
  const r = client(opts);
  if (shouldConnect) {
    check(
      name,
      r.ok && r.cipher !== '' && r.user === `${opts.user}@%`,
      `exit ok=${r.ok}, Ssl_cipher=${r.cipher || '(empty)'}, CURRENT_USER=${r.user || '(none)'}\n${r.out}`,
    );
  } else check(name, !r.ok, `connected although it should not have:\n${r.out}`);
}

// ---- the scenario ----------------------------------------------------------------------

function authority(ca: { certPem: string; keyPem: string }, chain = ''): CertificateAuthority {
  return {
    issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' },
    secretRef: { namespace: NS, name: 'px-ca' },
    ...checkCertificateAuthority(ca.certPem + chain, ca.keyPem, { who: 'test issuer' }),
  };
}

async function issue(ca: CertificateAuthority, encoding: 'PKCS1' | 'PKCS8', trustBundlePem?: string) {
  const certificates: CertificateSpec[] = [
    {
      alias: 'server',
      subject: { organizations: ['kubedb:server'] },
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      privateKey: { encoding },
    },
    { alias: 'client', subject: { organizations: ['kubedb:client'] }, privateKey: { encoding } },
    { alias: 'metrics-exporter', privateKey: { encoding } },
  ];
  const issued = await issueCertificates({ database: DB, namespace: NS, certificates, ca, trustBundlePem });
  const [srv, cli, exporter] = issued;
  return { server: srv!, client: cli!, exporter: exporter! };
}

async function scenario(): Promise<void> {
  const oldCa = await createTestCA({ commonName: 'pxc old CA' });
  const newCa = await createTestCA({ commonName: 'pxc new CA' });
  const caOld = authority(oldCa);
  const caNew = authority(newCa);
  const bundle = mergeTrustBundle(oldCa.certPem, newCa.certPem);

  console.log('-- 1. TLS added (CA "old", PKCS1 keys, require_secure_transport=ON)');
  const first = await issue(caOld, 'PKCS1');
  writeServerCerts(first.server);
  await startServer();
  const users = socketSql(
    [
      // mariadb-install-db's password-less root@127.0.0.1 and root@::1 would shadow root@% for TCP clients.
      "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1'",
      `CREATE USER 'app'@'%' IDENTIFIED BY '${USER_PASSWORD}'`,
      "CREATE USER 'x509user'@'%' REQUIRE X509",
      "CREATE USER 'root'@'%' REQUIRE SUBJECT '/O=kubedb:client/CN=root'",
    ].join('; '),
  );
  check(
    'users created (app, x509user REQUIRE X509, root REQUIRE SUBJECT /O=kubedb:client/CN=root)',
    users.ok,
    users.out,
  );

  expectClient(
    'client trusting the CA connects to 127.0.0.1 with --ssl-verify-server-cert; Ssl_cipher set',
    { user: 'app', password: USER_PASSWORD, trust: oldCa.certPem },
    true,
  );
  expectClient(
    'client trusting the CA connects to localhost with --ssl-verify-server-cert',
    { user: 'app', password: USER_PASSWORD, trust: oldCa.certPem, host: 'localhost' },
    true,
  );
  const pod = sClient(oldCa.certPem, POD_NAME);
  check(`openssl s_client -starttls mysql verifies the pod name ${POD_NAME}`, pod.ok, pod.out);
  const svc = sClient(oldCa.certPem, `${DB}.${NS}.svc`);
  check(`openssl s_client -starttls mysql verifies the service name ${DB}.${NS}.svc`, svc.ok, svc.out);
  const wrong = sClient(oldCa.certPem, `${DB}-0.other-pods.${NS}.svc`);
  check('openssl s_client refuses a name the certificate does not carry', !wrong.ok, wrong.out);
  // MariaDB answers a plaintext login under require_secure_transport with "Access denied" (1045), not
  // MySQL's 3159; the control below shows the same login works once the setting is off.
  const plain = client({ user: 'app', password: USER_PASSWORD });
  check(
    'a plaintext client is refused (require_secure_transport=ON)',
    !plain.ok && /1045|3159|secure transport/i.test(plain.out),
    plain.out,
  );
  const off = socketSql('SET GLOBAL require_secure_transport=OFF');
  const plainOff = client({ user: 'app', password: USER_PASSWORD });
  const on = socketSql('SET GLOBAL require_secure_transport=ON');
  check(
    'control: the same plaintext login succeeds with require_secure_transport=OFF (so the refusal was the transport)',
    off.ok && on.ok && plainOff.ok && plainOff.cipher === '',
    `${off.out}${plainOff.out}${on.out}`,
  );
  expectClient(
    'a client trusting another CA is refused by --ssl-verify-server-cert',
    { user: 'app', password: USER_PASSWORD, trust: newCa.certPem },
    false,
  );
  expectClient(
    'the REQUIRE X509 user logs in with the issued client certificate',
    { user: 'x509user', trust: oldCa.certPem, cert: first.client },
    true,
  );
  expectClient(
    'the REQUIRE X509 user without a client certificate is refused',
    { user: 'x509user', trust: oldCa.certPem },
    false,
  );
  expectClient(
    'root REQUIRE SUBJECT logs in with the client certificate (CN=root)',
    { user: 'root', trust: oldCa.certPem, cert: first.client },
    true,
  );
  expectClient(
    'root REQUIRE SUBJECT is refused with the metrics-exporter certificate (wrong subject)',
    { user: 'root', trust: oldCa.certPem, cert: first.exporter },
    false,
  );
  check('the server presents the issued server certificate', presentedSerial() === first.server.serial);

  console.log('-- 2. rotation under the same CA (PKCS8 keys), server restarted');
  const rotated = await issue(caOld, 'PKCS8');
  await restartServer(rotated.server);
  check(
    'mariadbd reads the PKCS8 key and presents the rotated certificate',
    presentedSerial() === rotated.server.serial,
  );
  expectClient(
    'client trusting the CA still connects with --ssl-verify-server-cert',
    { user: 'app', password: USER_PASSWORD, trust: oldCa.certPem },
    true,
  );
  expectClient(
    'the REQUIRE X509 user logs in with the rotated client certificate (PKCS8 key)',
    { user: 'x509user', trust: oldCa.certPem, cert: rotated.client },
    true,
  );
  expectClient(
    'the previous client certificate (same CA) is still accepted',
    { user: 'x509user', trust: oldCa.certPem, cert: first.client },
    true,
  );
  const podRotated = sClient(oldCa.certPem, POD_NAME);
  check(`the pod name ${POD_NAME} still verifies after rotation`, podRotated.ok, podRotated.out);

  console.log('-- 3. CA change, pass 1: old certificate, ca.crt = old+new bundle');
  await restartServer({ ...rotated.server, data: { ...rotated.server.data, 'ca.crt': bundle } });
  check('the server still presents the old-CA certificate', presentedSerial() === rotated.server.serial);
  const pass2 = await issue(caNew, 'PKCS1', bundle);
  expectClient(
    'client trusting only the old CA connects',
    { user: 'app', password: USER_PASSWORD, trust: oldCa.certPem },
    true,
  );
  expectClient(
    'client trusting only the new CA is refused',
    { user: 'app', password: USER_PASSWORD, trust: newCa.certPem },
    false,
  );
  expectClient(
    'client trusting the bundle connects',
    { user: 'app', password: USER_PASSWORD, trust: bundle },
    true,
  );
  expectClient(
    'a new-CA client certificate is accepted already (server trusts the bundle)',
    { user: 'x509user', trust: bundle, cert: pass2.client },
    true,
  );
  expectClient(
    'an old-CA client certificate is still accepted',
    { user: 'x509user', trust: bundle, cert: rotated.client },
    true,
  );

  console.log('-- 4. CA change, pass 2: new-CA certificate, ca.crt = old+new bundle');
  await restartServer(pass2.server);
  check('the server presents the new-CA certificate', presentedSerial() === pass2.server.serial);
  expectClient(
    'client trusting only the old CA is refused',
    { user: 'app', password: USER_PASSWORD, trust: oldCa.certPem },
    false,
  );
  expectClient(
    'client trusting only the new CA connects',
    { user: 'app', password: USER_PASSWORD, trust: newCa.certPem },
    true,
  );
  expectClient(
    'client trusting the bundle connects',
    { user: 'app', password: USER_PASSWORD, trust: bundle },
    true,
  );
  expectClient(
    'an old-CA client certificate is still accepted (bundle)',
    { user: 'x509user', trust: bundle, cert: rotated.client },
    true,
  );
  expectClient(
    'a new-CA client certificate is accepted',
    { user: 'x509user', trust: newCa.certPem, cert: pass2.client },
    true,
  );
  const podNew = sClient(newCa.certPem, POD_NAME);
  check(`the pod name ${POD_NAME} verifies against the new CA`, podNew.ok, podNew.out);

  console.log('-- 5. next rotation: the old CA leaves the bundle');
  const next = await issue(caNew, 'PKCS1');
  await restartServer(next.server);
  expectClient(
    'client trusting the new CA connects',
    { user: 'app', password: USER_PASSWORD, trust: newCa.certPem },
    true,
  );
  expectClient(
    'an old-CA client certificate is now refused',
    { user: 'x509user', trust: newCa.certPem, cert: rotated.client },
    false,
  );
  expectClient(
    'a new-CA client certificate is accepted',
    { user: 'x509user', trust: newCa.certPem, cert: next.client },
    true,
  );

  console.log('-- 6. intermediate CA: tls.crt = leaf + intermediate, ca.crt = root');
  const root = await createTestCA({ commonName: 'pxc root CA' });
  const inter = await createTestCA({ commonName: 'pxc intermediate CA', parent: root });
  const viaInter = await issue(authority(inter, root.certPem), 'PKCS8');
  await restartServer(viaInter.server);
  expectClient(
    'client trusting only the root connects (server sends the intermediate)',
    { user: 'app', password: USER_PASSWORD, trust: root.certPem },
    true,
  );
  const podInter = sClient(root.certPem, POD_NAME);
  check(`openssl s_client verifies ${POD_NAME} through the intermediate`, podInter.ok, podInter.out);
  expectClient(
    'the REQUIRE X509 user logs in with a client certificate from the intermediate',
    { user: 'x509user', trust: root.certPem, cert: viaInter.client },
    true,
  );

  console.log('-- 7. ECDSA CA (P-256) signing RSA leaves');
  const ec = await createTestCA({ commonName: 'pxc ECDSA CA', keyType: 'ec' });
  const viaEc = await issue(authority(ec), 'PKCS1');
  await restartServer(viaEc.server);
  expectClient(
    'client trusting the ECDSA CA connects with --ssl-verify-server-cert',
    { user: 'app', password: USER_PASSWORD, trust: ec.certPem },
    true,
  );
  expectClient(
    'the REQUIRE X509 user logs in with a client certificate from the ECDSA CA',
    { user: 'x509user', trust: ec.certPem, cert: viaEc.client },
    true,
  );
}

/** A client connection that stays open: statements go in on stdin, output is read as it comes. */
function openSession(trust: string): { query(sql: string, until: RegExp): Promise<string>; close(): void } {
  const child = spawn(
    'mariadb',
    [
      '--no-defaults',
      '--protocol=TCP',
      '--host=127.0.0.1',
      `--port=${port}`,
      '--user=app',
      `--password=${USER_PASSWORD}`,
      '--ssl',
      `--ssl-ca=${tmpFile(trust)}`,
      '--ssl-verify-server-cert',
      '--unbuffered',
      '-N',
      '-B',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return {
    async query(sql, until) {
      const from = out.length;
      child.stdin.write(`${sql}\n`);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (until.test(out.slice(from))) return out.slice(from);
        await sleep(50);
      }
      return `${out.slice(from)}${child.exitCode !== null ? `(client exited ${child.exitCode})` : '(timed out)'}`;
    },
    close() {
      child.stdin.end();
      if (child.exitCode === null) child.kill();
    },
  };
}

/** Replaces the server's files the way the kubelet updates a Secret volume: all at once. */
function swapServerCerts(secret: IssuedSecret, keyPem?: string): void {
  const files = decodeSecretData(secretManifest(secret, NS).data);
  const next = join(work, 'server-certs.next');
  mkdirSync(next, { recursive: true });
  writeFileSync(join(next, 'ca.crt'), files['ca.crt']!);
  writeFileSync(join(next, 'tls.crt'), files['tls.crt']!);
  writeFileSync(join(next, 'tls.key'), keyPem ?? files['tls.key']!, { mode: 0o600 });
  for (const f of ['ca.crt', 'tls.crt', 'tls.key']) renameSync(join(next, f), join(certDir, f));
}

async function hotReload(): Promise<void> {
  console.log('-- 8. hot reload: files replaced under the running server, FLUSH SSL');
  const ca = authority(await createTestCA({ commonName: 'pxc reload CA' }));
  const before = await issue(ca, 'PKCS1');
  await restartServer(before.server);
  check(
    'baseline: the server presents the certificate it started with',
    presentedSerial() === before.server.serial,
  );
  const session = openSession(ca.certPem);
  const first = await session.query(
    "SELECT 'alive-1'; SHOW SESSION STATUS LIKE 'Ssl_cipher';",
    /Ssl_cipher\t\S+/,
  );
  check(
    'a connection opened before the rotation works over TLS',
    /alive-1/.test(first) && /Ssl_cipher\t\S+/.test(first),
    first,
  );

  const after = await issue(ca, 'PKCS8');
  swapServerCerts(after.server);
  check(
    'after the files change, the running server still presents the old certificate (no reload yet)',
    presentedSerial() === before.server.serial,
  );
  const flushed = socketSql('FLUSH SSL');
  check('FLUSH SSL succeeds', flushed.ok, flushed.out);
  const serial = presentedSerial();
  check(
    `a new connection gets the new certificate (serial ${after.server.serial} read with openssl s_client)`,
    serial === after.server.serial,
    `presented ${serial || '(none)'}, old ${before.server.serial}`,
  );
  const pod = sClient(ca.certPem, POD_NAME);
  check(`the new certificate verifies the pod name ${POD_NAME}`, pod.ok, pod.out);
  expectClient(
    'a new client trusting the CA connects with --ssl-verify-server-cert',
    { user: 'app', password: USER_PASSWORD, trust: ca.certPem },
    true,
  );
  const second = await session.query(
    "SELECT 'alive-2'; SHOW SESSION STATUS LIKE 'Ssl_cipher';",
    /Ssl_cipher\t\S+/,
  );
  check('the connection opened before the reload keeps working', /alive-2/.test(second), second);

  // A reload the files cannot support: the key of another certificate.
  const stranger = await issue(ca, 'PKCS1');
  swapServerCerts(stranger.server, after.server.data['tls.key']);
  const refused = socketSql('FLUSH SSL');
  const kept = presentedSerial();
  check(
    'FLUSH SSL with a key that does not match the certificate fails and the server keeps the previous certificate',
    !refused.ok && kept === after.server.serial,
    `FLUSH SSL ok=${refused.ok}: ${refused.out}\npresented ${kept || '(none)'}, previous ${after.server.serial}`,
  );
  const third = await session.query("SELECT 'alive-3';", /alive-3/);
  check('the old connection survives the refused reload too', /alive-3/.test(third), third);
  session.close();
}

async function main(): Promise<void> {
  const missing = ['mariadbd', 'mariadb-install-db', 'mariadb', 'openssl'].filter((c) => !which(c));
  if (missing.length > 0) {
    check(
      `tools present (missing: ${missing.join(', ')}; install with: apt-get install -y mariadb-server mariadb-client openssl)`,
      false,
    );
    return;
  }
  port = await freePort();
  mkdirSync(datadir, { recursive: true });
  const install = spawnSync(
    which('mariadb-install-db')!,
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { encoding: 'utf8', timeout: 180_000 },
  );
  check(
    'mariadb-install-db created a temporary datadir',
    install.status === 0,
    `${install.stdout}${install.stderr}`,
  );
  if (install.status !== 0) return;
  console.log(`mariadbd on 127.0.0.1:${port}, datadir ${datadir}`);
  await scenario();
  await hotReload();
}

function killNow(): void {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}
process.on('exit', killNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killNow();
    process.exit(130);
  });
}

try {
  await main();
} catch (err) {
  check('scenario ran to the end', false, (err as Error).stack ?? String(err));
} finally {
  await stopServer().catch(() => killNow());
  if (failures === 0) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work} for inspection (mariadbd.log)`);
}
console.log(`\nmariadb certificate test: ${passes} passed, ${failures} failed`);
process.exitCode = failures === 0 && passes > 0 ? 0 : 1;
