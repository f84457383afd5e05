import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import { formatDuration, parseDuration } from '../../../functions/pki/index.js';

const H = 3_600_000;
const M = 60_000;

describe('parseDuration', () => {
  it.each([
    ['2160h', 2160 * H],
    ['90m', 90 * M],
    ['1h30m', 90 * M],
    ['45s', 45_000],
    ['1.5h', 90 * M],
    ['.5h', 30 * M],
    ['1h0m0s', H],
    ['1500ms', 1500],
    ['2h45m30s', 2 * H + 45 * M + 30_000],
    ['0', 0],
  ])('reads %s as Go does', (value, ms) => {
    expect(parseDuration(value)).toBe(ms);
  });

  it.each(['', '90', '1d', '2160 h', 'h', '-1h', '+1h', '1h 30m', '1H', '1hh', '1.h.5', 'abc', '1y'])(
    'rejects %j with InvalidRequestError naming the field and the value',
    (value) => {
      const attempt = () => parseDuration(value, 'spec.tls.certificates[0].duration');
      expect(attempt).toThrow(InvalidRequestError);
      expect(attempt).toThrow(`spec.tls.certificates[0].duration: ${JSON.stringify(value)}`);
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [2160 * H, '2160h'],
    [90 * M, '1h30m'],
    [45_000, '45s'],
    [H + 1500, '1h1s500ms'],
    [0, '0s'],
  ])('writes %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [H, 720 * H, 5 * M, 3 * H + 7 * M + 9_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
