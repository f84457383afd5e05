/**
 * Keeping the claim's lease (model/lease.ts) while the workflow runs.
 *
 * `holdLease` is for a step that has just read the request (Pause, Change certificates, Roll back):
 * the request must still be claimed by this execution, and the lease is renewed when less than half
 * remains. `keepLease` is for a step that does not read the request (Restart pod, Check pod): it
 * trusts the lease it was handed and renews only when that one is due, so a pod restart usually
 * costs no request at all. A renewal is one JSON patch that also tests the claim, so it can never
 * extend a claim another execution has taken. Throws LeaseLostError when the claim is gone to
 * someone else, InvalidRequestError when the request itself is gone.
 */
import type { Deps } from '../deps.js';
import { InvalidRequestError, KubeRequestError, LeaseLostError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import { specHash } from '../model/frozen-spec.js';
import {
  annotationPointer,
  claimMetadata,
  claimOf,
  type Lease,
  leaseSecondsFrom,
  nextLease,
  renewalDue,
  renewalPatch,
} from '../model/lease.js';
import {
  CLAIM_ANNOTATION,
  CLAIM_LABEL,
  CLAIMED_AT_ANNOTATION,
  LEASE_SECONDS_ANNOTATION,
  LEASE_UNTIL_ANNOTATION,
  RECOVERY_ATTEMPTS_ANNOTATION,
  SPEC_HASH_ANNOTATION,
} from '../model/names.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';

export interface RequestRef {
  namespace: string;
  name: string;
}

/**
 * Now, for a lease: in the API server's clock (../kube/server-clock.ts), never this machine's wall
 * clock, which may be a minute off another's (a laptop). A holder takes the latest the server's
 * time can be (it never overrates what remains), an observer the earliest (it never sees a lease
 * run out early); so while the holder believes it holds, no observer can think otherwise. This
 * machine's clock only when no answer has come yet (a client that cannot tell).
 */
export function leaseTime(deps: Deps, as: 'holder' | 'observer'): Date {
  const t = deps.kube.serverTime?.();
  if (!t) return deps.clock.now();
  return as === 'holder' ? t.latest : t.earliest;
}

function lost(ref: RequestRef, execution: string, holder: string | undefined): LeaseLostError {
  return new LeaseLostError(
    `PerconaXtraDBOpsRequest ${ref.namespace}/${ref.name} is now claimed by ${holder ? `execution ${holder}` : 'no execution'}, ` +
      `not by this one (${execution}): its lease ran out and it was taken over; this execution stops without writing`,
  );
}

/** The request just read must be claimed by `execution`; renews its lease when due. */
export async function holdLease(deps: Deps, ops: PerconaXtraDBOpsRequest, execution: string): Promise<Lease> {
  const ref = { namespace: ops.metadata.namespace!, name: ops.metadata.name! };
  const claim = claimOf(ops);
  if (claim.holder !== execution) throw lost(ref, execution, claim.holder);
  const lease = claim.lease ?? nextLease(leaseTime(deps, 'holder'), leaseSecondsFrom(deps.leaseSeconds));
  if (claim.lease && !renewalDue(lease, leaseTime(deps, 'holder'))) return lease;
  return renew(deps, ref, execution, lease.seconds);
}

/** Renews the lease handed down by an earlier step, only when it is due (no request otherwise). */
export async function keepLease(
  deps: Deps,
  ref: RequestRef,
  execution: string | undefined,
  lease: Lease | undefined,
): Promise<Lease | undefined> {
  if (!execution || !lease || !renewalDue(lease, leaseTime(deps, 'holder'))) return lease;
  return renew(deps, ref, execution, lease.seconds);
}

async function renew(deps: Deps, ref: RequestRef, execution: string, seconds: number): Promise<Lease> {
  const next = nextLease(leaseTime(deps, 'holder'), seconds);
  try {
    await deps.kube.patch(KINDS.PerconaXtraDBOpsRequest, ref, renewalPatch(execution, next), 'json');
  } catch (err) {
    // A failed `test` is a 422: find out whether the claim moved or the request went away.
    if (!(err instanceof KubeRequestError)) throw err;
    const now = await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ref);
    if (!now) throw new InvalidRequestError(`PerconaXtraDBOpsRequest ${ref.namespace}/${ref.name} not found`);
    const holder = claimOf(now).holder;
    if (holder !== execution) throw lost(ref, execution, holder);
    throw err;
  }
  deps.logger.info('lease renewed', { until: next.until });
  return next;
}

/**
 * Claims the request for this execution with a fresh lease and the spec's hash (PUT under the
 * resourceVersion just read).
 */
export async function claimRequest(
  ops: PerconaXtraDBOpsRequest,
  execution: string,
  deps: Deps,
  rerun = false,
  /** Extra annotations written with the claim (a recovery counts itself: RECOVERY_ATTEMPTS_ANNOTATION). */
  extra: Record<string, string> = {},
): Promise<PerconaXtraDBOpsRequest> {
  // A concurrent claim makes this a KubeConflictError, the ASL retries, and the re-read finds the
  // other execution's claim.
  const meta = claimMetadata(
    execution,
    deps.clock.now(),
    leaseSecondsFrom(deps.leaseSeconds),
    leaseTime(deps, 'holder'),
  );
  const before = ops.metadata.annotations ?? {};
  const claimed: PerconaXtraDBOpsRequest = {
    ...ops,
    metadata: {
      ...ops.metadata,
      labels: { ...(ops.metadata.labels ?? {}), ...meta.labels },
      annotations: {
        ...before,
        ...meta.annotations,
        // The same execution claiming again (a console request gets its spec hash now) keeps its start.
        ...(claimOf(ops).holder === execution && before[CLAIMED_AT_ANNOTATION]
          ? { [CLAIMED_AT_ANNOTATION]: before[CLAIMED_AT_ANNOTATION] }
          : {}),
        // The spec is frozen at the first claim (../model/frozen-spec.ts): a take-over keeps that hash.
        [SPEC_HASH_ANNOTATION]: before[SPEC_HASH_ANNOTATION] ?? specHash(ops.spec),
        ...extra,
      },
    },
  };
  // A request run again starts with a clean count of recoveries.
  if (rerun) delete claimed.metadata.annotations![RECOVERY_ATTEMPTS_ANNOTATION];
  delete (claimed as { status?: unknown }).status;
  const written = await deps.kube.replace<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, claimed);
  deps.logger.info(rerun ? 'request claimed again after an interrupted execution' : 'request claimed', {
    leaseUntil: meta.lease.until,
  });
  return { ...written, status: written.status ?? ops.status };
}

/**
 * Gives the claim back, only while `execution` still holds it (one JSON patch, tested first): a
 * request left Pending for another to finish must be free for the sweep to announce it again and
 * for the next execution to claim, and a claim of an ended execution would be "recovered" —
 * failed — by the sweep. The spec's hash stays: the spec is frozen from the first claim on.
 */
export async function releaseClaim(
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  execution: string,
): Promise<void> {
  const annotations = ops.metadata.annotations ?? {};
  const remove = [CLAIMED_AT_ANNOTATION, LEASE_UNTIL_ANNOTATION, LEASE_SECONDS_ANNOTATION]
    .filter((k) => k in annotations)
    .map((k) => ({ op: 'remove', path: annotationPointer(k) }));
  const label =
    CLAIM_LABEL in (ops.metadata.labels ?? {})
      ? [{ op: 'remove', path: `/metadata/labels/${CLAIM_LABEL.replace(/~/g, '~0').replace(/\//g, '~1')}` }]
      : [];
  await deps.kube.patch(
    KINDS.PerconaXtraDBOpsRequest,
    { namespace: ops.metadata.namespace!, name: ops.metadata.name! },
    [
      { op: 'test', path: annotationPointer(CLAIM_ANNOTATION), value: execution },
      { op: 'remove', path: annotationPointer(CLAIM_ANNOTATION) },
      ...remove,
      ...label,
    ],
    'json',
  );
  deps.logger.info('claim released: the request stays Pending until its database is free');
}
