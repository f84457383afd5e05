/**
 * The AWS calls the triggers make, behind two small functions so steps stay testable:
 * `eventBridgePublish` (PutEvents in batches of 10), `sfnStartExecution` (StartExecution where
 * "already exists" is success) and `sfnDescribeExecution` (an execution's status, undefined when
 * Step Functions does not know it). Clients are built on first use, never at import (cold start), and
 * their SDK modules are loaded then too (`import()`, a chunk of its own in the bundle): a sweep that
 * finds nothing pending never loads the EventBridge client at all.
 */
import type { EventBridgeClient, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { AwsUnavailableError, InvalidRequestError } from '../errors.js';
import { type BusEntry, batches, PUT_EVENTS_BATCH, type Publish } from './events.js';

/** Client settings; `endpoint` and `credentials` point tests at the local stand-ins. */
export interface AwsClientConfig {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** SDK attempts per call (default 3, with the SDK's backoff). */
  maxAttempts?: number;
}

export function eventBridgePublish(busName: string, config: AwsClientConfig = {}): Publish {
  let client: EventBridgeClient | undefined;
  return async (entries: BusEntry[]) => {
    const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    client ??= new EventBridgeClient(config);
    for (const batch of batches(entries, PUT_EVENTS_BATCH)) {
      let out: PutEventsCommandOutput;
      try {
        out = await client.send(
          new PutEventsCommand({ Entries: batch.map((e) => ({ ...e, EventBusName: busName })) }),
        );
      } catch (err) {
        throw awsError('events:PutEvents', err);
      }
      if (out.FailedEntryCount) {
        // Partial failures are throttling or internal errors in practice; the whole invocation is
        // retried and the duplicates are harmless (Validate's claim makes delivery at-least-once safe).
        throw new AwsUnavailableError(
          `events:PutEvents: ${out.FailedEntryCount} of ${batch.length} entries failed`,
        );
      }
    }
  };
}

export interface StartResult {
  executionArn?: string;
  /**
   * True when the service said ExecutionAlreadyExists (a closed execution of that name, or one
   * with another input). A repeat for a RUNNING execution with the same input is answered like the
   * first call, so it reports false: both mean the execution exists, which is what the caller wants.
   */
  alreadyExisted: boolean;
}

export type StartExecution = (name: string, input: object) => Promise<StartResult>;

export function sfnStartExecution(stateMachineArn: string, config: AwsClientConfig = {}): StartExecution {
  let client: SFNClient | undefined;
  return async (name, input) => {
    const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    client ??= new SFNClient(config);
    try {
      const out = await client.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { executionArn: out.executionArn, alreadyExisted: false };
    } catch (err) {
      if ((err as { name?: string }).name === 'ExecutionAlreadyExists') return { alreadyExisted: true };
      throw awsError('states:StartExecution', err);
    }
  };
}

/** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED...; undefined for an execution Step Functions does not know. */
export type DescribeExecution = (name: string) => Promise<string | undefined>;

/** Executions of this state machine by name (their ARN is the state machine's with `execution:` and the name). */
export function sfnDescribeExecution(
  stateMachineArn: string,
  config: AwsClientConfig = {},
): DescribeExecution {
  let client: SFNClient | undefined;
  const prefix = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
  return async (name) => {
    const { SFNClient, DescribeExecutionCommand } = await import('@aws-sdk/client-sfn');
    client ??= new SFNClient(config);
    try {
      const out = await client.send(new DescribeExecutionCommand({ executionArn: prefix + name }));
      return out.status;
    } catch (err) {
      if ((err as { name?: string }).name === 'ExecutionDoesNotExist') return undefined;
      throw awsError('states:DescribeExecution', err);
    }
  };
}

function awsError(call: string, err: unknown): Error {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  const message = `${call} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  if (status >= 400 && status < 500 && status !== 429 && !/Throttl|TooManyRequests/i.test(e.name ?? '')) {
    return new InvalidRequestError(message, { cause: err });
  }
  return new AwsUnavailableError(message, { cause: err });
}
