/** Go-style durations, as cert-manager and KubeDB write them ("2160h", "90m", "1h30m", "1.5h"). */
import { InvalidRequestError } from '../errors.js';
import { shortValue } from '../model/schema/values.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const WHOLE = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/**
 * Go-style duration → milliseconds. Accepts what Go's time.ParseDuration accepts for
 * non-negative values ("0" included); throws InvalidRequestError naming `field` otherwise.
 */
export function parseDuration(value: string, field = 'duration'): number {
  if (typeof value !== 'string') {
    throw new InvalidRequestError(`${field}: ${shortValue(value)} is not a duration string like "2160h"`);
  }
  if (value === '0') return 0;
  if (!WHOLE.test(value)) {
    throw new InvalidRequestError(
      `${field}: ${shortValue(value)} is not a duration (use Go syntax such as "2160h", "90m", "1h30m")`,
    );
  }
  let ms = 0;
  for (const [, num, unit] of value.matchAll(PART)) {
    ms += Number(num) * UNIT_MS[unit!]!;
  }
  return Math.round(ms);
}

/** Milliseconds → the shortest Go-style string ("2160h", "1h30m", "45s"), for messages and annotations. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
