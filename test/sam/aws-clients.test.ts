import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsUnavailableError, InvalidRequestError } from '../../functions/errors.js';
import { eventBridgePublish, sfnStartExecution } from '../../functions/triggers/aws.js';
import { pendingEntry } from '../../functions/triggers/events.js';
import { type AwsStandIn, type ExecutionOutcome, startAwsStandIn } from '../../local/aws/index.js';
import { STATE_MACHINE_ARN, TEST_CREDENTIALS } from './helpers.js';

describe('AWS calls of the triggers, against the stand-ins', () => {
  let aws: AwsStandIn;
  let finish: ((o: ExecutionOutcome) => void) | undefined;
  const config = () => ({
    endpoint: aws.endpoint,
    region: 'eu-west-1',
    credentials: TEST_CREDENTIALS,
    maxAttempts: 1,
  });

  beforeAll(async () => {
    aws = await startAwsStandIn({
      stateMachineArns: [STATE_MACHINE_ARN],
      onExecution: () =>
        new Promise<ExecutionOutcome | undefined>((resolve) => {
          finish = resolve;
        }),
    });
  });
  afterAll(async () => {
    await aws?.stop();
  });
  beforeEach(() => {
    aws.executions.length = 0;
    aws.events.length = 0;
  });

  describe('StartExecution', () => {
    it('treats a repeat while running as the same execution, and a finished one as already existing', async () => {
      const start = sfnStartExecution(STATE_MACHINE_ARN, config());
      const input = { namespace: 'demo', opsRequest: 'pxops-rotate' };

      const first = await start('demo-pxops-rotate', input);
      const repeat = await start('demo-pxops-rotate', input);
      finish?.({ status: 'SUCCEEDED' });
      await new Promise((r) => setImmediate(r));
      const afterEnd = await start('demo-pxops-rotate', input);

      expect(first).toEqual({ executionArn: expect.stringContaining(':execution:'), alreadyExisted: false });
      expect(repeat.executionArn).toBe(first.executionArn);
      expect(afterEnd).toEqual({ alreadyExisted: true });
      expect(aws.executions).toHaveLength(1);
    });

    it('refuses another input under the same name as already existing, not as a new execution', async () => {
      const start = sfnStartExecution(STATE_MACHINE_ARN, config());
      await start('same-name', { namespace: 'a', opsRequest: 'x' });
      await expect(start('same-name', { namespace: 'b', opsRequest: 'y' })).resolves.toEqual({
        alreadyExisted: true,
      });
      expect(aws.executions).toHaveLength(1);
    });

    it('maps throttling to a retryable error and a missing state machine to a fatal one', async () => {
      aws.failNext('AWSStepFunctions.StartExecution', { type: 'ThrottlingException', status: 400, times: 1 });
      await expect(sfnStartExecution(STATE_MACHINE_ARN, config())('n1', {})).rejects.toBeInstanceOf(
        AwsUnavailableError,
      );

      const wrong = STATE_MACHINE_ARN.replace('reconfigure-tls', 'nope');
      await expect(sfnStartExecution(wrong, config())('n2', {})).rejects.toBeInstanceOf(InvalidRequestError);
    });
  });

  describe('PutEvents', () => {
    const entry = (i: number) =>
      pendingEntry({
        cluster: 'c',
        namespace: 'demo',
        name: `r${i}`,
        uid: `u${i}`,
        type: 'ReconfigureTLS',
        database: 'db',
      });

    it('sends 23 entries as 10 + 10 + 3 on the named bus', async () => {
      const calls = aws.calls.length;
      await eventBridgePublish('the-bus', config())(Array.from({ length: 23 }, (_, i) => entry(i)));
      expect(aws.calls.slice(calls)).toEqual(Array(3).fill('AWSEvents.PutEvents'));
      expect(aws.events).toHaveLength(23);
      expect(new Set(aws.events.map((e) => e.EventBusName))).toEqual(new Set(['the-bus']));
    });

    it('fails retryably when EventBridge throttles, so the invocation is retried', async () => {
      aws.failNext('AWSEvents.PutEvents', { type: 'ThrottlingException', status: 400, times: 1 });
      await expect(eventBridgePublish('the-bus', config())([entry(1)])).rejects.toBeInstanceOf(
        AwsUnavailableError,
      );
    });
  });
});
