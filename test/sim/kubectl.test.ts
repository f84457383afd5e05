import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { eventually, isReady, startFast } from './helpers.js';

const version = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
const hasKubectl = version.status === 0;
const minor = hasKubectl ? Number.parseInt(JSON.parse(version.stdout).clientVersion?.minor ?? '0', 10) : 0;
/**
 * kubectl validates `create -f` against the server's OpenAPI: v3 (which the simulator serves) from
 * 1.27, v2 in protobuf before (which it does not). Older clients, such as Debian 12's 1.20
 * (kubernetes-client, what .ci/run installs on a clean machine), create without that validation.
 */
const VALIDATE = minor >= 27 ? [] : ['--validate=false'];
const TITLE = hasKubectl
  ? 'Simulator with kubectl'
  : 'Simulator with kubectl [SKIPPED: kubectl is not on PATH; install it (apt-get install kubernetes-client) to run these]';

/** kubectl against the simulator. Skipped, saying so in its name, where kubectl is not installed (.ci/run installs it). */
describe.skipIf(!hasKubectl)(TITLE, () => {
  let sim: Simulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-kubectl-'));
    sim = await startFast({ kubeconfigPath: join(dir, 'kubeconfig') });
    env = {
      ...process.env,
      KUBECONFIG: join(dir, 'kubeconfig'),
      KUBECACHEDIR: join(dir, 'cache'),
      HOME: dir,
    };
    const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'sample-pxc' });
    await waitForPodsReady(sim, 'demo', db.podNames);
  });
  afterAll(async () => {
    await sim.stop();
  });

  function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(
        'kubectl',
        ['--cache-dir', join(dir, 'cache'), ...args],
        { env, timeout: 30_000 },
        (error, out, err) => {
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out, err });
        },
      );
    });
  }

  function manifest(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('get pods prints the usual columns', async () => {
    const r = await kubectl('get', 'pods');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
    expect(r.out).toMatch(/sample-pxc-0\s+2\/2\s+Running\s+0/);
  });

  it('get px, petsets and pdb by their short and plural names', async () => {
    const r = await kubectl('get', 'px,petsets,pdb');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/perconaxtradb\.kubedb\.com\/sample-pxc\s+8\.0\.40\s+Ready/);
    expect(r.out).toMatch(/petset\.apps\.k8s\.appscode\.com\/sample-pxc\s+3\/3/);
    expect(r.out).toMatch(/poddisruptionbudget\.policy\/sample-pxc/);
  });

  it('describe pod shows its owner and conditions', async () => {
    const r = await kubectl('describe', 'pod', 'sample-pxc-0');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Controlled By:\s+PetSet\/sample-pxc/);
    expect(r.out).toMatch(/Ready\s+True/);
  });

  it('create -f makes KubeDB, cert-manager and core objects', async () => {
    const path = manifest(
      'objects.yaml',
      `apiVersion: ops.kubedb.com/v1alpha1
kind: PerconaXtraDBOpsRequest
metadata: {name: pxops-rotate, namespace: demo}
spec:
  type: ReconfigureTLS
  databaseRef: {name: sample-pxc}
  tls: {rotateCertificates: true}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: px-issuer, namespace: demo}
spec: {ca: {secretName: px-ca}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: sample-pxc-server-cert, namespace: demo}
spec: {secretName: sample-pxc-server-cert, issuerRef: {name: px-issuer}}
---
apiVersion: v1
kind: Secret
metadata: {name: px-ca, namespace: demo}
type: Opaque
stringData: {tls.crt: x}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: demo}
spec:
  replicas: 1
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        env: [{name: A, value: "1"}]
`,
    );
    const r = await kubectl('create', ...VALIDATE, '-f', path);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(
      sim.store.get('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', 'demo', 'pxops-rotate'),
    ).toBeDefined();
    expect(
      sim.store.get('cert-manager.io/v1', 'Certificate', 'demo', 'sample-pxc-server-cert'),
    ).toBeDefined();
    expect(sim.store.get<J>('v1', 'Secret', 'demo', 'px-ca')?.data['tls.crt']).toBe(
      Buffer.from('x').toString('base64'),
    );
    await eventually(() => isReady(sim.store.get('v1', 'Pod', 'demo', 'web-0')));
    const again = await kubectl('get', 'pxcops,certificates,issuers,secrets,statefulsets');
    expect(again.out).toMatch(/pxops-rotate\s+ReconfigureTLS/);
    expect(again.out).toContain('certificate.cert-manager.io/sample-pxc-server-cert');
    expect(again.out).toMatch(/statefulset\.apps\/web\s+1\/1/);
  });

  it('patch --type merge, json (with test) and strategic', async () => {
    const m = await kubectl(
      'patch',
      'px',
      'sample-pxc',
      '--type',
      'merge',
      '-p',
      '{"spec":{"requireSSL":true}}',
    );
    const jOk = await kubectl(
      'patch',
      'px',
      'sample-pxc',
      '--type',
      'json',
      '-p',
      '[{"op":"test","path":"/spec/requireSSL","value":true},{"op":"replace","path":"/spec/replicas","value":3}]',
    );
    sim.requests.reset();
    const jBad = await kubectl(
      'patch',
      'px',
      'sample-pxc',
      '--type',
      'json',
      '-p',
      '[{"op":"test","path":"/spec/requireSSL","value":false}]',
    );
    const jBadPatches = sim.requests.all().filter((r) => r.verb === 'patch');
    const s = await kubectl(
      'patch',
      'sts',
      'web',
      '--type',
      'strategic',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]}]}}}}',
    );
    sim.requests.reset();
    const sCr = await kubectl(
      'patch',
      'px',
      'sample-pxc',
      '--type',
      'strategic',
      '-p',
      '{"spec":{"replicas":3}}',
    );
    const sCrPatches = sim.requests.all().filter((r) => r.verb === 'patch');
    const sts = sim.store.get<J>('apps/v1', 'StatefulSet', 'demo', 'web');
    expect([m.code, jOk.code, jBad.code, s.code, sCr.code]).toEqual([0, 0, 1, 0, 1]);
    // A failed `test` is 422 Invalid; old kubectl (1.20) prints only "The request is invalid" for it.
    expect(jBadPatches.map((r) => r.status)).toEqual([422]);
    expect(jBad.err).toMatch(/test operation failed|The request is invalid/);
    // A custom resource takes no strategic merge patch: 415, as a real server answers.
    expect(sCrPatches.map((r) => r.status)).toEqual([415]);
    expect(sCr.err).toMatch(/application\/strategic-merge-patch\+json is not supported|UnsupportedMediaType/);
    expect(sim.store.get<J>('kubedb.com/v1', 'PerconaXtraDB', 'demo', 'sample-pxc')?.spec.requireSSL).toBe(
      true,
    );
    expect(sts.spec.template.spec.containers[0].env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
  });

  it('scale and rollout status work on a StatefulSet', async () => {
    const scaled = await kubectl('scale', 'sts', 'web', '--replicas=2');
    const rollout = await kubectl('rollout', 'status', 'sts/web', '--timeout=30s');
    expect([scaled.code, rollout.code]).toEqual([0, 0]);
    expect(rollout.out).toContain('roll out complete');
    expect(isReady(sim.store.get('v1', 'Pod', 'demo', 'web-1'))).toBe(true);
  });

  it('delete removes a Secret, and a deleted pod comes back with a new UID', async () => {
    const uid = sim.store.get<J>('v1', 'Pod', 'demo', 'sample-pxc-2')?.metadata.uid;
    const s = await kubectl('delete', 'secret', 'px-ca');
    // --wait=false: kubectl's own wait for the deletion can miss it when the controller recreates
    // the pod between kubectl's get and its list (the simulator's 20 ms grace makes that likely under
    // load); the new pod is checked below instead.
    const p = await kubectl('delete', 'pod', 'sample-pxc-2', '--wait=false');
    expect([s.code, p.code]).toEqual([0, 0]);
    expect(sim.store.get('v1', 'Secret', 'demo', 'px-ca')).toBeUndefined();
    await eventually(() => {
      const pod = sim.store.get<J>('v1', 'Pod', 'demo', 'sample-pxc-2');
      return pod && pod.metadata.uid !== uid && isReady(pod);
    });
  });

  it('describe pxcops lists the Events about it', async () => {
    const ops = sim.store.get<J>(
      'ops.kubedb.com/v1alpha1',
      'PerconaXtraDBOpsRequest',
      'demo',
      'pxops-rotate',
    );
    sim.store.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'pxops-rotate.1', namespace: 'demo' },
      involvedObject: {
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        name: 'pxops-rotate',
        namespace: 'demo',
        uid: ops.metadata.uid,
      },
      reason: 'PauseDatabase',
      message: 'Pausing PerconaXtraDB database: demo/sample-pxc',
      type: 'Normal',
      source: { component: 'pxc-tls-ops' },
      firstTimestamp: new Date().toISOString(),
      lastTimestamp: new Date().toISOString(),
      count: 1,
    });
    const r = await kubectl('describe', 'pxcops', 'pxops-rotate');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Pausing PerconaXtraDB database: demo/sample-pxc');
  });

  it('get -w streams a pod being replaced', async () => {
    const child = spawn(
      'kubectl',
      ['--cache-dir', join(dir, 'cache'), 'get', 'pods', '-w', '--output-watch-events'],
      { env },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await eventually(() => out.includes('sample-pxc-1'), 20_000, 'initial listing');
      sim.store.delete('v1', 'Pod', 'demo', 'sample-pxc-1');
      await eventually(
        () =>
          /DELETED\s+sample-pxc-1/.test(out) &&
          /ADDED\s+sample-pxc-1/.test(out.split(/DELETED\s+sample-pxc-1/)[1] ?? ''),
        20_000,
        'watch events',
      );
    } finally {
      child.kill();
    }
    expect(out).toMatch(/MODIFIED\s+sample-pxc-1\s+\S+\s+Terminating/);
  });

  it('describe, patch and delete work on KubeDB and cert-manager resources and Secrets', async () => {
    await kubectl('create', 'secret', 'generic', 'scratch', '--from-literal=a=1');
    const dpx = await kubectl('describe', 'px', 'sample-pxc');
    const dcert = await kubectl('describe', 'certificate', 'sample-pxc-server-cert');
    const psec = await kubectl(
      'patch',
      'secret',
      'scratch',
      '--type',
      'strategic',
      '-p',
      '{"stringData":{"b":"2"}}',
    );
    const pcert = await kubectl(
      'patch',
      'certificate',
      'sample-pxc-server-cert',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/spec/dnsNames","value":["localhost"]}]',
    );
    const del = await kubectl('delete', 'pxcops', 'pxops-rotate');
    const delSecret = await kubectl('delete', 'secret', 'scratch');
    expect([dpx.code, dcert.code, psec.code, pcert.code, del.code, delSecret.code]).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
    expect(dpx.out).toMatch(/Kind:\s+PerconaXtraDB/);
    expect(dcert.out).toMatch(/Secret Name:\s+sample-pxc-server-cert/);
    expect(
      sim.store.get<J>('cert-manager.io/v1', 'Certificate', 'demo', 'sample-pxc-server-cert')?.spec.dnsNames,
    ).toEqual(['localhost']);
    expect(
      sim.store.get('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', 'demo', 'pxops-rotate'),
    ).toBeUndefined();
  });

  it('get -w streams status changes of a custom resource', async () => {
    const child = spawn('kubectl', ['--cache-dir', join(dir, 'cache'), 'get', 'px', '-w'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await eventually(() => out.includes('sample-pxc'), 20_000, 'initial listing');
      const px = sim.store.get<J>('kubedb.com/v1', 'PerconaXtraDB', 'demo', 'sample-pxc');
      sim.store.put({ ...px, status: { ...px.status, phase: 'Critical' } });
      await eventually(() => /sample-pxc\s+\S+\s+Critical/.test(out), 20_000, 'the Critical row');
    } finally {
      child.kill();
    }
    // The listing first, then the change as a new row: NAME VERSION STATUS AGE.
    const rows = out.split('\n').filter((l) => l.startsWith('sample-pxc'));
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows[0]).toMatch(/^sample-pxc\s+8\.0\.40\s+Ready\s/);
    expect(rows.at(-1)).toMatch(/^sample-pxc\s+8\.0\.40\s+Critical\s/);
    expect(out).toMatch(/^NAME\s+VERSION\s+STATUS\s+AGE/);
  });

  it('talks HTTPS with the CA and token from the kubeconfig, and is refused with another token', async () => {
    const path = join(dir, 'https-kubeconfig');
    const secure = await startFast({ https: true, token: 's3cret', kubeconfigPath: path });
    try {
      const run = (...args: string[]) =>
        new Promise<{ code: number; out: string; err: string }>((resolve) => {
          execFile(
            'kubectl',
            ['--cache-dir', join(dir, 'cache'), '--kubeconfig', path, ...args],
            { env, timeout: 30_000 },
            (e, out, err) => resolve({ code: e ? 1 : 0, out, err }),
          );
        });
      const ok = await run('get', 'namespaces');
      const refused = await run('--token', 'wrong', 'get', 'namespaces');
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(/cert-manager\s+Active/);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain('Unauthorized');
    } finally {
      await secure.stop();
    }
  });
});
