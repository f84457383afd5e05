/**
 * What the API server does to a custom resource before storing it, for the kinds with a schema
 * (schemas.ts), in its order: prune the fields the schema does not declare, fill the schema's
 * defaults, validate — a violation is a 422 `Invalid` naming every field, in the API server's
 * words (`spec.apply: Unsupported value: "Sometimes": supported values: "IfReady", "Always"`).
 * `apiVersion`, `kind` and `metadata` are never pruned (the API server handles ObjectMeta itself).
 *
 * Requests over HTTP get all three. In-process fixtures are pruned and defaulted but not refused:
 * tests store what an older or looser CRD would have let through, to check the workflow's own
 * refusals of it.
 */
import {
  applyDefaults,
  formatSchemaErrors,
  pruneValue,
  validateValue,
} from '../../functions/model/schema/index.js';
import { resourceKey, type SimResource } from './resources.js';
import { SCHEMAS } from './schemas.js';
import { ApiError, type Obj } from './store.js';

export function admitCustomResource(res: SimResource, obj: Obj, opts: { strict: boolean }): Obj {
  const schema = SCHEMAS[resourceKey(res)];
  if (!schema) return obj;
  const { value: pruned } = pruneValue(schema, obj, { keep: ['apiVersion', 'kind', 'metadata'] });
  const defaulted = applyDefaults(schema, pruned);
  if (opts.strict) {
    const errors = validateValue(schema, defaulted);
    if (errors.length > 0) {
      const name = obj.metadata?.name ?? '';
      throw new ApiError(
        422,
        'Invalid',
        `${res.kind}.${res.group} "${name}" is invalid: ${formatSchemaErrors(errors, 20)}`,
        {
          name,
          group: res.group,
          kind: res.kind,
          causes: errors.map((e) => ({
            reason: `Field${e.type.replace(/ /g, '')}`,
            message: e.detail,
            field: e.field,
          })),
        },
      );
    }
  }
  return defaulted;
}
