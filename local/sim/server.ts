/**
 * The HTTP face of the simulator: Kubernetes REST paths, discovery, watch streams, Status bodies
 * for errors, bearer-token authentication, fault injection, and a record of every request.
 * Control endpoints for tests and demos live under the reserved prefix `/_sim/` (not
 * authenticated, not counted, not subject to faults).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Api, type ListQuery, type PatchFormat, POD } from './api.js';
import { type ExecTarget, writeHttpError } from './exec.js';
import { openapiGroupVersion, openapiRoot, toTable, wantsTable } from './kubectl.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { findByPlural, groupVersion, RESOURCES, type SimResource } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { ApiError, failureStatus, type J, type Obj, type Store, type StoreEvent } from './store.js';

export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  status: number;
}

/** 403: what RBAC answers a request it does not allow (e.g. pods/exec outside a Role's resourceNames). */
export type FaultAction =
  /** `message`: the Status message to answer with (a real 403 names the caller: `User "arn:aws:sts::…"`). */
  | { status: 403 | 409 | 429 | 500 | 503; message?: string }
  | { drop: true }
  | { delayMs: number }
  /**
   * A slow API server whose timing the test controls: `hold` is called when the request arrives,
   * and the request is served once the promise it returns settles.
   */
  | { hold: () => Promise<unknown> };

export interface FaultRule {
  method?: string;
  path: RegExp | string;
  times?: number;
  action: FaultAction;
}

interface ActiveFault {
  method?: string;
  path: RegExp;
  remaining: number;
  action: FaultAction;
}

export interface ServerHooks {
  authenticate(token: string | undefined, req: IncomingMessage): Promise<boolean>;
  hold(namespace: string, pod: string, message?: string): void;
  release(namespace: string, pod: string): void;
  reset(): void;
  readiness(): unknown[];
  /** `pods/exec`: the API server's checks (throw ApiError), then the upgraded stream; returns the HTTP status. */
  execTarget(url: URL, namespace: string, pod: string): ExecTarget;
  exec(req: IncomingMessage, socket: Duplex, head: Buffer, target: ExecTarget): number;
  /** Control endpoints other modules add under /_sim/ (e.g. reload faults); undefined: not theirs. */
  control?(key: string, input: J): unknown;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface Route {
  res: SimResource;
  version: string;
  namespace?: string;
  name?: string;
  sub?: string;
  watch: boolean;
}

export class Handler {
  readonly records: RequestRecord[] = [];
  private faults: ActiveFault[] = [];
  private readonly watches = new Set<ServerResponse>();
  hostPort = '127.0.0.1';
  /** How often a watch that asked for them (`allowWatchBookmarks=true`) gets a BOOKMARK. */
  bookmarkMs = 10_000;

  constructor(
    private readonly store: Store,
    private readonly api: Api,
    private readonly hooks: ServerHooks,
  ) {}

  inject(rule: FaultRule): void {
    this.faults.push({
      method: rule.method?.toUpperCase(),
      path: typeof rule.path === 'string' ? new RegExp(rule.path) : rule.path,
      remaining: rule.times ?? 1,
      action: rule.action,
    });
  }

  clearFaults(): void {
    this.faults = [];
  }

  closeWatches(): void {
    for (const w of this.watches) w.end();
    this.watches.clear();
  }

  /**
   * Upgrade requests (`pods/exec` over WebSocket or SPDY): authenticated, recorded (RBAC verb
   * `create` on `pods/exec`) and subject to faults like any other request, then handed over.
   */
  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    this.dispatchUpgrade(req, socket, head).catch((err) => writeHttpError(socket, toApiError(err)));
  };

  private async dispatchUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = (req.method ?? 'GET').toUpperCase();
    const route = this.route(url);
    const record = this.record(method, url, route);
    const fail = (err: ApiError) => {
      record.status = err.code;
      writeHttpError(socket, err);
    };
    if (!(await this.authenticated(req))) return fail(new ApiError(401, 'Unauthorized', 'Unauthorized'));
    const fault = await this.playFault(method, url, socket);
    if (fault === 'dropped') return;
    if (fault !== undefined) {
      const { status, message = `injected fault: ${status}` } = fault;
      return fail(new ApiError(status, status === 403 ? 'Forbidden' : 'InternalError', message));
    }
    if (!route || route.res !== POD || route.sub !== 'exec' || !route.name || !route.namespace) {
      return fail(new ApiError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const target = this.hooks.execTarget(url, route.namespace, route.name);
    record.status = this.hooks.exec(req, socket, head, target);
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((err) => {
      if (!res.headersSent) this.sendError(res, toApiError(err));
      else res.end();
    });
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname.startsWith('/_sim/')) return this.control(req, res, url, method);

    const route = this.route(url);
    const record = this.record(method, url, route);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    res.on('close', () => {
      if (!record.status) record.status = res.headersSent ? res.statusCode : 0;
    });

    if (!(await this.authenticated(req))) {
      return this.sendError(res, new ApiError(401, 'Unauthorized', 'Unauthorized'));
    }

    const fault = await this.playFault(method, url, req.socket);
    if (fault === 'dropped') return;
    if (fault !== undefined) {
      await readBody(req);
      const reasons: Record<number, string> = {
        403: 'Forbidden',
        409: 'Conflict',
        429: 'TooManyRequests',
        500: 'InternalError',
        503: 'ServiceUnavailable',
      };
      const { status, message = `injected fault: ${status}` } = fault;
      if (status === 429) res.setHeader('Retry-After', '1');
      return this.sendError(res, new ApiError(status, reasons[status] ?? 'InternalError', message));
    }

    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (method === 'GET') {
      const doc = this.discovery(p);
      if (doc) return this.send(res, 200, doc);
    }
    if (!route) {
      return this.sendError(
        res,
        new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
      );
    }
    return this.resource(req, res, url, method, route, record);
  }

  /** Every request is recorded (verb and resource, as RBAC sees them) before anything can refuse it. */
  private record(method: string, url: URL, route: Route | undefined): RequestRecord {
    const record: RequestRecord = {
      at: Date.now(),
      method,
      path: url.pathname + url.search,
      ...classify(method, route, url),
      status: 0,
    };
    this.records.push(record);
    return record;
  }

  private authenticated(req: IncomingMessage): Promise<boolean> {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : undefined;
    return this.hooks.authenticate(token, req);
  }

  /**
   * Plays the first injected fault that matches the request, and uses it up: drops the connection
   * (`'dropped'`), delays the request (then `undefined`: go on), or returns the status it must fail
   * with (each caller answers it in its own way).
   */
  private async playFault(
    method: string,
    url: URL,
    socket: Duplex,
  ): Promise<'dropped' | Extract<FaultAction, { status: number }> | undefined> {
    const fault = this.faults.find(
      (f) =>
        f.remaining > 0 &&
        (!f.method || f.method === method) &&
        (f.path.test(url.pathname) || f.path.test(url.pathname + url.search)),
    );
    if (!fault) return undefined;
    fault.remaining--;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    const a = fault.action;
    if ('drop' in a) {
      socket.destroy();
      return 'dropped';
    }
    if ('delayMs' in a) {
      await new Promise((r) => setTimeout(r, a.delayMs));
      return undefined;
    }
    if ('hold' in a) {
      await a.hold().catch(() => undefined);
      return undefined;
    }
    return a;
  }

  private route(url: URL): Route | undefined {
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api' && seg.length >= 3) {
      group = '';
      version = seg[1]!;
      rest = seg.slice(2);
    } else if (seg[0] === 'apis' && seg.length >= 4) {
      group = seg[1]!;
      version = seg[2]!;
      rest = seg.slice(3);
    } else return undefined;
    let watch = false;
    if (rest[0] === 'watch') {
      watch = true;
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    if (
      rest[0] === 'namespaces' &&
      rest.length >= 3 &&
      !(rest.length === 3 && ['status', 'finalize'].includes(rest[2]!))
    ) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const res = findByPlural(group, version, rest[0] ?? '');
    if (!res || rest.length > 3) return undefined;
    if (namespace !== undefined && !res.namespaced) return undefined;
    const w = url.searchParams.get('watch');
    if (w === 'true' || w === '1') watch = true;
    return { res, version, namespace, name: rest[1], sub: rest[2], watch };
  }

  private discovery(p: string): unknown {
    if (p === '/version') {
      return {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-pxc-tls-ops-sim',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.22.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    }
    if (p === '/healthz' || p === '/livez' || p === '/readyz') return 'ok';
    if (p === '/openapi/v3') return openapiRoot();
    if (p.startsWith('/openapi/v3/')) return openapiGroupVersion(p.slice('/openapi/v3/'.length));
    if (p === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.hostPort }],
      };
    }
    if (p === '/apis') {
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups().map(apiGroup) };
    }
    const m = /^\/apis\/([^/]+)$/.exec(p);
    if (m) {
      const g = groups().find((x) => x.name === m[1]);
      return g ? { kind: 'APIGroup', apiVersion: 'v1', ...(apiGroup(g) as object) } : undefined;
    }
    const gv = /^\/api\/(v1)$/.exec(p) ?? /^\/apis\/([^/]+\/[^/]+)$/.exec(p);
    if (gv) {
      const [group, version] = gv[1]!.includes('/') ? (gv[1]!.split('/') as [string, string]) : ['', gv[1]!];
      const list = RESOURCES.filter((r) => r.group === group && r.versions.includes(version));
      if (list.length === 0) return undefined;
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: groupVersion(group, version),
        resources: resourceList(list),
      };
    }
    return undefined;
  }

  private async resource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    r: Route,
    record: RequestRecord,
  ): Promise<void> {
    const { res: kind, namespace, name, sub } = r;
    const q = url.searchParams;
    const body = method === 'GET' ? undefined : await readBody(req);
    const withVersion = (o: Obj): Obj =>
      kind.versions[0] === r.version ? o : { ...o, apiVersion: groupVersion(kind.group, r.version) };
    if (
      sub !== undefined &&
      !(sub === 'status' && kind.status) &&
      !(sub === 'eviction' && kind === POD && method === 'POST') &&
      !(sub === 'scale' && kind.subresources?.includes('scale') && name !== undefined) &&
      !(sub === 'exec' && kind === POD && name !== undefined)
    ) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    // exec only streams over an upgraded connection (see `upgrade`).
    if (sub === 'exec') throw new ApiError(400, 'BadRequest', 'Upgrade request required');
    if (sub === 'scale') return this.scale(req, res, method, kind, namespace!, name!, body);
    if (method === 'GET' && r.watch) {
      record.status = 200; // a watch answers 200 at once and stays open
      return this.watch(req, res, r, q);
    }
    const table = method === 'GET' && wantsTable(req.headers.accept);
    if (method === 'GET' && name === undefined) {
      const page = this.api.list(kind, namespace, listQuery(q));
      if (table) {
        const meta = {
          resourceVersion: page.resourceVersion,
          ...(page.continue ? { continue: page.continue } : {}),
        };
        return this.send(res, 200, toTable(kind, page.items.map(withVersion), q.get('includeObject'), meta));
      }
      return this.send(res, 200, {
        kind: `${kind.kind}List`,
        apiVersion: groupVersion(kind.group, r.version),
        metadata: {
          resourceVersion: page.resourceVersion,
          ...(page.continue ? { continue: page.continue, remainingItemCount: page.remainingItemCount } : {}),
        },
        items: page.items.map(withVersion),
      });
    }
    if (method === 'GET' && table) {
      const obj = withVersion(this.api.get(kind, namespace, name!));
      return this.send(
        res,
        200,
        toTable(kind, [obj], q.get('includeObject'), { resourceVersion: obj.metadata.resourceVersion }),
      );
    }
    if (method === 'GET') return this.send(res, 200, withVersion(this.api.get(kind, namespace, name!)));
    if (method === 'POST' && sub === 'eviction') {
      this.api.evict(namespace!, name!, parseJson(body));
      return this.send(res, 201, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        code: 201,
      });
    }
    if (method === 'POST' && name === undefined) {
      return this.send(res, 201, withVersion(this.api.create(kind, namespace, parseJson(body))));
    }
    if (method === 'PUT' && name !== undefined) {
      return this.send(
        res,
        200,
        withVersion(this.api.update(kind, namespace, name, parseJson(body), sub as 'status')),
      );
    }
    if (method === 'PATCH' && name !== undefined) {
      const format = patchFormat(req.headers['content-type']);
      return this.send(
        res,
        200,
        withVersion(this.api.patch(kind, namespace, name, parseJson(body), format, sub as 'status')),
      );
    }
    if (method === 'DELETE' && name !== undefined && sub === undefined) {
      const opts = body && body.length > 0 ? parseJson(body) : {};
      if (q.get('gracePeriodSeconds') !== null) opts.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
      if (q.get('propagationPolicy') !== null) opts.propagationPolicy = q.get('propagationPolicy');
      const out = this.api.delete(kind, namespace, name, opts);
      if (out.graceful) return this.send(res, 200, withVersion(out.obj));
      return this.send(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, group: kind.group, kind: kind.plural, uid: out.obj.metadata.uid },
      });
    }
    if (method === 'DELETE' && name === undefined) {
      const page = this.api.list(kind, namespace, listQuery(q));
      for (const o of page.items) {
        try {
          this.api.delete(kind, o.metadata.namespace, o.metadata.name);
        } catch {
          // gone meanwhile
        }
      }
      return this.send(res, 200, {
        kind: `${kind.kind}List`,
        apiVersion: groupVersion(kind.group, r.version),
        metadata: { resourceVersion: this.store.resourceVersion },
        items: page.items.map(withVersion),
      });
    }
    throw new ApiError(
      405,
      'MethodNotAllowed',
      `the server does not allow this method on the requested resource`,
    );
  }

  /** The `scale` subresource of sets (autoscaling/v1 Scale): what `kubectl scale` uses. */
  private scale(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    kind: SimResource,
    namespace: string,
    name: string,
    body: Buffer | undefined,
  ): void {
    const toScale = (set: Obj) => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name,
        namespace,
        uid: set.metadata.uid,
        resourceVersion: set.metadata.resourceVersion,
        creationTimestamp: set.metadata.creationTimestamp,
      },
      spec: { replicas: set.spec?.replicas ?? 1 },
      status: {
        replicas: set.status?.replicas ?? 0,
        selector: Object.entries<string>(set.spec?.selector?.matchLabels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      },
    });
    const set = this.api.get(kind, namespace, name);
    if (method === 'GET') {
      this.send(res, 200, toScale(set));
      return;
    }
    let wanted: J;
    if (method === 'PUT') wanted = parseJson(body);
    else if (method === 'PATCH') {
      const format = patchFormat(req.headers['content-type']);
      const current = toScale(set);
      const input = parseJson(body);
      wanted =
        format === 'json'
          ? jsonPatch(current, input)
          : format === 'merge'
            ? mergePatch(current, input)
            : strategicMergePatch(current, input);
    } else
      throw new ApiError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    const replicas = Number(wanted?.spec?.replicas);
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(
        422,
        'Invalid',
        `Scale.autoscaling "${name}" is invalid: spec.replicas: must be a non-negative integer`,
      );
    }
    const rv = wanted?.metadata?.resourceVersion;
    const updated = this.api.patch(
      kind,
      namespace,
      name,
      { metadata: rv ? { resourceVersion: rv } : {}, spec: { replicas } },
      'merge',
    );
    this.send(res, 200, toScale(updated));
  }

  /** `?watch=true`: newline-delimited events, from `resourceVersion` or from a synthetic ADDED of what exists. */
  private watch(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    let fields = parseFieldSelector(q.get('fieldSelector'));
    if (r.name !== undefined) {
      const byName = fields;
      fields = (o) => o.metadata.name === r.name && byName(o);
    }
    const inScope = (o: Obj) =>
      (r.namespace === undefined || o.metadata.namespace === r.namespace) && labels(o) && fields(o);
    const rvParam = q.get('resourceVersion');
    let backlog: StoreEvent[] | undefined;
    const initial: Obj[] = [];
    if (rvParam && rvParam !== '0') {
      const rv = Number(rvParam);
      backlog = Number.isFinite(rv) ? this.store.eventsSince(rv) : undefined;
      if (!backlog) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
        res.end(
          `${JSON.stringify({
            type: 'ERROR',
            object: failureStatus(
              new ApiError(410, 'Expired', `too old resource version: ${rvParam} (${this.store.oldestRv})`),
            ),
          })}\n`,
        );
        return;
      }
    } else {
      for (const o of this.store.list(r.res, r.namespace)) if (inScope(o)) initial.push(o);
    }
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache',
    });
    res.flushHeaders();
    const apiVersion = groupVersion(r.res.group, r.version);
    const table = wantsTable(req.headers.accept);
    const includeObject = q.get('includeObject');
    // The stream may have ended (timeout, stop, client gone) before 'close' unsubscribes it.
    res.on('error', () => {});
    const write = (type: string, obj: Obj) => {
      if (res.writableEnded || res.destroyed) return;
      const o = { ...obj, apiVersion };
      const object = table
        ? toTable(r.res, [o], includeObject, { resourceVersion: o.metadata.resourceVersion })
        : o;
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const deliver = (ev: StoreEvent) => {
      if (ev.res !== r.res) return;
      const now = inScope(ev.obj);
      if (ev.type === 'MODIFIED') {
        const before = ev.old ? inScope(ev.old) : now;
        if (now && before) write('MODIFIED', ev.obj);
        else if (now) write('ADDED', ev.obj);
        else if (before) write('DELETED', ev.obj);
      } else if (now) write(ev.type, ev.obj);
    };
    for (const o of initial) write('ADDED', o);
    for (const ev of backlog ?? []) deliver(ev);
    const unsubscribe = this.store.subscribe(deliver);
    this.watches.add(res);
    const timeout = Number(q.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => res.end(), Math.max(1, timeout) * 1000);
    // Bookmarks tell the client how far it has seen (events are delivered in order, so the
    // store's current resourceVersion), and keep idle streams alive for inactivity timeouts.
    const bookmarks =
      q.get('allowWatchBookmarks') === 'true' && !table
        ? setInterval(() => {
            if (res.writableEnded || res.destroyed) return;
            const object = {
              kind: r.res.kind,
              apiVersion,
              metadata: { resourceVersion: this.store.resourceVersion },
            };
            res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
          }, this.bookmarkMs)
        : undefined;
    const done = () => {
      clearTimeout(timer);
      clearInterval(bookmarks);
      unsubscribe();
      this.watches.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
  }

  private async control(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    const body = method === 'GET' ? undefined : await readBody(req);
    const input: J = body && body.length > 0 ? parseJson(body) : {};
    switch (`${method} ${url.pathname}`) {
      case 'POST /_sim/faults':
        if (!input.path || !input.action)
          throw new ApiError(400, 'BadRequest', 'a fault needs path and action');
        this.inject({
          method: input.method,
          path: String(input.path),
          times: input.times,
          action: input.action,
        });
        return this.send(res, 201, { ok: true });
      case 'POST /_sim/hold':
        this.hooks.hold(input.namespace, input.pod, input.message);
        return this.send(res, 200, { ok: true });
      case 'POST /_sim/release':
        this.hooks.release(input.namespace, input.pod);
        return this.send(res, 200, { ok: true });
      case 'POST /_sim/reset':
        this.hooks.reset();
        return this.send(res, 200, { ok: true });
      case 'GET /_sim/requests':
        return this.send(res, 200, { items: this.records });
      case 'DELETE /_sim/requests':
        this.records.length = 0;
        return this.send(res, 200, { ok: true });
      case 'GET /_sim/readiness':
        return this.send(res, 200, { items: this.hooks.readiness() });
      default: {
        const out = this.hooks.control?.(`${method} ${url.pathname}`, input);
        if (out !== undefined) return this.send(res, 200, out);
        throw new ApiError(404, 'NotFound', `no simulator control endpoint ${method} ${url.pathname}`);
      }
    }
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: ApiError): void {
    this.send(res, err.code, failureStatus(err));
  }
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  console.error('sim: internal error:', err);
  return new ApiError(500, 'InternalError', `internal error: ${(err as Error)?.message ?? String(err)}`);
}

function classify(
  method: string,
  route: Route | undefined,
  url: URL,
): Omit<RequestRecord, 'at' | 'method' | 'path' | 'status'> {
  if (!route) return { verb: method === 'GET' ? 'get' : method.toLowerCase(), resource: '' };
  const base = {
    resource: route.res.plural,
    ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
    ...(route.name !== undefined ? { name: route.name } : {}),
    ...(route.sub !== undefined ? { subresource: route.sub } : {}),
  };
  let verb: string;
  const w = url.searchParams.get('watch');
  // RBAC authorizes exec as `create` on pods/exec, whether it arrives as POST (SPDY) or as the
  // GET of a WebSocket upgrade.
  if (route.sub === 'exec') return { verb: 'create', ...base };
  switch (method) {
    case 'GET':
      verb = route.watch || w === 'true' || w === '1' ? 'watch' : route.name === undefined ? 'list' : 'get';
      break;
    case 'POST':
      verb = route.sub === 'eviction' ? 'evict' : 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = route.name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      verb = method.toLowerCase();
  }
  return { verb, ...base };
}

function listQuery(q: URLSearchParams): ListQuery {
  const limit = q.get('limit');
  return {
    labelSelector: q.get('labelSelector'),
    fieldSelector: q.get('fieldSelector'),
    limit: limit ? Number(limit) : undefined,
    continue: q.get('continue'),
  };
}

function patchFormat(contentType: string | undefined): PatchFormat {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
  );
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer | undefined): J {
  if (!body || body.length === 0) throw new ApiError(400, 'BadRequest', 'the request body is empty');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the request body is not JSON: ${(err as Error).message}`);
  }
}

interface Group {
  name: string;
  versions: string[];
}

function groups(): Group[] {
  const out: Group[] = [];
  for (const r of RESOURCES) {
    if (r.group === '') continue;
    let g = out.find((x) => x.name === r.group);
    if (!g) {
      g = { name: r.group, versions: [] };
      out.push(g);
    }
    for (const v of r.versions) if (!g.versions.includes(v)) g.versions.push(v);
  }
  return out;
}

function apiGroup(g: Group): unknown {
  return {
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
  };
}

function resourceList(list: SimResource[]): unknown[] {
  const out: unknown[] = [];
  for (const r of list) {
    out.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories?.length ? { categories: r.categories } : {}),
    });
    if (r.status) {
      out.push({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
    if (r.subresources?.includes('scale')) {
      out.push({
        name: `${r.plural}/scale`,
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    }
    if (r === POD) {
      out.push({
        name: 'pods/exec',
        singularName: '',
        namespaced: true,
        kind: 'PodExecOptions',
        verbs: ['create', 'get'],
      });
      out.push({
        name: 'pods/eviction',
        singularName: '',
        namespaced: true,
        group: 'policy',
        version: 'v1',
        kind: 'Eviction',
        verbs: ['create'],
      });
    }
  }
  return out;
}
