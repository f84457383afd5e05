/**
 * Five-field cron expressions, cert-manager's and the stack parameter's shape for when a
 * maintenance window opens (`0 2 * * SAT`): parsed, and matched against a local date. Pure.
 */
import { InvalidRequestError } from '../errors.js';

/** A calendar date in a time zone. */
export interface LocalDate {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  weekday: number; // 0 = Sunday
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface CronField {
  values: Set<number>;
  any: boolean;
}

function cronField(text: string, min: number, max: number, names: string[], what: string): CronField {
  const values = new Set<number>();
  const value = (s: string) => {
    const named = names.indexOf(s.toUpperCase());
    const n = named >= 0 ? named + (names === MONTHS ? 1 : 0) : Number(s);
    if (!/^\w+$/.test(s) || !Number.isInteger(n) || n < min || n > (names === WEEKDAYS ? 7 : max))
      throw new InvalidRequestError(
        `cron ${what}: ${JSON.stringify(s)} is not a value from ${min} to ${max}`,
      );
    return names === WEEKDAYS && n === 7 ? 0 : n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new InvalidRequestError(
        `cron ${what}: step ${JSON.stringify(stepText)} is not a positive integer`,
      );
    let from: number;
    let to: number;
    if (range === '*') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      from = value(a);
      to = value(b);
      if (names === WEEKDAYS && to === 0) to = 7;
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    if (to < from) throw new InvalidRequestError(`cron ${what}: range ${range} runs backwards`);
    for (let v = from; v <= to; v += step) values.add(names === WEEKDAYS && v === 7 ? 0 : v);
  }
  return { values, any: text === '*' || text === '?' };
}

export interface Cron {
  minute: CronField;
  hour: CronField;
  dayOfMonth: CronField;
  month: CronField;
  dayOfWeek: CronField;
}

/** Five fields, as cron and cert-manager write them (`0 2 * * SAT`, `30 1 1-7 * 0`, `*\/15 * * * *`). */
export function parseCron(expr: string): Cron {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new InvalidRequestError(
      `cron ${JSON.stringify(expr)}: five fields expected (minute hour day-of-month month day-of-week)`,
    );
  const [mi, h, dom, mo, dow] = fields as [string, string, string, string, string];
  return {
    minute: cronField(mi, 0, 59, [], 'minute'),
    hour: cronField(h, 0, 23, [], 'hour'),
    dayOfMonth: cronField(dom === '?' ? '*' : dom, 1, 31, [], 'day of month'),
    month: cronField(mo, 1, 12, MONTHS, 'month'),
    dayOfWeek: cronField(dow === '?' ? '*' : dow, 0, 6, WEEKDAYS, 'day of week'),
  };
}

/** Whether a window of `cron` opens on `date` (its month, and its day of month or week as cron reads them). */
export function cronDay(cron: Cron, date: LocalDate): boolean {
  if (!cron.month.values.has(date.month)) return false;
  const dom = cron.dayOfMonth.values.has(date.day);
  const dow = cron.dayOfWeek.values.has(date.weekday);
  // Cron's rule: with both day fields restricted, either may match.
  if (!cron.dayOfMonth.any && !cron.dayOfWeek.any) return dom || dow;
  return dom && dow;
}
