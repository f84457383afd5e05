/**
 * The shared plumbing of every handler: a middy chain of
 * 1. `withDeps` — the step's deps, with a per-invocation child logger keyed by namespace,
 *    database and OpsRequest (a child, so concurrent executions in one process never share keys);
 * 2. `validateInput` — the event's shape, checked at the edge (InvalidRequestError on a bad one);
 * 3. `normaliseErrors` — anything thrown leaves with a name from ../errors.ts where one fits
 *    (network failures → KubeUnavailableError, AWS throttling/5xx → AwsUnavailableError), and is logged.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { type Deps, getDeps } from '../deps.js';
import { AwsUnavailableError, InvalidRequestError, KubeUnavailableError, PxcTlsOpsError } from '../errors.js';
import { MIDDY_OPTIONS } from './options.js';

export interface StepContext extends Context {
  deps: Deps;
}

export type Step<I, O> = (input: I, deps: Deps) => Promise<O>;
export type Validator<I> = (event: unknown) => I;

/** Log keys found in any of the event shapes the handlers get. */
function logKeys(event: unknown): Record<string, string> {
  const e = (event ?? {}) as Record<string, unknown>;
  // Validate gets {request: <execution input>}, Roll back {state: ...}; the others carry the keys at the top or in the plan.
  const sources = [
    e,
    e.request,
    e.state,
    e.plan,
    (e.state as Record<string, unknown> | undefined)?.plan,
  ].filter((x): x is Record<string, unknown> => !!x && typeof x === 'object');
  const keys: Record<string, string> = {};
  for (const k of ['namespace', 'database', 'opsRequest', 'execution']) {
    const v = sources.map((s) => s[k]).find((x) => typeof x === 'string' && x !== '');
    if (typeof v === 'string') keys[k] = v;
  }
  return keys;
}

export const withDeps = (): MiddlewareObj<unknown, unknown, Error, Context> => ({
  before: async (request) => {
    const deps = await getDeps();
    const logger = deps.logger.createChild();
    logger.appendKeys(logKeys(request.event));
    (request.context as StepContext).deps = { ...deps, logger };
  },
});

export const validateInput = <I>(
  validator: Validator<I>,
): MiddlewareObj<unknown, unknown, Error, Context> => ({
  before: async (request) => {
    request.event = validator(request.event);
  },
});

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/** The error a handler should leave with. */
export function normaliseError(err: unknown): Error {
  if (err instanceof PxcTlsOpsError) return err;
  if (!(err instanceof Error)) return new Error(String(err));
  const code = (err as { code?: string }).code;
  if (code && NETWORK_CODES.has(code)) return new KubeUnavailableError(err.message, { cause: err });
  const meta = (err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown }).$metadata;
  if (meta) {
    const status = meta.httpStatusCode ?? 0;
    if (status === 429 || status >= 500 || (err as { $retryable?: unknown }).$retryable) {
      return new AwsUnavailableError(`${err.name}: ${err.message}`, { cause: err });
    }
  }
  return err;
}

export const normaliseErrors = (): MiddlewareObj<unknown, unknown, Error, Context> => ({
  onError: async (request) => {
    const err = normaliseError(request.error);
    request.error = err;
    const logger = (request.context as Partial<StepContext>).deps?.logger;
    logger?.warn('step failed', { errorName: err.name, errorMessage: err.message });
  },
});

/** A Lambda handler: middy(withDeps, validateInput, normaliseErrors) around a step. */
export function makeHandler<I, O>(validator: Validator<I>, step: Step<I, O>) {
  // Typed with the plain Lambda Context, as the runtime calls it; withDeps adds `deps` to it.
  return middy<unknown, O, Error, Context>(MIDDY_OPTIONS)
    .use(normaliseErrors())
    .use(withDeps())
    .use(validateInput(validator))
    .handler(async (event, context) => step(event as I, (context as StepContext).deps));
}

// ---- small validators (hand-written: no schema compilation at cold start) ------------------

export function objectOf(event: unknown, what: string): Record<string, unknown> {
  if (!event || typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidRequestError(`${what}: expected a JSON object, got ${JSON.stringify(event)}`);
  }
  return event as Record<string, unknown>;
}

export function stringField(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '')
    throw new InvalidRequestError(`${what}: "${key}" must be a non-empty string`);
  return v;
}

export function numberField(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InvalidRequestError(`${what}: "${key}" must be a number`);
  return v;
}
