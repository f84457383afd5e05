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
  deepEqual,
  formatSchemaErrors,
  pruneValue,
  type SchemaError,
  type SchemaErrorType,
  validateValue,
} from '../../functions/model/schema/index.js';
import { resourceKey, type SimResource } from './resources.js';
import { SCHEMAS } from './schemas.js';
import { ApiError, type Obj } from './store.js';

/**
 * metav1.CauseType of each field.ErrorType, as apimachinery's
 * pkg/api/errors NewInvalid reports them (k8s.io/apimachinery/pkg/apis/meta/v1/types.go).
 */
const CAUSE_TYPES: Record<SchemaErrorType, string> = {
  'Invalid value': 'FieldValueInvalid',
  'Required value': 'FieldValueRequired',
  'Unsupported value': 'FieldValueNotSupported',
  'Too long': 'FieldValueTooLong',
  'Too many': 'FieldValueTooMany',
  'Duplicate value': 'FieldValueDuplicate',
  Forbidden: 'FieldValueForbidden',
};

/**
 * The segments of a field path as the schema engine writes it (`spec.tls.certificates[0].alias`,
 * `data[tls.crt]`); null when a key was shortened for display and cannot be followed.
 */
function pathSegments(field: string): string[] | null {
  const out: string[] = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  for (let m = re.exec(field); m; m = re.exec(field)) {
    const seg = m[1] ?? m[2] ?? '';
    if (seg.endsWith('…')) return null;
    out.push(seg);
  }
  return out;
}

const ABSENT = Symbol('absent');

function valueAt(obj: unknown, segments: readonly string[]): unknown {
  let v: unknown = obj;
  for (const seg of segments) {
    if (Array.isArray(v)) {
      const i = Number(seg);
      if (!Number.isInteger(i) || i < 0 || i >= v.length) return ABSENT;
      v = v[i];
    } else if (v && typeof v === 'object' && Object.hasOwn(v, seg)) {
      v = (v as Record<string, unknown>)[seg];
    } else return ABSENT;
  }
  return v;
}

/**
 * Validation ratcheting, on by default since Kubernetes 1.30 (feature gate CRDValidationRatcheting,
 * kubernetes.io docs "Custom Resource Definitions" › "Validation ratcheting"): an update is accepted
 * when every part that fails validation was already there, unchanged, before the update — an object
 * stored under a looser schema can still have its metadata or status written. Approximation: an error
 * is dropped when the value at its path (for a missing required field, its parent) is the same in the
 * old and the new object; the real server correlates list items by key, this compares by index.
 */
function ratchet(errors: SchemaError[], old: Obj, next: Obj): SchemaError[] {
  return errors.filter((e) => {
    const segs = pathSegments(e.field);
    if (!segs) return true;
    const at = e.type === 'Required value' ? segs.slice(0, -1) : segs;
    const before = valueAt(old, at);
    const after = valueAt(next, at);
    return !(before !== ABSENT && after !== ABSENT && deepEqual(before, after));
  });
}

export function admitCustomResource(res: SimResource, obj: Obj, opts: { strict: boolean; old?: Obj }): Obj {
  const schema = SCHEMAS[resourceKey(res)];
  if (!schema) return obj;
  const { value: pruned } = pruneValue(schema, obj, { keep: ['apiVersion', 'kind', 'metadata'] });
  const defaulted = applyDefaults(schema, pruned);
  if (opts.strict) {
    const all = validateValue(schema, defaulted);
    const errors = opts.old ? ratchet(all, opts.old, defaulted) : all;
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
            reason: CAUSE_TYPES[e.type],
            message: e.detail ? `${e.type}: ${e.detail}` : e.type,
            field: e.field,
          })),
        },
      );
    }
  }
  return defaulted;
}
