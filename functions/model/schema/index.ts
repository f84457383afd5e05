/**
 * Structural schemas: the engine (check: engine.ts; prune, default: transform.ts; generic, shared
 * with the API simulator) and the schemas of what this project reads (the PerconaXtraDBOpsRequest
 * CRD, the kmodules types it shares with the PerconaXtraDB CRD, the state machine's input).
 */
export {
  isDns1123Label,
  isDns1123Subdomain,
  type ValidateOptions,
  validateValue,
} from './engine.js';
export {
  BY_NAME_INPUT_SCHEMA,
  consoleInputSchema,
  RECOVER_INPUT_SCHEMA,
  RECOVERY_SOURCES,
  type RecoverySource,
} from './execution-input.js';
export { KMAPI_CERTIFICATE_SCHEMA, KMAPI_CONDITION_SCHEMA, KMAPI_ISSUER_REF_SCHEMA } from './kmapi.js';
export {
  OPS_REQUEST_CRD_SCHEMA,
  OPS_REQUEST_SPEC_SCHEMA,
  OPS_REQUEST_STATUS_SCHEMA,
  OPS_REQUEST_TLS_SCHEMA,
  OPS_REQUEST_TYPES,
  reconfigureTlsSchema,
  reconfigureTlsSpecSchema,
} from './ops-request.js';
export { applyDefaults, type PruneOptions, pruneValue, refineSchema } from './transform.js';
export type { Schema, SchemaError, SchemaErrorType, SchemaType } from './types.js';
export {
  childPath,
  deepEqual,
  formatSchemaError,
  formatSchemaErrors,
  jsonType,
  SHOWN_VALUE_CHARS,
  shortValue,
} from './values.js';
