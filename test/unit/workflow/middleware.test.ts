import { readdirSync, readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setDeps } from '../../../functions/deps.js';
import { InvalidRequestError, StepTimeoutError } from '../../../functions/errors.js';
import { handler as checkPod } from '../../../functions/handlers/check-pod.js';
import { handler as validate } from '../../../functions/handlers/validate.js';
import type { Kube } from '../../../functions/kube/types.js';
import { makeHandler, normaliseError } from '../../../functions/middleware/index.js';

const context = { functionName: 'test', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

describe('Error normalisation', () => {
  it.each([
    { why: 'our own errors pass through', err: new StepTimeoutError('late'), name: 'StepTimeoutError' },
    {
      why: 'a dropped connection is KubeUnavailableError',
      err: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      name: 'KubeUnavailableError',
    },
    {
      why: 'AWS throttling is AwsUnavailableError',
      err: Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
        $retryable: {},
      }),
      name: 'AwsUnavailableError',
    },
    {
      why: 'an AWS 5xx is AwsUnavailableError',
      err: Object.assign(new Error('boom'), { name: 'InternalError', $metadata: { httpStatusCode: 503 } }),
      name: 'AwsUnavailableError',
    },
    {
      why: 'an AWS 4xx stays what it is',
      err: Object.assign(new Error('no'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 403 },
      }),
      name: 'AccessDeniedException',
    },
    { why: 'a programming error stays what it is', err: new TypeError('x is undefined'), name: 'TypeError' },
  ])('$why', ({ err, name }) => {
    expect(normaliseError(err).name).toBe(name);
  });
});

describe('Handlers', () => {
  afterEach(() => setDeps(undefined));

  it('refuse a bad event at the edge with InvalidRequestError, before any cluster call', async () => {
    const lines: string[] = [];
    const capture = (chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    };
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    const calls: string[] = [];
    const kube = new Proxy({} as Kube, {
      get: (_t, key) => () => {
        calls.push(String(key));
        throw new Error('no cluster in this test');
      },
    });
    setDeps({ kube });

    await expect(checkPod({ namespace: 'demo' }, context)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(
      validate({ request: { namespace: 'demo', opsRequest: 'r', extra: 1 } }, context),
    ).rejects.toThrow(/unexpected field\(s\) extra/);
    for (const spy of spies) spy.mockRestore();
    expect(calls).toEqual([]);
    // Logged as JSON with the request's keys.
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.find((l) => l.opsRequest === 'r')).toMatchObject({
      level: 'WARN',
      namespace: 'demo',
      errorName: 'InvalidRequestError',
    });
  });

  it('leave a step that outlasts the invocation to Lambda’s own timeout, never answering early and leaving it running', async () => {
    setDeps({ kube: {} as Kube });
    let finished = false;
    const slow = makeHandler(
      (event) => event as { ms: number },
      async ({ ms }) => {
        await new Promise((r) => setTimeout(r, ms));
        finished = true;
        return { done: true };
      },
    );
    // 20 ms left in the invocation, a 60 ms step: middy's default would reject with its
    // TimeoutError at 15 ms while the step kept running.
    const nearlyOut = { ...context, getRemainingTimeInMillis: () => 20 } as Context;
    await expect(slow({ ms: 60 }, nearlyOut)).resolves.toEqual({ done: true });
    expect(finished).toBe(true);
  });

  it('every handler runs with middy’s early timeout off: the steps through makeHandler, the trigger functions with MIDDY_OPTIONS', () => {
    const dir = new URL('../../../functions/handlers/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    const without = files.filter((f) => {
      const source = readFileSync(new URL(f, dir), 'utf8');
      if (source.includes('makeHandler(')) return false;
      return !/middy\([\s\S]*MIDDY_OPTIONS[\s\S]*\)/.test(source);
    });
    expect(without).toEqual([]);
  });
});
