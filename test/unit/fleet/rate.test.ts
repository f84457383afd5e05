import { describe, expect, it } from 'vitest';
import type { Kube } from '../../../functions/kube/types.js';
import { rateLimitedKube } from '../../../functions/triggers/rate.js';

describe('API request budget of the scan', () => {
  it('starts no more than the budget of requests in any second, however many are asked at once', async () => {
    let now = 0;
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
    };
    const started: number[] = [];
    const fake = { list: async () => void started.push(now) } as unknown as Kube;
    const kube = rateLimitedKube(fake, 10, clock);

    await Promise.all(Array.from({ length: 45 }, () => kube.list({} as never, undefined)));

    expect(started).toHaveLength(45);
    let most = 0;
    for (let i = 0; i < started.length; i++)
      most = Math.max(most, started.filter((t) => t >= started[i]! && t < started[i]! + 1000).length);
    expect(most).toBe(10);
    expect(started.at(-1)).toBeCloseTo(4400, 0); // 45 calls 100 ms apart
  });
});
