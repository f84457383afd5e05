import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Simulator } from '../../local/sim/index.js';
import { anyFunctionRules, rbacAllows, rbacObjects, rbacRequest } from '../sam/helpers.js';
import { execIn, exitCode, mysqlCommand, tlsDatabase } from './exec-helpers.js';
import { startFast } from './helpers.js';

/** An upgrade request as a WebSocket client sends it; the HTTP status and Status message when refused. */
function upgradeAttempt(url: string, token = 'sim') {
  return new Promise<{ code: number; message: string }>((resolve, reject) => {
    const req = httpRequest(url, {
      headers: {
        Authorization: `Bearer ${token}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ code: 101, message: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, message: JSON.parse(body).message }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw WebSocket exec with the given subprotocols: every message, and how the server closed. */
function rawExec(sim: Simulator, query: string, protocols: string[], send: Buffer[] = []) {
  const url = `${sim.url.replace(/^http/, 'ws')}/api/v1/namespaces/demo/pods/ws-0/exec?${query}`;
  return new Promise<{ protocol: string; messages: Buffer[]; code: number }>((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers: { Authorization: 'Bearer sim' } });
    const messages: Buffer[] = [];
    ws.on('open', () => {
      for (const m of send) ws.send(m);
    });
    ws.on('message', (d: Buffer) => messages.push(d));
    ws.on('close', (code) => resolve({ protocol: ws.protocol, messages, code }));
    ws.on('error', reject);
  });
}

describe('Simulator pods/exec', () => {
  let sim: Simulator;
  let kc: KubeConfig;

  beforeAll(async () => {
    sim = await startFast();
    kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    await tlsDatabase(sim, 'ws');
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('runs a command for client-node Exec (v5.channel.k8s.io) and reports Success', async () => {
    const r = await execIn(kc, 'demo', 'ws-0', ['hostname']);
    expect(r.stdout).toBe('ws-0\n');
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
  });

  it('reports a non-zero exit code as the kubelet does (NonZeroExitCode, cause ExitCode)', async () => {
    const r = await execIn(kc, 'demo', 'ws-0', ['sh', '-c', 'echo out; cat /nope']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('cat: /nope: No such file or directory\n');
    expect(r.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '1' }] },
    });
    expect(exitCode(r.status)).toBe(1);
  });

  it('reports a program the container does not have as an internal error', async () => {
    const r = await execIn(kc, 'demo', 'ws-0', ['openssl', 'version']);
    expect(r.status).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    expect(r.status.message).toMatch(/exec: "openssl": executable file not found in \$PATH/);
  });

  it('feeds stdin until the v5 CLOSE signal (mysql reading SQL from stdin)', async () => {
    const r = await execIn(
      kc,
      'demo',
      'ws-0',
      ['sh', '-c', 'mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -N'],
      {
        stdin: 'SELECT 1; SELECT 2',
      },
    );
    expect(r.stdout).toBe('1\n2\n');
    expect(exitCode(r.status)).toBe(0);
  });

  it('speaks v4.channel.k8s.io: binary channel messages, the Status JSON on channel 3, close 1000', async () => {
    const r = await rawExec(sim, 'command=hostname&container=perconaxtradb&stdout=true&stderr=true', [
      'v4.channel.k8s.io',
    ]);
    expect(r.protocol).toBe('v4.channel.k8s.io');
    expect(r.messages.map((m) => [m[0], m.subarray(1).toString()])).toEqual([
      [1, 'ws-0\n'],
      [3, '{"metadata":{},"status":"Success"}'],
    ]);
    expect(r.code).toBe(1000);
  });

  it('prefers v5 when a client offers several, and sends only the error text on the legacy channel.k8s.io', async () => {
    const both = await rawExec(sim, 'command=hostname&stdout=true&container=perconaxtradb', [
      'v4.channel.k8s.io',
      'v5.channel.k8s.io',
    ]);
    expect(both.protocol).toBe('v5.channel.k8s.io');
    const legacy = await rawExec(sim, 'command=false&stdout=true&container=perconaxtradb', [
      'channel.k8s.io',
    ]);
    expect(legacy.messages.map((m) => [m[0], m.subarray(1).toString()])).toEqual([
      [3, 'command terminated with non-zero exit code: error executing command [false], exit code 1'],
    ]);
  });

  it('refuses before upgrading what the API server refuses', async () => {
    const get = (q: string, pod = 'ws-0') =>
      upgradeAttempt(`${sim.url}/api/v1/namespaces/demo/pods/${pod}/exec?${q}`);
    expect(await get('command=ls&stdout=true&container=perconaxtradb', 'nope')).toEqual({
      code: 404,
      message: 'pods "nope" not found',
    });
    expect(await get('command=ls&stdout=true&container=mysql')).toEqual({
      code: 400,
      message: 'container mysql is not valid for pod ws-0',
    });
    expect(await get('command=ls&stdout=true')).toMatchObject({
      code: 400,
      message: expect.stringMatching(
        /a container name must be specified for pod ws-0, choose one of: \[perconaxtradb px-coordinator\]/,
      ),
    });
    expect(await get('stdout=true&container=perconaxtradb')).toMatchObject({ code: 400 });
    // Without an upgrade there is nothing to stream over.
    const plain = await fetch(`${sim.url}/api/v1/namespaces/demo/pods/ws-0/exec?command=ls&stdout=true`, {
      method: 'POST',
      headers: { Authorization: 'Bearer sim' },
      body: '',
    });
    expect([plain.status, ((await plain.json()) as { message: string }).message]).toEqual([
      400,
      'Upgrade request required',
    ]);
  });

  it('authenticates exec like any request', async () => {
    const locked = await startFast({ token: 'secret' });
    try {
      const url = `${locked.url}/api/v1/namespaces/demo/pods/x/exec?command=ls&stdout=true`;
      expect(await upgradeAttempt(url, 'wrong')).toEqual({ code: 401, message: 'Unauthorized' });
      expect((await upgradeAttempt(url, 'secret')).code).toBe(404);
    } finally {
      await locked.stop();
    }
  });

  it('records exec as RBAC sees it: create on pods/exec, which k8s/rbac.yaml does not grant', () => {
    const execs = sim.requests.all().filter((r) => r.path.includes('/exec'));
    expect(execs.length).toBeGreaterThan(3);
    for (const r of execs)
      expect(rbacRequest(r.method, r.path, r.verb)).toEqual({
        group: '',
        resource: 'pods/exec',
        verb: 'create',
        name: expect.any(String),
      });
    const rules = anyFunctionRules(rbacObjects('k8s/rbac.yaml'));
    expect(rbacAllows(rules, { group: '', resource: 'pods/exec', verb: 'create' })).toBe(false);
  });

  it('lists pods/exec in discovery (create, get), as kubectl auth can-i expects', async () => {
    const res = (await (
      await fetch(`${sim.url}/api/v1`, { headers: { Authorization: 'Bearer sim' } })
    ).json()) as {
      resources: Array<{ name: string; verbs: string[]; kind: string }>;
    };
    expect(res.resources.find((r) => r.name === 'pods/exec')).toMatchObject({
      kind: 'PodExecOptions',
      verbs: ['create', 'get'],
    });
  });
});

const kubectlVersion = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
const hasKubectl = kubectlVersion.status === 0;
const minor = hasKubectl
  ? Number(JSON.parse(kubectlVersion.stdout).clientVersion?.minor?.replace(/\D/g, ''))
  : 0;
if (!hasKubectl) console.warn('exec.test: kubectl is not installed: the kubectl exec tests are skipped');

const EXEC_TITLE = hasKubectl
  ? `kubectl exec against the simulator (kubectl 1.${minor})`
  : 'kubectl exec against the simulator [SKIPPED: kubectl is not on PATH; install it (apt-get install kubernetes-client) to run these]';

describe.skipIf(!hasKubectl)(EXEC_TITLE, () => {
  let sim: Simulator;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-exec-'));
    sim = await startFast({ kubeconfigPath: join(dir, 'kubeconfig') });
    await tlsDatabase(sim, 'kx');
  });
  afterAll(async () => {
    await sim.stop();
  });

  function kubectl(env: NodeJS.ProcessEnv, ...args: string[]) {
    return new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        'kubectl',
        ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args],
        { env: { ...process.env, HOME: dir, ...env }, timeout: 30_000 },
        (error, out, err) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out, err }),
      );
    });
  }

  // kubectl >= 1.30 upgrades to WebSockets (v5) and falls back to SPDY only when that upgrade
  // fails; KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false makes it use SPDY/3.1, which is all older
  // kubectl (Debian's 1.20) speaks.
  const transports: Array<[string, NodeJS.ProcessEnv]> =
    minor >= 30
      ? [
          ['WebSocket', {}],
          ['SPDY', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }],
        ]
      : [['SPDY', {}]];

  for (const [transport, env] of transports) {
    it(`runs the workflow's mysql command over ${transport}`, async () => {
      const r = await kubectl(
        env,
        'exec',
        'kx-1',
        '-c',
        'perconaxtradb',
        '--',
        ...mysqlCommand("SELECT 1; SHOW GLOBAL VARIABLES LIKE 'have_ssl'"),
      );
      expect(r.code).toBe(0);
      expect(r.out).toBe('1\nhave_ssl\tYES\n');
    });

    it(`passes the exit code and stderr through over ${transport}`, async () => {
      const r = await kubectl(
        env,
        'exec',
        'kx-1',
        '-c',
        'perconaxtradb',
        '--',
        'sh',
        '-c',
        'echo before; false',
      );
      expect(r.code).toBe(1);
      expect(r.out).toBe('before\n');
      expect(r.err).toContain('command terminated with exit code 1');
    });

    it(`passes stdin (-i) over ${transport}`, async () => {
      const r = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = execFile(
          'kubectl',
          [
            '--kubeconfig',
            join(dir, 'kubeconfig'),
            'exec',
            '-i',
            'kx-0',
            '-c',
            'perconaxtradb',
            '--',
            'sh',
            '-c',
            'mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -N',
          ],
          { env: { ...process.env, HOME: dir, ...env }, timeout: 30_000 },
          (error, out) => resolve({ code: error ? 1 : 0, out }),
        );
        child.stdin?.end('SELECT 42;\n');
      });
      expect(r).toEqual({ code: 0, out: '42\n' });
    });
  }

  it('prints what the API server refuses (an unknown container)', async () => {
    const r = await kubectl({}, 'exec', 'kx-0', '-c', 'nope', '--', 'hostname');
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('container nope is not valid for pod kx-0');
  });
});
