import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  KubeAlreadyExistsError,
  KubeConflictError,
  KubeForbiddenError,
  KubeRequestError,
  KubeThrottledError,
  KubeUnavailableError,
} from '../../functions/errors.js';
import { kubeFromAccess, kubeFromKubeconfig, resourcePath } from '../../functions/kube/client.js';
import { KINDS, type Kube } from '../../functions/kube/types.js';

// The adapter's own tests are the only ones that look at HTTP: a tiny scripted server answers
// each request with whatever the test queued, and records what it was asked.
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Reply = { status: number; body?: unknown; lines?: unknown[]; hang?: boolean };

let server: http.Server;
let url: string;
const seen: Seen[] = [];
const replies: Reply[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const reply = replies.shift() ?? { status: 200, body: {} };
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      if (reply.lines) {
        for (const line of reply.lines) res.write(`${JSON.stringify(line)}\n`);
        if (!reply.hang) res.end();
        return;
      }
      res.end(JSON.stringify(reply.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
  replies.length = 0;
});

function kube(): Kube {
  return kubeFromAccess({ server: url, token: async () => 'tok-1' });
}

const status = (code: number, reason: string, message = 'boom') => ({
  status: code,
  body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message },
});

describe('Kubernetes adapter', () => {
  it('builds core, group, cluster-scoped and subresource paths', () => {
    expect(resourcePath(KINDS.Pod, 'demo', 'p-0', 'eviction')).toBe(
      '/api/v1/namespaces/demo/pods/p-0/eviction',
    );
    expect(resourcePath(KINDS.PerconaXtraDB, 'demo')).toBe(
      '/apis/kubedb.com/v1/namespaces/demo/perconaxtradbs',
    );
    expect(resourcePath(KINDS.ClusterIssuer, 'ignored', 'ca')).toBe(
      '/apis/cert-manager.io/v1/clusterissuers/ca',
    );
    expect(resourcePath(KINDS.Secret, undefined)).toBe('/api/v1/secrets');
  });

  it('sends the bearer token and returns undefined for a missing object', async () => {
    replies.push(status(404, 'NotFound'));
    await expect(kube().get(KINDS.Secret, { namespace: 'demo', name: 'x' })).resolves.toBeUndefined();
    expect(seen[0]?.headers.authorization).toBe('Bearer tok-1');
    expect(seen[0]?.url).toBe('/api/v1/namespaces/demo/secrets/x');
  });

  it('lists with selectors and a continue token, and fills in apiVersion/kind on items', async () => {
    replies.push({
      status: 200,
      body: { metadata: { continue: 'c2', resourceVersion: '9' }, items: [{ metadata: { name: 'a' } }] },
    });
    const page = await kube().list(KINDS.PerconaXtraDB, 'demo', {
      labelSelector: 'app in (x,y)',
      limit: 50,
      continue: 'c1',
    });
    expect(page).toEqual({
      items: [{ apiVersion: 'kubedb.com/v1', kind: 'PerconaXtraDB', metadata: { name: 'a' } }],
      continue: 'c2',
      resourceVersion: '9',
    });
    const q = new URL(seen[0]!.url, url).searchParams;
    expect(q.get('labelSelector')).toBe('app in (x,y)');
    expect(q.get('limit')).toBe('50');
    expect(q.get('continue')).toBe('c1');
  });

  it('uses the right content type for each patch type and the status subresource', async () => {
    const k = kube();
    await k.patch(KINDS.PerconaXtraDB, { namespace: 'demo', name: 'db' }, { a: 1 }, 'merge', 'status');
    await k.patch(
      KINDS.Pod,
      { namespace: 'demo', name: 'p' },
      [{ op: 'test', path: '/x', value: 1 }],
      'json',
    );
    await k.patch(KINDS.StatefulSet, { namespace: 'demo', name: 's' }, { spec: {} }, 'strategic');
    expect(seen.map((s) => [s.url, s.headers['content-type']])).toEqual([
      ['/apis/kubedb.com/v1/namespaces/demo/perconaxtradbs/db/status', 'application/merge-patch+json'],
      ['/api/v1/namespaces/demo/pods/p', 'application/json-patch+json'],
      ['/apis/apps/v1/namespaces/demo/statefulsets/s', 'application/strategic-merge-patch+json'],
    ]);
  });

  it.each([
    [409, 'Conflict', KubeConflictError],
    [409, 'AlreadyExists', KubeAlreadyExistsError],
    [429, 'TooManyRequests', KubeThrottledError],
    [403, 'Forbidden', KubeForbiddenError],
    [401, 'Unauthorized', KubeForbiddenError],
    [500, 'InternalError', KubeUnavailableError],
    [503, 'ServiceUnavailable', KubeUnavailableError],
    // 408: the API server gave up waiting (etcd slow, a request timeout); trying again is right.
    [408, 'Timeout', KubeUnavailableError],
    [422, 'Invalid', KubeRequestError],
    [415, 'UnsupportedMediaType', KubeRequestError],
  ])('maps %i %s to its error family', async (code, reason, errorClass) => {
    replies.push(status(code, reason, 'the reason'));
    const err = await kube()
      .create(KINDS.Secret, { metadata: { namespace: 'demo', name: 's' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errorClass);
    expect((err as Error).message).toContain('the reason');
  });

  it('reports a refused connection as retryable', async () => {
    const dead = kubeFromAccess({ server: 'http://127.0.0.1:1' });
    await expect(dead.get(KINDS.Pod, { namespace: 'd', name: 'p' })).rejects.toBeInstanceOf(
      KubeUnavailableError,
    );
  });

  it('deletes with a UID precondition and treats a missing object as already deleted', async () => {
    replies.push({ status: 200, body: {} }, status(404, 'NotFound'));
    const k = kube();
    await expect(k.delete(KINDS.Pod, { namespace: 'demo', name: 'p' }, { uid: 'u-1' })).resolves.toBe(true);
    await expect(k.delete(KINDS.Pod, { namespace: 'demo', name: 'p' })).resolves.toBe(false);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ preconditions: { uid: 'u-1' } });
  });

  it('evicts through the policy/v1 Eviction subresource and surfaces a PDB refusal as throttling', async () => {
    replies.push(
      { status: 201, body: {} },
      status(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod disruption budget.'),
    );
    const k = kube();
    await expect(k.evict({ namespace: 'demo', name: 'db-0' })).resolves.toBe(true);
    expect(seen[0]?.url).toBe('/api/v1/namespaces/demo/pods/db-0/eviction');
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ apiVersion: 'policy/v1', kind: 'Eviction' });
    await expect(k.evict({ namespace: 'demo', name: 'db-0' })).rejects.toBeInstanceOf(KubeThrottledError);
  });

  it('evicts only the pod with the given UID: the precondition travels in deleteOptions, and its refusal means nothing to evict', async () => {
    replies.push(
      { status: 201, body: {} },
      status(409, 'Conflict', 'Precondition failed: UID in precondition: u-1, UID in object meta: u-2'),
      status(409, 'Conflict', 'Operation cannot be fulfilled on pods "db-0": the object has been modified'),
      status(409, 'Conflict', 'Precondition failed: UID in precondition: u-1, UID in object meta: u-2'),
    );
    const k = kube();
    await expect(k.evict({ namespace: 'demo', name: 'db-0' }, { uid: 'u-1' })).resolves.toBe(true);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ deleteOptions: { preconditions: { uid: 'u-1' } } });
    // The pod of that name is another one now: not an error, and not an eviction.
    await expect(k.evict({ namespace: 'demo', name: 'db-0' }, { uid: 'u-1' })).resolves.toBe(false);
    // Any other conflict is one (retried by the state machine).
    await expect(k.evict({ namespace: 'demo', name: 'db-0' }, { uid: 'u-1' })).rejects.toBeInstanceOf(
      KubeConflictError,
    );
    // A precondition refusal for an eviction that sent none cannot be ours.
    await expect(k.evict({ namespace: 'demo', name: 'db-0' })).rejects.toBeInstanceOf(KubeConflictError);
  });

  it('treats an eviction answered 404 (the pod is already gone) as nothing to evict, not as an error', async () => {
    replies.push(status(404, 'NotFound', 'pods "db-1" not found'));

    await expect(kube().evict({ namespace: 'demo', name: 'db-1' })).resolves.toBe(false);

    expect(seen.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/api/v1/namespaces/demo/pods/db-1/eviction'],
    ]);
  });

  it('ends a watch as soon as the callback is satisfied, without waiting for the server', async () => {
    replies.push({
      status: 200,
      hang: true,
      lines: [
        { type: 'ADDED', object: { metadata: { name: 'p', uid: 'old' } } },
        { type: 'MODIFIED', object: { metadata: { name: 'p', uid: 'new' } } },
      ],
    });
    const uids: string[] = [];
    const hit = await kube().watch<{ metadata: { uid?: string } }>(
      KINDS.Pod,
      'demo',
      { fieldSelector: 'metadata.name=p', timeoutSeconds: 30 },
      (_type, obj) => {
        uids.push(obj.metadata.uid ?? '');
        return obj.metadata.uid === 'new';
      },
    );
    expect(hit).toBe(true);
    expect(uids).toEqual(['old', 'new']);
    expect(new URL(seen[0]!.url, url).searchParams.get('watch')).toBe('true');
  });

  it('reports a watch that ended without a match as false', async () => {
    replies.push({ status: 200, lines: [{ type: 'ADDED', object: { metadata: { name: 'p' } } }] });
    await expect(kube().watch(KINDS.Pod, 'demo', { timeoutSeconds: 1 }, () => false)).resolves.toBe(false);
  });

  it('reads server and token from a kubeconfig', async () => {
    const kc = [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "' + url + '"}}]',
      'users: [{name: u, user: {token: from-kubeconfig}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n');
    replies.push({ status: 200, body: { metadata: { name: 'demo' } } });
    await kubeFromKubeconfig(kc).get(KINDS.Namespace, { name: 'demo' });
    expect(seen[0]?.url).toBe('/api/v1/namespaces/demo');
    expect(seen[0]?.headers.authorization).toBe('Bearer from-kubeconfig');
  });
});
