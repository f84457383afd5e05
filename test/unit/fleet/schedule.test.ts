import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, limitsFromEnv, scheduleRenewals } from '../../../functions/model/schedule.js';
import { kubedbWindow } from '../../../functions/model/windows.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-02T12:00:00Z'); // a Wednesday
const weekend = kubedbWindow(
  { days: { Saturday: [{ start: '00:00', end: '06:00' }], Sunday: [{ start: '00:00', end: '06:00' }] } },
  'ClusterMaintenanceWindow weekend',
);
const due = (namespace: string, database: string, daysLeft: number) => ({
  namespace,
  database,
  notAfter: new Date(NOW + daysLeft * DAY).toISOString(),
});
const names = (xs: Array<{ namespace: string; database: string }>) =>
  xs.map((x) => `${x.namespace}/${x.database}`);

describe('Renewal schedule: windows and limits', () => {
  it('starts renewals a window allows, holds the others, and lets a near deadline through with its reason', () => {
    const s = scheduleRenewals(
      [due('a', 'far', 20), due('a', 'near', 2.5), due('b', 'free', 20)],
      (c) => (c.namespace === 'a' ? { window: weekend } : {}),
      [],
      DEFAULT_LIMITS,
      NOW,
    );
    expect(s.start.map((r) => [r.database, r.startReason])).toEqual([
      ['near', 'deadline'],
      ['free', 'no-window'],
    ]);
    expect(s.waiting).toEqual([
      expect.objectContaining({
        database: 'far',
        reason: 'outside-window',
        detail: expect.stringMatching(/opens at 2026-12-05T00:00/),
      }),
    ]);
  });

  it('holds renewals beyond the per-cluster and per-namespace limits, counting those in flight, most urgent first', () => {
    const s = scheduleRenewals(
      [
        due('a', 'a1', 20),
        due('a', 'a2', 10),
        due('a', 'a3', 15),
        due('b', 'b1', 25),
        due('c', 'c1', 5),
        due('d', 'd1', 30),
      ],
      () => ({}),
      ['a', 'z'],
      { ...DEFAULT_LIMITS, perCluster: 5, perNamespace: 2 },
      NOW,
    );
    // In flight: a, z. c1 (5 days) starts; a2 (10 days) fills namespace a; a3 and a1 wait; b1 fills the cluster; d1 waits.
    expect(names(s.start)).toEqual(['c/c1', 'a/a2', 'b/b1']);
    expect(s.waiting.map((w) => [w.database, w.reason])).toEqual([
      ['a3', 'namespace-limit'],
      ['a1', 'namespace-limit'],
      ['d1', 'cluster-limit'],
    ]);
  });

  it('holds a renewal whose window cannot be read until its deadline, then starts it saying why', () => {
    const unreadable = () => ({ problem: 'annotation pxc-tls-ops.io/maintenance-window: not JSON' });
    const early = scheduleRenewals([due('a', 'db', 20)], unreadable, [], DEFAULT_LIMITS, NOW);
    const late = scheduleRenewals([due('a', 'db', 0.5)], unreadable, [], DEFAULT_LIMITS, NOW);
    expect(early.start).toEqual([]);
    expect(early.waiting).toEqual([expect.objectContaining({ reason: 'window-unreadable' })]);
    expect(late.start).toEqual([
      expect.objectContaining({ startReason: 'deadline', startDetail: expect.stringMatching(/not JSON/) }),
    ]);
  });

  it('reads the limits and the margin from the stack parameters', () => {
    expect(
      limitsFromEnv({
        MAX_RENEWALS_PER_CLUSTER: '50',
        MAX_RENEWALS_PER_NAMESPACE: '5',
        DEADLINE_MARGIN_HOURS: '48',
      }),
    ).toEqual({
      perCluster: 50,
      perNamespace: 5,
      marginMs: 2 * DAY,
    });
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS);
  });
});
