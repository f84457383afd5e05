/** SweepFunction: on a short schedule, announces OpsRequests nobody has started yet and recovers those whose execution is gone. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { sweep } from '../steps/sweep.js';
import { logger, triggerDeps } from '../triggers/deps.js';

export const handler = middy(async () => {
  const deps = await triggerDeps();
  // Recoveries need the state machine (the template sets STATE_MACHINE_ARN); without it, announce only.
  const recovery = process.env.STATE_MACHINE_ARN
    ? { startExecution: deps.startExecution, describeExecution: deps.describeExecution }
    : {};
  const { pending, recovered, listed, listCalls } = await sweep({
    kube: deps.kube,
    publish: deps.publish,
    cluster: deps.cluster,
    logger: deps.logger,
    now: deps.now,
    ...recovery,
  });
  return { listed, pending: pending.length, recovered: recovered.length, listCalls };
}).use(injectLambdaContext(logger));
