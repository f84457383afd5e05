/**
 * Interrupting `npm run local` at a chosen point of a request, as a person would (Ctrl-C) or as a
 * crash would (SIGKILL), then running the same request again: shared by the test that proves every
 * such point ends well and the benchmark that measures how long the database stays paused.
 *
 * After Ctrl-C the same process recovers the request (restore, resume, Failed) and a re-run carries
 * it out afresh. After SIGKILL nothing runs: the re-run waits for the dead run's lease to run out,
 * takes the request over, restores first, then carries it out.
 */
import { KINDS } from '../functions/kube/types.js';
import type { PerconaXtraDB } from '../functions/model/types.js';
import { type LocalChild, spawnLocal } from './cli-child.js';
import type { Simulator } from './sim/index.js';

export interface InterruptPoint {
  name: string;
  action: 'rotate' | 'change-issuer';
  /** `<state>#<n>`: the run is interrupted when the n-th call of that Task is about to start. */
  holdBefore: string;
}

/** Several points of a rotate and of a change of issuer (two passes of 3 pod restarts each). */
export const INTERRUPT_POINTS: InterruptPoint[] = [
  { name: 'rotate: claimed, before Pause', action: 'rotate', holdBefore: 'Pause#1' },
  { name: 'rotate: paused, nothing changed yet', action: 'rotate', holdBefore: 'Change certificates#1' },
  { name: 'rotate: new certificates, pod 0 restarted', action: 'rotate', holdBefore: 'Restart pod#2' },
  { name: 'rotate: every pod restarted, before Resume', action: 'rotate', holdBefore: 'Resume#1' },
  { name: 'change issuer: pass 1, pod 0 restarted', action: 'change-issuer', holdBefore: 'Restart pod#2' },
  {
    name: 'change issuer: between the two passes',
    action: 'change-issuer',
    holdBefore: 'Change certificates#2',
  },
  { name: 'change issuer: pass 2, pods 0-1 restarted', action: 'change-issuer', holdBefore: 'Restart pod#6' },
];

export type InterruptSignal = 'SIGINT' | 'SIGKILL';

export interface InterruptOutcome {
  point: InterruptPoint;
  signal: InterruptSignal;
  /** How the database got unpaused: the run's own Ctrl-C recovery, or a re-run taking over the expired lease. */
  path: 'Ctrl-C recovery' | 'lease take-over';
  /** Whether the database was paused when the signal came. */
  wasPaused: boolean;
  /** From the signal until the database had no Paused condition (0 when it was not paused). */
  unpausedAfterMs: number;
  /** Exit code of the interrupted run (130 after Ctrl-C, null when killed). */
  interruptedExit: number | null;
  rerunExit: number | null;
  interrupted: LocalChild;
  rerun: LocalChild;
}

export function isPaused(sim: Simulator, namespace: string, database: string): boolean {
  const db = sim.store.get<PerconaXtraDB>(
    KINDS.PerconaXtraDB.apiVersion,
    'PerconaXtraDB',
    namespace,
    database,
  );
  return db?.status?.conditions?.some((c) => c.type === 'Paused' && c.status === 'True') === true;
}

/**
 * Runs `opsRequest` (already created) with `npm run local`, interrupts it at `point` with `signal`,
 * then runs it again to the end. Measures the time from the signal until the database is unpaused.
 */
export async function interruptLocalRun(o: {
  sim: Simulator;
  kubeconfig: string;
  namespace: string;
  database: string;
  opsRequest: string;
  point: InterruptPoint;
  signal: InterruptSignal;
  leaseSeconds: number;
  waitScale?: number;
  /** A bundle of local/run.ts (cli-child.ts `bundleLocalCli`); unset: through tsx. */
  bundle?: string;
}): Promise<InterruptOutcome> {
  const args = [
    '--kubeconfig',
    o.kubeconfig,
    '--namespace',
    o.namespace,
    '--ops-request',
    o.opsRequest,
    '--lease-seconds',
    String(o.leaseSeconds),
    '--wait-scale',
    String(o.waitScale ?? 0.05),
  ];
  const interrupted = spawnLocal(args, { PXC_TLS_OPS_HOLD_BEFORE: o.point.holdBefore }, o.bundle);
  await interrupted.waitFor(/^holding before /);
  const wasPaused = isPaused(o.sim, o.namespace, o.database);
  const at = Date.now();
  interrupted.process.kill(o.signal);
  let unpausedAt = wasPaused ? 0 : at;
  const poll = setInterval(() => {
    if (!unpausedAt && !isPaused(o.sim, o.namespace, o.database)) unpausedAt = Date.now();
  }, 10);
  try {
    const interruptedExit = await interrupted.exit;
    const rerun = spawnLocal(args, {}, o.bundle);
    const rerunExit = await rerun.exit;
    if (!unpausedAt && !isPaused(o.sim, o.namespace, o.database)) unpausedAt = Date.now();
    return {
      point: o.point,
      signal: o.signal,
      path: o.signal === 'SIGINT' ? 'Ctrl-C recovery' : 'lease take-over',
      wasPaused,
      unpausedAfterMs: unpausedAt ? unpausedAt - at : Number.NaN,
      interruptedExit,
      rerunExit,
      interrupted,
      rerun,
    };
  } finally {
    clearInterval(poll);
  }
}
