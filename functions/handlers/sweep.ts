/** SweepFunction: on a short schedule, announces OpsRequests nobody has started yet. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { sweep } from '../steps/sweep.js';
import { logger, triggerDeps } from '../triggers/deps.js';

export const handler = middy(async () => {
  const { pending, listed, listCalls } = await sweep(await triggerDeps());
  return { listed, pending: pending.length, listCalls };
}).use(injectLambdaContext(logger));
