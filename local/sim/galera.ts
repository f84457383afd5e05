/**
 * Real database servers under the simulator (`--mysqld mariadb`): each started pod's
 * `perconaxtradb` container is a real `mariadbd` with Galera (`libgalera_smm.so`, the library
 * Percona XtraDB Cluster uses), and the pods of one workload form one Galera cluster over
 * loopback, each on its own ports.
 *
 * What the pod template says is what the process gets:
 * - `--ssl-ca/--ssl-cert/--ssl-key/--ssl-capath` with their paths moved under the pod's own root
 *   directory (`<root>/pods/<uid>/fs/etc/mysql/certs/server/tls.crt`), `--require-secure-transport`
 *   as given;
 * - `--pxc-encrypt-cluster-traffic=ON` with the --ssl-* args: Galera's TLS, `wsrep_provider_options`
 *   `socket.ssl_cert/socket.ssl_key/socket.ssl_ca` from the same mounted server files (as KubeDB's
 *   MariaDB renders them when TLS is on); without it Galera traffic is plain, as KubeDB's PXC
 *   images run (PXC 8.0 itself would fall back to certificates it generates; not modelled);
 * - `--wsrep-provider-options=...` in the template: appended to the simulator's own options (the
 *   ports); every other argument (e.g. `--defaults-file`) is the image's business and is dropped.
 *
 * Secret volumes are real directories laid out as the kubelet lays them out (`..<timestamp>/`
 * holding the files, `..data` → it, `tls.crt` → `..data/tls.crt`) and updated the same way: a new
 * timestamped directory, then an atomic rename of the `..data` symlink. Which version a running
 * pod sees when is the simulator's Secret-volume model (volumes.ts), so a propagation delay or a
 * kubelet sync period applies to the real files too.
 *
 * A pod's datadir lives as long as the pod name (a PVC): a deleted pod's process is stopped with
 * SIGTERM, its successor waits for it to exit, then starts on the same datadir and rejoins (IST,
 * or SST by rsync). The first pod of a workload to start with no peer running bootstraps the
 * cluster (`--wsrep-new-cluster`). Ready means the server answers on its socket with
 * `wsrep_ready=ON`, `wsrep_local_state_comment=Synced`, `wsrep_cluster_status=Primary`. A process
 * that exits is restarted with back-off, like a crash-looping container; its reason is the last
 * `[ERROR]` line of its error log.
 *
 * Exec into such a container runs the command for real on this host with the container's
 * environment; `mysql` is MariaDB's client on the pod's socket, with one translation: the PXC
 * statement `ALTER INSTANCE RELOAD TLS` becomes MariaDB's `FLUSH SSL`, which also reloads
 * Galera's TLS context (mariadbd calls `wsrep_reload_ssl()`, i.e. `socket.ssl_reload=1`; see
 * docs/galera.md). `cat` reads the pod's files, `hostname` prints the pod name.
 *
 * Nothing outlives the simulator: every mariadbd runs under a small shell watchdog that kills it
 * when this Node process is gone, `stop()` shuts them down and removes the directory, and an exit
 * handler kills whatever is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, removeOrphans, rows, run, WATCHDOG, writeAtomically } from './galera-host.js';
import type { ExecResult } from './shell.js';
import type { J, Obj } from './store.js';
import { argValue, containerArgs, TLS_CONTAINER } from './tls.js';

export const DEFAULT_MARIADBD = '/usr/sbin/mariadbd';
export const DEFAULT_PROVIDER = '/usr/lib/galera/libgalera_smm.so';
/** The OS user the servers run as: rsync SST's daemon drops to it when started by root. */
const RUN_AS = 'nobody';
const POLL_MS = 400;
const FAILURE_THRESHOLD = 3;
/** The account TCP clients (the probe, tests) log in with: `probe`/`probe`, its own database. */
export const CLIENT_ACCOUNT = { user: 'probe', password: 'probe', database: 'probe' } as const;
const CLIENT_ACCOUNT_SQL =
  "CREATE USER IF NOT EXISTS 'probe'@'%' IDENTIFIED BY 'probe'; CREATE DATABASE IF NOT EXISTS probe; GRANT ALL ON probe.* TO 'probe'@'%'";

export interface GaleraOptions {
  /** Parent of the simulator's own temporary directory (default: the OS temp dir). */
  tmpDir?: string;
  mariadbd?: string;
  provider?: string;
}

/** A Secret as the pod's volume shows it now (`frozen`: a subPath mount). */
export type VolumeRead = (
  namespace: string,
  name: string,
  podUid: string,
  frozen: boolean,
) => Obj | undefined;

export interface ServerStatus {
  ready: boolean;
  reason: string;
  message: string;
  /** Last sample of the server's wsrep status (empty when it does not answer). */
  wsrep: Record<string, string>;
}

/** Where one pod name's server listens and keeps its data (stable across the pod's restarts). */
export interface ServerPorts {
  mysql: number;
  galera: number;
  ist: number;
  sst: number;
}

export interface ServerInfo {
  namespace: string;
  pod: string;
  uid: string;
  ports: ServerPorts;
  socket: string;
  dataDir: string;
  errorLog: string;
  /** The pod's root: mounted files are under it at their mountPath. */
  fsRoot: string;
  running: boolean;
  status: ServerStatus;
}

interface Slot {
  key: string;
  ports: ServerPorts;
  dir: string;
  /** Resolves when the last process on this datadir has exited. */
  idle: Promise<void>;
}

interface Proc {
  uid: string;
  ns: string;
  name: string;
  ownerUid?: string;
  ordinal: number;
  slot: Slot;
  pod: Obj;
  fsRoot: string;
  bin: string;
  child?: ChildProcess;
  /** The mariadbd PID (the watchdog's child). */
  pid?: number;
  stopping: boolean;
  restarts: number;
  status: ServerStatus;
  /** Written volume directory → the content key it shows. */
  written: Map<string, string>;
  polling: boolean;
  /** This process bootstrapped the cluster: it creates the client account once Ready. */
  bootstrapped: boolean;
  accounts: boolean;
  /** Failed polls in a row while Ready. */
  failures: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GaleraServers {
  readonly root: string;
  private readonly mariadbd: string;
  private readonly provider: string;
  private readonly procs = new Map<string, Proc>();
  private readonly slots = new Map<string, Slot>();
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.killAll();
  private closed = false;
  /** mariadb-install-db runs one at a time (concurrent bootstraps trip over each other). */
  private installs: Promise<unknown> = Promise.resolve();
  /** Called when a pod's readiness may have changed (the kubelet re-evaluates it). */
  onChange: (uid: string) => void = () => undefined;

  constructor(
    private readonly readVolume: VolumeRead,
    o: GaleraOptions = {},
  ) {
    this.mariadbd = o.mariadbd ?? DEFAULT_MARIADBD;
    this.provider = o.provider ?? DEFAULT_PROVIDER;
    for (const f of [this.mariadbd, this.provider]) {
      if (!existsSync(f))
        throw new Error(`--mysqld mariadb: ${f} not found (apt-get install mariadb-server galera-4)`);
    }
    removeOrphans(o.tmpDir ?? tmpdir());
    this.root = mkdtempSync(join(o.tmpDir ?? tmpdir(), 'pxc-galera-'));
    chmodSync(this.root, 0o755);
    writeFileSync(join(this.root, 'owner.pid'), String(process.pid));
    writeFileSync(join(this.root, 'watchdog.sh'), WATCHDOG);
    process.once('exit', this.onExit);
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
  }

  has(uid: string): boolean {
    return this.procs.has(uid);
  }

  status(uid: string): ServerStatus | undefined {
    return this.procs.get(uid)?.status;
  }

  info(): ServerInfo[] {
    return [...this.procs.values()].map((p) => ({
      namespace: p.ns,
      pod: p.name,
      uid: p.uid,
      ports: { ...p.slot.ports },
      socket: this.socket(p.slot),
      dataDir: join(p.slot.dir, 'data'),
      errorLog: join(p.slot.dir, 'error.log'),
      fsRoot: p.fsRoot,
      running: !!p.pid && !p.stopping,
      status: { ...p.status, wsrep: { ...p.status.wsrep } },
    }));
  }

  /** The pod started (the kubelet ran its containers): mount its volumes, start its server. */
  start(pod: Obj, ownerUid: string | undefined): void {
    if (this.closed) return;
    const uid: string = pod.metadata.uid;
    if (this.procs.has(uid)) return;
    const ns: string = pod.metadata.namespace;
    const name: string = pod.metadata.name;
    const fsRoot = join(this.root, 'pods', uid, 'fs');
    const p: Proc = {
      uid,
      ns,
      name,
      ...(ownerUid ? { ownerUid } : {}),
      ordinal: Number(/-(\d+)$/.exec(name)?.[1] ?? 0),
      slot: undefined as unknown as Slot,
      pod,
      fsRoot,
      bin: join(this.root, 'pods', uid, 'bin'),
      stopping: false,
      restarts: 0,
      status: { ready: false, reason: 'ContainerCreating', message: 'starting mariadbd', wsrep: {} },
      written: new Map(),
      polling: false,
      bootstrapped: false,
      accounts: false,
      failures: 0,
    };
    this.procs.set(uid, p);
    void this.boot(p).catch((err) => this.set(p, false, 'StartError', String(err?.message ?? err)));
  }

  /** The pod is being deleted: its server shuts down (SIGTERM: it leaves the cluster cleanly). */
  stop(uid: string): void {
    const p = this.procs.get(uid);
    if (!p || p.stopping) return;
    p.stopping = true;
    this.set(p, false, 'Terminating', 'pod is being deleted');
    if (p.child && p.child.exitCode === null) p.child.kill('SIGTERM');
  }

  /** Forgets a pod that is gone (its volumes go with it). */
  remove(uid: string): void {
    const p = this.procs.get(uid);
    if (!p) return;
    this.stop(uid);
    this.procs.delete(uid);
    void p.slot?.idle.then(() => rmSync(join(this.root, 'pods', uid), { recursive: true, force: true }));
  }

  /** Runs `argv` in the pod's database container, for real, with the container's environment. */
  async exec(uid: string, argv: string[], env: Record<string, string>, stdin?: string): Promise<ExecResult> {
    const p = this.procs.get(uid);
    if (!p?.pid) return { stdout: '', stderr: 'container "perconaxtradb" is not running', exitCode: -1 };
    const program = argv[0] ?? '';
    const local = join(p.bin, program.split('/').pop() ?? '');
    const file =
      program.includes('/') && !program.startsWith('/bin/') ? program : existsSync(local) ? local : program;
    return run(file, argv.slice(1), {
      env: { ...env, PATH: `${p.bin}:/usr/local/bin:/usr/bin:/bin` },
      ...(stdin !== undefined ? { input: stdin } : {}),
      timeoutMs: 60_000,
    });
  }

  /** SQL on the pod's server through its socket (as root over the Unix socket), `-N -B`. */
  sql(uid: string, sql: string, timeoutMs = 10_000): Promise<ExecResult> {
    const p = this.procs.get(uid);
    if (!p) return Promise.resolve({ stdout: '', stderr: 'no such server', exitCode: 1 });
    return this.client(p.slot, sql, timeoutMs);
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const p of this.procs.values()) {
      p.stopping = true;
      if (p.child && p.child.exitCode === null) p.child.kill('SIGTERM');
    }
    const all = Promise.all([...this.slots.values()].map((s) => s.idle));
    const timeout = sleep(20_000).then(() => 'timeout');
    if ((await Promise.race([all, timeout])) === 'timeout') this.killAll();
    await Promise.race([all, sleep(5_000)]);
    process.removeListener('exit', this.onExit);
    rmSync(this.root, { recursive: true, force: true });
  }

  // ---- starting ------------------------------------------------------------------------

  private async boot(p: Proc): Promise<void> {
    p.slot = await this.slot(p.ns, p.name);
    this.writeBin(p);
    // The previous pod of this name must be gone from the datadir first.
    await p.slot.idle;
    if (p.stopping || this.closed) return;
    let release!: () => void;
    p.slot.idle = new Promise<void>((r) => {
      release = r;
    });
    try {
      await this.ensureDatadir(p.slot);
      while (!p.stopping && !this.closed) {
        const missing = this.syncVolumes(p);
        if (missing) {
          this.set(p, false, 'ContainerCreating', missing);
          await sleep(500);
          continue;
        }
        const peers = await this.joinOrBootstrap(p);
        if (peers === undefined) continue;
        const code = await this.runServer(p, peers);
        if (p.stopping || this.closed) break;
        p.restarts++;
        const why = this.lastError(p.slot) ?? `mariadbd exited with code ${code}`;
        this.set(p, false, 'CrashLoopBackOff', why);
        await sleep(Math.min(10_000, 1000 * 2 ** Math.min(p.restarts - 1, 4)));
      }
    } finally {
      release();
    }
  }

  /** Waits until the pod may start: Ready peers to join (their addresses), or [] to bootstrap. */
  private async joinOrBootstrap(p: Proc): Promise<string[] | undefined> {
    const group = p.ownerUid ?? `${p.ns}/${p.name}`;
    for (;;) {
      if (p.stopping || this.closed) return undefined;
      const others = [...this.procs.values()].filter(
        (o) => o.uid !== p.uid && (o.ownerUid ?? `${o.ns}/${o.name}`) === group && o.slot,
      );
      const ready = others.filter((o) => o.status.ready && !o.stopping);
      if (ready.length) return ready.map((o) => `127.0.0.1:${o.slot.ports.galera}`);
      // No Ready peer: the lowest ordinal of the workload bootstraps once no other server runs.
      const alive = others.filter((o) => o.pid && !o.stopping);
      const lowest = others.filter((o) => !o.stopping).every((o) => o.ordinal > p.ordinal);
      if (alive.length === 0 && lowest) return [];
      this.set(p, false, 'WaitingForPeers', 'no Ready peer to join yet');
      await sleep(250);
    }
  }

  private async slot(ns: string, name: string): Promise<Slot> {
    const key = `${ns}/${name}`;
    let s = this.slots.get(key);
    if (s) return s;
    const ports = {
      mysql: await freePort(),
      galera: await freePort(),
      ist: await freePort(),
      sst: await freePort(),
    };
    s = this.slots.get(key);
    if (s) return s;
    const dir = join(this.root, 'data', `${ns}_${name}`);
    mkdirSync(dir, { recursive: true });
    s = { key, ports, dir, idle: Promise.resolve() };
    this.slots.set(key, s);
    return s;
  }

  private socket(s: Slot): string {
    return join(s.dir, 'mysqld.sock');
  }

  private async ensureDatadir(s: Slot): Promise<void> {
    const data = join(s.dir, 'data');
    if (existsSync(join(data, 'mysql'))) return;
    const turn = this.installs.then(() => this.install(s, data));
    this.installs = turn.catch(() => undefined);
    await turn;
  }

  private async install(s: Slot, data: string): Promise<void> {
    mkdirSync(join(s.dir, 'tmp'), { recursive: true });
    const r = await run('mariadb-install-db', [
      '--no-defaults',
      `--user=${RUN_AS}`,
      `--datadir=${data}`,
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
      '--innodb-log-file-size=8M',
    ]);
    if (r.exitCode !== 0) throw new Error(`mariadb-install-db failed: ${(r.stderr || r.stdout).slice(-500)}`);
    await run('chown', ['-R', RUN_AS, s.dir]);
  }

  /** The server's command line from the pod's template (see the header). */
  serverArgs(p: Proc, peers: string[]): string[] {
    const args = containerArgs(p.pod);
    const s = p.slot;
    const moved = (flag: string) => {
      const v = argValue(args, flag);
      return v === undefined ? undefined : v.startsWith('/') ? join(p.fsRoot, v) : v;
    };
    const tls: string[] = [];
    for (const flag of ['--ssl-ca', '--ssl-cert', '--ssl-key', '--ssl-capath']) {
      const v = moved(flag);
      if (v !== undefined) tls.push(`${flag}=${v}`);
    }
    const rst = argValue(args, '--require-secure-transport');
    if (rst !== undefined) tls.push(`--require-secure-transport=${rst}`);
    const encrypt = /^(ON|1|TRUE)$/i.test(
      argValue(args, '--pxc-encrypt-cluster-traffic') ??
        argValue(args, '--pxc_encrypt_cluster_traffic') ??
        'OFF',
    );
    const provider = [
      `gmcast.listen_addr=tcp://127.0.0.1:${s.ports.galera}`,
      `ist.recv_addr=127.0.0.1:${s.ports.ist}`,
      'gcache.size=16M',
      'evs.inactive_timeout=PT6S',
      'evs.suspect_timeout=PT3S',
    ];
    const cert = moved('--ssl-cert');
    const key = moved('--ssl-key');
    const ca = moved('--ssl-ca');
    if (encrypt && cert && key) {
      provider.push(`socket.ssl_cert=${cert}`, `socket.ssl_key=${key}`);
      if (ca) provider.push(`socket.ssl_ca=${ca}`);
    }
    const extra = argValue(args, '--wsrep-provider-options') ?? argValue(args, '--wsrep_provider_options');
    if (extra) provider.push(...extra.split(';').filter((o) => o.trim()));
    return [
      '--no-defaults',
      `--user=${RUN_AS}`,
      `--datadir=${join(s.dir, 'data')}`,
      `--socket=${this.socket(s)}`,
      `--pid-file=${join(s.dir, 'mysqld.pid')}`,
      `--log-error=${join(s.dir, 'error.log')}`,
      `--tmpdir=${join(s.dir, 'tmp')}`,
      `--port=${s.ports.mysql}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--performance-schema=OFF',
      '--innodb-buffer-pool-size=16M',
      '--innodb-log-file-size=8M',
      '--max-connections=200',
      ...tls,
      '--wsrep-on=ON',
      `--wsrep-provider=${this.provider}`,
      `--wsrep-cluster-name=${createHash('sha256')
        .update(p.ownerUid ?? p.name)
        .digest('hex')
        .slice(0, 12)}`,
      `--wsrep-cluster-address=gcomm://${peers.join(',')}`,
      `--wsrep-node-address=127.0.0.1:${s.ports.galera}`,
      `--wsrep-node-incoming-address=127.0.0.1:${s.ports.mysql}`,
      `--wsrep-node-name=${p.name}`,
      '--wsrep-sst-method=rsync',
      `--wsrep-sst-receive-address=127.0.0.1:${s.ports.sst}`,
      '--binlog-format=ROW',
      '--innodb-autoinc-lock-mode=2',
      `--wsrep-provider-options=${provider.join(';')}`,
      ...(peers.length === 0 ? ['--wsrep-new-cluster'] : []),
    ];
  }

  private runServer(p: Proc, peers: string[]): Promise<number | null> {
    if (peers.length === 0) {
      // Bootstrapping from this node: Galera refuses unless its state says it may.
      const grastate = join(p.slot.dir, 'data', 'grastate.dat');
      if (existsSync(grastate))
        writeFileSync(
          grastate,
          readFileSync(grastate, 'utf8').replace(/safe_to_bootstrap:\s*0/, 'safe_to_bootstrap: 1'),
        );
    }
    p.bootstrapped = peers.length === 0;
    const args = this.serverArgs(p, peers);
    this.set(p, false, 'Starting', peers.length ? `joining ${peers.join(',')}` : 'bootstrapping the cluster');
    const child = spawn(
      'bash',
      [join(this.root, 'watchdog.sh'), String(process.pid), this.mariadbd, ...args],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    p.child = child;
    child.stdout?.once('data', (b: Buffer) => {
      const pid = Number.parseInt(b.toString('utf8'), 10);
      if (Number.isFinite(pid)) p.pid = pid;
    });
    child.stdout?.resume();
    return new Promise((resolve) => {
      child.once('exit', (code) => {
        p.pid = undefined;
        p.child = undefined;
        resolve(code);
      });
      child.once('error', () => resolve(-1));
    });
  }

  private lastError(s: Slot): string | undefined {
    try {
      const log = readFileSync(join(s.dir, 'error.log'), 'utf8').split('\n');
      for (let i = log.length - 1; i >= 0 && i > log.length - 400; i--) {
        if (/\[ERROR\]/.test(log[i]!)) return log[i]!.replace(/^\S+\s+\S+\s+\d+\s+/, '').slice(0, 400);
      }
    } catch {
      // no log yet
    }
    return undefined;
  }

  private writeBin(p: Proc): void {
    mkdirSync(p.bin, { recursive: true });
    const sock = this.socket(p.slot);
    const mysql = `#!/bin/bash
# mysql in pod ${p.name}: MariaDB's client on this pod's server. The one translation: PXC's
# ALTER INSTANCE RELOAD TLS is MariaDB's FLUSH SSL (which reloads Galera's TLS context too).
args=()
for a in "$@"; do args+=("\${a//ALTER INSTANCE RELOAD TLS/FLUSH SSL}"); done
exec /usr/bin/mariadb --no-defaults --socket=${sock} "\${args[@]}"
`;
    const cat = `#!/bin/bash
# cat in pod ${p.name}: absolute paths are the pod's own files.
args=()
for a in "$@"; do case "$a" in /*) args+=("${p.fsRoot}$a");; *) args+=("$a");; esac; done
out=$(/bin/cat "\${args[@]}" 2> >(sed "s#${p.fsRoot}##g" >&2)); rc=$?
printf '%s' "$out"; [ -n "$out" ] && echo; exit $rc
`;
    writeFileSync(join(p.bin, 'mysql'), mysql, { mode: 0o755 });
    writeFileSync(join(p.bin, 'mariadb'), mysql, { mode: 0o755 });
    writeFileSync(join(p.bin, 'cat'), cat, { mode: 0o755 });
    writeFileSync(join(p.bin, 'hostname'), `#!/bin/sh\necho ${p.name}\n`, { mode: 0o755 });
  }

  // ---- volumes -------------------------------------------------------------------------

  /**
   * Brings the pod's Secret volumes to what the volume model says it sees now. Returns why the
   * container cannot start (a Secret missing at mount time), or undefined.
   */
  private syncVolumes(p: Proc): string | undefined {
    const c = (p.pod.spec?.containers ?? []).find((x: J) => x.name === TLS_CONTAINER);
    for (const m of (c?.volumeMounts ?? []) as J[]) {
      const vol = ((p.pod.spec?.volumes ?? []) as J[]).find((v) => v.name === m.name);
      const secretName: string | undefined = vol?.secret?.secretName;
      if (!secretName) continue;
      const frozen = !!m.subPath;
      const dir = join(p.fsRoot, String(m.mountPath));
      if (frozen && p.written.has(dir)) continue;
      const secret = this.readVolume(p.ns, secretName, p.uid, frozen);
      if (!secret) {
        if (!p.written.has(dir))
          return `MountVolume.SetUp failed for volume "${m.name}": secret "${secretName}" not found`;
        continue; // a running pod keeps the files it has
      }
      const files: Record<string, string> = {};
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries((secret.data ?? {}) as Record<string, string>))
        data[k] = Buffer.from(v, 'base64').toString('utf8');
      for (const [k, v] of Object.entries((secret.stringData ?? {}) as Record<string, string>)) data[k] = v;
      const items = vol.secret.items as J[] | undefined;
      if (items)
        for (const it of items)
          if (data[it.key] !== undefined) files[it.path] = data[it.key]!;
          else Object.assign(files, data);
      const key = createHash('sha256').update(JSON.stringify(files)).digest('hex');
      if (p.written.get(dir) === key) continue;
      if (frozen) {
        const file = String(m.subPath);
        mkdirSync(dirname(dir), { recursive: true });
        if (files[file] !== undefined) writeFileSync(dir, files[file]!, { mode: 0o644 });
      } else writeAtomically(dir, files);
      p.written.set(dir, key);
    }
    return undefined;
  }

  // ---- readiness -----------------------------------------------------------------------

  private tick(): void {
    for (const p of this.procs.values()) {
      if (!p.slot || p.stopping) continue;
      if (p.pid) this.syncVolumes(p);
      if (p.pid && !p.polling) {
        p.polling = true;
        void this.poll(p).finally(() => {
          p.polling = false;
        });
      }
    }
  }

  private async poll(p: Proc): Promise<void> {
    const r = await this.client(
      p.slot,
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready','wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size','wsrep_connected')",
      3000,
    );
    if (p.stopping || !p.pid) return;
    const w = rows(r.stdout);
    if (r.exitCode !== 0 || !w.wsrep_ready) {
      // A Ready server turns NotReady after FAILURE_THRESHOLD failed polls in a row, as a
      // readiness probe's failureThreshold does (a loaded host answers late now and then).
      if (p.status.ready && ++p.failures < FAILURE_THRESHOLD) return;
      this.set(
        p,
        false,
        'Starting',
        (r.stderr.trim().split('\n').pop() || 'no wsrep status').slice(0, 300),
        {},
      );
      return;
    }
    p.failures = 0;
    const ready =
      w.wsrep_ready === 'ON' &&
      w.wsrep_local_state_comment === 'Synced' &&
      w.wsrep_cluster_status === 'Primary';
    if (ready && p.bootstrapped && !p.accounts) {
      // A TCP client account (replicated to every node): install-db makes only root@localhost.
      const a = await this.client(p.slot, CLIENT_ACCOUNT_SQL, 5000);
      p.accounts = a.exitCode === 0;
    }
    this.set(
      p,
      ready,
      ready ? 'PodReady' : 'NotSynced',
      ready
        ? ''
        : `wsrep_ready=${w.wsrep_ready ?? '?'} wsrep_local_state_comment=${w.wsrep_local_state_comment ?? '?'} wsrep_cluster_status=${w.wsrep_cluster_status ?? '?'}`,
      w,
    );
  }

  private client(s: Slot, sql: string, timeoutMs: number): Promise<ExecResult> {
    return run(
      '/usr/bin/mariadb',
      ['--no-defaults', `--socket=${this.socket(s)}`, '-uroot', '-N', '-B', '--connect-timeout=2', '-e', sql],
      { timeoutMs },
    );
  }

  private set(
    p: Proc,
    ready: boolean,
    reason: string,
    message: string,
    wsrep?: Record<string, string>,
  ): void {
    const before = p.status;
    p.status = { ready, reason, message, wsrep: wsrep ?? before.wsrep };
    if (before.ready !== ready || before.reason !== reason || before.message !== message)
      this.onChange(p.uid);
  }

  private killAll(): void {
    for (const p of this.procs.values()) {
      if (p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (this.closed) rmSync(this.root, { recursive: true, force: true });
  }
}
