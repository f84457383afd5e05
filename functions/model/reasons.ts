/**
 * Reasons a person reads (the OpsRequest's Failed condition, Events, the terminal): a sentence
 * about what went wrong and what to check, with the API server's own answer kept as a detail in
 * brackets. Our own errors (invalid request, issuer, database state, timeouts, a budget refusing
 * an eviction) already speak in sentences and pass through; the adapter's errors carry REST text.
 * Lambda's timeout ("RequestId: … Task timed out after 30.00 seconds") becomes the step and its limit.
 */
import { LAMBDA_TIMEOUT } from '../errors.js';

const SENTENCES: Record<string, string> = {
  KubeUnavailableError:
    'The Kubernetes API server could not be reached or kept failing (retries used up); check the cluster endpoint and network',
  KubeThrottledError: 'The Kubernetes API server kept asking to slow down (429) until the retries ran out',
  KubeConflictError:
    'Another client kept changing the same objects at the same time (409) until the retries ran out',
  KubeForbiddenError:
    "The functions' identity is not allowed to do this: apply k8s/rbac.yaml and check the EKS access entry (or aws-auth mapping)",
  KubeRequestError: 'The Kubernetes API server refused a request',
  KubeAlreadyExistsError: 'An object the workflow creates already exists',
  'States.Timeout': 'A step did not finish within its time limit',
  'States.TaskFailed': 'A step failed unexpectedly',
};

/** The limit in Lambda's timeout message ("Task timed out after 110.00 seconds" → "110 s"). */
function lambdaLimit(message: string): string {
  const seconds = /timed out after (\d+(?:\.\d+)?) seconds/.exec(message)?.[1];
  return seconds ? `${Number(seconds)} s, ` : '';
}

/**
 * `step`: the state that failed, when known (for a Lambda timeout, whose message names neither
 * the function nor the step, the ASL records it).
 */
export function plainReason(errorName: string, message: string, step?: string): string {
  if (errorName === LAMBDA_TIMEOUT)
    return (
      `${step ? `The "${step}" step` : 'A step'} did not finish within its time limit ` +
      `(${lambdaLimit(message)}the Timeout of its Lambda function), even when retried; the Kubernetes ` +
      'API server may be slow or unreachable from the functions (their logs show the last call)'
    );
  const sentence = SENTENCES[errorName];
  if (!sentence) return message || errorName;
  return message ? `${sentence} [API: ${message}]` : sentence;
}

/**
 * The reason as the cluster records it — the OpsRequest's conditions and Events, which anyone who
 * may read the namespace sees: for an error whose message is the API server's own text, the
 * sentence alone. That text can name the caller (`User "arn:aws:sts::<account>:assumed-role/…"` in
 * a 403), other namespaces and objects; it stays in the functions' logs and the terminal
 * (`plainReason`). Our own errors already speak in sentences and pass through.
 */
export function recordedReason(errorName: string, message: string, step?: string): string {
  if (errorName !== LAMBDA_TIMEOUT && Object.hasOwn(SENTENCES, errorName)) return SENTENCES[errorName]!;
  return plainReason(errorName, message, step);
}

/** While a step is retried: the same sentence, shorter, for "retrying" lines. */
export function retryReason(errorName: string, message: string): string {
  switch (errorName) {
    case 'KubeUnavailableError':
      return `the Kubernetes API server did not answer [API: ${message}]`;
    case 'KubeThrottledError':
      return `the Kubernetes API server asked to slow down [API: ${message}]`;
    case 'KubeConflictError':
      return `another client changed the object at the same time [API: ${message}]`;
    case LAMBDA_TIMEOUT:
      return `did not finish within its time limit (${lambdaLimit(message)}the Timeout of its Lambda function)`;
    default:
      return message || errorName;
  }
}
