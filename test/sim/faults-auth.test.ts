import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { type Clients, clientsFor, eventually, isReady, startFast, statusOf } from './helpers.js';

describe('Simulator fault injection', () => {
  let sim: Simulator;
  let c: Clients;
  beforeAll(async () => {
    sim = await startFast();
    c = clientsFor(sim);
    await c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'target' } } });
  });
  afterEach(() => sim.faults.reset());
  afterAll(async () => {
    await sim.stop();
  });

  const read = () => c.core.readNamespacedConfigMap({ namespace: 'demo', name: 'target' });

  it.each([409, 429, 500, 503] as const)(
    'fails the next matching requests with %i, then serves normally',
    async (status) => {
      sim.faults.inject({ method: 'GET', path: /\/configmaps\/target$/, times: 2, action: { status } });
      const codes = [await statusOf(read()), await statusOf(read()), await statusOf(read())];
      expect(codes).toEqual([status, status, 200]);
    },
  );

  it('leaves requests that do not match the method or path alone', async () => {
    sim.faults.inject({ method: 'DELETE', path: /\/configmaps\/target$/, action: { status: 500 } });
    sim.faults.inject({ path: /\/secrets/, action: { status: 500 } });
    expect(await statusOf(read())).toBe(200);
  });

  it('drops the connection', async () => {
    sim.faults.inject({ path: '/configmaps/target$', action: { drop: true } });
    const err = await read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(await statusOf(read())).toBe(200);
  });

  it('delays a request without failing it', async () => {
    sim.faults.inject({ path: '/configmaps/target$', action: { delayMs: 400 } });
    const order: string[] = [];
    const slow = read().then(() => order.push('delayed'));
    await new Promise((r) => setTimeout(r, 50));
    const fast = c.core.listNamespacedConfigMap({ namespace: 'demo' }).then(() => order.push('other'));
    await Promise.all([slow, fast]);
    expect(order).toEqual(['other', 'delayed']);
  });

  it('injects, holds, releases and resets over the reserved HTTP path /_sim/', async () => {
    const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'http-faults' });
    await waitForPodsReady(sim, 'demo', db.podNames);
    const post = (path: string, body: unknown) =>
      fetch(`${sim.url}/_sim/${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.status);
    await post('faults', { method: 'POST', path: '/eviction$', times: 1, action: { status: 429 } });
    const evict = () =>
      statusOf(
        c.core.createNamespacedPodEviction({
          namespace: 'demo',
          name: 'http-faults-2',
          body: { metadata: { name: 'http-faults-2' } },
        }),
      );
    const refused = await evict();
    await post('hold', { namespace: 'demo', pod: 'http-faults-0', message: 'disk full' });
    const held = sim.store.get<J>('v1', 'Pod', 'demo', 'http-faults-0');
    await post('release', { namespace: 'demo', pod: 'http-faults-0' });
    await eventually(() => isReady(sim.store.get<J>('v1', 'Pod', 'demo', 'http-faults-0')));
    await post('faults', { path: '/configmaps/target$', times: 5, action: { status: 500 } });
    await post('reset', {});
    expect(refused).toBe(429);
    expect(held.status.conditions.find((x: J) => x.type === 'Ready')).toMatchObject({
      status: 'False',
      message: 'disk full',
    });
    expect(await statusOf(read())).toBe(200);
  });

  it('counts every API request by verb and resource, and none of the /_sim/ calls', async () => {
    sim.requests.reset();
    await c.core.createNamespacedSecret({ namespace: 'demo', body: { metadata: { name: 'counted' } } });
    await c.core.readNamespacedSecret({ namespace: 'demo', name: 'counted' });
    await c.core.listNamespacedSecret({ namespace: 'demo' });
    await c.core.replaceNamespacedSecret({
      namespace: 'demo',
      name: 'counted',
      body: { metadata: { name: 'counted' }, data: {} },
    });
    await c.core.patchNamespacedSecret({
      namespace: 'demo',
      name: 'counted',
      body: [{ op: 'add', path: '/data', value: {} }],
    });
    await c.core.deleteNamespacedSecret({ namespace: 'demo', name: 'counted' });
    await statusOf(c.core.readNamespacedSecret({ namespace: 'demo', name: 'counted' }));
    await fetch(`${sim.url}/_sim/requests`);
    const all = sim.requests.all();
    expect(all.map((r) => `${r.verb} ${r.resource} ${r.status}`)).toEqual([
      'create secrets 201',
      'get secrets 200',
      'list secrets 200',
      'update secrets 200',
      'patch secrets 200',
      'delete secrets 200',
      'get secrets 404',
    ]);
    expect(all.every((r) => r.namespace === 'demo' && r.at > 0)).toBe(true);
    expect(sim.requests.countBy({ verb: 'get', resource: 'secrets' })).toBe(2);
    expect(sim.requests.countBy()).toBe(7);
  });
});

describe('Simulator authentication and HTTPS', () => {
  it('accepts the kubeconfig token and answers any other token with 401', async () => {
    const sim = await startFast({ token: 'right' });
    try {
      const ok = await statusOf(clientsFor(sim).core.listNamespace());
      const wrong = await fetch(`${sim.url}/api/v1/namespaces`, {
        headers: { Authorization: 'Bearer wrong' },
      });
      const none = await fetch(`${sim.url}/api/v1/namespaces`);
      expect([ok, wrong.status, none.status]).toEqual([200, 401, 401]);
      expect(await wrong.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    } finally {
      await sim.stop();
    }
  });

  it('lets an authenticate hook decide (EKS mode), given the bearer token', async () => {
    const seen: Array<string | undefined> = [];
    const sim = await startFast({
      authenticate: (token) => {
        seen.push(token);
        return token?.startsWith('k8s-aws-v1.') ?? false;
      },
    });
    try {
      const kc = new KubeConfig();
      kc.loadFromString(sim.kubeconfig.replace(/token: .*/, 'token: "k8s-aws-v1.abc"'));
      const eks = await statusOf(kc.makeApiClient(CoreV1Api).listNamespace());
      const plain = await statusOf(clientsFor(sim).core.listNamespace());
      expect([eks, plain]).toEqual([200, 401]);
      expect(seen).toEqual(['k8s-aws-v1.abc', 'sim']);
    } finally {
      await sim.stop();
    }
  });

  it('serves HTTPS with its own CA, trusted through the kubeconfig', async () => {
    const sim = await startFast({ https: true, token: 't' });
    try {
      const ns = await clientsFor(sim).core.listNamespace();
      expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(sim.kubeconfig).toContain('certificate-authority-data:');
      expect(ns.items.map((n) => n.metadata?.name)).toEqual(['cert-manager', 'default', 'demo']);
    } finally {
      await sim.stop();
    }
  });

  it('writes the kubeconfig file when asked', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = `${mkdtempSync(`${tmpdir()}/sim-`)}/kubeconfig`;
    const sim = await startFast({ kubeconfigPath: path });
    try {
      expect(readFileSync(path, 'utf8')).toBe(sim.kubeconfig);
      expect(sim.kubeconfigPath).toBe(path);
    } finally {
      await sim.stop();
    }
  });
});
