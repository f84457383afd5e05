/**
 * Shared set-up for the simulator's tests: a simulator with short delays, and the
 * @kubernetes/client-node clients the functions use, built from the kubeconfig it writes.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PolicyV1Api,
} from '@kubernetes/client-node';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
}

export function clientsFor(sim: Simulator): Clients {
  const kc = new KubeConfig();
  kc.loadFromString(sim.kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

export const FAST: SimulatorOptions = { podReadyDelayMs: 30, podDeleteGraceMs: 20 };

export async function startFast(opts: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator({ ...FAST, ...opts });
}

/** Polls `fn` until it returns a truthy value (generous timeout: the machine is shared). */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The HTTP status of a failed client-node call. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    const e = err as { code?: number; statusCode?: number };
    return e.code ?? e.statusCode ?? -1;
  }
}

/** The parsed Status body of a failed client-node call. */
export async function errorOf(p: Promise<unknown>): Promise<{ code: number; body: J }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    return { code: e.code ?? -1, body };
  }
  throw new Error('expected the call to fail');
}

export function isReady(pod: J): boolean {
  return !!pod?.status?.conditions?.some((c: J) => c.type === 'Ready' && c.status === 'True');
}
