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

    expect(out).toContain('Restart pod  pod 3/3 px-cli-2');
    expect(out).toContain('PerconaXtraDBOpsRequest demo/cli-add: Successful');
    expect(code).toBe(0);
  }, 60_000);

  it('exits 1 and prints the reason when the request ends Failed (console input)', async () => {
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

    expect(out).toMatch(/PerconaXtraDBOpsRequest demo\/px-cli-tls-\w+: Failed/);
    expect(out).toContain('reason: spec.tls asks for remove and rotateCertificates at once');
    expect(code).toBe(1);
  }, 60_000);
});
