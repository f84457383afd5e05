/**
 * The claim on an OpsRequest and its lease, as pure functions (the steps read and write them).
 *
 * A claim (`pxc-tls-ops.io/claimed-by: <execution>`) says which execution works on a request.
 * Its lease (`pxc-tls-ops.io/lease-until`) says until when: the holder renews it as it goes, and
 * only when less than half of it remains, so renewals cost about one request per half-lease. A
 * lease that has run out may be taken over by a re-run, which recovers first: that is how a
 * request whose execution died without any trace (a killed `npm run local`, a cluster without
 * the status-change rule) gets going again. While more than half remains, the holder knows
 * without asking that nobody can have taken the request over, which is why a step may write
 * without a read as long as it lasts less than half a lease.
 */
import { EXECUTION_INTERRUPTED } from '../errors.js';
import {
  CLAIM_ANNOTATION,
  CLAIM_LABEL,
  CLAIMED_AT_ANNOTATION,
  LEASE_SECONDS_ANNOTATION,
  LEASE_UNTIL_ANNOTATION,
  labelSafe,
  RECOVERY_ATTEMPTS_ANNOTATION,
} from './names.js';
import type { PerconaXtraDBOpsRequest } from './types.js';

/**
 * Default lease: well over twice the longest a step may run (Lambda timeout 120 s), so a holder
 * that checked its lease at the start of a step still holds it at the end.
 */
export const DEFAULT_LEASE_SECONDS = 300;

/** What a step carries between calls (Change certificates → Restart pod → Check pod) instead of re-reading. */
export interface Lease {
  /** RFC 3339. */
  until: string;
  seconds: number;
}

export interface Claim {
  holder?: string;
  lease?: Lease;
}

/** The lease duration an execution claims with: `deps.leaseSeconds`, else LEASE_SECONDS, else the default. */
export function leaseSecondsFrom(
  configured: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const fromEnv = Number(env.LEASE_SECONDS);
  const s = configured ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_LEASE_SECONDS);
  return Math.max(1, Math.round(s));
}

export function claimOf(ops: PerconaXtraDBOpsRequest): Claim {
  const a = ops.metadata.annotations ?? {};
  const holder = a[CLAIM_ANNOTATION] || undefined;
  const seconds = Number(a[LEASE_SECONDS_ANNOTATION]);
  let until = a[LEASE_UNTIL_ANNOTATION];
  const lease = Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_LEASE_SECONDS;
  if (!until && holder) {
    // A claim written before leases existed: it lasts one default lease from the claim.
    const at = Date.parse(a[CLAIMED_AT_ANNOTATION] ?? ops.metadata.creationTimestamp ?? '');
    until = Number.isNaN(at) ? undefined : new Date(at + lease * 1000).toISOString();
  }
  return { ...(holder ? { holder } : {}), ...(until ? { lease: { until, seconds: lease } } : {}) };
}

/** Whether the lease has run out (a claim without one never expires by itself). */
export function leaseExpired(claim: Claim, now: Date): boolean {
  return !!claim.lease && Date.parse(claim.lease.until) <= now.getTime();
}

/** Seconds of the lease left (negative when it has run out). */
export function leaseLeft(lease: Lease, now: Date): number {
  return (Date.parse(lease.until) - now.getTime()) / 1000;
}

/** Renew when less than half of the lease remains. */
export function renewalDue(lease: Lease, now: Date): boolean {
  return leaseLeft(lease, now) < lease.seconds / 2;
}

export function nextLease(now: Date, seconds: number): Lease {
  return { until: new Date(now.getTime() + seconds * 1000).toISOString(), seconds };
}

/**
 * Annotations and label of a claim by `execution` with a fresh lease. `leaseNow` is the API
 * server's time (leases are judged in it); `now`, this machine's, stamps claimed-at, which is
 * compared with condition times this machine writes (mayRunAgain, the wait for another request).
 */
export function claimMetadata(execution: string, now: Date, seconds: number, leaseNow: Date = now) {
  const lease = nextLease(leaseNow, seconds);
  return {
    lease,
    annotations: {
      [CLAIM_ANNOTATION]: execution,
      [CLAIMED_AT_ANNOTATION]: now.toISOString(),
      [LEASE_UNTIL_ANNOTATION]: lease.until,
      [LEASE_SECONDS_ANNOTATION]: String(seconds),
    },
    labels: { [CLAIM_LABEL]: labelSafe(execution) },
  };
}

/** JSON-pointer escaping of an annotation key (`/` → `~1`). */
export function annotationPointer(key: string): string {
  return `/metadata/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/**
 * The JSON patch that renews a lease only if `execution` still holds the claim: the API server
 * applies it whole or not at all, so a lost claim is never renewed by mistake.
 */
export function renewalPatch(execution: string, lease: Lease) {
  return [
    { op: 'test', path: annotationPointer(CLAIM_ANNOTATION), value: execution },
    { op: 'add', path: annotationPointer(LEASE_UNTIL_ANNOTATION), value: lease.until },
    { op: 'add', path: annotationPointer(LEASE_SECONDS_ANNOTATION), value: String(lease.seconds) },
  ];
}

/**
 * A request a recovery ended as Failed because its execution was interrupted, and that nobody has
 * claimed since: it may be run again (a re-run claims it afresh), unlike a request that failed on
 * its own merits. Once one re-run has claimed it, others find that newer claim and stop.
 */
export function mayRunAgain(ops: PerconaXtraDBOpsRequest): boolean {
  if (ops.status?.phase !== 'Failed') return false;
  const failed = ops.status.conditions?.find(
    (c) => c.type === 'Failed' && c.status === 'True' && c.reason === EXECUTION_INTERRUPTED,
  );
  if (!failed) return false;
  const claimedAt = Date.parse(ops.metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? '');
  const failedAt = Date.parse(failed.lastTransitionTime ?? '');
  return Number.isNaN(claimedAt) || Number.isNaN(failedAt) || claimedAt <= failedAt;
}

/**
 * Recoveries a request gets: a recovery whose own failure path keeps failing (Finish rollback
 * refused, say) would otherwise be started again by every sweep, re-running the restore each time.
 */
export const MAX_RECOVERY_ATTEMPTS = 3;

/** How many recoveries have taken the request over so far. */
export function recoveryAttempts(ops: PerconaXtraDBOpsRequest): number {
  const n = Number(ops.metadata.annotations?.[RECOVERY_ATTEMPTS_ANNOTATION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
