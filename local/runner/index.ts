/**
 * The local runner: executes statemachine/reconfigure-tls.asl.json with aws-local-stepfunctions,
 * routing every Task to its real handler in-process (the putEvents Tasks to a local collector),
 * against any cluster (a kubeconfig, the simulator, or a `Kube` passed in).
 *
 * Tests, the demo and the benchmark all call `runExecution`. Wait states keep their real
 * durations unless `waitScale` shortens them (tests); the benchmark leaves it unset. Each Lambda
 * Task is held to its function's Timeout from template.yaml, failing with Sandbox.Timedout as on
 * AWS (./lambda.ts); `functionTimeouts` shortens them (tests).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { ExecutionAbortedError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { type Clock, type Deps, runWithDeps } from '../../functions/deps.js';
import { handler as changeCertificates } from '../../functions/handlers/change-certificates.js';
import { handler as checkPod } from '../../functions/handlers/check-pod.js';
import { handler as pause } from '../../functions/handlers/pause.js';
import { handler as reloadPods } from '../../functions/handlers/reload-pods.js';
import { handler as restartPod } from '../../functions/handlers/restart-pod.js';
import { handler as resume } from '../../functions/handlers/resume.js';
import { handler as rollBack } from '../../functions/handlers/roll-back.js';
import { handler as validate } from '../../functions/handlers/validate.js';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import {
  currentInvocation,
  cutOffKube,
  functionTimeouts,
  type Invocation,
  withLambdaTimeout,
} from './lambda.js';

export const DEFINITION_PATH = fileURLToPath(
  new URL('../../statemachine/reconfigure-tls.asl.json', import.meta.url),
);

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;
export type TaskFn = (input: JsonValue) => Promise<JsonValue>;

/** One entry of the execution's event log (aws-local-stepfunctions' EventLog, the fields used here). */
export interface EventLog {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  index?: number;
  Error?: string;
  Cause?: unknown;
  [k: string]: unknown;
}

/** Function logical names (as in template.yaml) → the handler that runs for them locally. */
export const HANDLERS: Record<string, LambdaHandler> = {
  ValidateFunction: validate as unknown as LambdaHandler,
  PauseFunction: pause as unknown as LambdaHandler,
  ChangeCertificatesFunction: changeCertificates as unknown as LambdaHandler,
  RestartPodFunction: restartPod as unknown as LambdaHandler,
  ReloadPodsFunction: reloadPods as unknown as LambdaHandler,
  CheckPodFunction: checkPod as unknown as LambdaHandler,
  ResumeFunction: resume as unknown as LambdaHandler,
  RollBackFunction: rollBack as unknown as LambdaHandler,
};

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** Each `${Placeholder}` → a fake but well-formed value (Lambda ARNs for `...FunctionArn`). */
export function substitute(text: string): string {
  return text.replace(/\$\{([A-Za-z0-9]+)\}/g, (_, name: string) =>
    name.endsWith('FunctionArn')
      ? `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name.slice(0, -'Arn'.length)}`
      : `local-${name}`,
  );
}

export interface StateDef {
  Type: string;
  Resource?: string;
  Seconds?: number;
  Retry?: Array<{ ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number }>;
  ItemProcessor?: { States: Record<string, StateDef> };
  Iterator?: { States: Record<string, StateDef> };
  [k: string]: unknown;
}
export interface Definition {
  StartAt: string;
  States: Record<string, StateDef>;
  [k: string]: unknown;
}

export function loadDefinition(path = DEFINITION_PATH): Definition {
  return JSON.parse(substitute(readFileSync(path, 'utf8'))) as Definition;
}

/**
 * Every state, nested Map processors included (state names are unique across the definition),
 * with the Map state it runs inside, if any.
 */
export function allStates(
  def: { States: Record<string, StateDef> },
  inMap?: string,
): Array<[string, StateDef, string | undefined]> {
  const out: Array<[string, StateDef, string | undefined]> = [];
  for (const [name, s] of Object.entries(def.States)) {
    out.push([name, s, inMap]);
    const inner = s.ItemProcessor ?? s.Iterator;
    if (inner) out.push(...allStates(inner, name));
  }
  return out;
}

/** Whether the state's Retry takes this error on its `failures`-th consecutive failure (as the engine decides). */
export function willRetry(state: StateDef, err: unknown, failures: number): boolean {
  const name = err instanceof Error ? err.name : '';
  const retrier = (state.Retry as Array<{ ErrorEquals: string[]; MaxAttempts?: number }> | undefined)?.find(
    (r) => r.ErrorEquals.some((e) => e === name || e === 'States.ALL' || e === 'States.TaskFailed'),
  );
  return !!retrier && failures <= (retrier.MaxAttempts ?? 3);
}

export interface Progress {
  /**
   * `entered`: the execution entered the state (as Step Functions records it); `done`: a Task
   * returned, `output` is the state's output; `failed`: a Task threw, and `retry` says whether the
   * state's Retry takes it (the attempt about to be made, of how many).
   */
  event: 'entered' | 'done' | 'failed';
  state: string;
  type: string;
  elapsedMs: number;
  /** When the execution started (epoch ms), to place times a step reports (evictedAt, readyAt). */
  startedAt: number;
  input?: unknown;
  output?: unknown;
  error?: { name: string; cause: string; retry?: { attempt: number; of: number } };
  /** Inside "Restart pods"/"Check restored pods": the pod and its place in the order. */
  pod?: { name: string; index: number; total: number };
  pass?: { index: number; total: number; kind?: string };
}

export interface PublishedEvent {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: unknown;
}

export interface RunOptions {
  /** The cluster: a Kube, or a kubeconfig (path or YAML text). */
  kube?: Kube;
  kubeconfig?: string;
  input: unknown;
  executionName?: string;
  onProgress?: (p: Progress) => void;
  /** Multiplies every Wait state's duration (tests: e.g. 0.05); unset = the real durations. */
  waitScale?: number;
  /** Replaces retry intervals with IntervalSeconds × this (no backoff); unset = the ASL's own. */
  retryScale?: number;
  /** Lambda Timeouts (seconds) by function logical name, over template.yaml's (tests: shorter). */
  functionTimeouts?: Record<string, number>;
  logger?: Logger;
  clock?: Clock;
  /** Lease of the claims this execution makes (seconds); unset: LEASE_SECONDS or the default. */
  leaseSeconds?: number;
  /**
   * Stops the execution like StopExecution: no further state starts, no Catch runs (status
   * ABORTED). The run resolves once the Task calls already in flight have returned, as a Lambda
   * invocation outlives a stopped execution on AWS; whatever they wrote stays written.
   */
  signal?: AbortSignal;
  /** Test hook: wrap the local function of a Task state (e.g. to alter a plan). */
  wrapTask?: (state: string, fn: TaskFn) => TaskFn;
  definition?: Definition;
}

export interface RunResult {
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  output?: unknown;
  error?: string;
  cause?: string;
  /** The execution's event log (state inputs and outputs included). */
  events: EventLog[];
  durationMs: number;
  /** State transitions (states entered), as Step Functions bills them. */
  transitions: number;
  /** Entries the putEvents Tasks sent. */
  published: PublishedEvent[];
  /** Messages the sqs:sendMessage Tasks sent (the recovery dead-letter queue). */
  sent: SentMessage[];
  executionName: string;
}

export interface SentMessage {
  queueUrl: string;
  body: string;
}

function fakeContext(functionName: string, executionName: string, invocation?: Invocation): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: invocation?.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: executionName,
    getRemainingTimeInMillis: () => (invocation ? Math.max(0, invocation.deadline - Date.now()) : 120_000),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export async function runExecution(opts: RunOptions): Promise<RunResult> {
  const def = opts.definition ?? loadDefinition();
  const kube = opts.kube ?? (opts.kubeconfig ? kubeFromKubeconfig(opts.kubeconfig) : undefined);
  if (!kube) throw new Error('runExecution: pass kube or kubeconfig');
  const deps: Partial<Deps> = {
    kube,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.leaseSeconds !== undefined ? { leaseSeconds: opts.leaseSeconds } : {}),
  };
  const executionName = opts.executionName ?? `local-${randomUUID()}`;
  const published: PublishedEvent[] = [];
  const sent: SentMessage[] = [];

  const timeouts = { ...functionTimeouts(), ...opts.functionTimeouts };
  const taskResourceLocalHandlers: Record<string, TaskFn> = {};
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number[]> = {};
  // aws-local-stepfunctions keeps starting queued Map iterations after one has failed (AWS stops
  // them). So that a failed "Restart pods" can never evict another pod while the rollback runs,
  // once a Task inside a Map fails with an error no retrier takes (fatal, or retries used up),
  // that Map's later Tasks are refused here.
  const failedMaps = new Set<string>();
  const thrown = new Map<string, Error>();
  /** Consecutive failures of one Task with one input (a retried call has the same input). */
  const attempts = new Map<string, number>();
  /** Task calls in flight: an aborted run waits for them, and starts no more. */
  const inflight = new Set<Promise<unknown>>();
  let aborted = false;
  const track =
    (fn: TaskFn): TaskFn =>
    (input) => {
      if (aborted)
        return Promise.reject(
          Object.assign(new Error('execution aborted'), { name: 'LocalExecutionAborted' }),
        );
      const p = fn(input);
      inflight.add(p);
      const done = () => inflight.delete(p);
      p.then(done, done);
      return p;
    };
  for (const [name, s, inMap] of allStates(def)) {
    if (s.Type === 'Task' && s.Resource) {
      let fn: TaskFn;
      /** The function's Lambda Timeout (seconds); none for a service integration. */
      let timeout: number | undefined;
      if (s.Resource.startsWith('arn:aws:states:::events:putEvents')) {
        fn = async (input) => {
          const entries = ((input as { Entries?: PublishedEvent[] }).Entries ?? []) as PublishedEvent[];
          published.push(...entries);
          return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) };
        };
      } else if (s.Resource.startsWith('arn:aws:states:::sqs:sendMessage')) {
        fn = async (input) => {
          const { QueueUrl, MessageBody } = input as { QueueUrl: string; MessageBody: unknown };
          // Step Functions sends a JSON MessageBody as its JSON text.
          sent.push({
            queueUrl: QueueUrl,
            body: typeof MessageBody === 'string' ? MessageBody : JSON.stringify(MessageBody),
          });
          return { MessageId: randomUUID() };
        };
      } else {
        const functionName = s.Resource.split(':').pop() ?? '';
        const h = HANDLERS[functionName];
        if (!h) throw new Error(`runExecution: no local handler for ${s.Resource} (state "${name}")`);
        timeout = timeouts[functionName];
        if (timeout === undefined) throw new Error(`runExecution: ${functionName} is not in template.yaml`);
        fn = (input) => {
          const invocation = currentInvocation();
          const scoped = invocation ? { ...deps, kube: cutOffKube(kube, invocation) } : deps;
          return runWithDeps(scoped, async () => {
            // Through JSON both ways, as Lambda does: no shared references, no undefined.
            const out = await h(
              JSON.parse(JSON.stringify(input)),
              fakeContext(functionName, executionName, invocation),
            );
            return (out === undefined ? null : JSON.parse(JSON.stringify(out))) as JsonValue;
          });
        };
      }
      // A test's wrapper runs inside the invocation: a delay it adds counts against the Timeout.
      const given = opts.wrapTask ? opts.wrapTask(name, fn) : fn;
      const inner = timeout === undefined ? given : withLambdaTimeout(given, timeout);
      // The engine's event log carries an error's `cause` (often another error) as its Cause; the
      // progress wants what the step said, so the thrown error is kept for the StateFailed event.
      const wrapped: TaskFn = track(async (input) => {
        try {
          return await inner(input);
        } catch (err) {
          thrown.set(name, err as Error);
          throw err;
        }
      });
      taskResourceLocalHandlers[name] = !inMap
        ? wrapped
        : async (input) => {
            if (failedMaps.has(inMap)) {
              throw Object.assign(new Error(`"${inMap}" has already failed`), {
                name: 'LocalIterationCancelled',
              });
            }
            const key = JSON.stringify(input);
            try {
              const out = await wrapped(input);
              attempts.delete(key);
              return out;
            } catch (err) {
              const n = (attempts.get(key) ?? 0) + 1;
              attempts.set(key, n);
              if (!willRetry(s, err, n)) failedMaps.add(inMap);
              throw err;
            }
          };
    }
    if (s.Type === 'Wait' && opts.waitScale !== undefined && typeof s.Seconds === 'number') {
      waitTimeOverrides[name] = Math.round(s.Seconds * 1000 * opts.waitScale);
    }
    if (s.Retry && opts.retryScale !== undefined) {
      retryIntervalOverrides[name] = s.Retry.map((r) =>
        Math.round((r.IntervalSeconds ?? 1) * 1000 * opts.retryScale!),
      );
    }
  }

  const machine = new StateMachine(def as never, {
    validationOptions: { checkArn: false, checkPaths: true },
  });
  const started = Date.now();
  const execution = machine.run(opts.input as never, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: {
      Execution: {
        Id: `arn:aws:states:${REGION}:${ACCOUNT}:execution:reconfigure-tls:${executionName}`,
        Name: executionName,
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/local`,
      },
      StateMachine: {
        Id: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:reconfigure-tls`,
        Name: 'reconfigure-tls',
      },
    },
  });

  const onAbort = () => {
    aborted = true;
    execution.abort();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  const events: EventLog[] = [];
  let transitions = 0;
  let pass: Progress['pass'];
  const stateDefs = new Map(allStates(def).map(([name, s]) => [name, s]));
  /** Consecutive failures of a state (reset when it exits), to number the retries. */
  const failures = new Map<string, number>();
  const caught = new Set<string>();
  const collect = (async () => {
    for await (const raw of execution.eventLogs) {
      const ev = raw as unknown as EventLog;
      events.push(ev);
      if (!ev.state) continue;
      const input = (ev.state.input ?? {}) as Record<string, unknown>;
      if (ev.type === 'StateEntered') {
        transitions++;
        if (ev.state.name === 'Change certificates') {
          const plan = input.plan as { passes?: string[] } | undefined;
          const idx = Number((input.round as { next?: number } | undefined)?.next ?? 0);
          pass = { index: idx, total: plan?.passes?.length ?? 1, kind: plan?.passes?.[idx] };
        }
      }
      const event =
        ev.type === 'StateEntered'
          ? 'entered'
          : ev.type === 'StateExited' && ev.state.type === 'Task'
            ? 'done'
            : ev.type === 'StateFailed' && ev.state.type === 'Task'
              ? 'failed'
              : undefined;
      if (!event) continue;
      const key = `${ev.state.name}/${JSON.stringify(ev.state.input)}`;
      let error: Progress['error'];
      if (event === 'failed') {
        const n = (failures.get(key) ?? 0) + 1;
        failures.set(key, n);
        const name = String(ev.Error ?? 'Error');
        const stateDef = stateDefs.get(ev.state.name);
        const retrier = stateDef?.Retry?.find((r) =>
          r.ErrorEquals.some((e) => e === name || e === 'States.ALL' || e === 'States.TaskFailed'),
        );
        const retried = !!stateDef && willRetry(stateDef, Object.assign(new Error(''), { name }), n);
        const err = thrown.get(ev.state.name);
        thrown.delete(ev.state.name);
        error = {
          name,
          cause:
            err?.name === name
              ? err.message
              : typeof ev.Cause === 'string'
                ? ev.Cause
                : JSON.stringify(ev.Cause ?? ''),
          ...(retried ? { retry: { attempt: n, of: retrier?.MaxAttempts ?? 3 } } : {}),
        };
        if (!retried) caught.add(key);
      } else if (event === 'done') {
        failures.delete(key);
        // A Task whose error a Catch took also "exits", with the error as its output: not done.
        if (caught.delete(key)) continue;
      }
      const pod = input.pod as Progress['pod'] | undefined;
      opts.onProgress?.({
        event,
        state: ev.state.name,
        type: ev.state.type,
        elapsedMs: ev.timestamp - started,
        startedAt: started,
        input: ev.state.input,
        ...(event === 'done' ? { output: ev.state.output } : {}),
        ...(error ? { error } : {}),
        ...(pod && typeof pod === 'object' && pod.name
          ? { pod: { name: pod.name, index: pod.index, total: pod.total } }
          : {}),
        ...(pass ? { pass } : {}),
      });
    }
  })();

  let result: RunResult;
  try {
    const output = await execution.result;
    result = {
      status: 'SUCCEEDED',
      output,
      events,
      durationMs: 0,
      transitions: 0,
      published,
      sent,
      executionName,
    };
  } catch (err) {
    if (err instanceof ExecutionAbortedError || err instanceof ExecutionTimeoutError) {
      aborted = true;
      await Promise.allSettled([...inflight]);
      opts.signal?.removeEventListener('abort', onAbort);
      return {
        status: err instanceof ExecutionAbortedError ? 'ABORTED' : 'TIMED_OUT',
        events,
        durationMs: Date.now() - started,
        transitions,
        published,
        sent,
        executionName,
      };
    }
    const e =
      (err as { cause?: unknown }).cause instanceof Error
        ? ((err as { cause: Error }).cause as Error)
        : (err as Error);
    result = {
      status: 'FAILED',
      error: e.name,
      cause: e.message,
      events,
      durationMs: 0,
      transitions: 0,
      published,
      sent,
      executionName,
    };
  }
  opts.signal?.removeEventListener('abort', onAbort);
  await collect;
  result.durationMs = Date.now() - started;
  result.transitions = transitions;
  return result;
}
