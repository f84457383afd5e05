/** SweepFunction: on a short schedule, announces OpsRequests nobody has started yet and recovers those whose execution is gone. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { MIDDY_OPTIONS } from '../middleware/options.js';
import { sweep } from '../steps/sweep.js';
import { logger, triggerDeps } from '../triggers/deps.js';

export const handler = middy(async (event: { cluster?: string } | null | undefined) => {
  // Recoveries need the state machine (the template sets STATE_MACHINE_ARN); without it, announce only.
  const { pending, recovered, listed, listCalls } = await sweep(
    await triggerDeps(process.env, event?.cluster),
    {
      recover: Boolean(process.env.STATE_MACHINE_ARN),
    },
  );
  return { listed, pending: pending.length, recovered: recovered.length, listCalls };
}, MIDDY_OPTIONS).use(injectLambdaContext(logger));
