/**
 * What the trigger handlers hand to their steps, built lazily from the environment the template
 * sets (EKS_CLUSTER_NAME or KUBECONFIG, EVENT_BUS_NAME, STATE_MACHINE_ARN, WATCH_NAMESPACES) and cached per
 * container. Tests and local runs replace any part with `setTriggerDeps`.
 *
 * AWS clients honour `AWS_ENDPOINT_URL` (SDK v3), so `sam local invoke` or a test can point them
 * at the stand-ins in local/aws without code changes.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { InvalidRequestError } from '../errors.js';
import { getKube } from '../kube/index.js';
import type { Kube } from '../kube/types.js';
import type { ExpirySummary } from '../steps/renewal-plan.js';
import {
  type DescribeExecution,
  eventBridgePublish,
  type StartExecution,
  sfnDescribeExecution,
  sfnStartExecution,
} from './aws.js';
import type { Publish } from './events.js';
import { watchedNamespaces } from './list.js';
import type { StepLogger } from './logger.js';

export const logger = new Logger();

/** Powertools' Logger seen through the steps' narrow logger type. */
const powertoolsLogger: StepLogger = {
  debug: (message, extra) => logger.debug(message, extra ?? {}),
  info: (message, extra) => logger.info(message, extra ?? {}),
  warn: (message, extra) => logger.warn(message, extra ?? {}),
  error: (message, extra) => logger.error(message, extra ?? {}),
};
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PxcTlsOps' });

export interface TriggerDeps {
  kube: Kube;
  publish: Publish;
  startExecution: StartExecution;
  describeExecution: DescribeExecution;
  recordExpiry(summary: ExpirySummary): void;
  cluster: string;
  /** WATCH_NAMESPACES: the namespaces of a namespaced install; empty: the whole cluster. */
  namespaces: string[];
  now(): Date;
  logger: StepLogger;
}

let overrides: Partial<TriggerDeps> = {};
let publish: Publish | undefined;
let startExecution: StartExecution | undefined;
let describeExecution: DescribeExecution | undefined;

/** Replace parts of the deps (tests, local runs); `resetTriggerDeps()` undoes it. */
export function setTriggerDeps(parts: Partial<TriggerDeps>): void {
  overrides = { ...overrides, ...parts };
}

export function resetTriggerDeps(): void {
  overrides = {};
  publish = undefined;
  startExecution = undefined;
  describeExecution = undefined;
}

function required(name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (!value) throw new InvalidRequestError(`environment variable ${name} is not set`);
  return value;
}

/**
 * The expiry scan's metrics, in embedded metric format (no PutMetricData calls): eight series per
 * cluster whatever the number of databases — a series per database would cost $0.30 a month each.
 * Published by the handler's logMetrics middleware.
 */
function expiryMetrics(cluster: string): (summary: ExpirySummary) => void {
  return (s) => {
    metrics.addDimension('Cluster', cluster);
    metrics.addMetric('DatabasesWithTls', MetricUnit.Count, s.databases);
    metrics.addMetric('DatabasesDue', MetricUnit.Count, s.due);
    metrics.addMetric('DatabasesExpired', MetricUnit.Count, s.expired);
    if (s.minDaysToExpiry !== undefined)
      metrics.addMetric('MinDaysToExpiry', MetricUnit.Count, s.minDaysToExpiry);
    metrics.addMetric('CaRenewalNeeded', MetricUnit.Count, s.caRenewalNeeded);
    metrics.addMetric('WindowsUnsatisfiable', MetricUnit.Count, s.windowProblems ?? 0);
    metrics.addMetric('RenewalsWaiting', MetricUnit.Count, s.waiting ?? 0);
    metrics.addMetric('RenewalsStartedByDeadline', MetricUnit.Count, s.startedByDeadline ?? 0);
  };
}

/**
 * `cluster`: the EKS cluster this invocation works on (the fleet fan-out names one per item);
 * absent, the stack's EKS_CLUSTER_NAME, as a single-cluster deployment always did.
 */
export async function triggerDeps(
  env: NodeJS.ProcessEnv = process.env,
  cluster?: string,
): Promise<TriggerDeps> {
  const name = overrides.cluster ?? (cluster || env.EKS_CLUSTER_NAME || 'local');
  return {
    kube: overrides.kube ?? (await getKube(env, cluster)),
    get publish() {
      if (overrides.publish) return overrides.publish;
      publish ??= eventBridgePublish(required('EVENT_BUS_NAME', env));
      return publish;
    },
    get startExecution() {
      if (overrides.startExecution) return overrides.startExecution;
      startExecution ??= sfnStartExecution(required('STATE_MACHINE_ARN', env));
      return startExecution;
    },
    get describeExecution() {
      if (overrides.describeExecution) return overrides.describeExecution;
      describeExecution ??= sfnDescribeExecution(required('STATE_MACHINE_ARN', env));
      return describeExecution;
    },
    recordExpiry: overrides.recordExpiry ?? expiryMetrics(name),
    cluster: name,
    namespaces: overrides.namespaces ?? watchedNamespaces(env),
    now: overrides.now ?? (() => new Date()),
    logger: overrides.logger ?? powertoolsLogger,
  };
}
