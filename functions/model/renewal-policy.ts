/**
 * When a certificate is due for renewal, and when its CA is.
 *
 * KubeDB's Recommendation engine (ops-manager flags `--gen-rotate-tls-recommendation-before-expiry-*`,
 * default one month) proposes a rotate when less than that lead time is left, and falls back to
 * "a third of the lifetime left" for certificates too short for the lead time. Written here as one
 * continuous rule with two stack parameters:
 *
 *   renewBefore = min(RenewBeforeDays, lifetime / 3)   for lifetime ≤ ShortLifetimeDays
 *   renewBefore = RenewBeforeDays                      for lifetime > ShortLifetimeDays
 *
 * With the defaults (30, 90) a 1-year certificate renews with 30 days left, a 90-day one with 30,
 * a 7-day one with 2⅓ days. ShortLifetimeDays = RenewBeforeDays reproduces KubeDB's flags exactly
 * (fallback only when the lifetime is shorter than the lead). A certificate whose own spec sets
 * `renewBefore` keeps it (cert-manager's rule, and what the user wrote).
 */

const DAY_MS = 86_400_000;

export interface RenewalPolicy {
  /** Lead time before notAfter for long-lived certificates (RenewBeforeDays, default 30). */
  renewBeforeMs: number;
  /** Certificates living at most this long renew with a third of their lifetime left (ShortLifetimeDays, default 90). */
  shortLifetimeMs: number;
}

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = {
  renewBeforeMs: 30 * DAY_MS,
  shortLifetimeMs: 90 * DAY_MS,
};

/** The stack's RenewBeforeDays / ShortLifetimeDays (env RENEW_BEFORE_DAYS, SHORT_LIFETIME_DAYS); unset or invalid → default. */
export function renewalPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RenewalPolicy {
  const days = (name: string, fallback: number) => {
    const n = Number(env[name]);
    return env[name] && Number.isFinite(n) && n > 0 ? n * DAY_MS : fallback;
  };
  return {
    renewBeforeMs: days('RENEW_BEFORE_DAYS', DEFAULT_RENEWAL_POLICY.renewBeforeMs),
    shortLifetimeMs: days('SHORT_LIFETIME_DAYS', DEFAULT_RENEWAL_POLICY.shortLifetimeMs),
  };
}

/** Pure: how long before notAfter a certificate of this lifetime is renewed (an explicit renewBefore shorter than the lifetime wins). */
export function renewBeforeFor(lifetimeMs: number, policy: RenewalPolicy, explicitMs?: number): number {
  if (explicitMs !== undefined && explicitMs > 0 && explicitMs < lifetimeMs) return explicitMs;
  const third = Math.floor(lifetimeMs / 3);
  if (lifetimeMs > policy.shortLifetimeMs) return Math.min(policy.renewBeforeMs, lifetimeMs);
  return Math.min(policy.renewBeforeMs, third);
}

/** Pure: the instant a certificate valid from notBefore to notAfter is due. */
export function renewalTimeFor(
  notBefore: Date,
  notAfter: Date,
  policy: RenewalPolicy,
  explicitRenewBeforeMs?: number,
): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notAfter.getTime() - renewBeforeFor(lifetime, policy, explicitRenewBeforeMs));
}

export interface CaCheck {
  /** The CA certificate the leaves chain to expires before the leaves' next renewal. */
  due: boolean;
  expired: boolean;
  /** When the leaves are renewed next: their renewal time, or, when that has passed, the renewal time of leaves issued now. */
  nextLeafRenewal: Date;
  reason?: string;
}

/**
 * Pure: whether a database's CA must be renewed before (or with) its leaves. A CA that expires
 * before the leaves' next renewal would take every pod's TLS down between the two; it is renewed
 * first, with the overlap of a change of issuer (ca.crt = old + new CA on every pod before any
 * pod presents a certificate from the new CA).
 */
export function checkCa(
  leaf: { notBefore: Date; notAfter: Date; renewalTime: Date },
  caNotAfter: Date,
  now: Date,
  policy: RenewalPolicy,
): CaCheck {
  const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  const nextLeafRenewal =
    leaf.renewalTime.getTime() > now.getTime()
      ? leaf.renewalTime
      : new Date(now.getTime() + lifetime - renewBeforeFor(lifetime, policy));
  const expired = caNotAfter.getTime() <= now.getTime();
  const due = caNotAfter.getTime() <= nextLeafRenewal.getTime();
  return {
    due,
    expired,
    nextLeafRenewal,
    ...(due
      ? {
          reason: expired
            ? `CA expired at ${caNotAfter.toISOString()}`
            : `CA expires at ${caNotAfter.toISOString()}, before its certificates' next renewal at ${nextLeafRenewal.toISOString()}`,
        }
      : {}),
  };
}
