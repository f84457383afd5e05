import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { ANNOTATIONS, decodeSecretData, inspectTlsSecret } from '../../functions/pki/index.js';
import { bundleLocalCli } from '../../local/cli-child.js';
import {
  INTERRUPT_POINTS,
  type InterruptPoint,
  type InterruptSignal,
  interruptLocalRun,
} from '../../local/interrupt.js';
import { runExecution } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';

const NS = 'demo';
const LEASE = 3;
const silent = new Logger({ serviceName: 'pxc-tls-ops-test', logLevel: 'SILENT' });

/**
 * SIGKILL at every point; Ctrl-C mid-rotate (new certificates out, a pod restarted on them) and
 * between the two passes of a change of issuer (bench/recovery.ts times Ctrl-C at every point).
 */
const SCENARIOS: Array<{ point: InterruptPoint; signal: InterruptSignal }> = [
  ...INTERRUPT_POINTS.map((point) => ({ point, signal: 'SIGKILL' as const })),
  ...INTERRUPT_POINTS.filter(
    (p) =>
      (p.action === 'rotate' && p.holdBefore === 'Restart pod#2') || p.holdBefore === 'Change certificates#2',
  ).map((point) => ({ point, signal: 'SIGINT' as const })),
];

/** Runs at most `n` of the functions given to it at a time. */
function limit(n: number) {
  let running = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

function get<T>(sim: Simulator, kind: { apiVersion: string; kind: string }, name: string): T | undefined {
  return sim.store.get<T>(kind.apiVersion, kind.kind, NS, name);
}

/** Pods Ready, nothing paused, no backup left, each certificate Secret chains to its ca.crt and comes from the issuer the spec names. */
function consistent(sim: Simulator, database: string, opsRequest: string): string[] {
  const problems: string[] = [];
  const db = get<PerconaXtraDB>(sim, KINDS.PerconaXtraDB, database)!;
  if (db.status?.conditions?.some((c) => c.type === 'Paused')) problems.push('still Paused');
  for (const i of [0, 1, 2]) {
    const pod = get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      sim,
      KINDS.Pod,
      `${database}-${i}`,
    );
    if (!pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      problems.push(`${database}-${i} not Ready`);
  }
  if (get(sim, KINDS.Secret, `${database}-tls-backup-${opsRequest}`)) problems.push('backup left behind');
  for (const alias of ['server', 'client', 'metrics-exporter']) {
    const secret = get<{ data: Record<string, string>; metadata: { annotations?: Record<string, string> } }>(
      sim,
      KINDS.Secret,
      `${database}-${alias}-cert`,
    );
    if (!secret) {
      problems.push(`${alias} Secret missing`);
      continue;
    }
    const seen = inspectTlsSecret(decodeSecretData(secret.data));
    if (!seen.rootFingerprint) problems.push(`${alias} certificate does not chain to its ca.crt`);
    if (!seen.keyMatches) problems.push(`${alias} key does not match its certificate`);
    if (secret.metadata.annotations?.[ANNOTATIONS.issuerName] !== db.spec.tls?.issuerRef?.name)
      problems.push(`${alias} certificate is not from the issuer the spec names`);
  }
  return problems;
}

describe('npm run local interrupted at any point of a rotate or a change of issuer', () => {
  let sim: Simulator;
  let kube: Kube;
  let dir: string;
  let kubeconfig: string;
  let bundle: string;
  /** At most this many scenarios at once: each runs two child processes and a simulator's pods. */
  const slots = limit(3);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pxc-interrupt-'));
    kubeconfig = join(dir, 'kubeconfig');
    bundle = await bundleLocalCli();
    sim = await startSimulator({ podReadyDelayMs: 150, podDeleteGraceMs: 30, kubeconfigPath: kubeconfig });
    kube = kubeFromKubeconfig(sim.kubeconfig);
    await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
  });
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (bundle) rmSync(dirname(bundle), { recursive: true, force: true });
  });

  // Independent databases: run side by side (each spends most of its time waiting for a child or a lease).
  it.concurrent.each(SCENARIOS.map((s, i) => ({ ...s, i, name: s.point.name })))(
    '$signal at "$name": a re-run of the same request ends Successful, and a new request succeeds',
    ({ point, signal, i }) =>
      slots(async () => {
        const database = `px-int-${i}`;
        const created = createPerconaXtraDB(sim, { namespace: NS, name: database, replicas: 3 });
        await waitForPodsReady(sim, NS, created.podNames);
        const run = (input: unknown) =>
          runExecution({ kube, input, waitScale: 0.05, retryScale: 0.02, logger: silent });
        sim.store.create(
          opsRequestFrom('pxcops-add-tls', { name: `${database}-add`, namespace: NS, database }),
        );
        expect((await run({ namespace: NS, opsRequest: `${database}-add` })).status).toBe('SUCCEEDED');
        const name = `${database}-${point.action}`;
        sim.store.create(
          opsRequestFrom(point.action === 'rotate' ? 'pxcops-rotate' : 'pxcops-change-issuer', {
            name,
            namespace: NS,
            database,
          }),
        );

        const outcome = await interruptLocalRun({
          sim,
          kubeconfig,
          namespace: NS,
          database,
          opsRequest: name,
          point,
          signal,
          leaseSeconds: LEASE,
          bundle,
        });

        if (signal === 'SIGINT') {
          expect(outcome.interruptedExit, outcome.interrupted.output()).toBe(130);
          expect(outcome.interrupted.output()).toMatch(
            /RECOVERED in .*: PerconaXtraDBOpsRequest demo\/\S+ is Failed, the database resumed/,
          );
          expect(outcome.interrupted.output()).toMatch(
            /reason: execution local-\S+ was stopped \(ABORTED\).*\(interrupt\)/,
          );
        } else {
          expect(outcome.interruptedExit).toBeNull();
        }
        expect(outcome.rerunExit, outcome.rerun.output()).toBe(0);
        expect(outcome.rerun.output()).toContain(
          `SUCCEEDED: PerconaXtraDBOpsRequest demo/${name} is Successful`,
        );
        expect(Number.isNaN(outcome.unpausedAfterMs)).toBe(false);
        const ops = get<PerconaXtraDBOpsRequest>(sim, KINDS.PerconaXtraDBOpsRequest, name)!;
        expect(ops.status?.phase).toBe('Successful');
        expect(consistent(sim, database, name)).toEqual([]);
        if (point.action === 'change-issuer')
          expect(get<PerconaXtraDB>(sim, KINDS.PerconaXtraDB, database)!.spec.tls?.issuerRef?.name).toBe(
            'px-new-ca',
          );

        sim.store.create(
          opsRequestFrom('pxcops-rotate', { name: `${database}-next`, namespace: NS, database }),
        );
        const next = await run({ namespace: NS, opsRequest: `${database}-next` });
        expect(next.status, next.cause).toBe('SUCCEEDED');
        expect(consistent(sim, database, `${database}-next`)).toEqual([]);
      }),
    240_000,
  );
});
