/**
 * Fencing: every write a step makes for a request is refused by the API server itself once
 * another execution holds that request — not by a check in our code that a late write could slip
 * past. docs/fencing.md tells the whole story; in short:
 *
 * - Each object a request writes or restores (the PerconaXtraDB, its PetSet/StatefulSet, the
 *   Secrets, the cert-manager Certificates, the AppBinding) carries `pxc-tls-ops.io/fenced-by:
 *   <execution>`, set by the execution's first write to it.
 * - A write is made with a precondition (resourceVersion) from a read of the object in which
 *   either the fence names this execution, or which was followed by a check that this execution
 *   still holds the claim on the OpsRequest.
 * - A take-over (a recovery, a re-run after an expired lease) claims the request, then changes the
 *   fence on every object it will restore, FIRST (./roll-back.ts `fenceAll`), then restores.
 *
 * So a late write of the execution that lost the request either read the object before the new
 * holder fenced it (its resourceVersion is stale: 409), or read it after (the fence names someone
 * else, and the claim check after that read fails). Either way it is refused, and the step throws
 * LeaseLostError and changes nothing more. A create cannot carry a precondition: it is followed
 * by a claim check, and when the claim is gone the object is deleted again under the version it
 * was created with (see `fencedCreate` below).
 *
 * The OpsRequest's status is fenced by the claim itself: written under the resourceVersion of a
 * read that showed this execution's claim.
 */
import type { Deps } from '../deps.js';
import { KubeConflictError, KubeRequestError, LeaseLostError } from '../errors.js';
import type { Kube, KubeObject, ListOptions, ObjectRef, PatchType, ResourceKind } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { annotationPointer, claimOf } from '../model/lease.js';
import { CLAIM_ANNOTATION, FENCE_ANNOTATION } from '../model/names.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';

export interface FenceHolder {
  namespace: string;
  opsRequest: string;
  execution: string;
}

const FENCED: ReadonlySet<ResourceKind> = new Set<ResourceKind>([
  KINDS.PerconaXtraDB,
  KINDS.PetSet,
  KINDS.StatefulSet,
  KINDS.Secret,
  KINDS.Certificate,
  KINDS.AppBinding,
]);

/** Conflicts with other writers (cert-manager, the provisioner) are retried this often in place. */
const ATTEMPTS = 4;

const isFenced = (kind: ResourceKind) =>
  [...FENCED].some((k) => k.apiVersion === kind.apiVersion && k.kind === kind.kind);
const isOpsRequest = (kind: ResourceKind) =>
  kind.apiVersion === KINDS.PerconaXtraDBOpsRequest.apiVersion &&
  kind.kind === KINDS.PerconaXtraDBOpsRequest.kind;

export function fenceOf(obj: KubeObject | undefined): string | undefined {
  return obj?.metadata.annotations?.[FENCE_ANNOTATION];
}

/** Deps whose Kubernetes client fences every write by `holder`'s claim (see above). */
export function fenced(deps: Deps, holder: FenceHolder): Deps {
  return { ...deps, kube: fencedKube(deps.kube, holder) };
}

export function fencedKube(kube: Kube, holder: FenceHolder): Kube {
  const t = fenceTracker(kube, holder);
  return {
    async get<T extends KubeObject>(kind: ResourceKind, ref: ObjectRef) {
      const sentAt = t.tick();
      return t.saw(kind, await kube.get<T>(kind, ref), sentAt);
    },
    async list<T extends KubeObject>(kind: ResourceKind, ns: string | undefined, o?: ListOptions) {
      const sentAt = t.tick();
      const page = await kube.list<T>(kind, ns, o);
      for (const item of page.items) t.saw(kind, item, sentAt);
      return page;
    },
    discover: (group) => kube.discover(group),
    evict: (ref, o) => kube.evict(ref, o),
    exec: (ref, o) => kube.exec(ref, o),
    watch: (kind, ns, o, on) => kube.watch(kind, ns, o, on),
    serverTime: () => kube.serverTime?.(),
    create: (kind, obj) => fencedCreate(t, kind, obj),
    replace: (kind, obj, subresource) => fencedReplace(t, kind, obj, subresource),
    patch: (kind, ref, patch, type, subresource) => fencedPatch(t, kind, ref, patch, type, subresource),
    delete: (kind, ref, opts = {}) => {
      if (!isFenced(kind)) return kube.delete(kind, ref, opts);
      return fencedWrite(
        t,
        kind,
        ref,
        opts.resourceVersion,
        (rv) =>
          rv ? kube.delete(kind, ref, { ...opts, resourceVersion: rv }) : kube.delete(kind, ref, opts),
        { retry: !opts.resourceVersion },
      );
    },
  };
}

/** What one fenced client knows: which object versions it may write over, and the claim checks. */
interface FenceTracker {
  kube: Kube;
  me: string;
  /** The next request's place in the order of requests. */
  tick(): number;
  /** Notes what a call answered: an object's version, or (our OpsRequest, our claim) a check. */
  saw<T>(kind: ResourceKind, obj: T, sentAt: number, covered?: boolean): T;
  /** The claim check: read after the object, so a take-over before that read is seen here. */
  checkClaim(what: string): Promise<PerconaXtraDBOpsRequest>;
  /** The version to write over, as this client last saw it, made safe (checked) when it is not yet. */
  version(kind: ResourceKind, ref: ObjectRef, given?: string): Promise<string | undefined>;
  /** The object with this execution's fence annotation. */
  stamp<T extends KubeObject>(obj: T): T;
}

function fenceTracker(kube: Kube, holder: FenceHolder): FenceTracker {
  const me = holder.execution;
  const opsRef = { namespace: holder.namespace, name: holder.opsRequest };
  /**
   * Which versions of which objects this client may write over without a claim check: those read
   * with our fence on them, those read (completely) before a claim check was sent, and those its own
   * fenced writes produced. Order is by request: a read counts once its answer is in, a check from
   * the moment it is sent, so calls made in parallel never count for each other.
   */
  let clock = 0;
  let checkedAt = -1;
  const seen = new Map<string, { rv: string; at: number; covered: boolean }>();
  const key = (kind: ResourceKind, ref: ObjectRef) =>
    `${kind.apiVersion}/${kind.kind}/${ref.namespace ?? ''}/${ref.name}`;
  const isMine = (ops: KubeObject | undefined) =>
    !!ops && claimOf(ops as PerconaXtraDBOpsRequest).holder === me;
  const lost = (who: string | undefined, what: string) =>
    new LeaseLostError(
      `PerconaXtraDBOpsRequest ${holder.namespace}/${holder.opsRequest} is now claimed by ${who ? `execution ${who}` : 'no execution'}, ` +
        `not by this one (${me}): the API server refused its write to ${what}; this execution stops without writing`,
    );
  const t: FenceTracker = {
    kube,
    me,
    tick: () => ++clock,
    saw(kind, obj, sentAt, covered = false) {
      const o = obj as KubeObject | undefined;
      const ref = o?.metadata ? { namespace: o.metadata.namespace, name: o.metadata.name! } : undefined;
      if (!ref?.name) return obj;
      if (isOpsRequest(kind) && ref.namespace === opsRef.namespace && ref.name === opsRef.name) {
        if (isMine(o)) checkedAt = Math.max(checkedAt, sentAt);
      } else if (isFenced(kind) && o!.metadata.resourceVersion) {
        seen.set(key(kind, ref), {
          rv: o!.metadata.resourceVersion,
          at: ++clock,
          covered: covered || fenceOf(o) === me,
        });
      }
      return obj;
    },
    async checkClaim(what) {
      const sentAt = ++clock;
      const ops = await kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, opsRef);
      if (!isMine(ops)) throw lost(ops ? claimOf(ops).holder : undefined, what);
      checkedAt = Math.max(checkedAt, sentAt);
      return ops!;
    },
    async version(kind, ref, given) {
      let last = seen.get(key(kind, ref));
      if (!given && !last) {
        t.saw(kind, await kube.get<KubeObject>(kind, ref), ++clock);
        last = seen.get(key(kind, ref));
      }
      const rv = given ?? last?.rv;
      if (!rv) return undefined;
      const safe = last?.rv === rv && (last.covered || last.at < checkedAt);
      if (!safe) await t.checkClaim(describe(kind, ref));
      return rv;
    },
    stamp: (obj) => ({
      ...obj,
      metadata: {
        ...obj.metadata,
        annotations: { ...(obj.metadata.annotations ?? {}), [FENCE_ANNOTATION]: me },
      },
    }),
  };
  return t;
}

const describe = (kind: ResourceKind, ref: ObjectRef) =>
  `${kind.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;

/**
 * Writes with the version `version` gives; a refusal (409, or a failed JSON-patch test: 422) is
 * read again: a fence now naming someone else with the claim gone is LeaseLostError, anything
 * else a conflict with another writer, retried here (`retry`) a few times, then left to the ASL.
 */
async function fencedWrite<T>(
  t: FenceTracker,
  kind: ResourceKind,
  ref: ObjectRef,
  given: string | undefined,
  write: (rv: string | undefined) => Promise<T>,
  opts: { retry: boolean },
): Promise<T> {
  let rv = await t.version(kind, ref, given);
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await write(rv);
      // What our own fenced write left needs no check to be written over again.
      if (out && typeof out === 'object') t.saw(kind, out, t.tick(), true);
      return out;
    } catch (err) {
      if (!(err instanceof KubeConflictError || err instanceof KubeRequestError)) throw err;
      const now = await t.kube.get<KubeObject>(kind, ref);
      t.saw(kind, now, t.tick());
      if (fenceOf(now) !== t.me) await t.checkClaim(describe(kind, ref));
      // Not a precondition that failed (the object is as it was written over): the error stands.
      if (now?.metadata.resourceVersion === rv) throw err;
      if (!opts.retry || attempt >= ATTEMPTS) {
        throw err instanceof KubeConflictError
          ? err
          : new KubeConflictError(`${describe(kind, ref)} changed while it was written`, { cause: err });
      }
      rv = now?.metadata.resourceVersion;
    }
  }
}

/**
 * No precondition exists for a create: the claim is checked after it, and the object taken back
 * when the request has gone to someone else (under its own version: a restore since is kept).
 */
async function fencedCreate<T extends KubeObject>(t: FenceTracker, kind: ResourceKind, obj: T): Promise<T> {
  if (!isFenced(kind)) return t.kube.create(kind, obj);
  const created = await t.kube.create(kind, t.stamp(obj));
  const ref = { namespace: created.metadata.namespace!, name: created.metadata.name! };
  try {
    await t.checkClaim(describe(kind, ref));
  } catch (err) {
    await t.kube
      .delete(kind, ref, {
        uid: created.metadata.uid!,
        resourceVersion: created.metadata.resourceVersion!,
      })
      .catch(() => undefined);
    throw err;
  }
  return t.saw(kind, created, t.tick(), true);
}

/** A whole-object write: the OpsRequest's status under a checked claim, a fenced object under its version. */
async function fencedReplace<T extends KubeObject>(
  t: FenceTracker,
  kind: ResourceKind,
  obj: T,
  subresource?: 'status',
): Promise<T> {
  const ref = { namespace: obj.metadata.namespace!, name: obj.metadata.name! };
  if (isOpsRequest(kind) && subresource === 'status') {
    const ops = await t.checkClaim(describe(kind, ref));
    return t.kube.replace(
      kind,
      {
        ...obj,
        metadata: {
          ...obj.metadata,
          resourceVersion: obj.metadata.resourceVersion ?? ops.metadata.resourceVersion,
        },
      },
      subresource,
    );
  }
  if (!isFenced(kind)) return t.kube.replace(kind, obj, subresource);
  return fencedWrite(
    t,
    kind,
    ref,
    obj.metadata.resourceVersion,
    (resourceVersion) => {
      const body = subresource ? obj : t.stamp(obj);
      return t.kube.replace(kind, { ...body, metadata: { ...body.metadata, resourceVersion } }, subresource);
    },
    // The caller computed the whole object from its own read: a conflict goes back to it.
    { retry: false },
  );
}

/** A patch: the OpsRequest's status tested against the claim, a fenced object with its fence and version. */
async function fencedPatch<T extends KubeObject>(
  t: FenceTracker,
  kind: ResourceKind,
  ref: ObjectRef,
  patch: unknown,
  type: PatchType,
  subresource?: 'status',
): Promise<T> {
  if (isOpsRequest(kind) && subresource === 'status') {
    const tested = claimTested(patch, type, t.me);
    if (tested) {
      // One request: the API server applies it only while the claim is ours.
      try {
        const sentAt = t.tick();
        return t.saw(kind, await t.kube.patch<T>(kind, ref, tested, 'json', subresource), sentAt);
      } catch (err) {
        if (!(err instanceof KubeRequestError)) throw err;
        // The test failed, or the request has no status yet: read, and go the long way.
      }
    }
    for (let attempt = 1; ; attempt++) {
      const ops = await t.checkClaim(describe(kind, ref));
      try {
        return await t.kube.patch<T>(
          kind,
          ref,
          withVersion(patch, type, ops.metadata.resourceVersion!),
          type,
          subresource,
        );
      } catch (err) {
        if (!(err instanceof KubeConflictError) || attempt >= ATTEMPTS) throw err;
      }
    }
  }
  if (!isFenced(kind)) {
    const sentAt = t.tick();
    return t.saw(kind, await t.kube.patch<T>(kind, ref, patch, type, subresource), sentAt);
  }
  return fencedWrite(
    t,
    kind,
    ref,
    undefined,
    (rv) => {
      if (!rv) return t.kube.patch<T>(kind, ref, patch, type, subresource);
      const stamped = subresource ? patch : withFence(patch, type, t.me);
      return t.kube.patch<T>(kind, ref, withVersion(stamped, type, rv), type, subresource);
    },
    { retry: true },
  );
}

/**
 * A merge patch of an OpsRequest's status (`{status: {...}}`, no nulls) as a JSON patch that first
 * tests the claim annotation: undefined when it cannot be said that way.
 */
function claimTested(patch: unknown, type: PatchType, me: string): unknown[] | undefined {
  if (type !== 'merge') return undefined;
  const body = patch as { status?: Record<string, unknown>; [k: string]: unknown };
  if (!body || Object.keys(body).length !== 1 || !body.status || typeof body.status !== 'object')
    return undefined;
  const entries = Object.entries(body.status);
  if (entries.some(([, v]) => v === null)) return undefined;
  return [
    { op: 'test', path: annotationPointer(CLAIM_ANNOTATION), value: me },
    ...entries.map(([k, value]) => ({
      op: 'add',
      path: `/status/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`,
      value,
    })),
  ];
}

/** The patch with a resourceVersion precondition (merge: in the body; JSON patch: a `test`). */
function withVersion(patch: unknown, type: PatchType, resourceVersion: string): unknown {
  if (type === 'json') {
    return [
      { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion },
      ...(patch as unknown[]),
    ];
  }
  const body = (patch ?? {}) as { metadata?: Record<string, unknown> };
  return { ...body, metadata: { ...(body.metadata ?? {}), resourceVersion } };
}

/** The patch, also setting the fence annotation to `me`. */
function withFence(patch: unknown, type: PatchType, me: string): unknown {
  // A JSON patch keeps its own ops: its version test (withVersion) fences it all the same.
  if (type === 'json') return patch;
  const body = (patch ?? {}) as { metadata?: { annotations?: Record<string, unknown> | null } };
  const annotations = body.metadata?.annotations === null ? {} : (body.metadata?.annotations ?? {});
  return {
    ...body,
    metadata: { ...(body.metadata ?? {}), annotations: { ...annotations, [FENCE_ANNOTATION]: me } },
  };
}

/**
 * Sets this execution's fence on each object, under the resourceVersion of a read followed by a
 * claim check: what a take-over does FIRST on every object it will restore, so that any write the
 * previous holder still has in flight is refused from then on. Objects that do not exist are skipped.
 */
export async function fenceAll(
  deps: Deps,
  holder: FenceHolder,
  objects: Array<{ kind: ResourceKind; ref: ObjectRef }>,
): Promise<number> {
  const kube = fencedKube(deps.kube, holder);
  let n = 0;
  for (const { kind, ref } of objects) {
    const current = await deps.kube.get<KubeObject>(kind, ref);
    if (!current || fenceOf(current) === holder.execution) continue;
    // Secrets are updated whole (k8s/rbac.yaml grants no patch on them); the rest merge-patched.
    if (kind.kind === KINDS.Secret.kind && kind.apiVersion === KINDS.Secret.apiVersion)
      await kube.replace(kind, current);
    else
      await kube.patch(
        kind,
        ref,
        { metadata: { annotations: { [FENCE_ANNOTATION]: holder.execution } } },
        'merge',
      );
    n++;
  }
  return n;
}
