import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa } from '../../local/sim/ca.js';
import { waitForPodsReady } from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import { likeMatcher, parseClientArgs, splitStatements } from '../../local/sim/mysqld.js';
import { parse } from '../../local/sim/shell.js';
import type { J } from '../../local/sim/store.js';
import { execIn, exitCode, mysqlCommand, serialOf, tlsDatabase } from './exec-helpers.js';
import { eventually, isReady, startFast } from './helpers.js';

const RELOAD = 'ALTER INSTANCE RELOAD TLS';
const GALERA_RELOAD = "SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'";

describe('mysqld stand-in: TLS material loaded at start, replaced only by a reload', () => {
  let sim: Simulator;
  let kc: KubeConfig;
  let n = 0;
  const fresh = () => `my${++n}`;

  beforeAll(async () => {
    sim = await startFast();
    kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim.stop();
  });

  const sql = (pod: string, statement: string) => execIn(kc, 'demo', pod, mysqlCommand(statement));

  it('keeps serving the certificate it started with after the Secret changes', async () => {
    const db = await tlsDatabase(sim, fresh());
    db.rotate();
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.mysqld.view('demo', `${db.name}-0`)?.server?.serial).toBe(serialOf(db.server));
  });

  it('ALTER INSTANCE RELOAD TLS loads the new files: Ssl_server_not_* and the serial follow', async () => {
    const db = await tlsDatabase(sim, fresh());
    const pod = `${db.name}-0`;
    const next = db.rotate();
    const r = await sql(pod, RELOAD);
    expect([r.stdout, exitCode(r.status)]).toEqual(['', 0]);
    const view = sim.mysqld.view('demo', pod)!;
    expect(view.server?.serial).toBe(serialOf(next));
    const status = await sql(pod, "SHOW GLOBAL STATUS LIKE 'Ssl_server_not%'");
    expect(status.stdout).toBe(
      `Ssl_server_not_after\t${view.server!.notAfter}\nSsl_server_not_before\t${view.server!.notBefore}\n`,
    );
    expect(view.server!.notAfter).toMatch(/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$/);
    // Other pods still run with what they loaded.
    expect(sim.mysqld.view('demo', `${db.name}-1`)?.server?.serial).toBe(serialOf(db.server));
    expect(sim.mysqld.reloads().at(-1)).toMatchObject({ pod, what: 'tls', ok: true, serial: serialOf(next) });
  });

  it.each([
    ['a key that does not match the certificate', 'Private key does not match the certificate public key'],
    ['a certificate that does not chain to ca.crt', 'does not chain to ca.crt'],
  ])('a reload of %s fails with ERROR 3888 and keeps the old material', async (what, message) => {
    const db = await tlsDatabase(sim, fresh());
    const pod = `${db.name}-2`;
    if (what.startsWith('a key')) db.rotate({ keyPem: issueCert(db.ca, 'other').keyPem });
    else db.rotate({ ca: makeCa('stranger'), caPem: db.ca.certPem });
    const r = await sql(pod, RELOAD);
    expect(exitCode(r.status)).toBe(1);
    expect(r.stderr).toContain(
      'ERROR 3888 (HY000) at line 1: Failed to set up SSL because of the following SSL library error: ',
    );
    expect(r.stderr).toContain(message);
    expect(sim.mysqld.view('demo', pod)?.server?.serial).toBe(serialOf(db.server));
    expect(sim.mysqld.reloads().at(-1)).toMatchObject({ pod, ok: false, serial: serialOf(db.server) });
  });

  it('a reload of a missing (unreadable) file fails and keeps the old material', async () => {
    const db = await tlsDatabase(sim, fresh());
    const secret = sim.store.get<J>('v1', 'Secret', 'demo', `${db.name}-server-cert`)!;
    delete secret.data['tls.key'];
    sim.store.put(secret);
    const r = await sql(`${db.name}-0`, RELOAD);
    expect(r.stderr).toMatch(/ERROR 3888 .*Unable to get private key/);
    expect(sim.mysqld.view('demo', `${db.name}-0`)?.server?.serial).toBe(serialOf(db.server));
  });

  it('NO ROLLBACK ON ERROR turns TLS off for new connections instead of failing', async () => {
    const db = await tlsDatabase(sim, fresh());
    db.rotate({ keyPem: issueCert(db.ca, 'other').keyPem });
    const r = await sql(`${db.name}-0`, `${RELOAD} NO ROLLBACK ON ERROR`);
    expect(exitCode(r.status)).toBe(0);
    const after = await sql(
      `${db.name}-0`,
      "SHOW GLOBAL STATUS LIKE 'Ssl_server_not_after'; SELECT @@have_ssl",
    );
    expect(after.stdout).toBe('Ssl_server_not_after\t\nDISABLED\n');
  });

  it('an injected reload fault fails the reload for that pod only, until reset', async () => {
    const db = await tlsDatabase(sim, fresh());
    const next = db.rotate();
    sim.faults.failReload('demo', `${db.name}-1`, { message: 'disk quota exceeded' });
    const failed = await sql(`${db.name}-1`, RELOAD);
    const other = await sql(`${db.name}-0`, RELOAD);
    expect(failed.stderr).toContain('SSL library error: disk quota exceeded');
    expect(exitCode(other.status)).toBe(0);
    expect(sim.mysqld.view('demo', `${db.name}-1`)?.server?.serial).toBe(serialOf(db.server));
    sim.faults.reset();
    expect(exitCode((await sql(`${db.name}-1`, RELOAD)).status)).toBe(0);
    expect(sim.mysqld.view('demo', `${db.name}-1`)?.server?.serial).toBe(serialOf(next));
  });

  it('the same fault is reachable over HTTP at /_sim/reload-fault', async () => {
    const db = await tlsDatabase(sim, fresh());
    const res = await fetch(`${sim.url}/_sim/reload-fault`, {
      method: 'POST',
      body: JSON.stringify({ namespace: 'demo', pod: `${db.name}-0`, times: 1 }),
    });
    expect(res.status).toBe(200);
    expect(exitCode((await sql(`${db.name}-0`, RELOAD)).status)).toBe(1);
    expect(exitCode((await sql(`${db.name}-0`, RELOAD)).status)).toBe(0);
  });

  it('Galera: socket.ssl_reload re-reads the replication context only when cluster traffic is encrypted', async () => {
    const db = await tlsDatabase(sim, fresh(), { args: ['--pxc-encrypt-cluster-traffic=ON'] });
    const pod = `${db.name}-0`;
    const next = db.rotate();
    expect((await sql(pod, "SHOW GLOBAL VARIABLES LIKE 'pxc_encrypt_cluster_traffic'")).stdout).toBe(
      'pxc_encrypt_cluster_traffic\tON\n',
    );
    await sql(pod, RELOAD);
    expect(sim.mysqld.view('demo', pod)).toMatchObject({
      server: { serial: serialOf(next) },
      galera: { serial: serialOf(db.server) },
    });
    expect(exitCode((await sql(pod, GALERA_RELOAD)).status)).toBe(0);
    expect(sim.mysqld.view('demo', pod)?.galera?.serial).toBe(serialOf(next));

    const plain = await tlsDatabase(sim, fresh());
    expect((await sql(`${plain.name}-0`, GALERA_RELOAD)).status.status).toBe('Success');
    expect(sim.mysqld.view('demo', `${plain.name}-0`)?.galera).toBeUndefined();
  });

  it('a Galera reload of invalid files fails with ERROR 1210 and keeps the old context', async () => {
    const db = await tlsDatabase(sim, fresh(), { args: ['--pxc-encrypt-cluster-traffic=ON'] });
    db.rotate({ keyPem: issueCert(db.ca, 'other').keyPem });
    const r = await sql(`${db.name}-0`, GALERA_RELOAD);
    expect(r.stderr).toContain('ERROR 1210 (HY000) at line 1: Incorrect arguments to SET');
    expect(sim.mysqld.view('demo', `${db.name}-0`)?.galera?.serial).toBe(serialOf(db.server));
  });

  it('peer trust uses the loaded material: a restarted pod joins peers that reloaded to a new CA', async () => {
    const db = await tlsDatabase(sim, fresh());
    const newCa = makeCa('new');
    // Pass 1 of a CA change, reloaded everywhere: every pod trusts old+new, presents the old leaf.
    const bundle = db.ca.certPem + newCa.certPem;
    const secret = (alias: string) => sim.store.get<J>('v1', 'Secret', 'demo', `${db.name}-${alias}-cert`)!;
    for (const alias of ['server', 'client', 'metrics-exporter']) {
      const s = secret(alias);
      s.data['ca.crt'] = Buffer.from(bundle).toString('base64');
      sim.store.put(s);
    }
    for (const p of db.podNames) expect(exitCode((await sql(p, RELOAD)).status)).toBe(0);
    // Pass 2 reaches pods 0 and 1 by reload; pod 2 restarts with it and must trust their new leaves.
    db.rotate({ ca: newCa, caPem: bundle });
    for (const p of db.podNames.slice(0, 2)) expect(exitCode((await sql(p, RELOAD)).status)).toBe(0);
    const old = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-2`)!.metadata.uid;
    sim.store.delete('v1', 'Pod', 'demo', `${db.name}-2`);
    await eventually(() => {
      const p = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-2`);
      return p && p.metadata.uid !== old && isReady(p);
    });
    expect(sim.mysqld.view('demo', `${db.name}-2`)?.server?.issuer).toBe('CN=new');
  });

  it('a restarted pod is refused by peers whose loaded CA does not trust its new leaf', async () => {
    const db = await tlsDatabase(sim, fresh());
    const newCa = makeCa('other-ca');
    db.rotate({ ca: newCa, caPem: db.ca.certPem + newCa.certPem });
    // No reloads: peers still trust only the old CA they loaded at start.
    const old = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-0`)!.metadata.uid;
    sim.store.delete('v1', 'Pod', 'demo', `${db.name}-0`);
    const pod = await eventually(() => {
      const p = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-0`);
      const ready = p?.status?.conditions?.find((c: J) => c.type === 'Ready');
      return p && p.metadata.uid !== old && ready?.reason === 'PeerNotTrusted' && p;
    });
    expect(isReady(pod)).toBe(false);
  });

  it('answers the status and variable queries the workflow needs, in batch format', async () => {
    const db = await tlsDatabase(sim, fresh());
    const pod = `${db.name}-0`;
    const tls = await execIn(
      kc,
      'demo',
      pod,
      mysqlCommand("SHOW GLOBAL STATUS LIKE 'Current_tls_c%'; SHOW GLOBAL VARIABLES LIKE 'ssl\\_c%'"),
    );
    expect(tls.stdout).toBe(
      [
        'Current_tls_ca\t/etc/mysql/certs/server/ca.crt',
        'Current_tls_capath\t',
        'Current_tls_cert\t/etc/mysql/certs/server/tls.crt',
        'Current_tls_cipher\t',
        'Current_tls_ciphersuites\t',
        'Current_tls_crl\t',
        'Current_tls_crlpath\t',
        'ssl_ca\t/etc/mysql/certs/server/ca.crt',
        'ssl_capath\t',
        'ssl_cert\t/etc/mysql/certs/server/tls.crt',
        '',
      ].join('\n'),
    );
    const withHeader = await execIn(kc, 'demo', pod, [
      'sh',
      '-c',
      'mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -e "SELECT 1; SELECT \'a\tb\'"',
    ]);
    expect(withHeader.stdout).toBe('1\n1\na\\tb\na\\tb\n');
  });

  it('refuses a wrong password, rejects FLUSH SSL (MariaDB only) and stops at the first error', async () => {
    const db = await tlsDatabase(sim, fresh());
    const pod = `${db.name}-0`;
    const denied = await execIn(kc, 'demo', pod, ['mysql', '-uroot', '-pwrong', '-e', 'SELECT 1']);
    expect(denied.stderr).toContain(
      "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",
    );
    const flush = await sql(pod, 'SELECT 1;\nFLUSH SSL;\nSELECT 2');
    expect(flush.stdout).toBe('1\n');
    expect(flush.stderr).toMatch(/ERROR 1064 \(42000\) at line 2: You have an error in your SQL syntax/);
    expect(exitCode(flush.status)).toBe(1);
  });

  it('is not reachable while mysqld crash-loops on its TLS files', async () => {
    const db = await tlsDatabase(sim, fresh());
    const secret = sim.store.get<J>('v1', 'Secret', 'demo', `${db.name}-server-cert`)!;
    secret.data['tls.key'] = Buffer.from(issueCert(db.ca, 'x').keyPem).toString('base64');
    sim.store.put(secret);
    const old = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-1`)!.metadata.uid;
    sim.store.delete('v1', 'Pod', 'demo', `${db.name}-1`);
    await eventually(() => {
      const p = sim.store.get<J>('v1', 'Pod', 'demo', `${db.name}-1`);
      return p && p.metadata.uid !== old && sim.mysqld.view('demo', `${db.name}-1`)?.up === false;
    });
    const r = await sql(`${db.name}-1`, 'SELECT 1');
    expect(r.stderr).toContain("ERROR 2002 (HY000): Can't connect to local MySQL server through socket");
  });
});

describe('mysqld stand-in: Secret volumes follow the Secret after the propagation delay', () => {
  let sim: Simulator;
  let kc: KubeConfig;

  beforeAll(async () => {
    sim = await startFast({ secretPropagationMs: 600 });
    kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim.stop();
  });

  const cat = (pod: string, path = '/etc/mysql/certs/server/tls.crt') =>
    execIn(kc, 'demo', pod, ['cat', path]);

  it('a running pod sees the new files only after the delay, and a reload before then loads the old ones', async () => {
    const db = await tlsDatabase(sim, 'prop');
    const next = db.rotate();
    const t0 = Date.now();
    expect((await cat('prop-0')).stdout).toBe(db.server.certPem);
    await execIn(kc, 'demo', 'prop-0', mysqlCommand(RELOAD));
    expect(sim.mysqld.view('demo', 'prop-0')?.server?.serial).toBe(serialOf(db.server));
    await eventually(
      async () => (await cat('prop-0')).stdout === next.certPem,
      10_000,
      'new files in the volume',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    await execIn(kc, 'demo', 'prop-0', mysqlCommand(RELOAD));
    expect(sim.mysqld.view('demo', 'prop-0')?.server?.serial).toBe(serialOf(next));
  });

  it('a new pod mounts the Secret as it is now', async () => {
    const db = await tlsDatabase(sim, 'newpod');
    const next = db.rotate();
    const old = sim.store.get<J>('v1', 'Pod', 'demo', 'newpod-1')!.metadata.uid;
    sim.store.delete('v1', 'Pod', 'demo', 'newpod-1');
    await eventually(() => {
      const p = sim.store.get<J>('v1', 'Pod', 'demo', 'newpod-1');
      return p && p.metadata.uid !== old && isReady(p);
    });
    expect(sim.mysqld.view('demo', 'newpod-1')?.server?.serial).toBe(serialOf(next));
    expect((await cat('newpod-1')).stdout).toBe(next.certPem);
  });

  it('a subPath mount never changes, so a reload keeps the old certificate', async () => {
    const db = await tlsDatabase(sim, 'subpath', { subPath: true });
    db.rotate();
    await new Promise((r) => setTimeout(r, 800));
    expect((await cat('subpath-0')).stdout).toBe(db.server.certPem);
    const r = await execIn(kc, 'demo', 'subpath-0', mysqlCommand(RELOAD));
    expect(exitCode(r.status)).toBe(0);
    expect(sim.mysqld.view('demo', 'subpath-0')?.server?.serial).toBe(serialOf(db.server));
  });

  it('the delay can be changed while the simulator runs', async () => {
    const db = await tlsDatabase(sim, 'tune');
    sim.secretPropagationMs = 0;
    try {
      const next = db.rotate();
      expect((await cat('tune-2')).stdout).toBe(next.certPem);
    } finally {
      sim.secretPropagationMs = 600;
    }
    await waitForPodsReady(sim, 'demo', db.podNames);
  });
});

describe("mysqld stand-in: with the realistic kubelet, volumes follow the Secret at the pod's sync", () => {
  let sim: Simulator;
  let kc: KubeConfig;
  // Every pod's first periodic sync comes 30 s after it mounted: far beyond these tests.
  beforeAll(async () => {
    sim = await startFast({ kubelet: { syncPeriodMs: 60_000, phaseMs: () => 30_000 } });
    kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim.stop();
  });

  const cat = (pod: string) => execIn(kc, 'demo', pod, ['cat', '/etc/mysql/certs/server/tls.crt']);
  const annotate = (pod: string, annotations: Record<string, string>) => {
    const p = sim.store.get<J>('v1', 'Pod', 'demo', pod)!;
    p.metadata.annotations = { ...(p.metadata.annotations ?? {}), ...annotations };
    sim.store.put(p);
  };

  it('a running pod keeps the old files until its next sync; an annotation on the pod syncs it now', async () => {
    const db = await tlsDatabase(sim, 'sync');
    const next = db.rotate();
    expect((await cat('sync-0')).stdout).toBe(db.server.certPem);
    annotate('sync-0', { 'example.com/touch': '1' });
    expect((await cat('sync-0')).stdout).toBe(next.certPem);
    // Only the touched pod synced.
    expect((await cat('sync-1')).stdout).toBe(db.server.certPem);
  });

  it("the pod's own status writes do not sync it", async () => {
    const db = await tlsDatabase(sim, 'status');
    db.rotate();
    const p = sim.store.get<J>('v1', 'Pod', 'demo', 'status-0')!;
    p.status = { ...p.status, message: 'a status write' };
    sim.store.put(p);
    expect((await cat('status-0')).stdout).toBe(db.server.certPem);
  });

  it('a sync reads the Secret as it was then: a later write waits for the next sync', async () => {
    const db = await tlsDatabase(sim, 'later');
    const next = db.rotate();
    annotate('later-0', { 'example.com/touch': '1' });
    db.rotate();
    expect((await cat('later-0')).stdout).toBe(next.certPem);
  });
});

describe('mysqld stand-in: with the realistic kubelet, the periodic sync alone brings the new files', () => {
  let sim: Simulator;
  let kc: KubeConfig;
  beforeAll(async () => {
    sim = await startFast({ kubelet: { syncPeriodMs: 500, phaseMs: () => 0 } });
    kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('with no update of the pod, the files change at a periodic sync', async () => {
    const db = await tlsDatabase(sim, 'periodic');
    const next = db.rotate();
    await eventually(
      async () =>
        (await execIn(kc, 'demo', 'periodic-0', ['cat', '/etc/mysql/certs/server/tls.crt'])).stdout ===
        next.certPem,
      10_000,
      'new files at a periodic sync',
    );
  });
});

describe('mysqld stand-in: the command line it understands', () => {
  it.each([
    [
      'sh -c with $1 and env in double quotes',
      `mysql -u"$U" -p"$P" -e "$1"`,
      ['sh', 'SELECT 1'],
      [['mysql', '-uroot', '-ps3cr3t', '-e', 'SELECT 1']],
    ],
    ['single quotes keep $ literal', `echo '$U' "$U"`, ['sh'], [['echo', '$U', 'root']]],
    [
      'lists with ; && ||',
      'true; false && echo no || echo yes',
      ['sh'],
      [['true'], ['false'], ['echo', 'no'], ['echo', 'yes']],
    ],
    // A shell script, not a JS template: the braces are the shell's.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    ['braces and escapes', 'echo ${U}\\ x "a\\"b"', ['sh'], [['echo', 'root x', 'a"b']]],
  ])('sh: %s', (_what, script, positional, expected) => {
    expect(parse(script, positional, { U: 'root', P: 's3cr3t' }).map((c) => c.words)).toEqual(expected);
  });

  it.each([
    [
      ['-uroot', '-pX', '-N', '-B', '-e', 'SELECT 1'],
      { user: 'root', password: 'X', execute: 'SELECT 1', skipColumnNames: true },
    ],
    [
      ['--user=root', '--password=X', '--skip-column-names', '--execute=SELECT 1'],
      { user: 'root', password: 'X', execute: 'SELECT 1', skipColumnNames: true },
    ],
    [['-NBe', 'SELECT 1', '-u', 'root'], { user: 'root', execute: 'SELECT 1', skipColumnNames: true }],
    [['--frobnicate'], { error: "unknown option '--frobnicate'." }],
  ])('mysql %j', (args, expected) => {
    expect(parseClientArgs(args)).toMatchObject(expected);
  });

  it('splits statements on ; outside quotes and knows their line', () => {
    expect(splitStatements("SELECT 'a;b';\n\nSELECT 2")).toEqual([
      { text: "SELECT 'a;b'", line: 1 },
      { text: 'SELECT 2', line: 3 },
    ]);
  });

  it('matches LIKE patterns as MySQL does (case-insensitive, % _ and escapes)', () => {
    const m = likeMatcher('ssl\\_server_not%');
    expect(['Ssl_server_not_after', 'Sslxserver_not_after', 'Ssl_server_nothing'].map(m)).toEqual([
      true,
      false,
      true,
    ]);
  });
});
