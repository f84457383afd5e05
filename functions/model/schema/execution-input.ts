/**
 * The state machine's input, as schemas: what the EventBridge rules, the expiry scanner, the
 * sweep, `npm run local` and a person at the Step Functions console may start an execution with.
 * Validate checks the input against one of these before it reads anything from the cluster, with
 * unknown fields refused, so a typo or a wrong type is reported by name instead of travelling on.
 */

import { reconfigureTlsSchema } from './ops-request.js';
import type { Schema } from './types.js';

// The lengths are in the formats already; said again as maxLength so that an oversized name is
// refused as "Too long" with the limit, rather than as a name of the wrong shape.
const namespace: Schema = { type: 'string', minLength: 1, maxLength: 63, format: 'dns1123-label' };
const objectName: Schema = { type: 'string', minLength: 1, maxLength: 253, format: 'dns1123-subdomain' };
const database: Schema = { type: 'string', minLength: 1, maxLength: 63, format: 'dns1123-label' };
/** Step Functions execution names: 1–80 letters, digits, '-' or '_'. */
const executionName: Schema = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,80}$' };

/** `{"namespace", "opsRequest"}`: run an existing PerconaXtraDBOpsRequest. */
export const BY_NAME_INPUT_SCHEMA: Schema = {
  type: 'object',
  required: ['namespace', 'opsRequest'],
  properties: { namespace, opsRequest: objectName },
};

/** Where a recovery was started from (recorded in the request's reason). */
export const RECOVERY_SOURCES = ['event rule', 'sweep', 'interrupt', 'recover command'] as const;
export type RecoverySource = (typeof RECOVERY_SOURCES)[number];

/**
 * `{"recover": {...}}`: end a request an interrupted execution left behind (restore, resume, mark
 * Failed). From the rule on Step Functions' status-change events (`execution`, `status`), the
 * sweep and `npm run local` (`namespace`, `opsRequest`, and the execution that held it), or, for a
 * `Paused` condition naming a request that no longer exists, `namespace`, `opsRequest`, `database`.
 */
export const RECOVER_INPUT_SCHEMA: Schema = {
  type: 'object',
  required: ['recover'],
  properties: {
    recover: {
      type: 'object',
      minProperties: 1,
      properties: {
        execution: executionName,
        status: {
          type: 'string',
          enum: ['ABORTED', 'TIMED_OUT', 'FAILED', 'SUCCEEDED', 'RUNNING', 'UNKNOWN'],
        },
        via: { type: 'string', enum: RECOVERY_SOURCES },
        namespace,
        opsRequest: objectName,
        database,
      },
    },
  },
};

let consoleInput: Schema | undefined;

/** `{"namespace", "database", "tls", "timeout"?, "apply"?}`: create a request, then run it. */
export function consoleInputSchema(): Schema {
  consoleInput ??= {
    type: 'object',
    required: ['namespace', 'database', 'tls'],
    properties: {
      namespace,
      database,
      tls: reconfigureTlsSchema(),
      timeout: { type: 'string', minLength: 1, maxLength: 64 },
      apply: { type: 'string', enum: ['IfReady', 'Always'] },
    },
  };
  return consoleInput;
}
