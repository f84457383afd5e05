/**
 * Validate, at the edge: the shapes an execution may start with — run an existing OpsRequest,
 * describe a new one (console), or recover one — each checked against its schema before anything
 * is read from the cluster, and what Validate hands on to the state machine.
 */
import { InvalidRequestError } from '../errors.js';
import type { Plan } from '../model/plan.js';
import {
  BY_NAME_INPUT_SCHEMA,
  consoleInputSchema,
  formatSchemaErrors,
  jsonType,
  RECOVER_INPUT_SCHEMA,
  type RecoverySource,
  type Schema,
  shortValue,
  validateValue,
} from '../model/schema/index.js';
import type { PerconaXtraDBOpsRequest, ReconfigureTLSSpec } from '../model/types.js';
import type { Outcome } from './resume.js';

export const ACCEPTED_SHAPES =
  'expected {"namespace": "<ns>", "opsRequest": "<name>"} to run an existing PerconaXtraDBOpsRequest, or ' +
  '{"namespace": "<ns>", "database": "<name>", "tls": {...}} (optionally with "timeout" and "apply") to create one';

export type ExecutionInput =
  | { kind: 'by-name'; namespace: string; opsRequest: string }
  | {
      kind: 'console';
      namespace: string;
      database: string;
      tls: ReconfigureTLSSpec;
      timeout?: string;
      apply?: string;
    }
  | {
      kind: 'recover';
      execution?: string;
      status?: string;
      via?: RecoverySource;
      namespace?: string;
      opsRequest?: string;
      database?: string;
    };

/** The spec of the ReconfigureTLS request a console input stands for: what Validate creates, what a dry run plans. */
export function consoleRequestSpec(
  r: Extract<ExecutionInput, { kind: 'console' }>,
): PerconaXtraDBOpsRequest['spec'] {
  return {
    type: 'ReconfigureTLS',
    databaseRef: { name: r.database },
    tls: r.tls,
    ...(r.timeout ? { timeout: r.timeout } : {}),
    ...(r.apply ? { apply: r.apply } : {}),
  };
}

export interface ValidateInput {
  request: ExecutionInput;
  execution: string;
}

/** Why this execution is recovering a request instead of (or before) carrying it out. */
export interface Recovery {
  /** The execution that held the request (absent for a Paused condition whose request is gone). */
  from?: string;
  /** Present when the request is carried out after the recovery (a re-run that took over an expired lease). */
  resume?: true;
  via: RecoverySource | 'lease take-over';
}

export interface ValidateOutput {
  namespace: string;
  opsRequest: string;
  execution: string;
  skip: boolean;
  reason?: string;
  plan?: Plan;
  round?: { next: number };
  /** Set when Validate itself finished the request (nothing to change): the outcome to publish. */
  result?: Outcome;
  /** Set when this execution recovers the request (the ASL goes to Roll back, then on or out). */
  recovery?: Recovery;
  /** With `recovery`: what the request is failed with, as a Catch would have recorded it. */
  error?: { Error: string; Cause: string };
  /** With a recovery of a request that no longer exists: the database it left paused. */
  database?: string;
  /** Set once, when recoveries are given up: the message the ASL sends to the recovery dead-letter queue. */
  abandoned?: AbandonedRecovery;
}

/** What a person needs to find a request whose recoveries never finished (names only, no material). */
export interface AbandonedRecovery {
  namespace: string;
  opsRequest: string;
  attempts: number;
  lastExecution: string;
  reason: string;
}

const BY_NAME = ['namespace', 'opsRequest'];
const CONSOLE = ['namespace', 'database', 'tls', 'timeout', 'apply'];

/**
 * One of the accepted input shapes, every field checked against its schema; anything else is an
 * InvalidRequestError that shows both shapes and never more than ~100 characters of a value.
 */
export function parseExecutionInput(raw: unknown): ExecutionInput {
  const reject = (why: string): never => {
    throw new InvalidRequestError(`invalid input (${why}): ${ACCEPTED_SHAPES}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return reject(`not a JSON object: got ${jsonType(raw)} ${shortValue(raw)}`);
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  const shape: [string[], Schema] = keys.includes('recover')
    ? [['recover'], RECOVER_INPUT_SCHEMA]
    : keys.includes('opsRequest')
      ? [BY_NAME, BY_NAME_INPUT_SCHEMA]
      : [CONSOLE, consoleInputSchema()];
  const extra = keys.filter((k) => !shape[0].includes(k));
  if (extra.length > 0)
    reject(
      `unexpected field(s) ${extra.slice(0, 5).map(fieldName).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}`,
    );
  const errors = validateValue(shape[1], o, { unknownFields: 'reject' });
  if (errors.length > 0) reject(formatSchemaErrors(errors));
  if (shape[1] === RECOVER_INPUT_SCHEMA) {
    const r = o.recover as Omit<Extract<ExecutionInput, { kind: 'recover' }>, 'kind'>;
    if (!r.execution && !(r.namespace && r.opsRequest))
      reject('recover needs "execution", or "namespace" and "opsRequest"');
    return { kind: 'recover', ...r };
  }
  if (shape[1] === BY_NAME_INPUT_SCHEMA)
    return { kind: 'by-name', namespace: o.namespace as string, opsRequest: o.opsRequest as string };
  return {
    kind: 'console',
    namespace: o.namespace as string,
    database: o.database as string,
    tls: o.tls as ReconfigureTLSSpec,
    ...(o.timeout !== undefined ? { timeout: o.timeout as string } : {}),
    ...(o.apply !== undefined ? { apply: o.apply as string } : {}),
  };
}

/** A field name as typed, unless it is long or odd (then quoted and shortened). */
function fieldName(k: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(k) ? k : shortValue(k, 40);
}

/** The edge validator of the Validate handler. */
export function parseValidateEvent(event: unknown): ValidateInput {
  const e = (event && typeof event === 'object' ? event : {}) as Record<string, unknown>;
  const execution = typeof e.execution === 'string' && e.execution ? e.execution : 'local';
  return { request: parseExecutionInput(e.request), execution };
}
