import { describe, expect, it } from 'vitest';
import { parseCron } from '../../../functions/model/cron.js';
import {
  cronWindow,
  decideStart,
  kubedbWindow,
  nextOpening,
  openWindow,
  parseTimeOfDay,
  resolveWindow,
  type WindowSources,
  windowProblem,
} from '../../../functions/model/windows.js';
import { parseDuration } from '../../../functions/pki/duration.js';

const H = 3_600_000;
const DAY = 24 * H;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

// KubeDB's own example: the cluster default, weekends 00:00–06:00 UTC.
const weekend = kubedbWindow(
  {
    isDefault: true,
    timezone: 'UTC',
    days: { Saturday: [{ start: '00:00', end: '06:00' }], Sunday: [{ start: '00:00', end: '06:00' }] },
  },
  'ClusterMaintenanceWindow cluster-default',
);
// KubeDB's weeknight example, in New York time and Go's Kitchen format.
const weeknights = kubedbWindow(
  {
    timezone: 'America/New_York',
    days: Object.fromEntries(
      ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'].map((d) => [
        d,
        [{ start: '2:00AM', end: '5:00AM' }],
      ]),
    ),
  },
  'MaintenanceWindow prod/weeknights',
);

describe('Maintenance windows: when one is open', () => {
  // 2026-12-05 is a Saturday.
  it.each([
    ['weekend, Saturday 03:00 UTC', weekend, '2026-12-05T03:00:00Z', '2026-12-05T06:00:00.000Z', undefined],
    [
      'weekend, Saturday 06:00 UTC (the end is not inside)',
      weekend,
      '2026-12-05T06:00:00Z',
      undefined,
      '2026-12-06T00:00:00.000Z',
    ],
    ['weekend, Wednesday noon', weekend, '2026-12-02T12:00:00Z', undefined, '2026-12-05T00:00:00.000Z'],
    // 02:30 in New York in December is 07:30 UTC (EST, UTC−5).
    [
      'weeknights in New York, Monday 07:30 UTC',
      weeknights,
      '2026-12-07T07:30:00Z',
      '2026-12-07T10:00:00.000Z',
      undefined,
    ],
    [
      'weeknights in New York, Saturday',
      weeknights,
      '2026-12-05T08:00:00Z',
      undefined,
      '2026-12-07T07:00:00.000Z',
    ],
  ])('%s', (_, w, now, closes, next) => {
    expect(iso(openWindow(w, at(now))?.end)).toBe(closes);
    if (next) expect(iso(nextOpening(w, at(now)))).toBe(next);
  });

  it('follows daylight saving: 02:00 in Berlin is 00:00 UTC in summer and 01:00 UTC in winter', () => {
    const nightly = cronWindow({
      cron: '0 2 * * *',
      durationMs: 2 * H,
      timeZone: 'Europe/Berlin',
      source: 'stack',
    });
    expect(iso(nextOpening(nightly, at('2026-07-01T12:00:00Z')))).toBe('2026-07-02T00:00:00.000Z');
    expect(iso(nextOpening(nightly, at('2026-12-01T12:00:00Z')))).toBe('2026-12-02T01:00:00.000Z');
  });

  it('runs a window whose end is not after its start past midnight', () => {
    const late = kubedbWindow({ days: { Friday: [{ start: '22:00', end: '02:00' }] } }, 'late');
    expect(iso(openWindow(late, at('2026-12-05T01:00:00Z'))?.end)).toBe('2026-12-05T02:00:00.000Z');
  });

  it("ORs KubeDB's dates with its days", () => {
    const w = kubedbWindow(
      { dates: [{ start: '2026-12-09T20:00:00Z', end: '2026-12-10T06:00:00Z' }] },
      'MaintenanceWindow demo/once',
    );
    expect(iso(nextOpening(w, at('2026-12-01T00:00:00Z')))).toBe('2026-12-09T20:00:00.000Z');
    expect(nextOpening(w, at('2026-12-11T00:00:00Z'))).toBeUndefined();
  });

  it.each([
    ['0 2 * * SAT', '2026-12-05T02:00:00.000Z'],
    ['30 1 1-7 * *', '2026-12-01T01:30:00.000Z'],
    ['*/15 * * * *', '2026-12-01T00:15:00.000Z'],
    ['0 3 * * 7', '2026-12-06T03:00:00.000Z'], // 7 is Sunday too
    ['0 0 1 JAN *', '2027-01-01T00:00:00.000Z'],
    ['0 2 13 * FRI', '2026-12-04T02:00:00.000Z'], // both day fields set: the 13th or a Friday, as cron does
  ])('cron %s opens next at %s (from 2026-12-01T00:00Z)', (cron, next) => {
    const w = cronWindow({ cron, durationMs: H, source: 'stack' });
    expect(iso(nextOpening(w, at('2026-12-01T00:00:00Z')))).toBe(next);
  });

  it.each([
    ['0 2 * *', /five fields/],
    ['61 2 * * *', /minute: "61"/],
    ['0 2 * * FUNDAY', /day of week/],
    ['0 5-2 * * *', /backwards/],
  ])('refuses the cron %j, saying why', (cron, message) => {
    expect(() => parseCron(cron)).toThrow(message);
  });

  it.each([
    ['00:00', 0],
    ['2:00AM', 120],
    ['12:30AM', 30],
    ['3:04PM', 15 * 60 + 4],
    ['23:59:00', 23 * 60 + 59],
  ])('reads the time of day %j as minute %i', (text, minute) => {
    expect(parseTimeOfDay(text, 'w')).toBe(minute);
  });
});

describe('Maintenance windows: whether a due renewal starts now', () => {
  const margin = DAY;
  it.each([
    ['no window', undefined, '2026-12-02T12:00:00Z', '2027-01-30T00:00:00Z', true, 'no-window'],
    ['inside the window', weekend, '2026-12-05T03:00:00Z', '2027-01-30T00:00:00Z', true, 'in-window'],
    [
      'outside, expiry far after the next window',
      weekend,
      '2026-12-02T12:00:00Z',
      '2027-01-30T00:00:00Z',
      false,
      'outside-window',
    ],
    // Next window Saturday 00:00; expiry Saturday 12:00 less a day's margin is Friday 12:00: too late.
    [
      'outside, expiry within a day of the next window',
      weekend,
      '2026-12-02T12:00:00Z',
      '2026-12-05T12:00:00Z',
      true,
      'deadline',
    ],
    ['outside, already expired', weekend, '2026-12-02T12:00:00Z', '2026-12-01T00:00:00Z', true, 'deadline'],
  ])('%s', (_, w, now, notAfter, start, reason) => {
    const d = decideStart(w, { notAfter }, at(now), margin);
    expect(d.start).toBe(start);
    expect(d.reason).toBe(reason);
  });

  it('says why a deadline override starts outside the window', () => {
    const d = decideStart(weekend, { notAfter: '2026-12-05T12:00:00Z' }, at('2026-12-02T12:00:00Z'), margin);
    expect(d.detail).toMatch(
      /deadline override: the certificate expires at 2026-12-05T12:00:00Z and ClusterMaintenanceWindow cluster-default opens next at 2026-12-05T00:00:00.000Z/,
    );
  });

  it('starts by deadline when the window never opens again', () => {
    const past = kubedbWindow(
      { dates: [{ start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z' }] },
      'old',
    );
    const d = decideStart(past, { notAfter: '2027-06-01T00:00:00Z' }, at('2026-12-02T12:00:00Z'), margin);
    expect(d).toMatchObject({
      start: true,
      reason: 'deadline',
      detail: expect.stringMatching(/does not open within 400 days/),
    });
  });
});

describe('Maintenance windows: unsatisfiable ones are reported at once', () => {
  const now = at('2026-12-02T12:00:00Z');
  it.each([
    ['a weekly window, 30 days of slack', weekend, 30 * DAY, undefined],
    [
      'a weekly window, a 7-day certificate (2⅓ days of slack)',
      weekend,
      (7 * DAY) / 3,
      /opens only every .* outside the window/,
    ],
    [
      'a monthly window, 30 days of slack',
      cronWindow({ cron: '0 2 1 * *', durationMs: 4 * H, source: 'monthly' }),
      30 * DAY,
      /opens only every 31 days/,
    ],
    [
      'a window that never opens (30 February)',
      cronWindow({ cron: '0 2 30 2 *', durationMs: H, source: 'feb30' }),
      30 * DAY,
      /does not open within 400 days/,
    ],
  ])('%s', (_, w, renewBefore, problem) => {
    const found = windowProblem(w, now, renewBefore, DAY);
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });
});

describe('Maintenance windows: which one applies', () => {
  const mw = (namespace: string, name: string, isDefault: boolean) => ({
    metadata: { namespace, name },
    spec: { isDefault, days: { Sunday: [{ start: '01:00', end: '02:00' }] } },
  });
  const sources = (o: Partial<WindowSources> = {}): WindowSources => ({
    namespaceWindows: [
      mw('prod', 'b-window', true),
      mw('prod', 'a-window', true),
      mw('dev', 'not-default', false),
    ],
    clusterWindows: [
      {
        metadata: {
          name: 'cluster-default',
          annotations: { 'supervisor.appscode.com/is-default-cluster-maintenance-window': 'true' },
        },
        spec: {},
      },
    ],
    stack: { cron: '0 3 * * *', durationMs: H },
    parseDuration,
    ...o,
  });

  it.each([
    [
      'the annotation first',
      {
        namespace: 'prod',
        annotations: { 'pxc-tls-ops.io/maintenance-window': '{"cron": "0 4 * * *", "duration": "1h"}' },
      },
      sources(),
      'annotation pxc-tls-ops.io/maintenance-window (0 4 * * *, 1h)',
    ],
    [
      "the namespace's default MaintenanceWindow (first by name)",
      { namespace: 'prod' },
      sources(),
      'MaintenanceWindow prod/a-window',
    ],
    [
      "the cluster's default (a namespace window that is not the default does not count)",
      { namespace: 'dev' },
      sources(),
      'ClusterMaintenanceWindow cluster-default',
    ],
    [
      'the stack parameter without KubeDB windows',
      { namespace: 'dev' },
      sources({ namespaceWindows: [], clusterWindows: [] }),
      'the stack parameter RenewalWindowCron',
    ],
    [
      'none at all',
      { namespace: 'dev' },
      sources({ namespaceWindows: [], clusterWindows: [], stack: undefined }),
      undefined,
    ],
    [
      'none when the annotation says so',
      { namespace: 'prod', annotations: { 'pxc-tls-ops.io/maintenance-window': 'none' } },
      sources(),
      undefined,
    ],
  ])('takes %s', (_, db, s, source) => {
    const found = resolveWindow(db, s);
    expect(found.problem).toBeUndefined();
    expect(found.window?.source).toBe(source);
  });

  it('reports a window it cannot read instead of treating it as none', () => {
    const found = resolveWindow(
      {
        namespace: 'prod',
        annotations: { 'pxc-tls-ops.io/maintenance-window': '{"cron": "0 4 * *", "duration": "1h"}' },
      },
      sources(),
    );
    expect(found.window).toBeUndefined();
    expect(found.problem).toMatch(/five fields/);
  });
});
