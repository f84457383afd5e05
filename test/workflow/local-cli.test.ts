import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { bundleLocalCli, spawnLocal } from '../../local/cli-child.js';
import { runExecution } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';

const NS = 'demo';
const DB = 'px-cli';

// biome-ignore lint/suspicious/noExplicitAny: a console input, edited by key
type Input = Record<string, any>;

/** A valid console input adding TLS to the CLI's database (events/console/add-tls.json, retargeted). */
function addTlsInput(): Input {
  return { ...JSON.parse(readFileSync('events/console/add-tls.json', 'utf8')), database: DB };
}

describe('npm run local', () => {
  let sim: Simulator;
  let dir: string;
  let kubeconfig: string;
  let bundle: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pxc-local-'));
    kubeconfig = join(dir, 'kubeconfig');
    bundle = await bundleLocalCli();
    sim = await startSimulator({ podReadyDelayMs: 150, podDeleteGraceMs: 30, kubeconfigPath: kubeconfig });
    await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    const db = createPerconaXtraDB(sim, { namespace: NS, name: DB, replicas: 3 });
    await waitForPodsReady(sim, NS, db.podNames);
  });
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (bundle) rmSync(dirname(bundle), { recursive: true, force: true });
  });

  /** Runs `npm run local -- <args>` (local/run.ts, bundled once) and collects its exit code and output. */
  async function runLocal(args: string[], env: NodeJS.ProcessEnv = {}) {
    const child = spawnLocal(args, env, bundle);
    const code = await child.exit;
    return { code, out: child.output() };
  }
  const ops = (name: string) =>
    sim.store.get<PerconaXtraDBOpsRequest>(
      KINDS.PerconaXtraDBOpsRequest.apiVersion,
      'PerconaXtraDBOpsRequest',
      NS,
      name,
    );
  const db = () => sim.store.get<PerconaXtraDB>('kubedb.com/v1', 'PerconaXtraDB', NS, DB)!;
  const paused = () => !!db().status?.conditions?.some((c) => c.type === 'Paused');
  const podUids = () =>
    [0, 1, 2].map(
      (i) => sim.store.get<{ metadata: { uid: string } }>('v1', 'Pod', NS, `${DB}-${i}`)?.metadata.uid,
    );
  const podsReady = () =>
    [0, 1, 2].every((i) =>
      sim.store
        .get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
          'v1',
          'Pod',
          NS,
          `${DB}-${i}`,
        )
        ?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  async function until(what: string, ok: () => boolean, ms = 15_000) {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

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

  it('exits 0 and restarts no pod for the same add TLS re-applied on the spec KubeDB defaulted', async () => {
    // KubeDB's webhook filled in an entry and a secretName for every alias the request left out.
    expect(db().spec.tls?.certificates?.map((c) => [c.alias, c.secretName])).toEqual([
      ['server', 'px-cli-server-cert'],
      ['client', 'px-cli-client-cert'],
      ['metrics-exporter', 'px-cli-metrics-exporter-cert'],
    ]);
    const before = podUids();
    sim.store.create(
      opsRequestFrom('pxcops-add-tls', { name: 'cli-add-again', namespace: NS, database: DB }),
    );

    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--ops-request',
      'cli-add-again',
      '--wait-scale',
      '0.05',
    ]);

    expect(out).toContain('nothing to change, no pod restarted');
    expect(podUids()).toEqual(before);
    expect(code, out).toBe(0);
  }, 60_000);

  it("exits 2 naming KubeDB's ops-manager when its workload runs (ONLY_OPS_REQUEST_PROCESSOR='false', the template's default)", async () => {
    const labels = { 'app.kubernetes.io/name': 'kubedb-ops-manager' };
    sim.store.create({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'kubedb-kubedb-ops-manager', namespace: 'default', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [] } },
      },
    });
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'cli-om', namespace: NS, database: DB }));

    const { code, out } = await runLocal(
      ['--kubeconfig', kubeconfig, '--namespace', NS, '--ops-request', 'cli-om', '--wait-scale', '0.05'],
      { ONLY_OPS_REQUEST_PROCESSOR: 'false' },
    );
    sim.store.delete('apps/v1', 'StatefulSet', 'default', 'kubedb-kubedb-ops-manager');

    expect(out).toMatch(/ops-manager is running \(StatefulSet default\/kubedb-kubedb-ops-manager/);
    expect(code, out).toBe(2);
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

  it('exits 2 and prints the reason, without rollback lines and creating no OpsRequest, when the request is refused (console input)', async () => {
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

    // Refused before it is created: KubeDB's ops webhook would deny it (exactly one kind of change).
    expect(out).toMatch(/REFUSED, nothing changed: request was not run/);
    expect(out).toContain(
      'reason: Refused, nothing was changed: spec.tls asks for remove and rotateCertificates at once',
    );
    expect(out).not.toMatch(/roll/i);
    expect(code).toBe(2);
  }, 60_000);

  it('a --dry-run that would be refused exits 2; nothing to change exits 0, with --dry-run or without', async () => {
    sim.store.create(
      opsRequestFrom('pxcops-rotate', { name: 'cli-dry-nodb', namespace: NS, database: 'px-none' }),
    );
    // TLS is on with requireSSL since cli-add: asking for it again changes nothing.
    sim.store.create(
      opsRequestFrom('pxcops-require-ssl-on', { name: 'cli-same', namespace: NS, database: DB }),
    );
    const common = ['--kubeconfig', kubeconfig, '-n', NS, '--wait-scale', '0.05'];

    const [refused, dry] = await Promise.all([
      runLocal([...common, '--ops-request', 'cli-dry-nodb', '--dry-run']),
      runLocal([...common, '--ops-request', 'cli-same', '--dry-run']),
    ]);
    const run = await runLocal([...common, '--ops-request', 'cli-same']);

    expect(refused.out).toMatch(/PerconaXtraDB.*px-none.*not found|px-none/);
    expect(refused.code, refused.out).toBe(2);
    expect(dry.out).toContain('nothing to change: PerconaXtraDB demo/px-cli already has these TLS settings');
    expect(dry.code, dry.out).toBe(0);
    expect(run.out).toContain('SUCCEEDED: PerconaXtraDBOpsRequest demo/cli-same is Successful');
    expect(run.out).toMatch(/reason: .*nothing to change/);
    expect(run.code, run.out).toBe(0);
  }, 60_000);

  it('exits 4 when the request failed and its rollback could not bring a pod back', async () => {
    sim.store.create(
      opsRequestFrom('pxcops-rotate', {
        name: 'cli-stuck',
        namespace: NS,
        database: DB,
        spec: { timeout: '2s' },
      }),
    );
    // The first pod the request restarts never gets Ready again, its rollback replacement neither.
    const before = podUids();
    let held = '';
    const watching = until('a pod restarted', () => {
      const i = podUids().findIndex((uid, n) => uid !== undefined && uid !== before[n]);
      if (i < 0) return false;
      held = `${DB}-${i}`;
      sim.faults.holdNotReady(NS, held, 'held by the test');
      return true;
    });

    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '-n',
      NS,
      '--ops-request',
      'cli-stuck',
      '--wait-scale',
      '0.05',
    ]);
    await watching;
    sim.faults.release(NS, held);
    await until('every pod Ready', podsReady);

    expect(out).toMatch(/FAILED, rollback incomplete: PerconaXtraDBOpsRequest demo\/cli-stuck is Failed/);
    expect(out).toMatch(/reason: .*rollback did not complete.*Secret demo\/px-cli-tls-backup-cli-stuck/);
    expect(code, out).toBe(4);
    expect(paused()).toBe(false);
  }, 60_000);

  it('a second Ctrl-C exits at once (130) saying what is left; --recover then ends the request (exit 0)', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'cli-twice', namespace: NS, database: DB }));
    const before = podUids();
    const common = ['--kubeconfig', kubeconfig, '-n', NS, '--wait-scale', '0.05', '--lease-seconds', '2'];
    const child = spawnLocal(
      [...common, '--ops-request', 'cli-twice'],
      { PXC_TLS_OPS_HOLD_BEFORE: 'Restart pod#2' },
      bundle,
    );
    await child.waitFor(/^holding before Restart pod #2/);
    // The pod restarted on the new certificates stops being Ready: the recovery must restart it
    // and wait for it, so the second Ctrl-C lands while the recovery runs.
    const restarted = `${DB}-${podUids().findIndex((uid, n) => uid !== before[n])}`;
    sim.faults.holdNotReady(NS, restarted, 'held by the test');

    child.process.kill('SIGINT');
    await child.waitFor(/^interrupted: stopping after the step in flight/);
    await child.waitFor(/recover/i);
    child.process.kill('SIGINT');
    const code = await child.exit;
    sim.faults.release(NS, restarted);

    expect(child.output()).toMatch(
      /exiting at once\. Left: PerconaXtraDBOpsRequest demo\/cli-twice .*claimed by execution local-\S+ until .*Run `npm run local -- --namespace demo --recover cli-twice`/,
    );
    expect(code, child.output()).toBe(130);
    expect(paused()).toBe(true);
    expect(ops('cli-twice')?.status?.phase).toBe('Progressing');

    const recovered = await runLocal([...common, '--recover', 'cli-twice']);

    expect(recovered.out).toMatch(
      /RECOVERED in .*: PerconaXtraDBOpsRequest demo\/cli-twice is Failed, the database resumed/,
    );
    expect(recovered.code, recovered.out).toBe(0);
    expect(ops('cli-twice')?.status?.phase).toBe('Failed');
    expect(paused()).toBe(false);
    await until('every pod Ready', podsReady);
  }, 60_000);

  it('--recover resumes a database left Paused by a request that no longer exists (exit 0), and says when there is nothing (exit 3)', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'cli-gone', namespace: NS, database: DB }));
    // A run killed after its first restart (no Catch runs), then its request deleted.
    const stop = new AbortController();
    const killed = await runExecution({
      kube: kubeFromKubeconfig(sim.kubeconfig),
      input: { namespace: NS, opsRequest: 'cli-gone' },
      waitScale: 0.05,
      retryScale: 0.02,
      logger: new Logger({ logLevel: 'SILENT' }),
      signal: stop.signal,
      wrapTask: (state, fn) =>
        state !== 'Restart pod'
          ? fn
          : async (input) => {
              const out = await fn(input);
              stop.abort();
              return out;
            },
    });
    expect(killed.status).toBe('ABORTED');
    sim.store.delete(KINDS.PerconaXtraDBOpsRequest.apiVersion, 'PerconaXtraDBOpsRequest', NS, 'cli-gone');
    expect(paused()).toBe(true);
    const common = ['--kubeconfig', kubeconfig, '-n', NS, '--wait-scale', '0.05'];

    const [recovered, nothing] = await Promise.all([
      runLocal([...common, '--recover', 'cli-gone']),
      runLocal([...common, '--recover', 'cli-never-was']),
    ]);

    expect(recovered.out).toMatch(/RECOVERED in .*: PerconaXtraDB demo\/px-cli resumed/);
    expect(recovered.out).toMatch(/reason: .*PerconaXtraDBOpsRequest demo\/cli-gone, which no longer exists/);
    expect(recovered.code, recovered.out).toBe(0);
    expect(paused()).toBe(false);
    expect(nothing.out).toContain(
      'NOTHING TO DO: PerconaXtraDBOpsRequest demo/cli-never-was does not exist and pauses no database',
    );
    expect(nothing.code).toBe(3);
    await until('every pod Ready', podsReady);
  }, 60_000);

  it.each([
    { where: 'at the top level', path: 'constructor', at: (i: Input) => i },
    { where: 'in tls.issuerRef', path: 'tls.issuerRef.constructor', at: (i: Input) => i.tls.issuerRef },
    { where: 'as toString in tls', path: 'tls.toString', at: (i: Input) => i.tls },
  ])(
    'refuses an inherited key $where (exit 2), and nothing reaches the cluster but reads',
    async ({ path, at }) => {
      const input = addTlsInput();
      const key = path.split('.').at(-1)!;
      at(input)[key] = 5;
      const before = structuredClone(db().spec);
      sim.requests.reset();

      const { code, out } = await runLocal(['--kubeconfig', kubeconfig, '--input', JSON.stringify(input)]);

      // Named in the refusal: an unknown top-level field, or one the schema of its object does not declare.
      expect(out).toContain(
        path === key ? `unexpected field(s) ${key}` : `${path}: Forbidden: field not declared in schema`,
      );
      expect(out).toContain('REFUSED, nothing changed');
      expect(code).toBe(2);
      expect(sim.requests.all().filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
      expect(db().spec).toEqual(before);
    },
    60_000,
  );

  it('refuses a __proto__ key (exit 2) rather than letting it change what the input inherits', async () => {
    // JSON.parse makes "__proto__" an own field, as the console's JSON does; written by hand so the
    // test's own object literal cannot turn it into a prototype.
    const text = JSON.stringify(addTlsInput()).replace('"tls":{', '"tls":{"__proto__":{"remove":true},');
    expect(text).toContain('"__proto__"');
    const before = structuredClone(db().spec);
    sim.requests.reset();

    const { code, out } = await runLocal(['--kubeconfig', kubeconfig, '--input', text]);

    expect(out).toContain('tls.__proto__: Forbidden: field not declared in schema');
    expect(out).toContain('REFUSED, nothing changed');
    expect(code).toBe(2);
    expect(sim.requests.all().filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
    expect(db().spec).toEqual(before);
  }, 60_000);

  it('refuses a 590 KB namespace in a few lines that say what is wrong, never echoing it', async () => {
    const file = join(dir, 'huge.json');
    writeFileSync(file, JSON.stringify({ ...addTlsInput(), namespace: 'n'.repeat(590_000) }));
    sim.requests.reset();

    const { code, out } = await runLocal(['--kubeconfig', kubeconfig, '--input', `@${file}`]);

    expect(out).toContain('namespace: Too long: "nnnn');
    expect(out).toContain('(590000 characters): may not be more than 63 characters');
    // No echo, and the failure path sent nothing with that namespace (no retried GET to print).
    expect(out).not.toContain('n'.repeat(200));
    expect(out.length, out.slice(0, 2000)).toBeLessThan(3_000);
    expect(out).not.toContain('/namespaces/nnnn');
    expect(code).toBe(2);
    expect(sim.requests.all().filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
  }, 60_000);

  it('refuses a --namespace or --ops-request that is not a name before printing or sending it', async () => {
    const { code, out } = await runLocal([
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      'n'.repeat(100_000),
      '--ops-request',
      'Not_A_Name',
    ]);

    expect(out).toContain('--namespace: Too long: "nnnn');
    expect(out).toContain('(100000 characters): may not be more than 63 characters');
    expect(out).toContain('--ops-request: Invalid value: "Not_A_Name": must be a DNS-1123 subdomain');
    expect(out).not.toContain('n'.repeat(200));
    expect(out.length, out.slice(0, 2000)).toBeLessThan(2_000);
    expect(code).toBe(2);
  }, 60_000);
});
