import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { type Clients, clientsFor, errorOf, startFast, statusOf } from './helpers.js';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

const PX = { group: 'kubedb.com', version: 'v1', plural: 'perconaxtradbs' };
const OPS = { group: 'ops.kubedb.com', version: 'v1alpha1', plural: 'perconaxtradbopsrequests' };

function px(name: string, extra: J = {}): J {
  return {
    apiVersion: 'kubedb.com/v1',
    kind: 'PerconaXtraDB',
    metadata: { name, namespace: 'demo' },
    // spec.version is required by the CRD (local/sim/schemas.ts): the simulator answers 422 without it.
    spec: { version: '8.0.26', replicas: 3 },
    ...extra,
  };
}

describe('Simulator REST API through @kubernetes/client-node', () => {
  let sim: Simulator;
  let c: Clients;
  beforeAll(async () => {
    sim = await startFast();
    c = clientsFor(sim);
    // The database the OpsRequests below name: KubeDB's ops webhook refuses one for a missing database.
    sim.store.create({
      apiVersion: 'kubedb.com/v1',
      kind: 'PerconaXtraDB',
      metadata: { name: 'x', namespace: 'demo' },
      spec: { version: '8.0.26', replicas: 3 },
    });
  });
  afterAll(async () => {
    await sim.stop();
  });

  describe('discovery', () => {
    const get = async (path: string) =>
      (await fetch(`${sim.url}${path}`, { headers: { Authorization: 'Bearer sim' } })).json() as Promise<J>;

    it('serves /version, /api, /apis and every group/version with its resources and subresources', async () => {
      const version = await get('/version');
      const core = await get('/api');
      const groups = await get('/apis');
      const v1 = await get('/api/v1');
      const kubedb = await get('/apis/kubedb.com/v1');
      const group = await get('/apis/cert-manager.io');
      expect(version.major).toBe('1');
      expect(core.versions).toEqual(['v1']);
      expect(groups.groups.map((g: J) => g.name)).toEqual(
        expect.arrayContaining([
          'apps',
          'apps.k8s.appscode.com',
          'policy',
          'kubedb.com',
          'ops.kubedb.com',
          'cert-manager.io',
        ]),
      );
      expect(v1.resources.map((r: J) => r.name)).toEqual(
        expect.arrayContaining([
          'namespaces',
          'pods',
          'pods/status',
          'pods/eviction',
          'secrets',
          'services',
          'configmaps',
          'events',
        ]),
      );
      expect(kubedb.resources.find((r: J) => r.name === 'perconaxtradbs')).toMatchObject({
        kind: 'PerconaXtraDB',
        namespaced: true,
        shortNames: ['px'],
      });
      expect(kubedb.resources.map((r: J) => r.name)).toContain('perconaxtradbs/status');
      expect(group.preferredVersion.groupVersion).toBe('cert-manager.io/v1');
    });

    it('answers an unknown path with 404', async () => {
      const res = await fetch(`${sim.url}/apis/example.com/v1/things`, {
        headers: { Authorization: 'Bearer sim' },
      });
      expect(res.status).toBe(404);
    });
  });

  describe('CRUD', () => {
    it('creates a Secret with uid, resourceVersion, creationTimestamp and generation 1, and reads it back', async () => {
      const created = await c.core.createNamespacedSecret({
        namespace: 'demo',
        body: { metadata: { name: 'crud-1' }, stringData: { 'ca.crt': 'x' } },
      });
      const read = await c.core.readNamespacedSecret({ namespace: 'demo', name: 'crud-1' });
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
      expect(read.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(read.metadata?.generation).toBe(1);
      expect(Buffer.from(read.data?.['ca.crt'] ?? '', 'base64').toString()).toBe('x');
    });

    it('answers a missing object with a 404 NotFound Status body', async () => {
      const err = await errorOf(c.core.readNamespacedSecret({ namespace: 'demo', name: 'nope' }));
      expect(err.code).toBe(404);
      expect(err.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    });

    it('refuses to create an existing name with 409 AlreadyExists', async () => {
      await c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'dup' } } });
      const err = await errorOf(
        c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'dup' } } }),
      );
      expect(err.code).toBe(409);
      expect(err.body.reason).toBe('AlreadyExists');
    });

    it('refuses an update with a stale resourceVersion with 409 Conflict', async () => {
      const cm = await c.core.createNamespacedConfigMap({
        namespace: 'demo',
        body: { metadata: { name: 'stale' }, data: { a: '1' } },
      });
      await c.core.replaceNamespacedConfigMap({
        namespace: 'demo',
        name: 'stale',
        body: { ...cm, data: { a: '2' } },
      });
      const err = await errorOf(
        c.core.replaceNamespacedConfigMap({
          namespace: 'demo',
          name: 'stale',
          body: { ...cm, data: { a: '3' } },
        }),
      );
      expect(err.code).toBe(409);
      expect(err.body.reason).toBe('Conflict');
    });

    it('requires resourceVersion on an update of a custom resource (422), not of a built-in kind', async () => {
      await c.custom.createNamespacedCustomObject({ ...PX, namespace: 'demo', body: px('uncond') });
      await c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'uncond' } } });
      const cr = await errorOf(
        c.custom.replaceNamespacedCustomObject({
          ...PX,
          namespace: 'demo',
          name: 'uncond',
          body: px('uncond', { spec: { version: '8.0.26', replicas: 5 } }),
        }),
      );
      const cm = await c.core.replaceNamespacedConfigMap({
        namespace: 'demo',
        name: 'uncond',
        body: { metadata: { name: 'uncond' }, data: { a: '1' } },
      });
      expect(cr.code).toBe(422);
      expect(cr.body.message).toContain('metadata.resourceVersion');
      expect(cm.data).toEqual({ a: '1' });
    });

    it('refuses a create that carries a resourceVersion, as etcd storage does (500)', async () => {
      const err = await errorOf(
        c.core.createNamespacedConfigMap({
          namespace: 'demo',
          body: { metadata: { name: 'with-rv', resourceVersion: '12' } },
        }),
      );
      expect(err.code).toBe(500);
      expect(err.body.message).toBe('resourceVersion should not be set on objects to be created');
    });

    it('refuses a merge patch carrying a stale resourceVersion with 409 Conflict', async () => {
      const cm = await c.core.createNamespacedConfigMap({
        namespace: 'demo',
        body: { metadata: { name: 'stale-patch' } },
      });
      await c.core.patchNamespacedConfigMap(
        { namespace: 'demo', name: 'stale-patch', body: { data: { a: '1' } } },
        merge,
      );
      const code = await statusOf(
        c.core.patchNamespacedConfigMap(
          {
            namespace: 'demo',
            name: 'stale-patch',
            body: { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { a: '2' } },
          },
          merge,
        ),
      );
      expect(code).toBe(409);
    });

    it('deletes an object, then answers 404 for it', async () => {
      await c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'gone' } } });
      await c.core.deleteNamespacedConfigMap({ namespace: 'demo', name: 'gone' });
      expect(await statusOf(c.core.readNamespacedConfigMap({ namespace: 'demo', name: 'gone' }))).toBe(404);
      expect(await statusOf(c.core.deleteNamespacedConfigMap({ namespace: 'demo', name: 'gone' }))).toBe(404);
    });

    it('honours a uid precondition on delete', async () => {
      await c.core.createNamespacedConfigMap({ namespace: 'demo', body: { metadata: { name: 'precond' } } });
      const code = await statusOf(
        c.core.deleteNamespacedConfigMap({
          namespace: 'demo',
          name: 'precond',
          body: { preconditions: { uid: 'other' } },
        }),
      );
      expect(code).toBe(409);
    });

    it('refuses to create in a namespace that does not exist', async () => {
      const err = await errorOf(
        c.core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }),
      );
      expect(err.code).toBe(404);
      expect(err.body.message).toContain('namespaces "nowhere" not found');
    });

    it('generates a name from generateName', async () => {
      const ev = await c.core.createNamespacedEvent({
        namespace: 'demo',
        body: {
          metadata: { generateName: 'pxops.' },
          involvedObject: { name: 'x' },
          reason: 'Test',
          message: 'm',
        },
      });
      expect(ev.metadata?.name).toMatch(/^pxops\.[0-9a-z]{5}$/);
    });

    it('serves custom resources and cluster-scoped ClusterIssuers', async () => {
      await c.custom.createNamespacedCustomObject({ ...PX, namespace: 'demo', body: px('crud-px') });
      await c.custom.createClusterCustomObject({
        group: 'cert-manager.io',
        version: 'v1',
        plural: 'clusterissuers',
        body: {
          apiVersion: 'cert-manager.io/v1',
          kind: 'ClusterIssuer',
          metadata: { name: 'ca' },
          spec: { ca: { secretName: 'ca' } },
        },
      });
      const got = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'crud-px',
      })) as J;
      const ci = (await c.custom.getClusterCustomObject({
        group: 'cert-manager.io',
        version: 'v1',
        plural: 'clusterissuers',
        name: 'ca',
      })) as J;
      expect(got.spec.replicas).toBe(3);
      expect(ci.metadata.namespace).toBeUndefined();
    });

    it('finds resources by discovery for the generic KubernetesObjectApi', async () => {
      await c.objects.create({
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        metadata: { name: 'generic', namespace: 'demo' },
        spec: { type: 'ReconfigureTLS', databaseRef: { name: 'x' }, tls: { rotateCertificates: true } },
      } as J);
      const back = (await c.objects.read({
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        metadata: { name: 'generic', namespace: 'demo' },
      })) as J;
      expect(back.spec.type).toBe('ReconfigureTLS');
    });
  });

  describe('generation and the status subresource', () => {
    it('bumps generation on spec changes only, not on metadata or status', async () => {
      await c.custom.createNamespacedCustomObject({ ...PX, namespace: 'demo', body: px('gen') });
      await c.custom.patchNamespacedCustomObject(
        { ...PX, namespace: 'demo', name: 'gen', body: { metadata: { labels: { a: 'b' } } } },
        merge,
      );
      const afterMeta = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'gen',
      })) as J;
      await c.custom.patchNamespacedCustomObjectStatus(
        { ...PX, namespace: 'demo', name: 'gen', body: { status: { phase: 'Ready' } } },
        merge,
      );
      const afterStatus = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'gen',
      })) as J;
      await c.custom.patchNamespacedCustomObject(
        { ...PX, namespace: 'demo', name: 'gen', body: { spec: { requireSSL: true } } },
        merge,
      );
      const afterSpec = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'gen',
      })) as J;
      expect([
        afterMeta.metadata.generation,
        afterStatus.metadata.generation,
        afterSpec.metadata.generation,
      ]).toEqual([1, 1, 2]);
    });

    it('ignores status written through the main resource, by patch or by update', async () => {
      await c.custom.createNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        body: px('main-status', { status: { phase: 'Dropped' } }),
      });
      await c.custom.patchNamespacedCustomObjectStatus(
        { ...PX, namespace: 'demo', name: 'main-status', body: { status: { phase: 'Ready' } } },
        merge,
      );
      await c.custom.patchNamespacedCustomObject(
        {
          ...PX,
          namespace: 'demo',
          name: 'main-status',
          body: { spec: { replicas: 5 }, status: { phase: 'Halted' } },
        },
        merge,
      );
      const current = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'main-status',
      })) as J;
      await c.custom.replaceNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'main-status',
        body: { ...current, status: { phase: 'Critical' } },
      });
      const got = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'main-status',
      })) as J;
      expect(got.spec.replicas).toBe(5);
      expect(got.status).toEqual({ phase: 'Ready' });
    });

    it('changes only status through /status', async () => {
      const created = (await c.custom.createNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        body: px('sub-status'),
      })) as J;
      await c.custom.replaceNamespacedCustomObjectStatus({
        ...PX,
        namespace: 'demo',
        name: 'sub-status',
        body: { ...created, spec: { replicas: 5 }, status: { phase: 'Ready' } },
      });
      const got = (await c.custom.getNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        name: 'sub-status',
      })) as J;
      expect(got.spec.replicas).toBe(3);
      expect(got.status.phase).toBe('Ready');
    });

    it('refuses a stale status update with 409 Conflict', async () => {
      const created = (await c.custom.createNamespacedCustomObject({
        ...PX,
        namespace: 'demo',
        body: px('stale-status'),
      })) as J;
      await c.custom.patchNamespacedCustomObject(
        { ...PX, namespace: 'demo', name: 'stale-status', body: { spec: { replicas: 4 } } },
        merge,
      );
      const code = await statusOf(
        c.custom.replaceNamespacedCustomObjectStatus({
          ...PX,
          namespace: 'demo',
          name: 'stale-status',
          body: { ...created, status: { phase: 'x' } },
        }),
      );
      expect(code).toBe(409);
    });
  });

  describe('patch', () => {
    it('applies a JSON merge patch, deleting keys set to null', async () => {
      await c.core.createNamespacedConfigMap({
        namespace: 'demo',
        body: { metadata: { name: 'mp' }, data: { a: '1', b: '2' } },
      });
      const out = await c.core.patchNamespacedConfigMap(
        { namespace: 'demo', name: 'mp', body: { data: { a: null, c: '3' } } },
        merge,
      );
      expect(out.data).toEqual({ b: '2', c: '3' });
    });

    it('applies a JSON patch, and refuses it with 422 when a test operation fails', async () => {
      await c.custom.createNamespacedCustomObject({
        ...OPS,
        namespace: 'demo',
        body: {
          apiVersion: 'ops.kubedb.com/v1alpha1',
          kind: 'PerconaXtraDBOpsRequest',
          metadata: { name: 'jp', annotations: { a: '1' } },
          spec: { type: 'ReconfigureTLS', databaseRef: { name: 'x' }, tls: { rotateCertificates: true } },
        },
      });
      const ok = (await c.custom.patchNamespacedCustomObject(
        {
          ...OPS,
          namespace: 'demo',
          name: 'jp',
          body: [
            { op: 'test', path: '/metadata/annotations/a', value: '1' },
            { op: 'add', path: '/metadata/annotations/pxc-tls-ops~1claimed-by', value: 'exec-1' },
          ],
        },
        jsonPatch,
      )) as J;
      const err = await errorOf(
        c.custom.patchNamespacedCustomObject(
          {
            ...OPS,
            namespace: 'demo',
            name: 'jp',
            body: [
              { op: 'test', path: '/metadata/annotations/a', value: '2' },
              { op: 'remove', path: '/metadata/annotations/a' },
            ],
          },
          jsonPatch,
        ),
      );
      const after = (await c.custom.getNamespacedCustomObject({
        ...OPS,
        namespace: 'demo',
        name: 'jp',
      })) as J;
      expect(ok.metadata.annotations['pxc-tls-ops/claimed-by']).toBe('exec-1');
      expect(err.code).toBe(422);
      expect(after.metadata.annotations.a).toBe('1');
    });

    it('merges containers, env, volumes and volumeMounts by their keys in a strategic merge patch', async () => {
      await c.apps.createNamespacedStatefulSet({
        namespace: 'demo',
        body: {
          metadata: { name: 'smp' },
          spec: {
            replicas: 0,
            serviceName: 'smp',
            selector: { matchLabels: { app: 'smp' } },
            template: {
              metadata: { labels: { app: 'smp' } },
              spec: {
                containers: [
                  {
                    name: 'perconaxtradb',
                    image: 'pxc',
                    env: [{ name: 'A', value: '1' }],
                    volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
                  },
                  { name: 'px-coordinator', image: 'coord' },
                ],
                volumes: [{ name: 'data', emptyDir: {} }],
              },
            },
          },
        },
      });
      const out = await c.apps.patchNamespacedStatefulSet(
        {
          namespace: 'demo',
          name: 'smp',
          body: {
            spec: {
              template: {
                spec: {
                  containers: [
                    {
                      name: 'perconaxtradb',
                      env: [{ name: 'SSL_ENABLED', value: 'true' }],
                      volumeMounts: [
                        { name: 'tls-server-config', mountPath: '/etc/mysql/certs/server', readOnly: true },
                      ],
                    },
                  ],
                  volumes: [{ name: 'tls-server-config', secret: { secretName: 'x-server-cert' } }],
                },
              },
            },
          },
        },
        strategic,
      );
      const spec = out.spec?.template.spec;
      expect(spec?.containers.map((x) => x.name)).toEqual(['perconaxtradb', 'px-coordinator']);
      expect(spec?.containers[0]?.image).toBe('pxc');
      expect(spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['A', 'SSL_ENABLED']);
      expect(spec?.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual([
        '/var/lib/mysql',
        '/etc/mysql/certs/server',
      ]);
      expect(spec?.volumes?.map((v) => v.name)).toEqual(['data', 'tls-server-config']);
    });

    it('removes list elements with $patch: delete and replaces atomic lists like args', async () => {
      await c.core.createNamespacedPod({
        namespace: 'demo',
        body: {
          metadata: { name: 'smp-del' },
          spec: {
            containers: [
              {
                name: 'perconaxtradb',
                image: 'pxc',
                args: ['--a', '--b'],
                env: [
                  { name: 'A', value: '1' },
                  { name: 'B', value: '2' },
                ],
              },
            ],
          },
        },
      });
      const out = await c.core.patchNamespacedPod(
        {
          namespace: 'demo',
          name: 'smp-del',
          body: {
            spec: {
              containers: [{ name: 'perconaxtradb', args: ['--c'], env: [{ name: 'A', $patch: 'delete' }] }],
            },
          },
        },
        strategic,
      );
      expect(out.spec?.containers[0]?.args).toEqual(['--c']);
      expect(out.spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['B']);
    });

    it('merges status conditions by type in a strategic merge patch on /status', async () => {
      await c.core.createNamespacedPod({
        namespace: 'demo',
        body: { metadata: { name: 'smp-cond' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      });
      const out = await c.core.patchNamespacedPodStatus(
        {
          namespace: 'demo',
          name: 'smp-cond',
          body: { status: { conditions: [{ type: 'Custom', status: 'True' }] } },
        },
        strategic,
      );
      expect(out.status?.conditions?.map((x) => x.type)).toEqual(
        expect.arrayContaining(['PodScheduled', 'Custom']),
      );
    });

    it('answers a strategic merge patch on a custom resource with 415, as the real server does', async () => {
      await c.custom.createNamespacedCustomObject({ ...PX, namespace: 'demo', body: px('smp-cr') });
      const code = await statusOf(
        c.custom.patchNamespacedCustomObject(
          { ...PX, namespace: 'demo', name: 'smp-cr', body: { spec: { replicas: 5 } } },
          strategic,
        ),
      );
      expect(code).toBe(415);
    });
  });

  describe('list', () => {
    beforeAll(async () => {
      await c.core.createNamespace({ body: { metadata: { name: 'sel' } } });
      const pods: Array<[string, Record<string, string>]> = [
        ['a', { app: 'db', tier: 'x' }],
        ['b', { app: 'db', tier: 'y' }],
        ['c', { app: 'web' }],
        ['d', {}],
      ];
      for (const [name, labels] of pods) {
        await c.core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name, labels } } });
      }
    });
    const names = async (opts: J) =>
      (await c.core.listNamespacedConfigMap({ namespace: 'sel', ...opts })).items.map(
        (x) => x.metadata?.name,
      );

    it.each([
      ['app=db', ['a', 'b']],
      ['app==db', ['a', 'b']],
      ['app!=db', ['c', 'd']],
      ['tier in (x,z)', ['a']],
      ['tier notin (x)', ['b', 'c', 'd']],
      ['tier', ['a', 'b']],
      ['!tier', ['c', 'd']],
      ['app=db,tier!=x', ['b']],
    ])('selects by label selector %s', async (labelSelector, want) => {
      expect(await names({ labelSelector })).toEqual(want);
    });

    it('selects by field selector on metadata.name and metadata.namespace', async () => {
      expect(await names({ fieldSelector: 'metadata.name=c' })).toEqual(['c']);
      expect(await names({ fieldSelector: 'metadata.name!=c,metadata.namespace=sel' })).toEqual([
        'a',
        'b',
        'd',
      ]);
    });

    it('pages with limit and continue, across namespaces too', async () => {
      const p1 = await c.core.listNamespacedConfigMap({ namespace: 'sel', limit: 3 });
      const p2 = await c.core.listNamespacedConfigMap({
        namespace: 'sel',
        limit: 3,
        _continue: p1.metadata?._continue,
      });
      expect(p1.items.map((x) => x.metadata?.name)).toEqual(['a', 'b', 'c']);
      expect(p1.metadata?.remainingItemCount).toBe(1);
      expect(p2.items.map((x) => x.metadata?.name)).toEqual(['d']);
      expect(p2.metadata?._continue).toBeUndefined();
      const all: string[] = [];
      let cont: string | undefined;
      do {
        const page = await c.core.listConfigMapForAllNamespaces({ limit: 2, _continue: cont });
        all.push(...page.items.map((x) => `${x.metadata?.namespace}/${x.metadata?.name}`));
        cont = page.metadata?._continue;
      } while (cont);
      expect(all.filter((n) => n.startsWith('sel/'))).toEqual(['sel/a', 'sel/b', 'sel/c', 'sel/d']);
      expect(new Set(all).size).toBe(all.length);
    });

    it('rejects a malformed label selector with 400', async () => {
      expect(await statusOf(names({ labelSelector: 'a in b' }))).toBe(400);
    });
  });
});
