/**
 * The local stand-in for Lambda's time limit. On AWS an invocation that runs past its function's
 * `Timeout` is cut off: the Task fails with Sandbox.Timedout ("Task timed out after N seconds"),
 * the execution environment is reset, and only requests the function had already sent may still
 * reach the API server. The runner gives every Task the Timeout template.yaml gives its function and
 * fails it the same way, so the ASL's retries (and the steps' idempotence) are exercised locally.
 *
 * In-process code cannot be killed: the timed-out handler keeps running, but every Kubernetes call
 * it starts from then on is refused (requests already sent complete, as on AWS).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { LAMBDA_TIMEOUT } from '../../functions/errors.js';
import type { Kube } from '../../functions/kube/types.js';
import { loadTemplate } from '../../scripts/template.js';

export const TEMPLATE_PATH = fileURLToPath(new URL('../../template.yaml', import.meta.url));

/** Lambda's default Timeout when neither the function nor Globals sets one. */
const LAMBDA_DEFAULT_TIMEOUT = 3;

/** Function logical name → its Lambda Timeout in seconds, as template.yaml sets it (Globals included). */
export function functionTimeouts(path = TEMPLATE_PATH): Record<string, number> {
  const template = loadTemplate(path);
  const fallback = Number(template.Globals?.Function?.Timeout ?? LAMBDA_DEFAULT_TIMEOUT);
  return Object.fromEntries(
    Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Serverless::Function')
      .map(([name, r]) => [name, Number(r.Properties?.Timeout ?? fallback)]),
  );
}

/** One invocation: the id Lambda gives it, when Lambda cuts it off, and whether it has been. */
export interface Invocation {
  requestId: string;
  deadline: number;
  cutOff: boolean;
}

const current = new AsyncLocalStorage<Invocation>();

/** The invocation the caller runs in (undefined outside `withLambdaTimeout`). */
export function currentInvocation(): Invocation | undefined {
  return current.getStore();
}

/** The error Lambda reports for an invocation cut off at its Timeout, with Lambda's message. */
export function lambdaTimeoutError(requestId: string, seconds: number): Error {
  const err = new Error(`RequestId: ${requestId} Error: Task timed out after ${seconds.toFixed(2)} seconds`);
  err.name = LAMBDA_TIMEOUT;
  return err;
}

/**
 * `fn` run as Lambda invocations of a function whose Timeout is `seconds`: each call that has not
 * settled by then rejects with Sandbox.Timedout and is marked cut off (see `cutOffKube`).
 */
export function withLambdaTimeout<I, O>(
  fn: (input: I) => Promise<O>,
  seconds: number,
): (input: I) => Promise<O> {
  return (input) => {
    const invocation: Invocation = {
      requestId: randomUUID(),
      deadline: Date.now() + seconds * 1000,
      cutOff: false,
    };
    const run = current.run(invocation, () => fn(input));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        invocation.cutOff = true;
        reject(lambdaTimeoutError(invocation.requestId, seconds));
      }, seconds * 1000);
    });
    // The race keeps a late rejection of the abandoned run from going unhandled.
    return Promise.race([run, timedOut]).finally(() => clearTimeout(timer));
  };
}

/**
 * The cluster as an invocation sees it: once Lambda has cut the invocation off, every call it
 * starts is refused (on AWS its process is gone); calls already under way complete.
 */
export function cutOffKube(kube: Kube, invocation: Invocation): Kube {
  return new Proxy(kube, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      // serverTime reads what earlier answers said and sends nothing: refusing it would hand a
      // synchronous caller a rejected promise that nobody awaits.
      if (typeof value !== 'function') return value;
      if (key === 'serverTime') return value.bind(target);
      return (...args: unknown[]) => {
        if (invocation.cutOff)
          return Promise.reject(
            new Error(`invocation ${invocation.requestId} was cut off at its Timeout: no more requests`),
          );
        return value.apply(target, args);
      };
    },
  });
}
