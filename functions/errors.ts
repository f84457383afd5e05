/**
 * Error names shared with the state machine.
 *
 * Every error a function throws on purpose is one of these classes. Step Functions matches
 * `ErrorEquals` against `error.name`, so each class sets `this.name` to a string literal
 * (a minifier renames classes, never string literals). `test/unit/asl-errors.test.ts` reads
 * the ASL and fails when a name there is unknown here, or a class here is handled nowhere.
 *
 * Two families:
 * - retryable: the same call may succeed later (conflicts, throttling, 5xx, network, timeouts);
 *   the ASL retries them with backoff.
 * - fatal: retrying cannot help (invalid request, forbidden, unsupported issuer); the ASL
 *   catches them into the failure path at once.
 */

/** The API server's answer behind a Kube* error, kept as a detail for people and code alike. */
export interface KubeStatus {
  code: number;
  reason?: string;
  message?: string;
  /** `details.causes` of the Status (e.g. a PodDisruptionBudget's refusal of an eviction). */
  causes?: Array<{ reason?: string; message?: string }>;
}

export abstract class PxcTlsOpsError extends Error {
  abstract readonly retryable: boolean;
  /** Set by the Kubernetes adapter on errors that come from an API answer. */
  status?: KubeStatus;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

abstract class RetryableError extends PxcTlsOpsError {
  readonly retryable = true;
}

abstract class FatalError extends PxcTlsOpsError {
  readonly retryable = false;
}

// ---- retryable -------------------------------------------------------------------------

/** 409 Conflict on a write with a stale resourceVersion: re-read and try again. */
export class KubeConflictError extends RetryableError {
  override readonly name = 'KubeConflictError';
}

/** 429 from the API server (also an Eviction refused by a PodDisruptionBudget). */
export class KubeThrottledError extends RetryableError {
  override readonly name = 'KubeThrottledError';
}

/** 5xx, a dropped connection or a request timeout talking to the API server. */
export class KubeUnavailableError extends RetryableError {
  override readonly name = 'KubeUnavailableError';
}

/** Throttling or a 5xx from an AWS API (EKS, STS, Step Functions, EventBridge). */
export class AwsUnavailableError extends RetryableError {
  override readonly name = 'AwsUnavailableError';
}

/**
 * Another OpsRequest for the same database is in progress: this one waits (the ASL retries with a
 * long backoff) until that one ends, or fails once its own timeout has passed.
 */
export class DatabaseBusyError extends RetryableError {
  override readonly name = 'DatabaseBusyError';
}

/**
 * The database's `Paused` condition is still Unknown: the KubeDB provisioner has not confirmed the
 * pause yet. The ASL retries Pause until the request's timeout; after that Pause fails with
 * DatabaseStateError (see docs/kubedb-cert-manager.md).
 */
export class PauseNotConfirmedError extends RetryableError {
  override readonly name = 'PauseNotConfirmedError';
}

/**
 * cert-manager has not issued every Certificate yet (Change certificates waits for a new revision
 * of each); the ASL retries the step, which holds a short watch each time, until spec.timeout.
 */
export class CertificatesPendingError extends RetryableError {
  override readonly name = 'CertificatesPendingError';
}

// ---- fatal -----------------------------------------------------------------------------

/** The OpsRequest (or console input) breaks an admission rule; the message says which. */
export class InvalidRequestError extends FatalError {
  override readonly name = 'InvalidRequestError';
}

/** The issuer is missing, not a CA issuer, or its CA fails a check; the message names it. */
export class InvalidIssuerError extends FatalError {
  override readonly name = 'InvalidIssuerError';
}

/** The database is missing or not in a state the request allows (e.g. not Ready under IfReady). */
export class DatabaseStateError extends FatalError {
  override readonly name = 'DatabaseStateError';
}

/** 401/403 from the API server: RBAC or the EKS access entry is missing something. */
export class KubeForbiddenError extends FatalError {
  override readonly name = 'KubeForbiddenError';
}

/** A 4xx the functions did not expect (400, 404 where the object must exist, 415, 422). */
export class KubeRequestError extends FatalError {
  override readonly name = 'KubeRequestError';
}

/** 409 AlreadyExists on create. Ensures swallow it; anywhere else it is a bug. */
export class KubeAlreadyExistsError extends FatalError {
  override readonly name = 'KubeAlreadyExistsError';
}

/** A step did not finish within the OpsRequest's `spec.timeout` (e.g. a pod never got Ready). */
export class StepTimeoutError extends FatalError {
  override readonly name = 'StepTimeoutError';
}

/**
 * A pod could not be evicted before the step's timeout because a PodDisruptionBudget kept
 * refusing (each refusal is waited out and retried; this is the final word, naming the budget).
 */
export class EvictionBlockedError extends FatalError {
  override readonly name = 'EvictionBlockedError';
}

/**
 * KubeDB's enterprise ops-manager is installed and would process the same requests; refused
 * before anything is written (unless the stack declares this deployment the only processor).
 */
export class OpsManagerPresentError extends FatalError {
  override readonly name = 'OpsManagerPresentError';
}

/** cert-manager reported an issuance failed (the issuer refused or could not sign); the message says which and why. */
export class CertificateIssuanceError extends FatalError {
  override readonly name = 'CertificateIssuanceError';
}

/** The failure path could not restore what it saved; the message says what is left. */
export class RollbackError extends FatalError {
  override readonly name = 'RollbackError';
}

/**
 * The OpsRequest is no longer claimed by this execution: its lease ran out and a re-run or a
 * recovery took it over. The execution stops without writing anything (the ASL ends it at once).
 */
export class LeaseLostError extends FatalError {
  override readonly name = 'LeaseLostError';
}

/**
 * The database's `Paused` condition no longer names this request: KubeDB's ops webhook removes it
 * when any OpsRequest of the database completes, someone ran `kubectl kubedb resume`, or another
 * holder took it. The provisioner may be reconciling the database mid-change, so the step writes
 * and evicts nothing; the ASL rolls back and marks the request Failed.
 */
export class PauseLostError extends FatalError {
  override readonly name = 'PauseLostError';
}

/**
 * Not thrown: the error name a recovery records on a request whose execution was interrupted
 * (stopped, timed out, killed) before its own failure path could run. A request that failed this
 * way may be run again.
 */
export const EXECUTION_INTERRUPTED = 'ExecutionInterrupted';

/** Every error class by name, for the ASL consistency test and for re-hydrating names. */
export const ERROR_CLASSES = {
  KubeConflictError,
  KubeThrottledError,
  KubeUnavailableError,
  AwsUnavailableError,
  DatabaseBusyError,
  PauseNotConfirmedError,
  CertificatesPendingError,
  InvalidRequestError,
  InvalidIssuerError,
  DatabaseStateError,
  KubeForbiddenError,
  KubeRequestError,
  KubeAlreadyExistsError,
  StepTimeoutError,
  EvictionBlockedError,
  OpsManagerPresentError,
  CertificateIssuanceError,
  RollbackError,
  LeaseLostError,
  PauseLostError,
} as const;

export type ErrorName = keyof typeof ERROR_CLASSES;

export function isRetryable(err: unknown): boolean {
  return err instanceof PxcTlsOpsError && err.retryable;
}

// ---- raised around the functions, by AWS ----------------------------------------------------

/**
 * Lambda's error when an invocation runs past the function's `Timeout`: Lambda cuts it off and
 * resets the execution environment; requests the function had already sent may still land.
 * Every Lambda Task retries it a few times (each step is an ensure, safe to run again), then
 * fails with the step named (`test/unit/asl-spec.test.ts` checks every Task retries it).
 */
export const LAMBDA_TIMEOUT = 'Sandbox.Timedout';

/**
 * Transient errors of the Lambda service around an invoke, retried by every Lambda Task as Step
 * Functions' best practice "Handle transient Lambda service exceptions" lists them (plus
 * throttling of the invoke itself).
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;
