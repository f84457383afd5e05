import type { Kube } from '../kube/types.js';

/**
 * A Kube whose calls start at least 1/`perSecond` s apart: what the expiry scan puts on one API
 * server stays under `perSecond` requests in any second (the stack's ApiRequestsPerSecond),
 * whatever the size of the fleet. No burst allowance, so "any second" holds, not just on average.
 * Calls wait their turn; none is dropped. `clock` is for tests.
 */
export function rateLimitedKube(
  kube: Kube,
  perSecond: number,
  clock: { now(): number; sleep(ms: number): Promise<void> } = {
    now: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  },
): Kube {
  const spacing = 1000 / perSecond;
  let next = Number.NEGATIVE_INFINITY;
  let queue: Promise<void> = Promise.resolve();
  const take = (): Promise<void> => {
    const turn = queue.then(async () => {
      const wait = next - clock.now();
      if (wait > 0) await clock.sleep(wait);
      next = Math.max(clock.now(), next) + spacing;
    });
    queue = turn;
    return turn;
  };
  return new Proxy(kube, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await take();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
