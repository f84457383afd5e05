import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { type Clients, clientsFor, eventually, startFast } from './helpers.js';

interface Seen {
  type: string;
  name: string;
  data?: Record<string, string>;
}

describe('Simulator watch (?watch=true)', () => {
  let sim: Simulator;
  let c: Clients;
  beforeAll(async () => {
    sim = await startFast({ watchHistory: 50, watchBookmarkMs: 100 });
    c = clientsFor(sim);
    await c.core.createNamespace({ body: { metadata: { name: 'w' } } });
  });
  afterAll(async () => {
    await sim.stop();
  });

  /** Starts a client-node watch and collects its events until `stop()`. */
  async function watch(path: string, query: Record<string, string | number>) {
    const seen: Seen[] = [];
    let ended = false;
    let error: unknown;
    const ctl = await new Watch(c.kc).watch(
      path,
      query,
      (type, obj: J) => seen.push({ type, name: obj?.metadata?.name ?? obj?.reason, data: obj?.data }),
      (err) => {
        ended = true;
        error = err;
      },
    );
    return { seen, stop: () => ctl.abort(), ended: () => ended, error: () => error };
  }

  it('streams ADDED, MODIFIED and DELETED from a resourceVersion', async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: 'w' });
    const w = await watch('/api/v1/namespaces/w/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
    });
    await c.core.createNamespacedConfigMap({
      namespace: 'w',
      body: { metadata: { name: 'a' }, data: { v: '1' } },
    });
    await c.core.replaceNamespacedConfigMap({
      namespace: 'w',
      name: 'a',
      body: { metadata: { name: 'a' }, data: { v: '2' } },
    });
    await c.core.deleteNamespacedConfigMap({ namespace: 'w', name: 'a' });
    await eventually(() => w.seen.length >= 3);
    w.stop();
    expect(w.seen).toEqual([
      { type: 'ADDED', name: 'a', data: { v: '1' } },
      { type: 'MODIFIED', name: 'a', data: { v: '2' } },
      { type: 'DELETED', name: 'a', data: { v: '2' } },
    ]);
  });

  it('replays changes made before the watch started when given an older resourceVersion', async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: 'w' });
    await c.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'early' } } });
    const w = await watch('/api/v1/namespaces/w/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
    });
    await eventually(() => w.seen.length >= 1);
    w.stop();
    expect(w.seen[0]).toMatchObject({ type: 'ADDED', name: 'early' });
  });

  it('starts with ADDED for every existing object when no resourceVersion is given', async () => {
    await c.core.createNamespace({ body: { metadata: { name: 'w-existing' } } });
    await c.core.createNamespacedSecret({ namespace: 'w-existing', body: { metadata: { name: 's1' } } });
    await c.core.createNamespacedSecret({ namespace: 'w-existing', body: { metadata: { name: 's2' } } });
    const w = await watch('/api/v1/namespaces/w-existing/secrets', {});
    await eventually(() => w.seen.length >= 2);
    w.stop();
    expect(w.seen.map((s) => `${s.type} ${s.name}`)).toEqual(['ADDED s1', 'ADDED s2']);
  });

  it('sends ADDED and DELETED as an object enters and leaves the label selector', async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: 'w' });
    const w = await watch('/api/v1/namespaces/w/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
      labelSelector: 'pick=yes',
    });
    await c.core.createNamespacedConfigMap({
      namespace: 'w',
      body: { metadata: { name: 'sel', labels: { pick: 'no' } } },
    });
    await c.core.replaceNamespacedConfigMap({
      namespace: 'w',
      name: 'sel',
      body: { metadata: { name: 'sel', labels: { pick: 'yes' } } },
    });
    await c.core.replaceNamespacedConfigMap({
      namespace: 'w',
      name: 'sel',
      body: { metadata: { name: 'sel', labels: { pick: 'yes' } }, data: { x: '1' } },
    });
    await c.core.replaceNamespacedConfigMap({
      namespace: 'w',
      name: 'sel',
      body: { metadata: { name: 'sel', labels: { pick: 'no' } } },
    });
    await eventually(() => w.seen.length >= 3);
    w.stop();
    expect(w.seen.map((s) => s.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('filters by field selector on metadata.name', async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: 'w' });
    const w = await watch('/api/v1/namespaces/w/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
      fieldSelector: 'metadata.name=only',
    });
    await c.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'other' } } });
    await c.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'only' } } });
    await eventually(() => w.seen.length >= 1);
    w.stop();
    expect(w.seen.map((s) => s.name)).toEqual(['only']);
  });

  it('sends BOOKMARK events carrying the current resourceVersion when the client allows them', async () => {
    const seen: Array<{ type: string; rv: string }> = [];
    const ctl = await new Watch(c.kc).watch(
      '/api/v1/namespaces/w/configmaps',
      {
        allowWatchBookmarks: true,
        resourceVersion: (await c.core.listNamespacedConfigMap({ namespace: 'w' })).metadata!
          .resourceVersion!,
      },
      (type, obj: J) => seen.push({ type, rv: obj.metadata.resourceVersion }),
      () => {},
    );
    const created = await c.core.createNamespacedConfigMap({
      namespace: 'w',
      body: { metadata: { name: 'bm' } },
    });
    await eventually(() =>
      seen.some((e) => e.type === 'BOOKMARK' && Number(e.rv) >= Number(created.metadata!.resourceVersion)),
    );
    ctl.abort();
    expect(seen.find((e) => e.type !== 'BOOKMARK')).toEqual({
      type: 'ADDED',
      rv: created.metadata!.resourceVersion,
    });
  });

  it('sends no BOOKMARK unless asked', async () => {
    const w = await watch('/api/v1/namespaces/w/configmaps', { timeoutSeconds: 1 });
    await eventually(() => w.ended(), 10_000, 'watch end');
    expect(w.seen.filter((e) => e.type === 'BOOKMARK')).toEqual([]);
  });

  it('ends the stream after timeoutSeconds', async () => {
    const w = await watch('/api/v1/namespaces/w/configmaps', { timeoutSeconds: 1 });
    await eventually(() => w.ended(), 10_000, 'watch end');
    expect(w.error()).toBeFalsy();
  });

  it('answers a resourceVersion older than its history with an ERROR event (410 Expired)', async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: 'w' });
    for (let i = 0; i < 60; i++) {
      await c.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: `churn-${i}` } } });
    }
    const w = await watch('/api/v1/namespaces/w/configmaps', {
      resourceVersion: list.metadata!.resourceVersion!,
    });
    await eventually(() => w.ended());
    expect(w.seen).toEqual([{ type: 'ERROR', name: 'Expired' }]);
  });
});
