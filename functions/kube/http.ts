/**
 * The adapter behind the `Kube` interface: plain Kubernetes REST over node:http(s).
 *
 * Connection and credentials come, on Lambda, from a `ClusterAccess` built from
 * `eks:DescribeCluster` and a presigned STS token, or, locally, from @kubernetes/client-node's
 * `KubeConfig` (`kubeconfig.ts`: kubeconfig files, client certificates, exec plugins, CA bundles).
 * That module is kept apart because KubeConfig pulls in undici and friends: the Lambda path
 * imports it only when KUBECONFIG is set, which keeps cold starts short. Requests are made here rather than through the
 * generated API classes because the functions need a few things those make awkward (status and
 * eviction subresources on any kind, every patch type, a short watch with an early exit), and one
 * small request path is the only place that has to map HTTP failures to the error families.
 */

import type * as HttpModule from 'node:http';
import type * as HttpsModule from 'node:https';
import {
  KubeAlreadyExistsError,
  KubeConflictError,
  KubeForbiddenError,
  KubeRequestError,
  KubeThrottledError,
  KubeUnavailableError,
  type PxcTlsOpsError,
} from '../errors.js';
import { execOverWebSocket, execQuery } from './exec.js';
import { ServerClock, type ServerTime } from './server-clock.js';
import type {
  DiscoveredGroup,
  ExecOptions,
  ExecResult,
  Kube,
  KubeObject,
  ListOptions,
  ListResult,
  ObjectRef,
  PatchType,
  ResourceKind,
  WatchEventType,
  WatchOptions,
} from './types.js';

/** What a request needs to reach a cluster; EKS access (`eks.ts`) produces one of these. */
export interface ClusterAccess {
  server: string;
  caPem?: string;
  /** Bearer token, asked for before every request so short-lived tokens can be renewed. */
  token?: () => Promise<string | undefined>;
}

/** Per-request options for node:http(s): agent, TLS material and headers. */
export type RequestOptionsProvider = () => Promise<HttpsModule.RequestOptions>;

// node:http(s) are loaded on first use, not at import: a cold start only pays for them when a
// request is made. `process.getBuiltinModule` rather than an ESM `import`, which would evaluate
// every export of node:http — in Node 22 its lazy WebSocket/CloseEvent/MessageEvent getters load
// the whole internal undici — although nothing here uses them.
const nodeHttp = () => process.getBuiltinModule('node:http') as typeof HttpModule;
const nodeHttps = () => process.getBuiltinModule('node:https') as typeof HttpsModule;

const REQUEST_TIMEOUT_MS = 30_000;

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** A Kube for an endpoint, CA and token (the Lambda path on EKS). */
export function kubeFromAccess(access: ClusterAccess): Kube {
  const isHttps = access.server.startsWith('https:');
  const agent = isHttps
    ? new (nodeHttps().Agent)({ keepAlive: true, ...(access.caPem ? { ca: access.caPem } : {}) })
    : new (nodeHttp().Agent)({ keepAlive: true });
  return new HttpKube(access.server, async () => {
    const token = access.token ? await access.token() : undefined;
    return { agent, headers: token ? { Authorization: `Bearer ${token}` } : {} };
  });
}

export function resourcePath(
  kind: ResourceKind,
  namespace: string | undefined,
  name?: string,
  sub?: string,
): string {
  const base = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name ? `/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}` : '';
  return `${base}${ns}/${kind.plural}${tail}`;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

interface Status {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

/** Maps a non-2xx answer to the error families the state machine retries or catches. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

export function errorFromStatus(code: number, body: string, what: string): PxcTlsOpsError {
  let status: Status = {};
  try {
    status = JSON.parse(body) as Status;
  } catch {
    // Not a Status body (a proxy, a load balancer): keep the raw text.
  }
  // The API server echoes what it was sent: keep messages (and Step Functions causes) short.
  const detail = clip(status.message ?? body, 300);
  const message = `${clip(what, 200)}: ${code}${status.reason ? ` ${status.reason}` : ''}: ${detail}`;
  const err =
    code === 409
      ? status.reason === 'AlreadyExists'
        ? new KubeAlreadyExistsError(message)
        : new KubeConflictError(message)
      : code === 429
        ? new KubeThrottledError(message)
        : code === 401 || code === 403
          ? new KubeForbiddenError(message)
          : code >= 500 || code === 408
            ? new KubeUnavailableError(message)
            : new KubeRequestError(message);
  // Kept structured, so a step can tell a missing namespace or a PodDisruptionBudget's refusal
  // apart without parsing the message.
  err.status = {
    code,
    ...(status.reason ? { reason: status.reason } : {}),
    message: detail,
    ...(status.details?.causes ? { causes: status.details.causes } : {}),
  };
  return err;
}

export class HttpKube implements Kube {
  /** The API server's clock, from the Date headers of its answers (leases are judged by it). */
  private readonly clock = new ServerClock();

  serverTime(): ServerTime | undefined {
    return this.clock.now();
  }

  private readonly base: URL;

  constructor(
    server: string,
    private readonly requestOptions: RequestOptionsProvider,
  ) {
    this.base = new URL(server);
  }

  async discover(group: string): Promise<DiscoveredGroup | undefined> {
    const g = await this.request('GET', `/apis/${encodeURIComponent(group)}`, undefined, undefined, [404]);
    if (g.status === 404) return undefined;
    const preferred = (
      JSON.parse(g.body) as { preferredVersion?: { groupVersion?: string; version?: string } }
    ).preferredVersion;
    if (!preferred?.groupVersion || !preferred.version) return undefined;
    const v = await this.request('GET', `/apis/${preferred.groupVersion}`, undefined, undefined, [404]);
    if (v.status === 404) return undefined;
    const list = JSON.parse(v.body) as {
      resources?: Array<{ name: string; kind: string; namespaced: boolean }>;
    };
    return {
      version: preferred.version,
      resources: (list.resources ?? [])
        .filter((r) => !r.name.includes('/'))
        .map((r) => ({ kind: r.kind, plural: r.name, namespaced: r.namespaced })),
    };
  }

  async get<T extends KubeObject>(kind: ResourceKind, ref: ObjectRef): Promise<T | undefined> {
    const res = await this.request(
      'GET',
      resourcePath(kind, ref.namespace, ref.name),
      undefined,
      undefined,
      [404],
    );
    return res.status === 404 ? undefined : (JSON.parse(res.body) as T);
  }

  async list<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string | undefined,
    opts: ListOptions = {},
  ): Promise<ListResult<T>> {
    const q = query({
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      limit: opts.limit,
      continue: opts.continue,
    });
    const res = await this.request('GET', resourcePath(kind, namespace) + q);
    const list = JSON.parse(res.body) as {
      items?: T[];
      metadata?: { continue?: string; resourceVersion?: string };
    };
    const items = (list.items ?? []).map((item) => ({
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      ...item,
    }));
    return {
      items,
      resourceVersion: list.metadata?.resourceVersion ?? '',
      ...(list.metadata?.continue ? { continue: list.metadata.continue } : {}),
    };
  }

  async create<T extends KubeObject>(kind: ResourceKind, obj: T): Promise<T> {
    const body = { apiVersion: kind.apiVersion, kind: kind.kind, ...obj };
    const res = await this.request('POST', resourcePath(kind, obj.metadata.namespace), body);
    return JSON.parse(res.body) as T;
  }

  async replace<T extends KubeObject>(kind: ResourceKind, obj: T, subresource?: 'status'): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new KubeRequestError(`replace ${kind.kind}: metadata.name is required`);
    const body = { apiVersion: kind.apiVersion, kind: kind.kind, ...obj };
    const res = await this.request(
      'PUT',
      resourcePath(kind, obj.metadata.namespace, name, subresource),
      body,
    );
    return JSON.parse(res.body) as T;
  }

  async patch<T extends KubeObject>(
    kind: ResourceKind,
    ref: ObjectRef,
    patch: unknown,
    type: PatchType,
    subresource?: 'status',
  ): Promise<T> {
    const res = await this.request(
      'PATCH',
      resourcePath(kind, ref.namespace, ref.name, subresource),
      patch,
      PATCH_CONTENT_TYPES[type],
    );
    return JSON.parse(res.body) as T;
  }

  async delete(
    kind: ResourceKind,
    ref: ObjectRef,
    opts: { uid?: string; resourceVersion?: string } = {},
  ): Promise<boolean> {
    const preconditions = {
      ...(opts.uid ? { uid: opts.uid } : {}),
      ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
    };
    const body = Object.keys(preconditions).length
      ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions }
      : undefined;
    const res = await this.request(
      'DELETE',
      resourcePath(kind, ref.namespace, ref.name),
      body,
      undefined,
      [404],
    );
    return res.status !== 404;
  }

  /**
   * False when there was nothing to evict: the pod is gone (404) or, with `uid`, the pod of that
   * name is another one now (409 "Precondition failed: UID …"). Any other 409 is an error.
   */
  async evict(ref: Required<ObjectRef>, opts: { uid?: string } = {}): Promise<boolean> {
    const body = {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: ref.name, namespace: ref.namespace },
      ...(opts.uid ? { deleteOptions: { preconditions: { uid: opts.uid } } } : {}),
    };
    const path = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/pods/${encodeURIComponent(ref.name)}/eviction`;
    const res = await this.request('POST', path, body, undefined, [404, 409]);
    if (res.status === 409 && !(opts.uid && /Precondition failed: UID/.test(res.body)))
      throw errorFromStatus(res.status, res.body, `POST ${path}`);
    return res.status < 300;
  }

  async exec(ref: Required<ObjectRef>, opts: ExecOptions): Promise<ExecResult> {
    const path =
      `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/pods/${encodeURIComponent(ref.name)}/exec` +
      execQuery(opts.container, opts.command);
    const what = `exec in pod ${ref.namespace}/${ref.name}`;
    return execOverWebSocket(this.transport(), await this.options('GET', path), {
      timeoutMs: (opts.timeoutSeconds ?? 20) * 1000,
      what,
      onHttpError: (status, body) => errorFromStatus(status, body, what),
    });
  }

  async watch<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (type: WatchEventType, obj: T) => boolean,
  ): Promise<boolean> {
    const q = query({
      watch: true,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      resourceVersion: opts.resourceVersion,
      timeoutSeconds: Math.max(1, Math.ceil(opts.timeoutSeconds)),
      allowWatchBookmarks: false,
    });
    const path = resourcePath(kind, namespace) + q;
    const reqOpts = await this.options('GET', path);
    return await new Promise<boolean>((resolve, reject) => {
      let done = false;
      let buffer = '';
      const finish = (value: boolean | Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.destroy();
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      // The server ends the watch at timeoutSeconds; this guards against one that does not.
      const timer = setTimeout(() => finish(false), opts.timeoutSeconds * 1000 + 2000);
      const req = this.transport().request(reqOpts, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => finish(errorFromStatus(status, body, `watch ${kind.plural}`)));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl = buffer.indexOf('\n');
          while (nl >= 0 && !done) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            nl = buffer.indexOf('\n');
            if (!line) continue;
            const event = JSON.parse(line) as { type: string; object: T };
            // ERROR (e.g. 410 Gone for a too-old resourceVersion): end the hold; the caller re-reads.
            if (event.type === 'ERROR') return finish(false);
            if (event.type === 'BOOKMARK') continue;
            if (onEvent(event.type as WatchEventType, event.object)) return finish(true);
          }
        });
        res.on('end', () => finish(false));
        res.on('error', () => finish(false));
      });
      req.on('error', (err) =>
        finish(new KubeUnavailableError(`watch ${kind.plural}: ${err.message}`, { cause: err })),
      );
      req.end();
    });
  }

  private transport(): typeof HttpModule | typeof HttpsModule {
    return this.base.protocol === 'https:' ? nodeHttps() : nodeHttp();
  }

  private async options(
    method: string,
    path: string,
    contentType?: string,
  ): Promise<HttpsModule.RequestOptions> {
    const opts = await this.requestOptions();
    const basePath = this.base.pathname.replace(/\/$/, '');
    return {
      ...opts,
      method,
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port || (this.base.protocol === 'https:' ? 443 : 80),
      path: basePath + path,
      headers: {
        ...(opts.headers as Record<string, string> | undefined),
        Accept: 'application/json',
        ...(contentType ? { 'Content-Type': contentType } : {}),
      },
    };
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    allowed: number[] = [],
  ): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const reqOpts = await this.options(
      method,
      path,
      payload ? (contentType ?? 'application/json') : undefined,
    );
    // Node sends DELETE without chunked framing, so a body needs an explicit length.
    if (payload)
      (reqOpts.headers as Record<string, string | number>)['Content-Length'] = Buffer.byteLength(payload);
    const what = `${method} ${path.split('?')[0]}`;
    const sentAt = this.clock.sent();
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = this.transport().request(reqOpts, (r) => {
        this.clock.observe(r.headers.date, sentAt);
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () =>
          resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        r.on('error', (err) => reject(new KubeUnavailableError(`${what}: ${err.message}`, { cause: err })));
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('error', (err) => reject(new KubeUnavailableError(`${what}: ${err.message}`, { cause: err })));
      if (payload) req.write(payload);
      req.end();
    });
    if ((res.status >= 200 && res.status < 300) || allowed.includes(res.status)) return res;
    throw errorFromStatus(res.status, res.body, what);
  }
}
