/**
 * Maintenance windows: when a renewal may start.
 *
 * Two shapes, one model:
 * - KubeDB's `MaintenanceWindow` (namespace default) and `ClusterMaintenanceWindow` (cluster
 *   default), supervisor.appscode.com/v1alpha1: `spec.days` (day of week → list of
 *   `{start, end}` times of day, "00:00" or "2:00AM"), `spec.dates` (absolute `{start, end}`,
 *   UTC), `spec.timezone` ("" / "UTC" / "Local" / an IANA name), `spec.isDefault`. Days and
 *   dates are OR-ed, as KubeDB's supervisor does.
 * - cert-manager's shape for the stack parameter and the per-database annotation: a five-field
 *   cron expression (minute hour day-of-month month day-of-week) for when a window opens, a
 *   duration, a time zone.
 *
 * Everything here is pure: times in, times out. Wall-clock times are turned into instants with
 * the IANA database Node ships (Intl), so daylight-saving changes land where they should.
 */
import { InvalidRequestError } from '../errors.js';
import { cronDay, type LocalDate, parseCron } from './cron.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How far ahead a window is looked for before it is called unsatisfiable. */
export const HORIZON_DAYS = 400;

export interface Interval {
  start: number;
  end: number;
}

/** A window schedule, whatever it was written as. */
export interface WindowSchedule {
  /** Where it came from, for messages: `MaintenanceWindow demo/weekend`, `stack parameter`, ... */
  source: string;
  timeZone: string;
  /** Per local day: the windows opening that day, as [minute of day, length in ms]. */
  daily(date: LocalDate): Array<[number, number]>;
  /** Absolute intervals (KubeDB's `dates`). */
  dates: Interval[];
  /** The longest window (how far back an open window may have started). */
  maxLengthMs: number;
}

/** The stack parameter's and the annotation's window: opens by `cron` in `timeZone`, lasts `durationMs`. */
export function cronWindow(o: {
  cron: string;
  durationMs: number;
  timeZone?: string;
  source: string;
}): WindowSchedule {
  const cron = parseCron(o.cron);
  const timeZone = checkTimeZone(o.timeZone, o.source);
  if (!(o.durationMs > 0))
    throw new InvalidRequestError(`${o.source}: the window's duration must be positive`);
  const minutes: number[] = [];
  for (const h of [...cron.hour.values].sort((a, b) => a - b))
    for (const m of [...cron.minute.values].sort((a, b) => a - b)) minutes.push(h * 60 + m);
  return {
    source: o.source,
    timeZone,
    daily: (date) => (cronDay(cron, date) ? minutes.map((m) => [m, o.durationMs] as [number, number]) : []),
    dates: [],
    maxLengthMs: o.durationMs,
  };
}

// ---------------------------------------------------------------------------------------------
// KubeDB's MaintenanceWindow / ClusterMaintenanceWindow

export interface MaintenanceWindowSpec {
  isDefault?: boolean;
  timezone?: string;
  days?: Record<string, Array<{ start: string; end: string }>>;
  dates?: Array<{ start: string; end: string }>;
}

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** "00:00", "2:00AM", "14:30:00", "3:04PM" (Go's time.Kitchen, as kmodules' TimeOfDay writes it) → minute of day. */
export function parseTimeOfDay(text: string, where: string): number {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*$/.exec(String(text));
  if (!m)
    throw new InvalidRequestError(
      `${where}: ${JSON.stringify(text)} is not a time of day like "02:00" or "2:00AM"`,
    );
  let hour = Number(m[1]);
  const minute = Number(m[2]);
  const ampm = m[4]?.toUpperCase();
  if (ampm) {
    if (hour < 1 || hour > 12)
      throw new InvalidRequestError(`${where}: ${JSON.stringify(text)} has no such hour`);
    hour = (hour % 12) + (ampm === 'PM' ? 12 : 0);
  }
  if (hour > 23 || minute > 59)
    throw new InvalidRequestError(`${where}: ${JSON.stringify(text)} has no such time`);
  return hour * 60 + minute;
}

/** A KubeDB MaintenanceWindow's spec as a schedule; times of day whose end is not after the start run past midnight. */
export function kubedbWindow(spec: MaintenanceWindowSpec, source: string): WindowSchedule {
  const timeZone = checkTimeZone(spec.timezone === 'Local' ? 'UTC' : spec.timezone, source);
  const byDay: Array<Array<[number, number]>> = DAY_NAMES.map(() => []);
  let maxLengthMs = 0;
  for (const [day, windows] of Object.entries(spec.days ?? {})) {
    const index = DAY_NAMES.indexOf(day);
    if (index < 0) throw new InvalidRequestError(`${source}: spec.days.${day} is not a day of the week`);
    for (const [i, w] of (windows ?? []).entries()) {
      const start = parseTimeOfDay(w.start, `${source}: spec.days.${day}[${i}].start`);
      const end = parseTimeOfDay(w.end, `${source}: spec.days.${day}[${i}].end`);
      const length = ((end - start + 1440) % 1440 || 1440) * MINUTE;
      byDay[index]!.push([start, length]);
      maxLengthMs = Math.max(maxLengthMs, length);
    }
  }
  const dates = (spec.dates ?? []).map((d, i): Interval => {
    const start = Date.parse(d.start);
    const end = Date.parse(d.end);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start)
      throw new InvalidRequestError(`${source}: spec.dates[${i}] is not a start before an end`);
    return { start, end };
  });
  return { source, timeZone, daily: (date) => byDay[date.weekday]!, dates, maxLengthMs };
}

// ---------------------------------------------------------------------------------------------
// Time zones

const formatters = new Map<string, Intl.DateTimeFormat>();

function checkTimeZone(tz: string | undefined, source: string): string {
  const zone = !tz ? 'UTC' : tz;
  try {
    formatter(zone);
  } catch {
    throw new InvalidRequestError(`${source}: time zone ${JSON.stringify(tz)} is not an IANA time zone`);
  }
  return zone;
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Minutes the zone is ahead of UTC at an instant. */
function offsetMinutes(utcMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return 0;
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(utcMs)))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
  return Math.round((asUtc - Math.floor(utcMs / MINUTE) * MINUTE) / MINUTE);
}

/** The local calendar date at an instant. */
function localDate(utcMs: number, timeZone: string): LocalDate {
  const d = new Date(utcMs + offsetMinutes(utcMs, timeZone) * MINUTE);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    weekday: d.getUTCDay(),
  };
}

function addDays(date: LocalDate, n: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + n));
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    weekday: d.getUTCDay(),
  };
}

/** A wall-clock time in the zone → the instant (a time skipped by a DST change lands just after it). */
function zonedToUtc(date: LocalDate, minuteOfDay: number, timeZone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day, 0, minuteOfDay);
  const first = wall - offsetMinutes(wall, timeZone) * MINUTE;
  return wall - offsetMinutes(first, timeZone) * MINUTE;
}

// ---------------------------------------------------------------------------------------------
// Questions a scan asks

/** The windows that overlap [fromMs, toMs), in order of opening. */
export function windowsBetween(w: WindowSchedule, fromMs: number, toMs: number): Interval[] {
  const out: Interval[] = w.dates.filter((d) => d.end > fromMs && d.start < toMs);
  const first = localDate(fromMs - w.maxLengthMs, w.timeZone);
  const days = Math.ceil((toMs - fromMs + w.maxLengthMs) / DAY) + 2;
  for (let i = 0; i < days; i++) {
    const date = addDays(first, i);
    for (const [minute, length] of w.daily(date)) {
      const start = zonedToUtc(date, minute, w.timeZone);
      if (start < toMs && start + length > fromMs) out.push({ start, end: start + length });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The window open at `now` (the one closing last when several are), if any. */
export function openWindow(w: WindowSchedule, now: number): Interval | undefined {
  return windowsBetween(w, now, now + 1)
    .filter((i) => i.start <= now && now < i.end)
    .sort((a, b) => b.end - a.end)[0];
}

/** When the next window opens after `now` (within HORIZON_DAYS), searched a month at a time. */
export function nextOpening(w: WindowSchedule, now: number): number | undefined {
  for (let from = now; from < now + HORIZON_DAYS * DAY; from += 31 * DAY) {
    const found = windowsBetween(w, from, from + 31 * DAY).find((i) => i.start > now);
    if (found) return found.start;
  }
  return undefined;
}

export type StartDecision =
  | { start: true; reason: 'no-window' | 'in-window'; detail: string }
  | { start: true; reason: 'deadline'; detail: string }
  | { start: false; reason: 'outside-window'; detail: string; opensAt: string };

/**
 * Pure: whether a due renewal starts now. Inside a window (or with no window at all): yes. Outside:
 * only when the certificate would expire before the next window opens, less `marginMs` (the
 * renewal's own time and a missed scan or two) — the deadline override, which says why.
 */
export function decideStart(
  window: WindowSchedule | undefined,
  certificate: { notAfter: string },
  now: number,
  marginMs: number,
): StartDecision {
  if (!window) return { start: true, reason: 'no-window', detail: 'no maintenance window applies' };
  const open = openWindow(window, now);
  if (open)
    return {
      start: true,
      reason: 'in-window',
      detail: `inside ${window.source} (open until ${new Date(open.end).toISOString()})`,
    };
  const next = nextOpening(window, now);
  const deadline = Date.parse(certificate.notAfter) - marginMs;
  if (next === undefined || next >= deadline) {
    const when =
      next === undefined
        ? `does not open within ${HORIZON_DAYS} days`
        : `opens next at ${new Date(next).toISOString()}`;
    return {
      start: true,
      reason: 'deadline',
      detail: `deadline override: the certificate expires at ${certificate.notAfter} and ${window.source} ${when}, later than the expiry less the ${Math.round(marginMs / 3_600_000)} h margin`,
    };
  }
  return {
    start: false,
    reason: 'outside-window',
    detail: `waits for ${window.source}, which opens at ${new Date(next).toISOString()}`,
    opensAt: new Date(next).toISOString(),
  };
}

/**
 * Pure: a window that can never be met for a database, said at once rather than found at expiry:
 * one that does not open within HORIZON_DAYS, or whose longest gap between openings (looked at
 * over the next `lookaheadMs`) is longer than the time a due certificate has left, less the margin
 * — each renewal of that database would then start outside the window, by deadline override.
 */
export function windowProblem(
  window: WindowSchedule,
  now: number,
  renewBeforeMs: number,
  marginMs: number,
  lookaheadMs = 62 * DAY,
): string | undefined {
  const first = nextOpening(window, now);
  if (first === undefined && !openWindow(window, now))
    return `${window.source} does not open within ${HORIZON_DAYS} days`;
  const openings = windowsBetween(window, now, now + lookaheadMs).map((i) => i.start);
  let gap = 0;
  for (let i = 1; i < openings.length; i++) gap = Math.max(gap, openings[i]! - openings[i - 1]!);
  if (openings.length < 2) gap = lookaheadMs;
  const slack = renewBeforeMs - marginMs;
  if (gap > slack)
    return `${window.source} opens only every ${hours(gap)} at times, but a certificate that becomes due must be renewed within ${hours(Math.max(slack, 0))} (renewed with ${hours(renewBeforeMs)} left, ${hours(marginMs)} margin): its renewals will start outside the window by deadline override`;
  return undefined;
}

function hours(ms: number): string {
  return ms >= 2 * DAY ? `${Math.round((ms / DAY) * 10) / 10} days` : `${Math.round(ms / 3_600_000)} h`;
}

// ---------------------------------------------------------------------------------------------
// Which window applies to a database

/** Per-database override: `{"cron": "0 2 * * SAT", "duration": "4h", "timeZone": "Europe/Berlin"}`, or `"none"` for no window. */
export const WINDOW_ANNOTATION = 'pxc-tls-ops.io/maintenance-window';
/** KubeDB supervisor's annotations that mark a default window (besides `spec.isDefault`). */
const KUBEDB_DEFAULT_KEYS = [
  'supervisor.appscode.com/is-default-maintenance-window',
  'supervisor.appscode.com/is-default-cluster-maintenance-window',
];

export interface KubeDbWindowObject {
  metadata: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: MaintenanceWindowSpec;
}

export interface StackWindow {
  cron: string;
  durationMs: number;
  timeZone?: string;
}

export interface WindowSources {
  /** MaintenanceWindows by namespace (empty when the CRD is not installed). */
  namespaceWindows: KubeDbWindowObject[];
  clusterWindows: KubeDbWindowObject[];
  /** The stack's RenewalWindow* parameters; absent when none is set. */
  stack?: StackWindow;
  parseDuration(text: string, field: string): number;
}

const isDefault = (o: KubeDbWindowObject) =>
  o.spec?.isDefault === true || KUBEDB_DEFAULT_KEYS.some((k) => o.metadata.annotations?.[k] === 'true');

/**
 * Pure: the window of one database, in KubeDB's order with this project's two additions around it:
 * the database's annotation; the namespace's default MaintenanceWindow; the cluster's default
 * ClusterMaintenanceWindow; the stack parameter; else none (renewals start whenever due). Several
 * defaults at one level: the first by name. A window that cannot be read is a problem, not "none":
 * renewals of that database then wait only for their deadline.
 */
export function resolveWindow(
  db: { namespace: string; annotations?: Record<string, string> },
  sources: WindowSources,
): { window?: WindowSchedule; problem?: string } {
  try {
    const annotation = db.annotations?.[WINDOW_ANNOTATION];
    if (annotation !== undefined) {
      if (annotation.trim() === 'none') return {};
      const source = `annotation ${WINDOW_ANNOTATION}`;
      let o: { cron?: unknown; duration?: unknown; timeZone?: unknown };
      try {
        o = JSON.parse(annotation);
      } catch {
        throw new InvalidRequestError(`${source}: not JSON like {"cron": "0 2 * * SAT", "duration": "4h"}`);
      }
      if (typeof o.cron !== 'string' || typeof o.duration !== 'string')
        throw new InvalidRequestError(`${source}: "cron" and "duration" strings are required`);
      const zone = typeof o.timeZone === 'string' ? o.timeZone : undefined;
      return {
        window: cronWindow({
          cron: o.cron,
          durationMs: sources.parseDuration(o.duration, `${source} duration`),
          ...(zone ? { timeZone: zone } : {}),
          // The value is part of the name: two databases' annotations are two windows.
          source: `${source} (${o.cron}, ${o.duration}${zone ? `, ${zone}` : ''})`,
        }),
      };
    }
    const byName = (a: KubeDbWindowObject, b: KubeDbWindowObject) =>
      (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
    const ns = sources.namespaceWindows
      .filter((w) => w.metadata.namespace === db.namespace && isDefault(w))
      .sort(byName)[0];
    if (ns)
      return { window: kubedbWindow(ns.spec ?? {}, `MaintenanceWindow ${db.namespace}/${ns.metadata.name}`) };
    const cluster = sources.clusterWindows.filter(isDefault).sort(byName)[0];
    if (cluster)
      return {
        window: kubedbWindow(cluster.spec ?? {}, `ClusterMaintenanceWindow ${cluster.metadata.name}`),
      };
    if (sources.stack)
      return { window: cronWindow({ ...sources.stack, source: 'the stack parameter RenewalWindowCron' }) };
    return {};
  } catch (err) {
    return { problem: (err as Error).message };
  }
}
