/**
 * The simulator's object store: every object of every resource, one global resourceVersion
 * counter (like etcd's revision), and a bounded log of changes so a watch can resume from a
 * resourceVersion. Stored objects are never mutated after they are stored: every write stores a
 * fresh copy, so readers may hold on to what they got.
 */
import { randomUUID } from 'node:crypto';
import { resourceKey, type SimResource } from './resources.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON objects of any kind flow through the store.
export type J = any;

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: J;
  [field: string]: J;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  res: SimResource;
  obj: Obj;
  /** The object before a MODIFIED (to send ADDED/DELETED when it enters or leaves a selector). */
  old?: Obj;
}

/** An API error with what a real server puts in its `Status` body. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The metav1.Status a failed request is answered with, over HTTP or on a socket not yet upgraded. */
export function failureStatus(err: ApiError): J {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: err.message,
    reason: err.reason,
    ...(err.details ? { details: err.details } : {}),
    code: err.code,
  };
}

export function notFound(res: SimResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(res)} "${name}" not found`, {
    name,
    group: res.group,
    kind: res.plural,
  });
}

export function conflict(res: SimResource, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(res)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: res.group, kind: res.plural },
  );
}

export function qualified(res: SimResource): string {
  return res.group === '' ? res.plural : `${res.plural}.${res.group}`;
}

const LOG_LIMIT = 200_000;

export class Store {
  private rev = 1;
  private readonly data = new Map<string, Map<string, Obj>>();
  private readonly sortedKeys = new Map<string, string[]>();
  private readonly log: StoreEvent[] = [];
  private readonly subscribers = new Set<(ev: StoreEvent) => void>();
  private readonly pending: StoreEvent[] = [];
  private delivering = false;
  /** Lowest resourceVersion still in the log; older watches get 410 Gone. */
  oldestRv = 1;

  constructor(private readonly logLimit = LOG_LIMIT) {}

  get resourceVersion(): string {
    return String(this.rev);
  }

  subscribe(fn: (ev: StoreEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Events after `rv` (exclusive), or undefined when the log no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv + 1 < this.oldestRv) return undefined;
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.log.slice(lo);
  }

  get(res: SimResource, namespace: string | undefined, name: string): Obj | undefined {
    return this.bucket(res).get(key(res, namespace, name));
  }

  /** Objects sorted by namespace then name; `namespace` undefined means all namespaces. */
  list(res: SimResource, namespace?: string): Obj[] {
    const bucket = this.bucket(res);
    let keys = this.sortedKeys.get(resourceKey(res));
    if (!keys) {
      keys = [...bucket.keys()].sort();
      this.sortedKeys.set(resourceKey(res), keys);
    }
    const out: Obj[] = [];
    if (namespace === undefined || !res.namespaced) {
      for (const k of keys) out.push(bucket.get(k)!);
    } else {
      const prefix = `${namespace}/`;
      for (const k of lowerBound(keys, prefix)) {
        if (!k.startsWith(prefix)) break;
        out.push(bucket.get(k)!);
      }
    }
    return out;
  }

  count(res: SimResource): number {
    return this.bucket(res).size;
  }

  /** Stores a new object: uid, resourceVersion, creationTimestamp, generation 1. */
  insert(res: SimResource, input: Obj): Obj {
    const meta = input.metadata;
    const k = key(res, meta.namespace, meta.name);
    if (this.bucket(res).has(k)) {
      throw new ApiError(409, 'AlreadyExists', `${qualified(res)} "${meta.name}" already exists`, {
        name: meta.name,
        group: res.group,
        kind: res.plural,
      });
    }
    const obj: Obj = {
      ...input,
      metadata: {
        ...meta,
        uid: randomUUID(),
        resourceVersion: String(++this.rev),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
      },
    };
    if (!res.namespaced) delete obj.metadata.namespace;
    this.bucket(res).set(k, obj);
    const keys = this.sortedKeys.get(resourceKey(res));
    if (keys) keys.splice(indexOf(keys, k), 0, k);
    this.emit({ rv: this.rev, type: 'ADDED', res, obj });
    return obj;
  }

  /**
   * Replaces a stored object with `next` (already merged by the caller), bumping
   * resourceVersion, and generation when anything outside metadata and status changed.
   * A write that changes nothing keeps the resourceVersion and sends no event, like the API server.
   */
  replace(res: SimResource, prev: Obj, next: Obj): Obj {
    const meta = {
      ...next.metadata,
      uid: prev.metadata.uid,
      name: prev.metadata.name,
      creationTimestamp: prev.metadata.creationTimestamp,
      resourceVersion: prev.metadata.resourceVersion,
      generation: prev.metadata.generation,
    };
    if (res.namespaced) meta.namespace = prev.metadata.namespace;
    else delete meta.namespace;
    const candidate: Obj = { ...next, metadata: meta };
    if (sameJson(candidate, prev)) return prev;
    if (specChanged(prev, candidate)) meta.generation = (prev.metadata.generation ?? 0) + 1;
    meta.resourceVersion = String(++this.rev);
    this.bucket(res).set(key(res, prev.metadata.namespace, prev.metadata.name), candidate);
    this.emit({ rv: this.rev, type: 'MODIFIED', res, obj: candidate, old: prev });
    return candidate;
  }

  /** Removes an object for good (after any grace period); the DELETED event carries a new rv. */
  remove(res: SimResource, namespace: string | undefined, name: string): Obj | undefined {
    const k = key(res, namespace, name);
    const prev = this.bucket(res).get(k);
    if (!prev) return undefined;
    this.bucket(res).delete(k);
    const keys = this.sortedKeys.get(resourceKey(res));
    if (keys) {
      const i = indexOf(keys, k);
      if (keys[i] === k) keys.splice(i, 1);
      else this.sortedKeys.delete(resourceKey(res));
    }
    const obj = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(++this.rev) } };
    this.emit({ rv: this.rev, type: 'DELETED', res, obj });
    return obj;
  }

  /**
   * Delivers events in resourceVersion order to every subscriber. A subscriber that writes (a
   * controller reacting) queues its event behind the current one instead of delivering it first
   * to the subscribers that have not seen the current one yet.
   */
  private emit(ev: StoreEvent): void {
    this.log.push(ev);
    if (this.log.length > this.logLimit) {
      const dropped = this.log.splice(0, this.log.length - Math.floor(this.logLimit / 2));
      this.oldestRv = dropped[dropped.length - 1]!.rv + 1;
    }
    this.pending.push(ev);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let e = this.pending.shift(); e; e = this.pending.shift()) {
        for (const fn of this.subscribers) fn(e);
      }
    } finally {
      this.delivering = false;
    }
  }

  private bucket(res: SimResource): Map<string, Obj> {
    const k = resourceKey(res);
    let b = this.data.get(k);
    if (!b) {
      b = new Map();
      this.data.set(k, b);
    }
    return b;
  }
}

function key(res: SimResource, namespace: string | undefined, name: string): string {
  return res.namespaced ? `${namespace ?? ''}/${name}` : `/${name}`;
}

/** First index whose key is not below `k` (binary search in a sorted array). */
function indexOf(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function* lowerBound(keys: string[], prefix: string): Generator<string> {
  for (let i = indexOf(keys, prefix); i < keys.length; i++) yield keys[i]!;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function specChanged(prev: Obj, next: Obj): boolean {
  const strip = ({ metadata: _m, status: _s, ...rest }: Obj) => rest;
  return !sameJson(strip(prev), strip(next));
}

export function clone<T>(x: T): T {
  return x === undefined ? x : structuredClone(x);
}
