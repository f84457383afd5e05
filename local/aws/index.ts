/**
 * Local stand-ins for the AWS APIs the triggers call, speaking the real wire protocols so the
 * unmodified `@aws-sdk/client-*` clients talk to them through `endpoint`:
 *
 * - Step Functions `StartExecution` (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.StartExecution`)
 *   with the service's idempotency rules: the same name and input while RUNNING returns the first
 *   answer; a different input, or a closed execution, is `ExecutionAlreadyExists` (400).
 *   Also `DescribeExecution` and `StopExecution`; every execution that closes emits the
 *   "Step Functions Execution Status Change" event Step Functions puts on the default bus
 *   (`onStatusChange`), so the template's rule on it can be exercised locally.
 * - EventBridge `PutEvents` (AWS JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`).
 * - EKS `DescribeCluster` (REST JSON, `GET /clusters/{name}`).
 *
 * One HTTP server on 127.0.0.1 serves all three; point each client at `aws.endpoint` with any
 * region and static test credentials. Requests must carry a SigV4 `Authorization` header (the
 * signature itself is not checked: that is what `local/eks-mode.ts` is for).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BusEvent } from './rules.js';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
}

export interface PutEvent {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Resources?: string[];
  Time?: number;
  /** Detail parsed (convenience for tests). */
  detail: unknown;
  EventId: string;
}

export interface ExecutionOutcome {
  status: ExecutionStatus;
  output?: string;
  error?: string;
  cause?: string;
}

export interface AwsStandInOptions {
  region?: string;
  account?: string;
  /** Known state machines; when given, other ARNs get StateMachineDoesNotExist. */
  stateMachineArns?: string[];
  /**
   * Called for every new execution (not for idempotent repeats). Resolve with the outcome to
   * close the execution (e.g. run the ASL with the local runner); leave it pending to keep it RUNNING.
   */
  onExecution?: (execution: Execution) => Promise<ExecutionOutcome | undefined> | undefined;
  /** Called for every accepted PutEvents entry (e.g. to route it through a rule). */
  onEvent?: (event: PutEvent) => void;
  /**
   * StopExecution (or `stopExecution()`): called once the execution is marked ABORTED / TIMED_OUT, to stop
   * whatever runs it (e.g. abort the local runner). As on AWS, the execution is closed and its
   * status-change event emitted at once, and StopExecution returns without waiting: a Lambda
   * invocation already running is not stopped, and goes on writing while the recovery the event
   * starts runs (what ../../functions/steps/fence.ts is for).
   */
  onStop?: (execution: Execution) => Promise<void> | void;
  /** Every "Step Functions Execution Status Change" event (default bus), when an execution closes. */
  onStatusChange?: (event: BusEvent) => void;
  /** EKS clusters by name. */
  clusters?: Record<string, { endpoint: string; caPem: string }>;
}

export interface AwsStandIn {
  endpoint: string;
  region: string;
  executions: Execution[];
  events: PutEvent[];
  /** The status-change events emitted so far (what Step Functions puts on the default bus). */
  statusEvents: BusEvent[];
  /** Stops a RUNNING execution as StopExecution does (`TIMED_OUT` to act out an execution timeout). */
  stopExecution(executionArn: string, status?: 'ABORTED' | 'TIMED_OUT'): Promise<void>;
  /** Every call served, as `Service.Operation` (e.g. `AWSStepFunctions.StartExecution`). */
  calls: string[];
  /** Fail the next `times` calls of an operation with an AWS error (e.g. ThrottlingException, 400). */
  failNext(operation: string, error: { type: string; status: number; times?: number }): void;
  stop(): Promise<void>;
}

export async function startAwsStandIn(opts: AwsStandInOptions = {}): Promise<AwsStandIn> {
  const region = opts.region ?? 'eu-west-1';
  const account = opts.account ?? '123456789012';
  const executions: Execution[] = [];
  const events: PutEvent[] = [];
  const statusEvents: BusEvent[] = [];
  const calls: string[] = [];

  /** The event Step Functions emits on the default bus when an execution's status changes. */
  function statusChanged(e: Execution): void {
    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region,
      resources: [e.executionArn],
      detail: {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: Math.round(e.startDate * 1000),
        stopDate: e.stopDate ? Math.round(e.stopDate * 1000) : null,
        input: e.input,
        output: e.output ?? null,
        inputDetails: { included: true },
        ...(e.error ? { error: e.error } : {}),
        ...(e.cause ? { cause: e.cause } : {}),
      },
    };
    statusEvents.push(event);
    opts.onStatusChange?.(event);
  }

  async function stopRun(e: Execution, status: 'ABORTED' | 'TIMED_OUT', error?: string, cause?: string) {
    if (e.status !== 'RUNNING') return;
    Object.assign(e, {
      status,
      stopDate: Date.now() / 1000,
      ...(error ? { error } : {}),
      ...(cause ? { cause } : {}),
    });
    statusChanged(e);
    void Promise.resolve(opts.onStop?.(e)).catch(() => undefined);
  }
  const failures = new Map<string, { type: string; status: number; times: number }>();

  const sfn: Record<string, (body: Record<string, unknown>) => { status: number; body: unknown }> = {
    StartExecution(body) {
      const stateMachineArn = String(body.stateMachineArn ?? '');
      const name = String(body.name ?? randomUUID());
      const input = typeof body.input === 'string' ? body.input : '{}';
      if (!stateMachineArn.startsWith('arn:'))
        return awsError(400, 'InvalidArn', 'stateMachineArn is not an ARN');
      if (opts.stateMachineArns && !opts.stateMachineArns.includes(stateMachineArn)) {
        return awsError(
          400,
          'StateMachineDoesNotExist',
          `State Machine Does Not Exist: '${stateMachineArn}'`,
        );
      }
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) return awsError(400, 'InvalidName', `Invalid Name: '${name}'`);
      try {
        JSON.parse(input);
      } catch {
        return awsError(400, 'InvalidExecutionInput', 'Invalid execution input');
      }
      const existing = executions.find((e) => e.stateMachineArn === stateMachineArn && e.name === name);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input) {
          return {
            status: 200,
            body: { executionArn: existing.executionArn, startDate: existing.startDate },
          };
        }
        return awsError(
          400,
          'ExecutionAlreadyExists',
          `Execution Already Exists: '${existing.executionArn}'`,
        );
      }
      const executionArn = stateMachineArn.replace(':stateMachine:', ':execution:') + `:${name}`;
      const execution: Execution = {
        executionArn,
        stateMachineArn,
        name,
        input,
        status: 'RUNNING',
        startDate: Date.now() / 1000,
      };
      executions.push(execution);
      const done = opts.onExecution?.(execution);
      if (done) {
        // A stopped execution keeps the status StopExecution gave it, whatever its runner says after.
        done.then(
          (outcome) => {
            if (!outcome || execution.status !== 'RUNNING') return;
            Object.assign(execution, outcome, { stopDate: Date.now() / 1000 });
            if (execution.status !== 'RUNNING') statusChanged(execution);
          },
          (err: unknown) => {
            if (execution.status !== 'RUNNING') return;
            Object.assign(execution, {
              status: 'FAILED',
              error: 'States.Runtime',
              cause: String(err),
              stopDate: Date.now() / 1000,
            });
            statusChanged(execution);
          },
        );
      }
      return { status: 200, body: { executionArn, startDate: execution.startDate } };
    },
    DescribeExecution(body) {
      const e = executions.find((x) => x.executionArn === body.executionArn);
      if (!e)
        return awsError(400, 'ExecutionDoesNotExist', `Execution Does Not Exist: '${body.executionArn}'`);
      return { status: 200, body: e };
    },
    StopExecution(body) {
      const e = executions.find((x) => x.executionArn === body.executionArn);
      if (!e)
        return awsError(400, 'ExecutionDoesNotExist', `Execution Does Not Exist: '${body.executionArn}'`);
      void stopRun(e, 'ABORTED', body.error as string | undefined, body.cause as string | undefined);
      return { status: 200, body: { stopDate: Date.now() / 1000 } };
    },
  };

  const eventBridge: Record<string, (body: Record<string, unknown>) => { status: number; body: unknown }> = {
    PutEvents(body) {
      const entries = Array.isArray(body.Entries) ? (body.Entries as Array<Record<string, unknown>>) : [];
      if (entries.length < 1 || entries.length > 10) {
        return awsError(400, 'ValidationException', 'Entries must hold 1 to 10 entries');
      }
      const results = entries.map((entry) => {
        if (!entry.Source || !entry.DetailType || typeof entry.Detail !== 'string') {
          return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required' };
        }
        let detail: unknown;
        try {
          detail = JSON.parse(entry.Detail);
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not valid JSON' };
        }
        const event = { ...(entry as Omit<PutEvent, 'detail' | 'EventId'>), detail, EventId: randomUUID() };
        events.push(event);
        opts.onEvent?.(event);
        return { EventId: event.EventId };
      });
      return {
        status: 200,
        body: { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results },
      };
    },
  };

  const server = createServer((req, res) => {
    readBody(req)
      .then((raw) => route(req, raw))
      .then(({ status, body, headers }) => send(res, status, body, headers))
      .catch((err: unknown) => send(res, 500, { __type: 'InternalFailure', message: String(err) }));
  });

  function route(
    req: IncomingMessage,
    raw: string,
  ): { status: number; body: unknown; headers?: Record<string, string> } {
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      return awsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method === 'POST' && target) {
      const [service, operation = ''] = target.split('.');
      const table = service === 'AWSStepFunctions' ? sfn : service === 'AWSEvents' ? eventBridge : undefined;
      calls.push(target);
      const failed = takeFailure(target);
      if (failed) return failed;
      const handler = table?.[operation];
      if (!handler) return awsError(400, 'UnknownOperationException', `unknown operation ${target}`);
      let body: Record<string, unknown>;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        return awsError(400, 'SerializationException', 'body is not JSON');
      }
      return handler(body);
    }
    const m = /^\/clusters\/([^/?]+)$/.exec((req.url ?? '').split('?')[0]!);
    if (req.method === 'GET' && m) {
      calls.push('EKS.DescribeCluster');
      const failed = takeFailure('EKS.DescribeCluster');
      if (failed) return failed;
      const name = decodeURIComponent(m[1]!);
      const c = opts.clusters?.[name];
      if (!c) return awsError(404, 'ResourceNotFoundException', `No cluster found for name: ${name}.`);
      return {
        status: 200,
        body: {
          cluster: {
            name,
            arn: `arn:aws:eks:${region}:${account}:cluster/${name}`,
            endpoint: c.endpoint,
            status: 'ACTIVE',
            version: '1.33',
            certificateAuthority: { data: Buffer.from(c.caPem, 'utf8').toString('base64') },
          },
        },
      };
    }
    return awsError(404, 'UnknownOperationException', `no route for ${req.method} ${req.url}`);
  }

  function takeFailure(
    operation: string,
  ): { status: number; body: unknown; headers: Record<string, string> } | undefined {
    const f = failures.get(operation);
    if (!f || f.times <= 0) return undefined;
    f.times -= 1;
    return awsError(f.status, f.type, `injected ${f.type}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    executions,
    events,
    statusEvents,
    async stopExecution(executionArn, status = 'ABORTED') {
      const e = executions.find((x) => x.executionArn === executionArn);
      if (!e) throw new Error(`no execution ${executionArn}`);
      await stopRun(e, status);
    },
    calls,
    failNext(operation, error) {
      failures.set(operation, { type: error.type, status: error.status, times: error.times ?? 1 });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function awsError(status: number, type: string, message: string) {
  return { status, body: { __type: type, message }, headers: { 'x-amzn-errortype': type } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(text);
}
