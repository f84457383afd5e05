/** ScanExpiryFunction: on a schedule, renews certificates that are due or expired, on the cluster its input names (default: the stack's). */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { MIDDY_OPTIONS } from '../middleware/options.js';
import { type ScanExpiryInput, scanExpiry } from '../steps/scan-expiry.js';
import { logger, metrics, triggerDeps } from '../triggers/deps.js';

export const handler = middy(
  async (event: ScanExpiryInput | null | undefined) =>
    scanExpiry({ dryRun: event?.dryRun === true }, await triggerDeps(process.env, event?.cluster)),
  MIDDY_OPTIONS,
)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
