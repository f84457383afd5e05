import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';

const NS = 'demo';

/** Runs `npm run local -- <args>` (tsx local/run.ts) and collects its exit code and output. */
function runLocal(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'local/run.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('npm run local', () => {
  let sim: Simulator;
  let dir: string;
  let kubeconfig: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pxc-local-'));
    kubeconfig = join(dir, 'kubeconfig');
    sim = await startSimulator({ podReadyDelayMs: 150, podDeleteGraceMs: 30, kubeconfigPath: kubeconfig });
    await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    const db = createPerconaXtraDB(sim, { namespace: NS, name: 'px-cli', replicas: 3 });
    await waitForPodsReady(sim, NS, db.podNames);
  });
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs an OpsRequest by name against a kubeconfig, prints progress and exits 0 when it is Successful', async () => {
    sim.store.create(
      opsRequestFrom('pxcops-add-tls', { name: 'cli-add', namespace: NS, database: 'px-cli' }),
    );

    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--ops-request',
      'cli-add',
      '--wait-scale',
      '0.05',
    ]);

    expect(out).toContain(`kubeconfig ${kubeconfig}, context "sim", API server ${sim.url}`);
    expect(out).toMatch(/pod 3\/3 px-cli-2 evicted \(old UID [0-9a-f-]+\)/);
    expect(out).toMatch(/pod 3\/3 px-cli-2 Ready again, new UID [0-9a-f-]+/);
    expect(out).toContain('SUCCEEDED: PerconaXtraDBOpsRequest demo/cli-add is Successful');
    expect(code).toBe(0);
  }, 60_000);

  it('explains every option and the exit codes in --help', async () => {
    const { code, out } = await runLocal(['--help']);

    for (const option of [
      '--kubeconfig',
      '--context',
      '--namespace',
      '--ops-request',
      '--input',
      '--dry-run',
      '--wait-scale',
      '--verbose',
      '--help',
    ])
      expect(out).toContain(option);
    for (const [n, what] of [
      [0, 'succeeded'],
      [1, 'failed'],
      [2, 'refused, nothing changed'],
      [3, 'nothing to do'],
      [4, 'failed and the rollback did not complete'],
    ] as const)
      expect(out).toMatch(new RegExp(`^  ${n}  ${what}`, 'm'));
    expect(code).toBe(0);
  }, 60_000);

  it('--dry-run prints the plan and no write request reaches the cluster', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'cli-dry', namespace: NS, database: 'px-cli' }));
    sim.requests.reset();

    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '-n',
      NS,
      '--ops-request',
      'cli-dry',
      '--dry-run',
    ]);

    expect(out).toContain('request: demo/cli-dry → rotate on PerconaXtraDB demo/px-cli');
    expect(out).toContain(
      'write Secrets px-cli-server-cert, px-cli-client-cert, px-cli-metrics-exporter-cert',
    );
    expect(out).toContain(
      'restart one at a time (eviction, PodDisruptionBudgets apply): px-cli-0, px-cli-1, px-cli-2',
    );
    const writes = sim.requests.all().filter((r) => !['get', 'list', 'watch'].includes(r.verb));
    expect(writes).toEqual([]);
    expect(sim.requests.all().length).toBeGreaterThan(0);
    expect(code).toBe(0);
  }, 60_000);

  it('a missing kubeconfig is a plain refusal (exit 2), a request claimed by another execution is nothing to do (exit 3)', async () => {
    sim.store.create({
      // Another database, so this never-finishing claim holds up no other test's request.
      ...opsRequestFrom('pxcops-rotate', { name: 'cli-claimed', namespace: NS, database: 'px-elsewhere' }),
      metadata: {
        name: 'cli-claimed',
        namespace: NS,
        annotations: { 'pxc-tls-ops.io/claimed-by': 'local-someone-else' },
      },
    });

    const [missing, claimed] = await Promise.all([
      runLocal(['--kubeconfig', join(dir, 'nope'), '-n', NS, '--ops-request', 'cli-claimed']),
      runLocal(['--kubeconfig', kubeconfig, '-n', NS, '--ops-request', 'cli-claimed']),
    ]);

    expect(missing.out).toContain(`No kubeconfig at ${join(dir, 'nope')}`);
    expect(missing.out).not.toMatch(/ENOENT/);
    expect(missing.code).toBe(2);
    expect(claimed.out).toContain(
      'NOTHING TO DO: PerconaXtraDBOpsRequest demo/cli-claimed is claimed by execution local-someone-else',
    );
    expect(claimed.code).toBe(3);
  }, 60_000);

  it('exits 2 and prints the reason, without rollback lines, when the request is refused (console input)', async () => {
    const input = JSON.stringify({
      namespace: NS,
      database: 'px-cli',
      tls: { remove: true, rotateCertificates: true },
    });

    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '--input',
      input,
      '--wait-scale',
      '0.05',
    ]);

    expect(out).toMatch(/REFUSED, nothing changed: PerconaXtraDBOpsRequest demo\/px-cli-tls-\w+ is Failed/);
    expect(out).toContain(
      'reason: Refused, nothing was changed: spec.tls asks for remove and rotateCertificates at once',
    );
    expect(out).not.toMatch(/roll/i);
    expect(code).toBe(2);
  }, 60_000);
});
