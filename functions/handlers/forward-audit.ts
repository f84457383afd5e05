/** ForwardAuditFunction: EKS audit-log subscription → `PerconaXtraDBOpsRequest Pending` events. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { MIDDY_OPTIONS } from '../middleware/options.js';
import { type CloudWatchLogsEvent, forwardAudit } from '../steps/forward-audit.js';
import { logger, triggerDeps } from '../triggers/deps.js';

export const handler = middy(async (event: CloudWatchLogsEvent) => {
  const { creates, pending } = await forwardAudit(event, await triggerDeps());
  return { creates, forwarded: pending.length };
}, MIDDY_OPTIONS).use(injectLambdaContext(logger));
