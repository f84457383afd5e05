/**
 * The mysqld stand-in inside each pod's `perconaxtradb` container, as far as TLS goes, and the
 * `mysql` command-line client that reaches it through the exec subresource.
 *
 * What the server has loaded is the kubelet stand-in's record of the pod (see controllers.ts):
 * the server's TLS context and, when cluster traffic is encrypted, Galera's. Both are read from
 * the files at start and stay as they are, whatever happens to the Secrets, until the pod
 * restarts or one of these statements reloads them from what the pod's volumes show now:
 *
 *   ALTER INSTANCE RELOAD TLS [FOR CHANNEL mysql_main] [NO ROLLBACK ON ERROR]
 *       the server context (client connections). Invalid files (missing, unreadable, key not
 *       matching the certificate, certificate not chaining to ca.crt or outside its validity)
 *       fail with ERROR 3888 and keep the old context, as MySQL 8.0.16+ does; with NO ROLLBACK ON
 *       ERROR a failure disables TLS for new connections instead.
 *   SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'
 *       Galera's context (replication, peer trust). Fails with ERROR 1210 and keeps the old
 *       context on invalid files. A no-op when cluster traffic is not encrypted.
 *
 * Status queries answer from the loaded material, in the real server's words:
 * `SHOW GLOBAL STATUS LIKE 'Ssl_server_not%'` (validity as OpenSSL prints it, "Apr 28 14:16:39
 * 2025 GMT"), `Current_tls_%` (the paths in force), `SHOW GLOBAL VARIABLES LIKE ...` (ssl_*,
 * have_ssl, require_secure_transport, pxc_encrypt_cluster_traffic, wsrep_provider_options) and
 * `SELECT 1`. `FLUSH SSL` is MariaDB's statement: like MySQL, the stand-in rejects it as a
 * syntax error. Output is the real client's batch format (tabs, a header unless -N, `\t`/`\n`/`\\`
 * escaped unless -r); errors are `ERROR <code> (<state>) at line <n>: <message>`, exit code 1.
 */
import { X509Certificate } from 'node:crypto';
import { POD } from './api.js';
import type { Kubelet, RunningPod } from './controllers.js';
import type { GaleraServers } from './galera.js';
import { RESOURCES } from './resources.js';
import { type ExecResult, runShell } from './shell.js';
import type { J, Obj, Store } from './store.js';
import {
  argValue,
  clusterTrafficEncrypted,
  containerArgs,
  loadPodTls,
  providerOptions,
  TLS_CONTAINER,
  type TlsLoad,
  type TlsSnapshot,
} from './tls.js';

const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;
const VERSION = '8.0.40-31.1';
const SOCKET = '/var/run/mysqld/mysqld.sock';

/** A loaded TLS context as a test or the benchmark sees it. */
export interface LoadedTls {
  serial: string;
  /** As `Ssl_server_not_before` prints it. */
  notBefore: string;
  notAfter: string;
  subject: string;
  issuer: string;
  certPem: string;
  caPem: string;
}

export interface MysqldView {
  namespace: string;
  pod: string;
  uid: string;
  /** mysqld is running (it started; not crash-looping on its TLS files). */
  up: boolean;
  encryptClusterTraffic: boolean;
  /** The server context (client connections); undefined: TLS off. */
  server?: LoadedTls;
  /** Galera's replication context; undefined unless cluster traffic is encrypted. */
  galera?: LoadedTls;
}

export interface ReloadRecord {
  at: number;
  namespace: string;
  pod: string;
  uid: string;
  what: 'tls' | 'galera';
  ok: boolean;
  /** The server's error text when it failed (no key material). */
  error?: string;
  /** Serial of the certificate in force after the statement. */
  serial?: string;
}

export interface ReloadFault {
  /**
   * Which reload fails; default both. Two faults of what a reload needs around it, only when
   * named: `read`, `cat` of the Secret volume's files is refused (Permission denied: a volume
   * whose defaultMode the container's user cannot read); `connect`, the mysql client cannot
   * reach the server (ERROR 2002: mysqld restarting inside a pod still marked Ready).
   */
  what?: 'tls' | 'galera' | 'any' | 'read' | 'connect';
  /** How many reloads (reads, connections) fail; default all until cleared. */
  times?: number;
  /** The SSL library error text to report. */
  message?: string;
}

interface SqlError {
  code: number;
  state: string;
  message: string;
}

interface ResultSet {
  columns: string[];
  rows: string[][];
}

export class Mysqld {
  readonly reloads: ReloadRecord[] = [];
  private faults = new Map<string, ReloadFault & { remaining: number }>();
  private readonly envs = new Map<string, Record<string, string>>();
  /** Pods whose Galera build predates socket.ssl_reload (Galera 26.4.8, 2021; PXC 8.0's 4.7 lacks it). */
  private readonly noSslReload = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly kubelet: Kubelet,
    /** Real servers (`--mysqld mariadb`): exec in the database container runs against them. */
    private readonly servers?: GaleraServers,
  ) {}

  /**
   * `exec`, or with real servers the command run for real against the pod's mariadbd (see
   * galera.ts); what the exec subresource calls.
   */
  async execAsync(
    namespace: string,
    podName: string,
    container: string,
    argv: string[],
    stdin?: string,
  ): Promise<ExecResult> {
    const rp = this.kubelet.running(namespace, podName);
    if (!this.servers || container !== TLS_CONTAINER || !rp || !this.servers.has(rp.uid))
      return this.exec(namespace, podName, container, argv, stdin);
    const pod = this.store.get(POD, namespace, podName);
    const c = (pod?.spec?.containers ?? []).find((x: J) => x.name === container);
    if (!pod || !c) return { stdout: '', stderr: `container "${container}" is not running`, exitCode: -1 };
    const r = await this.servers.exec(rp.uid, argv, this.containerEnv(pod, c, rp.uid), stdin);
    // The reload statements a test or the benchmark counts, as the stand-in records them.
    const text = argv.join(' ');
    for (const [what, re] of [
      ['tls', /ALTER INSTANCE RELOAD TLS/i],
      ['galera', /socket\.ssl_reload/i],
    ] as const) {
      if (re.test(text))
        this.reloads.push({
          at: Date.now(),
          namespace,
          pod: podName,
          uid: rp.uid,
          what,
          ok: r.exitCode === 0,
          ...(r.exitCode === 0 ? {} : { error: r.stderr.split('\n').find((l) => /^ERROR/.test(l)) ?? '' }),
        });
    }
    return r;
  }

  /** Reloads inside pod `ns/pod` (any UID) fail until cleared, keeping the old material. */
  failReloads(namespace: string, pod: string, fault: ReloadFault = {}): void {
    this.faults.set(`${namespace}/${pod}`, { ...fault, remaining: fault.times ?? Number.POSITIVE_INFINITY });
  }

  /** Clears the reload faults, and the older Galera builds (tests set them up like faults). */
  clearFaults(): void {
    this.faults.clear();
    this.noSslReload.clear();
  }

  /**
   * Pod `ns/pod` (any UID) runs a Galera without `socket.ssl_reload` (percona/galera 4.x-8.0 at
   * Galera 4.7 registers no such option): its provider options do not list it, and setting it
   * fails as an unknown option does.
   */
  galeraWithoutSslReload(namespace: string, pod: string): void {
    this.noSslReload.add(`${namespace}/${pod}`);
  }

  /** What the pod's mysqld runs with now, or undefined when the pod is not running. */
  view(namespace: string, pod: string): MysqldView | undefined {
    const rp = this.kubelet.running(namespace, pod);
    if (!rp) return undefined;
    return {
      namespace,
      pod,
      uid: rp.uid,
      up: isUp(rp),
      encryptClusterTraffic: rp.encrypted,
      ...(rp.tls ? { server: describe(rp.tls) } : {}),
      ...(rp.galera ? { galera: describe(rp.galera) } : {}),
    };
  }

  /**
   * Runs `argv` in container `container` of pod `ns/pod`. Exit code -1 means the container
   * runtime could not start the program (the exec endpoint reports it as an internal error).
   */
  exec(namespace: string, podName: string, container: string, argv: string[], stdin?: string): ExecResult {
    const pod = this.store.get(POD, namespace, podName);
    const c = (pod?.spec?.containers ?? []).find((x: J) => x.name === container);
    const rp = this.kubelet.running(namespace, podName);
    if (!pod || !c || !rp)
      return { stdout: '', stderr: `container "${container}" is not running`, exitCode: -1 };
    const env = this.containerEnv(pod, c, rp.uid);
    const programs = {
      cat: (args: string[]) => this.cat(pod, c, rp, args),
      hostname: () => ({ stdout: `${podName}\n`, stderr: '', exitCode: 0 }),
      echo: (args: string[]) => ({ stdout: `${args.slice(1).join(' ')}\n`, stderr: '', exitCode: 0 }),
      true: () => ({ stdout: '', stderr: '', exitCode: 0 }),
      false: () => ({ stdout: '', stderr: '', exitCode: 1 }),
      ...(container === TLS_CONTAINER
        ? { mysql: (args: string[], input: string | undefined) => this.mysql(pod, rp, env, args, input) }
        : {}),
    };
    return runShell(argv, env, programs, stdin);
  }

  // ---- the container ----------------------------------------------------------------

  /** The container's environment as the kubelet set it at start (secretKeyRef resolved then). */
  private containerEnv(pod: Obj, c: J, uid: string): Record<string, string> {
    const key = `${uid}/${c.name}`;
    const hit = this.envs.get(key);
    if (hit) return hit;
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: pod.metadata.name,
      HOME: '/root',
    };
    for (const e of (c.env ?? []) as J[]) {
      if (e.value !== undefined) env[e.name] = String(e.value);
      else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const secret = this.store.get(SECRET, pod.metadata.namespace, ref.name);
        const v = secret?.data?.[ref.key];
        if (v !== undefined) env[e.name] = Buffer.from(v, 'base64').toString('utf8');
        else if (secret?.stringData?.[ref.key] !== undefined) env[e.name] = secret.stringData[ref.key];
      } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.metadata.name;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace')
        env[e.name] = pod.metadata.namespace;
    }
    if (this.envs.size > 10_000) this.envs.clear();
    this.envs.set(key, env);
    return env;
  }

  /** `cat` of files on the container's Secret volumes, as the volumes show them now. */
  private cat(pod: Obj, c: J, rp: RunningPod, args: string[]): ExecResult {
    let stdout = '';
    let stderr = '';
    let exitCode = 0;
    if (this.takeFault(rp.ns, rp.name, 'read'))
      return {
        stdout,
        stderr: args
          .slice(1)
          .map((path) => `cat: ${path}: Permission denied\n`)
          .join(''),
        exitCode: 1,
      };
    const read = this.kubelet.volumeReader(rp.uid);
    for (const path of args.slice(1)) {
      const mount = ((c.volumeMounts ?? []) as J[])
        .filter((m) => path === m.mountPath || path.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
      const vol = mount && ((pod.spec?.volumes ?? []) as J[]).find((v) => v.name === mount.name);
      if (mount && path === mount.mountPath && !mount.subPath) {
        stderr += `cat: ${path}: Is a directory\n`;
        exitCode = 1;
        continue;
      }
      let content: string | undefined;
      if (vol?.secret?.secretName) {
        let file = mount.subPath ?? path.slice(String(mount.mountPath).replace(/\/$/, '').length + 1);
        if (mount.subPath && path !== mount.mountPath) file = '';
        const item = ((vol.secret.items ?? []) as J[]).find((it) => it.path === file);
        if (vol.secret.items && item) file = item.key;
        else if (vol.secret.items) file = '';
        const secret = read(pod.metadata.namespace, vol.secret.secretName, !!mount.subPath);
        const v = file ? (secret?.data?.[file] ?? undefined) : undefined;
        if (v !== undefined) content = Buffer.from(v, 'base64').toString('utf8');
      }
      if (content === undefined) {
        stderr += `cat: ${path}: No such file or directory\n`;
        exitCode = 1;
      } else stdout += content;
    }
    return { stdout, stderr, exitCode };
  }

  // ---- the mysql client -----------------------------------------------------------------

  private mysql(
    pod: Obj,
    rp: RunningPod,
    env: Record<string, string>,
    args: string[],
    stdin: string | undefined,
  ) {
    const opts = parseClientArgs(args.slice(1));
    if ('error' in opts) return { stdout: '', stderr: `mysql: [ERROR] ${opts.error}\n`, exitCode: 7 };
    let stderr = '';
    if (opts.password)
      stderr += 'mysql: [Warning] Using a password on the command line interface can be insecure.\n';
    if (!isUp(rp) || this.takeFault(rp.ns, rp.name, 'connect')) {
      stderr += `ERROR 2002 (HY000): Can't connect to local MySQL server through socket '${SOCKET}' (2)\n`;
      return { stdout: '', stderr, exitCode: 1 };
    }
    const rootUser = env.MYSQL_ROOT_USERNAME ?? 'root';
    const rootPassword = env.MYSQL_ROOT_PASSWORD ?? '';
    const user = opts.user ?? 'root';
    if (user !== rootUser || (opts.password ?? '') !== rootPassword) {
      stderr += `ERROR 1045 (28000): Access denied for user '${user}'@'localhost' (using password: ${opts.password ? 'YES' : 'NO'})\n`;
      return { stdout: '', stderr, exitCode: 1 };
    }
    const sql = opts.execute ?? stdin ?? '';
    let stdout = '';
    for (const stmt of splitStatements(sql)) {
      const out = this.statement(pod, rp, stmt.text);
      if ('code' in out) {
        stderr += `ERROR ${out.code} (${out.state}) at line ${stmt.line}: ${out.message}\n`;
        return { stdout, stderr, exitCode: 1 };
      }
      if (out.columns.length === 0) continue;
      const esc = (v: string) =>
        opts.raw
          ? v
          : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\0/g, '\\0');
      if (!opts.skipColumnNames) stdout += `${out.columns.map(esc).join('\t')}\n`;
      for (const row of out.rows) stdout += `${row.map(esc).join('\t')}\n`;
    }
    return { stdout, stderr, exitCode: 0 };
  }

  private statement(pod: Obj, rp: RunningPod, text: string): ResultSet | SqlError {
    const s = squeeze(text);
    const none: ResultSet = { columns: [], rows: [] };
    let m = /^ALTER INSTANCE RELOAD TLS( FOR CHANNEL (\w+))?( NO ROLLBACK ON ERROR)?$/i.exec(s);
    if (m) {
      if (m[2] && !/^(mysql_main|mysql_admin)$/i.test(m[2])) {
        return { code: 3889, state: 'HY000', message: `Invalid channel name provided: ${m[2]}` };
      }
      return this.reload(pod, rp, 'tls', !!m[3]) ?? none;
    }
    m = /^SET (?:GLOBAL |@@GLOBAL\.)wsrep_provider_options ?= ?(?:'([^']*)'|"([^"]*)")$/i.exec(s);
    if (m) {
      const options = Object.fromEntries(
        (m[1] ?? m[2] ?? '')
          .split(';')
          .map((kv) => kv.split('=').map((x) => x.trim()))
          .filter(([k]) => k),
      );
      const reload = options['socket.ssl_reload'];
      if (reload !== undefined && this.noSslReload.has(`${rp.ns}/${rp.name}`))
        return { code: 1210, state: 'HY000', message: 'Incorrect arguments to SET' };
      if (reload !== undefined && /^(1|yes|true|on)$/i.test(reload)) {
        return rp.encrypted ? (this.reload(pod, rp, 'galera', false) ?? none) : none;
      }
      return none;
    }
    m = /^SHOW (GLOBAL |SESSION )?(STATUS|VARIABLES)(?: LIKE '([^']*)')?$/i.exec(s);
    if (m) {
      const all = m[2]!.toUpperCase() === 'STATUS' ? this.status(rp) : this.variables(pod, rp);
      const like = m[3] === undefined ? () => true : likeMatcher(m[3]);
      const rows = Object.keys(all)
        .filter(like)
        .sort()
        .map((k) => [k, all[k]!]);
      return { columns: ['Variable_name', 'Value'], rows };
    }
    m = /^SELECT (.+)$/i.exec(s);
    if (m) return this.select(pod, rp, m[1]!);
    const near = text.trim().slice(0, 80);
    return {
      code: 1064,
      state: '42000',
      message: `You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '${near}' at line 1`,
    };
  }

  private select(pod: Obj, rp: RunningPod, list: string): ResultSet | SqlError {
    const columns: string[] = [];
    const row: string[] = [];
    for (const raw of list.split(',').map((x) => x.trim())) {
      let v: string | undefined;
      const vm = /^@@(?:(GLOBAL|SESSION)\.)?(\w+)$/i.exec(raw);
      if (/^-?\d+$/.test(raw)) v = raw;
      else if (/^'[^']*'$/.test(raw)) v = raw.slice(1, -1);
      else if (/^version\(\)$/i.test(raw)) v = VERSION;
      else if (vm) {
        v = this.variables(pod, rp)[vm[2]!.toLowerCase()];
        if (v === undefined)
          return { code: 1193, state: 'HY000', message: `Unknown system variable '${vm[2]}'` };
      } else return { code: 1054, state: '42S22', message: `Unknown column '${raw}' in 'field list'` };
      columns.push(/^'[^']*'$/.test(raw) ? raw.slice(1, -1) : raw);
      row.push(v);
    }
    return { columns, rows: [row] };
  }

  private status(rp: RunningPod): Record<string, string> {
    const args = containerArgs(this.store.get(POD, rp.ns, rp.name) ?? { metadata: {} });
    const tls = rp.tls ? describe(rp.tls) : undefined;
    return {
      Ssl_server_not_after: tls?.notAfter ?? '',
      Ssl_server_not_before: tls?.notBefore ?? '',
      Current_tls_ca: rp.tls ? (argValue(args, '--ssl-ca') ?? '') : '',
      Current_tls_capath: '',
      Current_tls_cert: rp.tls ? (argValue(args, '--ssl-cert') ?? '') : '',
      Current_tls_cipher: '',
      Current_tls_ciphersuites: '',
      Current_tls_crl: '',
      Current_tls_crlpath: '',
      Current_tls_key: rp.tls ? (argValue(args, '--ssl-key') ?? '') : '',
      Current_tls_version: rp.tls ? 'TLSv1.2,TLSv1.3' : '',
      wsrep_ready: 'ON',
      wsrep_local_state_comment: 'Synced',
    };
  }

  private variables(pod: Obj, rp: RunningPod): Record<string, string> {
    const args = containerArgs(pod);
    const ca = argValue(args, '--ssl-ca') ?? '';
    const cert = argValue(args, '--ssl-cert') ?? '';
    const key = argValue(args, '--ssl-key') ?? '';
    const rst = /^(ON|1|TRUE)$/i.test(argValue(args, '--require-secure-transport') ?? 'OFF') ? 'ON' : 'OFF';
    const galera = providerOptions(pod);
    return {
      have_openssl: 'YES',
      have_ssl: rp.tls ? 'YES' : 'DISABLED',
      hostname: pod.metadata.name,
      pxc_encrypt_cluster_traffic: clusterTrafficEncrypted(pod) ? 'ON' : 'OFF',
      require_secure_transport: rst,
      ssl_ca: ca,
      ssl_capath: '',
      ssl_cert: cert,
      ssl_key: key,
      version: VERSION,
      wsrep_provider_options: rp.encrypted
        ? `socket.ssl = YES; socket.ssl_ca = ${galera['socket.ssl_ca'] ?? ca}; socket.ssl_cert = ${galera['socket.ssl_cert'] ?? cert}; socket.ssl_cipher = ; socket.ssl_compression = YES; socket.ssl_key = ${galera['socket.ssl_key'] ?? key}${this.noSslReload.has(`${rp.ns}/${rp.name}`) ? '' : '; socket.ssl_reload = 1'}`
        : 'socket.ssl = NO',
    };
  }

  /** One reload statement; an error keeps the old context (unless `noRollback`). */
  private reload(
    pod: Obj,
    rp: RunningPod,
    what: 'tls' | 'galera',
    noRollback: boolean,
  ): SqlError | undefined {
    const record = (ok: boolean, error?: string, tls?: TlsSnapshot) =>
      this.reloads.push({
        at: Date.now(),
        namespace: rp.ns,
        pod: rp.name,
        uid: rp.uid,
        what,
        ok,
        ...(error ? { error } : {}),
        ...(tls ? { serial: describe(tls).serial } : {}),
      });
    const fault = this.takeFault(rp.ns, rp.name, what);
    let problem: string | undefined;
    let loaded: TlsSnapshot | undefined;
    if (fault) problem = fault.message ?? 'injected fault: reload refused by the simulator';
    else {
      const load = loadPodTls(pod, this.kubelet.volumeReader(rp.uid), new Date(), true);
      if (!load.ok) problem = sslError(load);
      else loaded = load.tls;
    }
    if (problem !== undefined) {
      if (what === 'tls' && noRollback) {
        // MySQL: "a warning is generated and encryption is disabled for new connections".
        this.kubelet.replaceLoaded(rp.uid, 'tls', undefined);
        rp.tls = undefined;
        record(false, problem);
        return undefined;
      }
      record(false, problem, what === 'tls' ? rp.tls : rp.galera);
      return what === 'tls'
        ? {
            code: 3888,
            state: 'HY000',
            message: `Failed to set up SSL because of the following SSL library error: ${problem}`,
          }
        : { code: 1210, state: 'HY000', message: 'Incorrect arguments to SET' };
    }
    this.kubelet.replaceLoaded(rp.uid, what, loaded);
    // `rp` is this batch's copy: later statements of the same -e (a status query) see the reload.
    rp[what] = loaded;
    record(true, undefined, loaded);
    return undefined;
  }

  private takeFault(
    ns: string,
    pod: string,
    what: 'tls' | 'galera' | 'read' | 'connect',
  ): ReloadFault | undefined {
    const f = this.faults.get(`${ns}/${pod}`);
    if (!f || f.remaining <= 0) return undefined;
    const reload = what === 'tls' || what === 'galera';
    if (reload ? f.what && f.what !== 'any' && f.what !== what : f.what !== what) return undefined;
    f.remaining--;
    return f;
  }
}

/** Whitespace runs outside quotes become one space (so patterns match however SQL was wrapped). */
function squeeze(sql: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      out += c;
      if (c === '\\' && i + 1 < sql.length) out += sql[++i];
      else if (c === quote) quote = undefined;
    } else if (/\s/.test(c)) {
      if (!out.endsWith(' ')) out += ' ';
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      out += c;
    }
  }
  return out.trim();
}

function isUp(rp: RunningPod): boolean {
  return rp.started && !(rp.reason.startsWith('TLS') || rp.reason === 'ContainersNotReady');
}

const certCache = new Map<string, LoadedTls>();

export function describe(tls: TlsSnapshot): LoadedTls {
  const hit = certCache.get(tls.certPem + tls.caPem);
  if (hit) return hit;
  const leaf = new X509Certificate(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(tls.certPem)?.[0] ?? tls.certPem,
  );
  const out: LoadedTls = {
    serial: leaf.serialNumber.toUpperCase(),
    notBefore: leaf.validFrom,
    notAfter: leaf.validTo,
    subject: leaf.subject.split('\n').join(', '),
    issuer: leaf.issuer.split('\n').join(', '),
    certPem: tls.certPem,
    caPem: tls.caPem,
  };
  if (certCache.size > 5000) certCache.clear();
  certCache.set(tls.certPem + tls.caPem, out);
  return out;
}

/** The SSL library's words for why the files do not make a context (plus the stand-in's detail). */
function sslError(load: Extract<TlsLoad, { ok: false }>): string {
  const detail = load.message.replace(/^tls: /, '');
  switch (load.reason) {
    case 'TLSKeyMismatch':
      return `Private key does not match the certificate public key (${detail})`;
    case 'TLSSecretMissing':
    case 'TLSKeyMissing':
      return /tls\.key/.test(detail)
        ? `Unable to get private key (${detail})`
        : /ca\.crt/.test(detail)
          ? `SSL_CTX_load_verify_locations failed (${detail})`
          : `Unable to get certificate (${detail})`;
    case 'TLSCertInvalid':
      return /tls\.key/.test(detail)
        ? `Unable to get private key (${detail})`
        : `Unable to get certificate (${detail})`;
    default:
      // Not chaining to ca.crt, expired, not yet valid: real MySQL would load these files; the
      // stand-in refuses them, as it refuses to start with them, so such a reload is never "proven".
      return `${detail} [simulator: refused as at start]`;
  }
}

interface ClientArgs {
  user?: string;
  password?: string;
  execute?: string;
  skipColumnNames: boolean;
  raw: boolean;
}

/** mysql's options, as much as scripts use: -u -p -e -N -B -s -r -h -P -S -D and --long forms. */
export function parseClientArgs(args: string[]): ClientArgs | { error: string } {
  const out: ClientArgs = { skipColumnNames: false, raw: false };
  const withValue: Record<string, keyof ClientArgs | 'ignore'> = {
    u: 'user',
    e: 'execute',
    h: 'ignore',
    P: 'ignore',
    S: 'ignore',
    D: 'ignore',
  };
  const longValue: Record<string, keyof ClientArgs | 'ignore'> = {
    user: 'user',
    execute: 'execute',
    host: 'ignore',
    port: 'ignore',
    socket: 'ignore',
    database: 'ignore',
    protocol: 'ignore',
    'connect-timeout': 'ignore',
    'ssl-mode': 'ignore',
    'defaults-file': 'ignore',
    'default-character-set': 'ignore',
  };
  const set = (k: keyof ClientArgs | 'ignore', v: string) => {
    if (k !== 'ignore') (out as unknown as Record<string, string>)[k] = v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const [name, ...rest] = a.slice(2).split('=');
      const value = rest.length ? rest.join('=') : undefined;
      if (name === 'password') out.password = value ?? '';
      else if (name === 'skip-column-names') out.skipColumnNames = true;
      else if (name === 'raw') out.raw = true;
      else if (['batch', 'silent', 'no-defaults', 'skip-ssl', 'ssl', 'force', 'quick'].includes(name!))
        continue;
      else if (longValue[name!]) set(longValue[name!]!, value ?? args[++i] ?? '');
      else return { error: `unknown option '--${name}'.` };
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const f = a[j]!;
        if (f === 'p') {
          out.password = a.slice(j + 1);
          break;
        }
        if (withValue[f]) {
          set(withValue[f]!, a.slice(j + 1) || (args[++i] ?? ''));
          break;
        }
        if (f === 'N') out.skipColumnNames = true;
        else if (f === 'r') out.raw = true;
        else if (f === 'B' || f === 's' || f === 'f' || f === 'q') continue;
        else return { error: `unknown option '-${f}'.` };
      }
    }
    // A database name: accepted, not used.
  }
  return out;
}

/** Statements of an -e string (split on `;` outside quotes), with the line each starts on. */
export function splitStatements(sql: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let start = 0;
  let quote: string | undefined;
  const push = (end: number) => {
    const text = sql.slice(start, end);
    if (text.trim()) {
      const lead = text.length - text.trimStart().length;
      const line = sql.slice(0, start + lead).split('\n').length;
      out.push({ text: text.trim(), line });
    }
  };
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === ';') {
      push(i);
      start = i + 1;
    }
  }
  push(sql.length);
  return out;
}

/** SQL LIKE (case-insensitive, `%`, `_`, `\` escapes) as a predicate. */
export function likeMatcher(pattern: string): (s: string) => boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`, 'i');
  return (s) => rx.test(s);
}
