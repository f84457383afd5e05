import { describe, expect, it } from 'vitest';
import {
  checkCa,
  DEFAULT_RENEWAL_POLICY,
  renewalPolicyFromEnv,
  renewalTimeFor,
} from '../../../functions/model/renewal-policy.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = new Date('2026-12-01T00:00:00Z');
const born = new Date('2026-01-01T00:00:00Z');
const after = (ms: number) => new Date(born.getTime() + ms);
const leftAtRenewal = (lifetimeMs: number, policy = DEFAULT_RENEWAL_POLICY, explicit?: number) =>
  after(lifetimeMs).getTime() - renewalTimeFor(born, after(lifetimeMs), policy, explicit).getTime();

describe("Renewal policy: KubeDB's rule by default", () => {
  it.each([
    ['1 year', 365 * DAY, 30 * DAY],
    ['180 days', 180 * DAY, 30 * DAY],
    ['91 days', 91 * DAY, 30 * DAY],
    ['90 days (the boundary: a third is 30 days)', 90 * DAY, 30 * DAY],
    ['60 days', 60 * DAY, 20 * DAY],
    ['7 days', 7 * DAY, (7 * DAY) / 3],
    ['24 hours', 24 * HOUR, 8 * HOUR],
    ['1h20m (KubeDB docs: due after about 53 minutes)', 80 * 60_000, (80 * 60_000) / 3],
  ])('a %s certificate is due with %s ms left', (_, lifetime, left) => {
    expect(leftAtRenewal(lifetime)).toBeCloseTo(left, -1);
  });

  it('keeps a renewBefore written on the certificate, as cert-manager does', () => {
    expect(leftAtRenewal(365 * DAY, DEFAULT_RENEWAL_POLICY, 60 * DAY)).toBe(60 * DAY);
    // Not shorter than the lifetime: ignored, the policy applies.
    expect(leftAtRenewal(7 * DAY, DEFAULT_RENEWAL_POLICY, 8 * DAY)).toBeCloseTo((7 * DAY) / 3, -1);
  });

  it("reproduces KubeDB's flags exactly with ShortLifetimeDays = RenewBeforeDays", () => {
    const kubedb = renewalPolicyFromEnv({ RENEW_BEFORE_DAYS: '30', SHORT_LIFETIME_DAYS: '30' });
    expect(leftAtRenewal(60 * DAY, kubedb)).toBe(30 * DAY); // lifetime longer than the lead: the lead
    expect(leftAtRenewal(29 * DAY, kubedb)).toBeCloseTo((29 * DAY) / 3, -1); // shorter: a third
  });

  it('takes both figures from the stack parameters, and the defaults for missing or invalid values', () => {
    expect(renewalPolicyFromEnv({ RENEW_BEFORE_DAYS: '45', SHORT_LIFETIME_DAYS: '120' })).toEqual({
      renewBeforeMs: 45 * DAY,
      shortLifetimeMs: 120 * DAY,
    });
    expect(renewalPolicyFromEnv({ RENEW_BEFORE_DAYS: 'soon', SHORT_LIFETIME_DAYS: '-1' })).toEqual(
      DEFAULT_RENEWAL_POLICY,
    );
  });
});

describe('Renewal policy: the CA is watched too', () => {
  // A 90-day leaf born 80 days before NOW: due since day 60 (30 days left), renewed now it is due again in 60 days.
  const leafBorn = new Date(NOW.getTime() - 80 * DAY);
  const dueLeaf = {
    notBefore: leafBorn,
    notAfter: new Date(leafBorn.getTime() + 90 * DAY),
    renewalTime: new Date(leafBorn.getTime() + 60 * DAY),
  };
  const freshLeaf = {
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 90 * DAY),
    renewalTime: new Date(NOW.getTime() + 60 * DAY),
  };
  const ca = (daysLeft: number) => new Date(NOW.getTime() + daysLeft * DAY);

  it.each([
    ['a CA with 10 years left', freshLeaf, 3650, false],
    ['a CA expiring after the fresh leaves’ renewal', freshLeaf, 61, false],
    ['a CA expiring before the fresh leaves’ renewal', freshLeaf, 59, true],
    ['a CA expiring before the leaves renewed now are due again', dueLeaf, 59, true],
    ['a CA outliving the leaves renewed now until their renewal', dueLeaf, 61, false],
    ['an expired CA', freshLeaf, -1, true],
  ])('%s: due %s', (_, leaf, daysLeft, due) => {
    const check = checkCa(leaf, ca(daysLeft as number), NOW, DEFAULT_RENEWAL_POLICY);
    expect(check.due).toBe(due);
    expect(check.expired).toBe((daysLeft as number) < 0);
    if (due) expect(check.reason).toMatch(/CA (expired|expires)/);
  });
});
