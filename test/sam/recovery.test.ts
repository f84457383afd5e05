import { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import { KINDS, type Kube } from '../../functions/kube/types.js';
import {
  CLAIM_ANNOTATION,
  LEASE_SECONDS_ANNOTATION,
  LEASE_UNTIL_ANNOTATION,
} from '../../functions/model/names.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { sweep } from '../../functions/steps/sweep.js';
import { eventBridgePublish, sfnDescribeExecution, sfnStartExecution } from '../../functions/triggers/aws.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { applyInputTransformer, type BusEvent, matchesPattern } from '../../local/aws/rules.js';
import type { TaskFn } from '../../local/runner/index.js';
import { type StandInRunner, standInRunner } from '../../local/runner/stand-in.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { eventBridgeRule, loadTemplate } from '../../scripts/template.js';
import {
  anyFunctionRules,
  rbacAllows,
  rbacObjects,
  rbacRequest,
  recordingLogger,
  STATE_MACHINE_ARN,
  secretSerial,
  TEST_CREDENTIALS,
} from './helpers.js';

const NS = 'demo';
const DB = 'px-aws-rec';
const silent = new Logger({ serviceName: 'pxc-tls-ops-test', logLevel: 'SILENT' });

describe('Recovery on AWS: the status-change rule, and the sweep when an event is missed', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let kube: Kube;
  let sfn: SFNClient;
  /** The template's rule on the state machine's status-change events, with its own ARN filled in. */
  const rule = eventBridgeRule(
    loadTemplate('template.yaml'),
    'ReconfigureTlsStateMachine',
    'ExecutionInterrupted',
    {
      ReconfigureTlsStateMachine: STATE_MACHINE_ARN,
    },
  );
  /** Runs the stand-in's executions; `runner.hooks` wraps the Tasks of one (by name), e.g. to stop it. */
  let runner: StandInRunner;
  /** Executions the rule started (its targets). */
  const ruleStarted: string[] = [];
  let deliverStatusEvents = true;

  const clientConfig = () => ({ endpoint: aws.endpoint, region: 'eu-west-1', credentials: TEST_CREDENTIALS });

  /** What EventBridge does with a status-change event on the default bus: the rule, its transformer, StartExecution. */
  async function route(event: BusEvent): Promise<void> {
    if (!deliverStatusEvents || !matchesPattern(rule.Pattern, event)) return;
    const input = applyInputTransformer(rule.InputTransformer, event);
    const out = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input }));
    ruleStarted.push(out.executionArn!);
  }

  /** Stops the execution (StopExecution) when the n-th call of `state` is about to start. */
  const stopAt = (state: string, nth = 1, how: 'StopExecution' | 'TIMED_OUT' = 'StopExecution') => {
    let calls = 0;
    return (name: string, fn: TaskFn): TaskFn =>
      name !== state
        ? fn
        : async (input) => {
            if (++calls !== nth) return fn(input);
            const arn = aws.executions.find(
              (e) => e.status === 'RUNNING' && runner.hooks.get(e.name),
            )!.executionArn;
            if (how === 'TIMED_OUT') void aws.stopExecution(arn, 'TIMED_OUT');
            else await sfn.send(new StopExecutionCommand({ executionArn: arn }));
            throw new Error('stopped');
          };
  };

  /** Starts an execution through the Step Functions stand-in and returns its name. */
  async function start(input: object, name: string, hook?: (state: string, fn: TaskFn) => TaskFn) {
    if (hook) runner.hooks.set(name, hook);
    await sfn.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name, input: JSON.stringify(input) }),
    );
    return name;
  }

  const settle = async () => {
    for (let i = 0; i < 50; i++) {
      await Promise.all([...runner.runs.values()]);
      await new Promise((r) => setTimeout(r, 50));
      if (aws.executions.every((e) => e.status !== 'RUNNING')) return;
    }
    throw new Error('executions still running');
  };

  const ops = (name: string) =>
    sim.store.get<PerconaXtraDBOpsRequest>(
      KINDS.PerconaXtraDBOpsRequest.apiVersion,
      'PerconaXtraDBOpsRequest',
      NS,
      name,
    )!;
  const db = () => sim.store.get<PerconaXtraDB>(KINDS.PerconaXtraDB.apiVersion, 'PerconaXtraDB', NS, DB)!;
  const paused = () => db().status?.conditions?.some((c) => c.type === 'Paused') === true;
  const serial = () => secretSerial(sim, NS, `${DB}-server-cert`);
  const podsReady = () =>
    [0, 1, 2].every((i) =>
      sim.store
        .get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
          'v1',
          'Pod',
          NS,
          `${DB}-${i}`,
        )
        ?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  const sweepDeps = () => ({
    kube,
    publish: eventBridgePublish('pxc-tls-ops', clientConfig()),
    startExecution: sfnStartExecution(STATE_MACHINE_ARN, clientConfig()),
    describeExecution: sfnDescribeExecution(STATE_MACHINE_ARN, clientConfig()),
    cluster: 'demo-cluster',
    logger: recordingLogger(),
  });

  beforeAll(async () => {
    sim = await startSimulator({ podReadyDelayMs: 150, podDeleteGraceMs: 30 });
    kube = kubeFromKubeconfig(sim.kubeconfig);
    runner = standInRunner({ kube, waitScale: 0.05, retryScale: 0.02, logger: silent });
    aws = await startAwsStandIn({
      stateMachineArns: [STATE_MACHINE_ARN],
      onExecution: runner.onExecution,
      onStop: runner.onStop,
      onStatusChange: (event) => void route(event),
    });
    sfn = new SFNClient(clientConfig());
    await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    const created = createPerconaXtraDB(sim, { namespace: NS, name: DB, replicas: 3 });
    await waitForPodsReady(sim, NS, created.podNames);
    sim.store.create(opsRequestFrom('pxcops-add-tls', { name: 'aws-add', namespace: NS, database: DB }));
    await start({ namespace: NS, opsRequest: 'aws-add' }, 'aws-add-1');
    await settle();
    expect(ops('aws-add').status?.phase).toBe('Successful');
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled([...(runner?.runs.values() ?? [])]);
    await sim?.stop();
    await aws?.stop();
  });

  it('StopExecution mid-rotate: the rule starts a recovery that restores, resumes and fails the request naming the execution', async () => {
    const before = serial();
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'aws-stopped', namespace: NS, database: DB }));
    ruleStarted.length = 0;

    await start({ namespace: NS, opsRequest: 'aws-stopped' }, 'aws-stopped-1', stopAt('Restart pod', 2));
    await settle();

    expect(aws.executions.find((e) => e.name === 'aws-stopped-1')?.status).toBe('ABORTED');
    expect(ruleStarted).toHaveLength(1);
    const recovery = aws.executions.find((e) => e.executionArn === ruleStarted[0])!;
    expect(JSON.parse(recovery.input)).toEqual({
      recover: { execution: 'aws-stopped-1', status: 'ABORTED', via: 'event rule' },
    });
    const failed = ops('aws-stopped').status?.conditions?.find((c) => c.type === 'Failed');
    expect(ops('aws-stopped').status?.phase).toBe('Failed');
    expect(failed?.reason).toBe('ExecutionInterrupted');
    expect(failed?.message).toMatch(
      /^execution aws-stopped-1 was stopped \(ABORTED\) before it could roll back; recovered by execution \S+ \(event rule\); rolled back/,
    );
    expect(serial()).toBe(before);
    expect(paused()).toBe(false);
    expect(podsReady()).toBe(true);
    // The recovery itself ends FAILED (the request is Failed); the rule leaves recoveries' own ends to the sweep.
    expect(recovery.status).toBe('FAILED');
    expect(
      aws.statusEvents.filter((e) => (e.detail as { name: string }).name === recovery.name),
    ).toHaveLength(1);
    expect(ruleStarted).toHaveLength(1);

    // The database takes a new request, and the stopped one may be run again.
    sim.store.create(
      opsRequestFrom('pxcops-rotate', { name: 'aws-after-stop', namespace: NS, database: DB }),
    );
    // One after the other: started together, the second waits for the first with the busy
    // retrier, whose budget the test's retryScale shrinks to about 15 s, less than a rotation
    // takes on a loaded machine (it then failed as "busy", which is not what this checks).
    await start({ namespace: NS, opsRequest: 'aws-after-stop' }, 'aws-after-stop-1');
    await settle();
    expect(ops('aws-after-stop').status?.phase).toBe('Successful');
    await start({ namespace: NS, opsRequest: 'aws-stopped' }, 'aws-stopped-2');
    await settle();
    expect(ops('aws-stopped').status?.phase).toBe('Successful');
  }, 120_000);

  it('an execution that times out between the two passes of a change of issuer is recovered the same way', async () => {
    sim.store.create(
      opsRequestFrom('pxcops-change-issuer', { name: 'aws-timeout', namespace: NS, database: DB }),
    );
    ruleStarted.length = 0;

    await start(
      { namespace: NS, opsRequest: 'aws-timeout' },
      'aws-timeout-1',
      stopAt('Change certificates', 2, 'TIMED_OUT'),
    );
    await settle();

    expect(aws.executions.find((e) => e.name === 'aws-timeout-1')?.status).toBe('TIMED_OUT');
    expect(ruleStarted).toHaveLength(1);
    expect(ops('aws-timeout').status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(
      /^execution aws-timeout-1 timed out before it could roll back/,
    );
    expect(db().spec.tls?.issuerRef?.name).toBe('px-issuer');
    expect(paused()).toBe(false);
    expect(podsReady()).toBe(true);
  }, 120_000);

  it('a request that failed through its own failure path: the rule’s recovery finds nothing to do', async () => {
    sim.store.create(
      opsRequestFrom('pxcops-rotate', {
        name: 'aws-bad',
        namespace: NS,
        database: DB,
        spec: { timeout: 'soon' },
      }),
    );
    ruleStarted.length = 0;
    await start({ namespace: NS, opsRequest: 'aws-bad' }, 'aws-bad-1');
    await settle();

    expect(aws.executions.find((e) => e.name === 'aws-bad-1')?.status).toBe('FAILED');
    expect(ruleStarted).toHaveLength(1);
    const recovery = aws.executions.find((e) => e.executionArn === ruleStarted[0])!;
    expect(recovery.status).toBe('SUCCEEDED');
    expect(JSON.parse(recovery.output!)).toMatchObject({ skip: true });
    expect(ops('aws-bad').status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe(
      'InvalidRequestError',
    );
  }, 60_000);

  it('the sweep recovers a request whose execution stopped when the event was missed', async () => {
    const before = serial();
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'aws-missed', namespace: NS, database: DB }));
    deliverStatusEvents = false;
    await start({ namespace: NS, opsRequest: 'aws-missed' }, 'aws-missed-1', stopAt('Restart pod', 2));
    await settle();
    deliverStatusEvents = true;
    expect(paused()).toBe(true);

    const result = await sweep(sweepDeps());
    await settle();

    expect(result.recovered).toEqual([
      { namespace: NS, opsRequest: 'aws-missed', execution: 'aws-missed-1', status: 'ABORTED' },
    ]);
    expect(ops('aws-missed').status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(
      /^execution aws-missed-1 was stopped \(ABORTED\) before it could roll back; recovered by execution recover-\w+ \(sweep\)/,
    );
    expect(serial()).toBe(before);
    expect(paused()).toBe(false);
    expect((await sweep(sweepDeps())).recovered).toEqual([]);
  }, 120_000);

  it('the sweep leaves a running execution alone, and recovers a claim Step Functions does not know once its lease has run out', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'aws-running', namespace: NS, database: DB }));
    await start({ namespace: NS, opsRequest: 'aws-running' }, 'aws-running-1', (state, fn) =>
      state !== 'Change certificates'
        ? fn
        : async (input) => {
            await held;
            return fn(input);
          },
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await sweep(sweepDeps())).recovered).toEqual([]);
    release();
    await settle();
    expect(ops('aws-running').status?.phase).toBe('Successful');

    // A local run (npm run local against this cluster) that died: unknown to Step Functions.
    const claim = (until: Date) => {
      const o = ops('aws-local');
      sim.store.put({
        ...o,
        metadata: {
          ...o.metadata,
          annotations: {
            [CLAIM_ANNOTATION]: 'local-dead',
            [LEASE_UNTIL_ANNOTATION]: until.toISOString(),
            [LEASE_SECONDS_ANNOTATION]: '60',
          },
        },
        status: { phase: 'Progressing' },
      });
    };
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'aws-local', namespace: NS, database: DB }));
    claim(new Date(Date.now() + 60_000));
    expect((await sweep(sweepDeps())).recovered).toEqual([]);
    claim(new Date(Date.now() - 1000));
    const result = await sweep(sweepDeps());
    await settle();
    expect(result.recovered).toEqual([
      { namespace: NS, opsRequest: 'aws-local', execution: 'local-dead', status: 'UNKNOWN' },
    ]);
    expect(ops('aws-local').status?.phase).toBe('Failed');
  }, 120_000);

  it('the sweep resumes a database left Paused by a request that was deleted', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate', { name: 'aws-deleted', namespace: NS, database: DB }));
    deliverStatusEvents = false;
    await start({ namespace: NS, opsRequest: 'aws-deleted' }, 'aws-deleted-1', stopAt('Restart pod', 2));
    await settle();
    deliverStatusEvents = true;
    await kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'aws-deleted' });
    expect(paused()).toBe(true);

    const result = await sweep(sweepDeps());
    await settle();

    expect(result.recovered).toEqual([{ namespace: NS, opsRequest: 'aws-deleted', database: DB }]);
    expect(paused()).toBe(false);
    sim.store.create(
      opsRequestFrom('pxcops-rotate', { name: 'aws-after-delete', namespace: NS, database: DB }),
    );
    await start({ namespace: NS, opsRequest: 'aws-after-delete' }, 'aws-after-delete-1');
    await settle();
    expect(ops('aws-after-delete').status?.phase).toBe('Successful');
  }, 120_000);

  it('a step still in flight after StopExecution changes nothing once the recovery has restored: the API server refuses its write', async () => {
    const LATE = 'px-aws-late';
    const created = createPerconaXtraDB(sim, { namespace: NS, name: LATE, replicas: 3 });
    await waitForPodsReady(sim, NS, created.podNames);
    const get = <T>(kind: { apiVersion: string; kind: string }, name: string) =>
      sim.store.get<T>(kind.apiVersion, kind.kind, NS, name);
    /** What a late write could change: the database's TLS spec, the PetSet's pod template, the Secrets. */
    const state = () => {
      const d = get<PerconaXtraDB>(KINDS.PerconaXtraDB, LATE)!;
      const secrets = ['server', 'client', 'metrics-exporter', 'tls-backup-aws-late'].map(
        (s) =>
          get<{ data?: unknown }>(KINDS.Secret, `${LATE}-${s}${s.startsWith('tls-') ? '' : '-cert'}`)?.data ??
          null,
      );
      return {
        tls: d.spec.tls ?? null,
        requireSSL: d.spec.requireSSL ?? null,
        template: get<{ spec: { template: unknown } }>(KINDS.PetSet, LATE)!.spec.template,
        secrets,
        appBinding: get<{ spec?: unknown }>(KINDS.AppBinding, LATE)?.spec ?? null,
      };
    };
    const before = state();
    sim.store.create(opsRequestFrom('pxcops-add-tls', { name: 'aws-late', namespace: NS, database: LATE }));
    ruleStarted.length = 0;
    let atWrite!: () => void;
    const heldAtWrite = new Promise<void>((r) => {
      atWrite = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });

    // Change certificates has issued and written the certificates; its write of spec.tls is held
    // by a slow API server while the execution is stopped and the recovery runs.
    await start({ namespace: NS, opsRequest: 'aws-late' }, 'aws-late-1', (state, fn) =>
      state !== 'Change certificates'
        ? fn
        : async (input) => {
            sim.faults.inject({
              method: 'PATCH',
              path: new RegExp(`/perconaxtradbs/${LATE}$`),
              times: 1,
              action: {
                hold: () => {
                  atWrite();
                  return released;
                },
              },
            });
            return fn(input);
          },
    );
    await heldAtWrite;
    const heldWrite = sim.requests
      .all()
      .filter((r) => r.verb === 'patch' && r.path.endsWith(`/perconaxtradbs/${LATE}`))
      .at(-1)!;
    const arn = aws.executions.find((e) => e.name === 'aws-late-1')!.executionArn;
    await sfn.send(new StopExecutionCommand({ executionArn: arn }));
    for (let i = 0; i < 400 && ops('aws-late').status?.phase !== 'Failed'; i++)
      await new Promise((r) => setTimeout(r, 50));
    // The rule's recovery ran to its end while the stopped execution's step was still in flight.
    expect(ops('aws-late').status?.phase).toBe('Failed');
    expect(ruleStarted).toHaveLength(1);
    const restored = state();
    expect(restored).toEqual(before);
    const releasedAt = Date.now();

    release();
    await settle();

    // The late write was refused (409: the recovery had fenced the database), and nothing followed it.
    const refused = sim.requests.all().find((r) => r.at === heldWrite.at && r.path === heldWrite.path);
    expect(refused?.status).toBe(409);
    const after = sim.requests
      .all()
      .filter((r) => r.at >= releasedAt && !['get', 'list', 'watch'].includes(r.verb));
    expect(after.map((r) => `${r.verb} ${r.path} ${r.status}`)).toEqual([]);
    expect(state()).toEqual(restored);
    expect(ops('aws-late').status?.phase).toBe('Failed');
    expect(
      sim.store
        .get<PerconaXtraDB>(KINDS.PerconaXtraDB.apiVersion, 'PerconaXtraDB', NS, LATE)!
        .status?.conditions?.some((c) => c.type === 'Paused'),
    ).toBe(false);
  }, 120_000);

  it('used only API requests that k8s/rbac.yaml allows', () => {
    const rules = anyFunctionRules(rbacObjects('k8s/rbac.yaml'));
    const denied = sim.requests
      .all()
      // The test's own `kubectl delete pxcops` is a user's action, not the functions'.
      .filter((r) => !(r.verb === 'delete' && r.resource === 'perconaxtradbopsrequests'))
      .map((r) => rbacRequest(r.method, r.path, r.verb))
      .filter((r) => !rbacAllows(rules, r));
    expect(denied).toEqual([]);
  });

  it('matches only this state machine’s ABORTED, TIMED_OUT and FAILED executions, and never a recovery’s', () => {
    const event = (detail: Record<string, unknown>): BusEvent => ({
      version: '0',
      id: 'x',
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '123456789012',
      time: '2026-01-01T00:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: {
        stateMachineArn: STATE_MACHINE_ARN,
        name: 'e',
        status: 'ABORTED',
        input: '{"namespace":"demo"}',
        ...detail,
      },
    });
    expect(matchesPattern(rule.Pattern, event({}))).toBe(true);
    expect(matchesPattern(rule.Pattern, event({ status: 'TIMED_OUT' }))).toBe(true);
    expect(matchesPattern(rule.Pattern, event({ status: 'FAILED' }))).toBe(true);
    expect(matchesPattern(rule.Pattern, event({ status: 'SUCCEEDED' }))).toBe(false);
    expect(matchesPattern(rule.Pattern, event({ stateMachineArn: `${STATE_MACHINE_ARN}-other` }))).toBe(
      false,
    );
    expect(matchesPattern(rule.Pattern, event({ input: '{"recover": {"execution": "e"}}' }))).toBe(false);
    expect(JSON.parse(applyInputTransformer(rule.InputTransformer, event({ name: 'exec-1' })))).toEqual({
      recover: { execution: 'exec-1', status: 'ABORTED', via: 'event rule' },
    });
  });
});
