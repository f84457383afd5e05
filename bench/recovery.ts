/**
 * How long a database stays paused after its execution is interrupted, by interruption point and
 * by the path that unpauses it:
 * - event rule: StopExecution through the Step Functions stand-in → its status-change event →
 *   the template's rule (pattern and InputTransformer) → a recovery execution (local runner);
 * - sweep: the same stop with the event lost → the sweep (DescribeExecution says ABORTED) starts
 *   the recovery; measured from the sweep's run (on AWS add up to one SweepSchedule interval);
 * - Ctrl-C recovery: `npm run local` interrupted with SIGINT recovers before it exits;
 * - lease take-over: `npm run local` killed (SIGKILL), re-run at once: it waits for the lease,
 *   takes over, restores, then carries the request out (the database stays paused to the end).
 * Every point of local/interrupt.ts, each path once per point, one after the other.
 *
 *   npx tsx bench/recovery.ts            (or: npm run bench -- --only recovery)
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import type { Kube } from '../functions/kube/types.js';
import { sweep } from '../functions/steps/sweep.js';
import { eventBridgePublish, sfnDescribeExecution, sfnStartExecution } from '../functions/triggers/aws.js';
import { silentLogger } from '../functions/triggers/logger.js';
import { type AwsStandIn, startAwsStandIn } from '../local/aws/index.js';
import { applyInputTransformer, matchesPattern } from '../local/aws/rules.js';
import { bundleLocalCli } from '../local/cli-child.js';
import { INTERRUPT_POINTS, type InterruptPoint, interruptLocalRun, isPaused } from '../local/interrupt.js';
import { runExecution } from '../local/runner/index.js';
import { standInRunner } from '../local/runner/stand-in.js';
import { createCaIssuer, opsRequestFrom } from '../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../local/sim/fixtures.js';
import { startSimulator } from '../local/sim/index.js';
import { eventBridgeRule, loadTemplate } from '../scripts/template.js';
import { type Figure, figure } from './stats.js';

const NS = 'demo';
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:pxc-tls-ops-reconfigure-tls';
const CREDENTIALS = { accessKeyId: 'AKIDPXCTLSOPSBENCH', secretAccessKey: 'bench' };
const silent = new Logger({ serviceName: 'pxc-tls-ops-bench', logLevel: 'SILENT' });

export type RecoveryPath = 'event rule' | 'sweep' | 'Ctrl-C recovery' | 'lease take-over';

export interface RecoveryCase {
  point: string;
  path: RecoveryPath;
  /** From the interruption (or the sweep's run) until the database had no Paused condition. */
  unpausedAfterMs: number;
  wasPaused: boolean;
  /** How the request ended: Failed (recovered) or Successful (re-run). */
  outcome: string;
}

export async function benchRecovery(
  o: { podReadyDelayMs?: number; leaseSeconds?: number; onProgress?: (line: string) => void } = {},
): Promise<{ cases: RecoveryCase[]; figures: Figure[] }> {
  const podReadyDelayMs = o.podReadyDelayMs ?? 1500;
  const leaseSeconds = o.leaseSeconds ?? 10;
  const kubeconfig = `/tmp/pxc-bench-recovery-${process.pid}.kubeconfig`;
  const sim = await startSimulator({ podReadyDelayMs, podDeleteGraceMs: 100, kubeconfigPath: kubeconfig });
  const kube: Kube = kubeFromKubeconfig(sim.kubeconfig);
  await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
  await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
  const bundle = await bundleLocalCli();
  const rule = eventBridgeRule(
    loadTemplate('template.yaml'),
    'ReconfigureTlsStateMachine',
    'ExecutionInterrupted',
    {
      ReconfigureTlsStateMachine: ARN,
    },
  );
  const runner = standInRunner({ kube, logger: silent });
  const { hooks, runs } = runner;
  let deliver = true;
  let aws!: AwsStandIn;
  let sfn!: SFNClient;
  aws = await startAwsStandIn({
    stateMachineArns: [ARN],
    onExecution: runner.onExecution,
    onStop: runner.onStop,
    onStatusChange: (event) => {
      if (!deliver || !matchesPattern(rule.Pattern, event)) return;
      void sfn.send(
        new StartExecutionCommand({
          stateMachineArn: ARN,
          input: applyInputTransformer(rule.InputTransformer, event),
        }),
      );
    },
  });
  const config = { endpoint: aws.endpoint, region: 'eu-west-1', credentials: CREDENTIALS };
  sfn = new SFNClient(config);
  const settle = async () => {
    for (;;) {
      await Promise.all([...runs.values()]);
      await new Promise((r) => setTimeout(r, 50));
      if (aws.executions.every((e) => e.status !== 'RUNNING')) return;
    }
  };
  const phase = (name: string) =>
    sim.store.get<{ status?: { phase?: string } }>(
      'ops.kubedb.com/v1alpha1',
      'PerconaXtraDBOpsRequest',
      NS,
      name,
    )?.status?.phase ?? 'unknown';

  let n = 0;
  /** A fresh database with TLS, and the request of `point` created for it. */
  async function prepare(point: InterruptPoint): Promise<{ database: string; name: string }> {
    const database = `px-bench-rec-${n++}`;
    const created = createPerconaXtraDB(sim, { namespace: NS, name: database, replicas: 3 });
    await waitForPodsReady(sim, NS, created.podNames);
    sim.store.create(opsRequestFrom('pxcops-add-tls', { name: `${database}-add`, namespace: NS, database }));
    await runExecution({ kube, input: { namespace: NS, opsRequest: `${database}-add` }, logger: silent });
    const name = `${database}-req`;
    sim.store.create(
      opsRequestFrom(point.action === 'rotate' ? 'pxcops-rotate' : 'pxcops-change-issuer', {
        name,
        namespace: NS,
        database,
      }),
    );
    return { database, name };
  }

  /** Through the stand-ins: stop at the point, then the rule (or, with the event lost, the sweep) recovers. */
  async function viaAws(point: InterruptPoint, path: 'event rule' | 'sweep'): Promise<RecoveryCase> {
    const { database, name } = await prepare(point);
    const [state, nth] = point.holdBefore.split('#') as [string, string];
    let calls = 0;
    let stoppedAt = 0;
    let wasPaused = false;
    const execName = `bench-${database}`;
    hooks.set(execName, (s, fn) =>
      s !== state
        ? fn
        : async (input) => {
            if (++calls !== Number(nth)) return fn(input);
            wasPaused = isPaused(sim, NS, database);
            stoppedAt = Date.now();
            const arn = aws.executions.find((e) => e.name === execName)!.executionArn;
            await sfn.send(new StopExecutionCommand({ executionArn: arn }));
            throw new Error('stopped');
          },
    );
    deliver = path === 'event rule';
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: ARN,
        name: execName,
        input: JSON.stringify({ namespace: NS, opsRequest: name }),
      }),
    );
    let from = 0;
    let unpausedAt = 0;
    const poll = setInterval(() => {
      if (stoppedAt && !unpausedAt && !isPaused(sim, NS, database)) unpausedAt = Date.now();
    }, 10);
    try {
      await settle();
      from = stoppedAt;
      if (path === 'sweep') {
        deliver = true;
        from = Date.now();
        await sweep({
          kube,
          publish: eventBridgePublish('bench', config),
          startExecution: sfnStartExecution(ARN, config),
          describeExecution: sfnDescribeExecution(ARN, config),
          cluster: 'bench',
          logger: silentLogger,
        });
        await settle();
      }
      if (!unpausedAt && !isPaused(sim, NS, database)) unpausedAt = Date.now();
    } finally {
      clearInterval(poll);
    }
    return {
      point: point.name,
      path,
      wasPaused,
      unpausedAfterMs: wasPaused ? Math.max(0, unpausedAt - from) : 0,
      outcome: phase(name),
    };
  }

  const cases: RecoveryCase[] = [];
  try {
    for (const point of INTERRUPT_POINTS) {
      for (const path of ['event rule', 'sweep'] as const) {
        cases.push(await viaAws(point, path));
        o.onProgress?.(`recovery: ${point.name}, ${path}: ${cases.at(-1)!.unpausedAfterMs} ms`);
      }
      for (const signal of ['SIGINT', 'SIGKILL'] as const) {
        const { database, name } = await prepare(point);
        const r = await interruptLocalRun({
          sim,
          kubeconfig,
          namespace: NS,
          database,
          opsRequest: name,
          point,
          signal,
          leaseSeconds,
          waitScale: 1,
          bundle,
        });
        cases.push({
          point: point.name,
          path: r.path,
          wasPaused: r.wasPaused,
          unpausedAfterMs: r.unpausedAfterMs,
          outcome: r.rerunExit === 0 ? 'Successful after re-run' : `re-run exit ${r.rerunExit}`,
        });
        o.onProgress?.(`recovery: ${point.name}, ${r.path}: ${r.unpausedAfterMs} ms`);
      }
    }
  } finally {
    rmSync(dirname(bundle), { recursive: true, force: true });
    rmSync(kubeconfig, { force: true });
    await sim.stop();
    await aws.stop();
  }
  const figures = (['event rule', 'sweep', 'Ctrl-C recovery', 'lease take-over'] as const).map((path) => {
    const paused = cases.filter((c) => c.path === path && c.wasPaused);
    return figure(
      'Recovery',
      `database paused after an interruption: ${path}`,
      's',
      paused.map((c) => c.unpausedAfterMs / 1000),
      {
        note:
          path === 'sweep'
            ? 'from the sweep run; add up to one SweepSchedule interval'
            : path === 'lease take-over'
              ? `re-run at once: lease (${leaseSeconds} s here) + restore + the whole request`
              : 'from the interruption',
      },
    );
  });
  return { cases, figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { cases, figures } = await benchRecovery({ onProgress: (l) => console.error(l) });
  console.log('| interruption point | path | database unpaused after | request ends |');
  console.log('|---|---|---|---|');
  for (const c of cases)
    console.log(
      `| ${c.point} | ${c.path} | ${c.wasPaused ? `${(c.unpausedAfterMs / 1000).toFixed(2)} s` : 'was not paused'} | ${c.outcome} |`,
    );
  console.log();
  for (const f of figures)
    console.log(
      `${f.name}: median ${f.median.toFixed(2)} s (${f.min.toFixed(2)}…${f.max.toFixed(2)}), ${f.runs} points`,
    );
}
