/**
 * Copies of values and schemas, as the API server makes them of a custom resource before it
 * validates: structural pruning (`pruneValue`), defaulting (`applyDefaults`); and `refineSchema`,
 * which tightens a published schema (a CRD's) without copying it by hand. Pure: inputs are never
 * changed.
 */
import type { Schema } from './types.js';
import { childPath, indexPath, isPlainObject, own, setOwn } from './values.js';

export interface PruneOptions {
  /** Top-level fields never pruned (the API server keeps `apiVersion`, `kind` and `metadata` of a resource). */
  keep?: readonly string[];
}

/**
 * A copy of `value` without the fields `schema` does not declare (structural pruning), and the
 * paths it dropped. Objects marked `x-kubernetes-preserve-unknown-fields` keep their unknown
 * fields; declared fields inside them are still pruned.
 */
export function pruneValue<T>(
  schema: Schema,
  value: T,
  opts: PruneOptions = {},
): { value: T; pruned: string[] } {
  const pruned: string[] = [];
  const keep = new Set(opts.keep ?? []);
  const out = prune(schema, value, '', pruned, keep) as T;
  return { value: out, pruned };
}

function prune(s: Schema, v: unknown, path: string, pruned: string[], keep: Set<string>): unknown {
  if (Array.isArray(v))
    return s.items ? v.map((x, i) => prune(s.items!, x, indexPath(path, i), pruned, keep)) : v;
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  const preserve = !!s['x-kubernetes-preserve-unknown-fields'];
  for (const [key, child] of Object.entries(v)) {
    const at = childPath(path, key);
    const declared = own(s.properties, key);
    if (path === '' && keep.has(key)) setOwn(out, key, child);
    else if (declared) setOwn(out, key, prune(declared, child, at, pruned, keep));
    else if (s.additionalProperties && typeof s.additionalProperties === 'object')
      setOwn(out, key, prune(s.additionalProperties, child, at, pruned, keep));
    else if (preserve || s.additionalProperties === true) setOwn(out, key, child);
    else pruned.push(at);
  }
  return out;
}

// ---- defaults -------------------------------------------------------------------------------

/**
 * A copy of `value` with the schema's defaults filled in, as the API server does: a missing
 * property (or a `null` one that is not nullable) of an object that is there takes its default;
 * objects are never created just to hold defaults, and defaults are themselves defaulted.
 */
export function applyDefaults<T>(schema: Schema, value: T): T {
  return withDefaults(schema, value) as T;
}

function withDefaults(s: Schema, v: unknown): unknown {
  if (Array.isArray(v)) return s.items ? v.map((x) => withDefaults(s.items!, x)) : v;
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = { ...v };
  for (const [key, prop] of Object.entries(s.properties ?? {})) {
    const current = own(out, key);
    const missing = current === undefined || (current === null && !prop.nullable);
    if (missing && prop.default !== undefined) setOwn(out, key, structuredClone(prop.default));
    const now = own(out, key);
    if (now !== undefined) setOwn(out, key, withDefaults(prop, now));
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    const extra = s.additionalProperties;
    for (const key of Object.keys(out))
      if (!own(s.properties, key)) setOwn(out, key, withDefaults(extra, out[key]));
  }
  return out;
}

// ---- building schemas -----------------------------------------------------------------------

/**
 * A copy of `schema` with extra keywords merged in at property paths — `'tls.issuerRef.name'`,
 * `'tls.certificates[].secretName'` (`[]` steps into `items`), `''` for the root. Used to tighten
 * a published schema (a CRD's) without copying it.
 */
export function refineSchema(schema: Schema, refinements: Record<string, Partial<Schema>>): Schema {
  // Through JSON, not structuredClone: a schema may reuse one node in several places, and the copy
  // must not, or refining one place would refine them all.
  const root = JSON.parse(JSON.stringify(schema)) as Schema;
  for (const [path, extra] of Object.entries(refinements)) {
    let node: Schema = root;
    for (const step of path.split('.').filter(Boolean)) {
      const list = step.endsWith('[]');
      const name = list ? step.slice(0, -2) : step;
      const next: Schema | undefined = own(node.properties, name);
      if (!next) throw new Error(`refineSchema: ${path}: no property ${name}`);
      node = list ? next.items! : next;
      if (!node) throw new Error(`refineSchema: ${path}: ${name} is not a list`);
    }
    Object.assign(node, structuredClone(extra));
  }
  return root;
}
