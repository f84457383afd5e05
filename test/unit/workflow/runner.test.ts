import { describe, expect, it } from 'vitest';
import { KubeConflictError, LAMBDA_TIMEOUT, StepTimeoutError } from '../../../functions/errors.js';
import type { Kube } from '../../../functions/kube/types.js';
import { allStates, loadDefinition, substitute, willRetry } from '../../../local/runner/index.js';
import {
  currentInvocation,
  cutOffKube,
  functionTimeouts,
  withLambdaTimeout,
} from '../../../local/runner/lambda.js';

const restartPod = allStates(loadDefinition()).find(([n]) => n === 'Restart pod')![1];

describe('Local runner', () => {
  it('substitutes placeholders with well-formed fake values', () => {
    const text = ['RestartPodFunctionArn', 'EventBusName'].map((n) => `"$\{${n}}"`).join(' ');
    expect(substitute(text)).toBe(
      '"arn:aws:lambda:us-east-1:123456789012:function:RestartPodFunction" "local-EventBusName"',
    );
  });

  it('finds the Tasks nested in Map processors, with their Map', () => {
    const nested = allStates(loadDefinition())
      .filter(([, , inMap]) => inMap === 'Restart pods')
      .map(([n]) => n);
    expect(nested).toEqual(
      expect.arrayContaining(['Restart pod', 'Check pod', 'Pod ready?', 'Wait for pod']),
    );
  });

  it.each([
    {
      why: 'a transient error on its first failure',
      err: new KubeConflictError('x'),
      failures: 1,
      retried: true,
    },
    {
      why: 'a transient error on its last allowed retry',
      err: new KubeConflictError('x'),
      failures: 6,
      retried: true,
    },
    {
      why: 'a transient error once retries are used up',
      err: new KubeConflictError('x'),
      failures: 7,
      retried: false,
    },
    { why: 'a fatal error', err: new StepTimeoutError('x'), failures: 1, retried: false },
    { why: 'an error no retrier names', err: new TypeError('x'), failures: 1, retried: false },
  ])('knows whether the ASL retries $why', ({ err, failures, retried }) => {
    expect(willRetry(restartPod, err, failures)).toBe(retried);
  });

  it('knows whether the ASL retries a Lambda timeout: twice, then no more', () => {
    const timedOut = Object.assign(new Error('Task timed out after 30.00 seconds'), { name: LAMBDA_TIMEOUT });
    expect([1, 2, 3].map((n) => willRetry(restartPod, timedOut, n))).toEqual([true, true, false]);
  });
});

describe('Local Lambda stand-in', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('gives each function the Timeout template.yaml gives it, Globals included', () => {
    expect(functionTimeouts()).toMatchObject({
      ChangeCertificatesFunction: 110,
      RestartPodFunction: 30,
      ValidateFunction: 50,
      CheckPodFunction: 50,
    });
  });

  it('fails an invocation that runs past its Timeout with Sandbox.Timedout and Lambda’s message', async () => {
    const slow = withLambdaTimeout(async (ms: number) => {
      await sleep(ms);
      return 'done';
    }, 0.05);
    await expect(slow(5)).resolves.toBe('done');
    const err = await slow(200).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'Sandbox.Timedout' });
    expect((err as Error).message).toMatch(
      /^RequestId: [0-9a-f-]{36} Error: Task timed out after 0\.05 seconds$/,
    );
  });

  it('refuses the Kubernetes calls a cut-off invocation starts, and lets one already sent complete', async () => {
    const calls: string[] = [];
    const kube = {
      get: async (_kind: unknown, ref: { name: string }) => {
        calls.push(`get ${ref.name}`);
        await sleep(80);
        return { metadata: { name: ref.name } };
      },
    } as unknown as Kube;
    let inFlight: Promise<unknown> | undefined;
    let late: Promise<unknown> | undefined;
    const step = withLambdaTimeout(async () => {
      const k = cutOffKube(kube, currentInvocation()!);
      inFlight = k.get({} as never, { name: 'sent-in-time' });
      await inFlight;
      late = k.get({} as never, { name: 'after-the-cut' });
      return late;
    }, 0.03);

    await expect(step(undefined)).rejects.toMatchObject({ name: 'Sandbox.Timedout' });
    await expect(inFlight).resolves.toEqual({ metadata: { name: 'sent-in-time' } });
    await expect(late).rejects.toThrow(/cut off at its Timeout/);
    expect(calls).toEqual(['get sent-in-time']);
  });
});
