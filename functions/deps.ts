/**
 * What every step gets: the Kubernetes client, a clock and a logger, from one place.
 *
 * In Lambda the client comes from `getKube()` (lazily, cached per container). The local runner
 * and the tests inject their own: `runWithDeps(deps, fn)` scopes them to one execution (so
 * several simulators can run in one process), `setDeps()` sets a process-wide default.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { getKube } from './kube/index.js';
import type { Kube } from './kube/types.js';

export interface Clock {
  now(): Date;
}

export interface Deps {
  kube: Kube;
  clock: Clock;
  logger: Logger;
  /** How long a claim's lease lasts (seconds); unset: LEASE_SECONDS or the default (model/lease.ts). */
  leaseSeconds?: number;
}

export const systemClock: Clock = { now: () => new Date() };

let logger: Logger | undefined;
/** The shared Powertools logger (created on first use, not at import: cold starts stay cheap). */
export function defaultLogger(): Logger {
  logger ??= new Logger({ serviceName: 'pxc-tls-ops' });
  return logger;
}

const scoped = new AsyncLocalStorage<Partial<Deps>>();
let global: Partial<Deps> = {};

/** Process-wide overrides (undefined clears them). */
export function setDeps(deps: Partial<Deps> | undefined): void {
  global = deps ?? {};
}

/** Runs `fn` (and everything it starts) with these deps. */
export function runWithDeps<T>(deps: Partial<Deps>, fn: () => T): T {
  return scoped.run(deps, fn);
}

export async function getDeps(): Promise<Deps> {
  const s = scoped.getStore() ?? {};
  return {
    kube: s.kube ?? global.kube ?? (await getKube()),
    clock: s.clock ?? global.clock ?? systemClock,
    logger: s.logger ?? global.logger ?? defaultLogger(),
    ...(s.leaseSeconds !== undefined || global.leaseSeconds !== undefined
      ? { leaseSeconds: s.leaseSeconds ?? global.leaseSeconds }
      : {}),
  };
}
