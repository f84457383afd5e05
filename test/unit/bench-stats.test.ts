import { describe, expect, it } from 'vitest';
import { figure, fitLine, median, quantile, renderTable } from '../../bench/stats.js';
import { detectionLags } from '../../bench/workflow.js';
import type { EventLog } from '../../local/runner/index.js';
import type { ReadinessRecord } from '../../local/sim/index.js';

describe('Benchmark statistics', () => {
  it('takes the median and interpolated quantiles of unsorted values', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([10, 0], 0.95)).toBeCloseTo(9.5);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('marks a figure MISS when its median is over the target, with min and max of the runs', () => {
    const f = figure('g', 'wall', 's', [3, 1, 2], { target: '≤ 1.5', max: 1.5 });
    expect(f).toMatchObject({ median: 2, min: 1, max: 3, runs: 3, met: false });
    expect(renderTable([f])).toMatch(/2 s\s+1…3\s+3\s+≤ 1\.5\s+MISS/);
  });

  it('judges a p95 figure by its p95, and a figure without a target not at all', () => {
    expect(figure('g', 'lag', 's', [0, 0, 0, 0, 10], { stat: 'p95', max: 2 }).met).toBe(false);
    expect(figure('g', 'lag', 's', [1]).met).toBeUndefined();
  });

  it('derives fixed part and growth per pod restart from executions at two sizes', () => {
    expect(
      fitLine([
        [7, 51],
        [3, 27],
      ]),
    ).toEqual({ fixed: 9, perUnit: 6 });
    expect(() => fitLine([[3, 27]])).toThrow(/two different/);
  });
});

describe('Readiness detection lag', () => {
  const ready = (pod: string, uid: string, at: number): ReadinessRecord =>
    ({ at, namespace: 'demo', pod, uid, ready: true, reason: 'Ready', message: '' }) as ReadinessRecord;
  const choice = (pod: string, at: number, isReady: boolean): EventLog => ({
    type: 'StateEntered',
    timestamp: at,
    state: { name: 'Pod ready?', type: 'Choice', input: { pod: { name: pod }, check: { ready: isReady } } },
  });

  it('runs from the new pod turning Ready to the first "Pod ready?" that knows it', () => {
    const lags = detectionLags(
      [ready('db-0', 'old-0', 50), ready('db-0', 'new-0', 1_000), ready('db-1', 'new-1', 5_000)],
      [choice('db-0', 990, false), choice('db-0', 2_970, true), choice('db-1', 5_004, true)],
      { namespace: 'demo', initialUids: new Set(['old-0']), since: 100 },
    );
    expect(lags).toEqual([1_970, 4]);
  });

  it('ignores pods of other namespaces and readiness from before the execution', () => {
    const other = { ...ready('db-0', 'x', 1_000), namespace: 'elsewhere' };
    const lags = detectionLags([other, ready('db-0', 'y', 10)], [choice('db-0', 1_001, true)], {
      namespace: 'demo',
      initialUids: new Set(),
      since: 100,
    });
    expect(lags).toEqual([]);
  });
});
