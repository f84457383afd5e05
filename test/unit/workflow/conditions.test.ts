import { describe, expect, it } from 'vitest';
import { removeCondition, setCondition, setConditions } from '../../../functions/model/conditions.js';
import type { Condition } from '../../../functions/model/types.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');
const running: Condition = {
  type: 'Running',
  status: 'True',
  observedGeneration: 1,
  reason: 'Running',
  message: 'in progress',
  lastTransitionTime: T0.toISOString(),
};

describe('Condition merge', () => {
  it.each([
    {
      why: 'adds a new type with the current time',
      current: [] as Condition[],
      next: { type: 'Paused', status: 'True' as const, reason: 'P', message: 'm' },
      expectTime: T1.toISOString(),
      expectLength: 1,
    },
    {
      why: 'keeps lastTransitionTime when the status does not flip, even if the message changes',
      current: [running],
      next: { type: 'Running', status: 'True' as const, reason: 'Running', message: 'other' },
      expectTime: T0.toISOString(),
      expectLength: 1,
    },
    {
      why: 'moves lastTransitionTime when the status flips',
      current: [running],
      next: { type: 'Running', status: 'False' as const, reason: 'Successful', message: 'done' },
      expectTime: T1.toISOString(),
      expectLength: 1,
    },
  ])('$why', ({ current, next, expectTime, expectLength }) => {
    const out = setCondition(current, next, 2, T1);
    expect(out).toHaveLength(expectLength);
    const c = out.find((x) => x.type === next.type)!;
    expect(c.lastTransitionTime).toBe(expectTime);
    expect(c.observedGeneration).toBe(2);
    expect(c.message).toBe(next.message);
  });

  it('returns the same array when nothing would change, so the write can be skipped', () => {
    const current = [running];
    expect(
      setCondition(
        current,
        { type: 'Running', status: 'True', reason: 'Running', message: 'in progress' },
        1,
        T1,
      ),
    ).toBe(current);
    expect(
      setConditions(
        current,
        [{ type: 'Running', status: 'True', reason: 'Running', message: 'in progress' }],
        1,
        T1,
      ),
    ).toBe(current);
  });

  it('writes a condition whose message alone changes, keeping its lastTransitionTime', () => {
    // Same type, status, reason and generation: only the message differs, so only the message
    // can make this a change (a new observedGeneration would hide a comparison that ignores it).
    const current = [running];
    const next = { type: 'Running', status: 'True' as const, reason: 'Running', message: 'pod 2 of 3' };

    const one = setCondition(current, next, 1, T1);
    const many = setConditions(current, [next], 1, T1);

    for (const out of [one, many]) {
      expect(out).not.toBe(current);
      expect(out).toEqual([{ ...running, message: 'pod 2 of 3' }]);
    }
  });

  it('stamps a new observedGeneration as a change', () => {
    const current = [running];
    expect(
      setCondition(
        current,
        { type: 'Running', status: 'True', reason: 'Running', message: 'in progress' },
        3,
        T1,
      ),
    ).not.toBe(current);
  });

  it('removes a type, and returns the same array when it was not there', () => {
    const current = [running];
    expect(removeCondition(current, 'Running')).toEqual([]);
    expect(removeCondition(current, 'Paused')).toBe(current);
  });
});
