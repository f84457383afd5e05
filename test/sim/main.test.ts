import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { J } from '../../local/sim/store.js';
import { eventually } from './helpers.js';

describe('npm run sim (local/sim/main.ts)', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('writes its kubeconfig, serves the seeded demo namespace, prints how to use it, and stops on SIGTERM', async () => {
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'sim-main-')), 'kubeconfig');
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'local/sim/main.ts',
        '--kubeconfig',
        kubeconfig,
        '--port',
        '0',
        '--pod-restart-seconds',
        '0.3',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await eventually(
      () => out.includes('Ctrl-C to stop') && existsSync(kubeconfig),
      60_000,
      'the simulator to start',
    );
    const kc = new KubeConfig();
    kc.loadFromString(readFileSync(kubeconfig, 'utf8'));
    const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'demo' });
    const issuer = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'cert-manager.io',
      version: 'v1',
      namespace: 'demo',
      plural: 'issuers',
      name: 'px-issuer',
    })) as J;
    // The hint names sample files that exist and that the simulator takes as they are.
    const hinted = [...out.matchAll(/apply -f (\S+)/g)].map((m) => m[1]!);
    expect(hinted).toEqual(['k8s/samples/pxcops-add-tls.yaml']);
    const sample = parse(readFileSync(hinted[0]!, 'utf8')) as J;
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'ops.kubedb.com',
      version: 'v1alpha1',
      namespace: 'demo',
      plural: 'perconaxtradbopsrequests',
      body: sample,
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(['sample-pxc-0', 'sample-pxc-1', 'sample-pxc-2']);
    expect(issuer.spec.ca.secretName).toBe('px-ca');
    expect(out).toContain(`kubectl --kubeconfig ${kubeconfig} get pods -w`);
    expect(out).toContain('pods restart in 0.3s');
    expect(out).toContain(`npm run local -- --kubeconfig ${kubeconfig} -n demo --ops-request pxops-add-tls`);
    expect(await exited).toBe(0);
  });
});
