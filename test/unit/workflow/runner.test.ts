import { describe, expect, it } from 'vitest';
import { KubeConflictError, StepTimeoutError } from '../../../functions/errors.js';
import { allStates, loadDefinition, substitute, willRetry } from '../../../local/runner/index.js';

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
});
