/**
 * A small engine for Kubernetes structural schemas: the OpenAPI v3 subset that
 * CustomResourceDefinitions use (`type`, `properties`, `additionalProperties`, `items`,
 * `required`, `enum`, `default`, `pattern`, `format`, length/size/range bounds, `nullable`,
 * `anyOf`/`allOf`/`oneOf`/`not`, `x-kubernetes-preserve-unknown-fields`,
 * `x-kubernetes-int-or-string`, `x-kubernetes-list-type`/`-list-map-keys`).
 *
 * Three operations, in the order the API server applies them to a custom resource:
 * `pruneValue` (drop fields the schema does not declare), `applyDefaults` (both in
 * transform.ts), `validateValue` (here: collect every error, never stop at the first). Nothing
 * here knows about a particular resource: callers pass the schema, so the workflow (its requests
 * and inputs) and the API simulator (its CRDs) share one implementation.
 *
 * Errors read like the API server's `field.Error`s — `spec.replicas: Invalid value: "3": must be
 * of type integer` — and never echo more than about 100 characters of a value (`shortValue`): a
 * refusal must stay readable, and must not bounce a megabyte back to whoever sent it.
 * Pure and synchronous; patterns are compiled on first use and cached, never at import.
 */
import type { Schema, SchemaError, SchemaType } from './types.js';
import { childPath, deepEqual, indexPath, isPlainObject, jsonType, own, shortValue } from './values.js';

export interface ValidateOptions {
  /** Path of `value` itself (default: the root, ''). */
  path?: string;
  /**
   * Fields the schema does not declare: `ignore` (default; the API server prunes them before it
   * validates) or `reject` (a `Forbidden` error, like `fieldValidation=Strict`).
   */
  unknownFields?: 'ignore' | 'reject';
}

// ---- formats --------------------------------------------------------------------------------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A DNS-1123 label: what Kubernetes requires of namespace names (and of label-like names). */
export function isDns1123Label(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 63 && DNS1123_LABEL.test(value);
}

/** A DNS-1123 subdomain: what Kubernetes requires of most object names (Secrets, custom resources). */
export function isDns1123Subdomain(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

interface Format {
  check(value: unknown): boolean;
  detail: string;
}

/**
 * The formats the engine checks. Like the API server it ignores formats it does not know. Besides
 * OpenAPI's own, the two Kubernetes name rules are formats here, so a schema can say "a namespace"
 * or "an object name" in one keyword.
 */
const FORMATS: Record<string, Format> = {
  int32: {
    check: (v) => typeof v !== 'number' || (v >= -(2 ** 31) && v <= 2 ** 31 - 1),
    detail: 'must fit in a 32-bit integer',
  },
  int64: {
    check: (v) => typeof v !== 'number' || Number.isSafeInteger(v),
    detail: 'must fit in a 64-bit integer',
  },
  'date-time': {
    check: (v) => typeof v !== 'string' || (RFC3339.test(v) && !Number.isNaN(Date.parse(v))),
    detail: 'must be an RFC 3339 date-time such as "2026-01-31T12:00:00Z"',
  },
  byte: {
    check: (v) => typeof v !== 'string' || BASE64.test(v),
    detail: 'must be base64-encoded',
  },
  uuid: { check: (v) => typeof v !== 'string' || UUID.test(v), detail: 'must be a UUID' },
  'dns1123-label': {
    check: (v) => typeof v !== 'string' || isDns1123Label(v),
    detail:
      "must be a DNS-1123 label: at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit",
  },
  'dns1123-subdomain': {
    check: (v) => typeof v !== 'string' || isDns1123Subdomain(v),
    detail:
      "must be a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' or '.', each part starting and ending with a letter or digit",
  },
};

const patterns = new Map<string, RegExp | null>();
function compiled(pattern: string): RegExp | null {
  let re = patterns.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null; // an invalid pattern in a schema is the schema's bug: it matches everything
    }
    patterns.set(pattern, re);
  }
  return re;
}

function typeMatches(type: SchemaType, v: unknown): boolean {
  const t = jsonType(v);
  if (type === 'number') return (t === 'number' || t === 'integer') && Number.isFinite(v as number);
  return t === type;
}

/** Characters (code points) of `s`, counted no further than `cap + 1`: enough to compare with a bound. */
function charsUpTo(s: string, cap: number): number {
  let n = 0;
  for (const _ of s) if (++n > cap) break;
  return n;
}

// ---- validate -------------------------------------------------------------------------------

/** Every way `value` breaks `schema` (empty when it conforms). */
export function validateValue(schema: Schema, value: unknown, opts: ValidateOptions = {}): SchemaError[] {
  const errors: SchemaError[] = [];
  check(schema, value, opts.path ?? '', errors, opts.unknownFields ?? 'ignore');
  return errors;
}

function check(s: Schema, v: unknown, path: string, out: SchemaError[], unknown: 'ignore' | 'reject'): void {
  const invalid = (detail: string, value: unknown = v): void => {
    out.push({ field: path, type: 'Invalid value', detail, value: shortValue(value) });
  };

  if (v === null) {
    if (s.nullable || (!s.type && !s['x-kubernetes-int-or-string'])) return;
    invalid(`must be of type ${s['x-kubernetes-int-or-string'] ? 'integer or string' : s.type}`);
    return;
  }
  if (s['x-kubernetes-int-or-string']) {
    if (!typeMatches('integer', v) && !typeMatches('string', v)) {
      invalid('must be of type integer or string');
      return;
    }
  } else if (s.type && !typeMatches(s.type, v)) {
    invalid(`must be of type ${s.type}`);
    return;
  }

  if (s.enum && !s.enum.some((e) => deepEqual(e, v))) {
    out.push({
      field: path,
      type: 'Unsupported value',
      value: shortValue(v),
      detail: `supported values: ${s.enum.map((e) => shortValue(e, 40)).join(', ')}`,
    });
  }

  let lengthError = false;
  if (typeof v === 'string') {
    const before = out.length;
    if (s.maxLength !== undefined && charsUpTo(v, s.maxLength) > s.maxLength) {
      out.push({
        field: path,
        type: 'Too long',
        value: shortValue(v),
        detail: `may not be more than ${s.maxLength} characters`,
      });
    }
    if (s.minLength !== undefined && charsUpTo(v, s.minLength) < s.minLength) {
      invalid(s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters long`);
    }
    // A string of the wrong length gets one error, not one more per pattern or format.
    lengthError = out.length > before;
    const re = s.pattern === undefined || lengthError ? null : compiled(s.pattern);
    if (re && !re.test(v)) invalid(`should match '${s.pattern}'`);
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum)) {
      invalid(`should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`);
    }
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum)) {
      invalid(`should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`);
    }
    if (s.multipleOf !== undefined && s.multipleOf > 0 && !Number.isInteger(v / s.multipleOf)) {
      invalid(`should be a multiple of ${s.multipleOf}`);
    }
  }
  if (s.format && !lengthError) {
    const f = own(FORMATS, s.format);
    if (f && !f.check(v)) invalid(f.detail);
  }

  for (const sub of s.allOf ?? []) check(sub, v, path, out, unknown);
  if (
    s.anyOf &&
    !s.anyOf.some((sub) => validateValue(sub, v, { path, unknownFields: unknown }).length === 0)
  ) {
    invalid(`must match at least one of ${s.anyOf.length} allowed forms`);
  }
  if (s.oneOf) {
    const matching = s.oneOf.filter(
      (sub) => validateValue(sub, v, { path, unknownFields: unknown }).length === 0,
    ).length;
    if (matching !== 1)
      invalid(`must match exactly one of ${s.oneOf.length} allowed forms (matches ${matching})`);
  }
  if (s.not && validateValue(s.not, v, { path, unknownFields: unknown }).length === 0) {
    invalid('must not match the excluded form');
  }

  if (Array.isArray(v)) checkArray(s, v, path, out, unknown);
  else if (isPlainObject(v)) checkObject(s, v, path, out, unknown);
}

/** minItems/maxItems and minProperties/maxProperties: one rule, bounds on how many items or fields. */
function checkCount(
  noun: 'item' | 'field',
  count: number,
  min: number | undefined,
  max: number | undefined,
  v: unknown,
  path: string,
  out: SchemaError[],
): void {
  if (max !== undefined && count > max) {
    out.push({
      field: path,
      type: 'Too many',
      detail: `must have at most ${max} ${noun}s`,
      value: `${count} ${noun}s`,
    });
  }
  if (min !== undefined && count < min) {
    out.push({
      field: path,
      type: 'Invalid value',
      detail: `must have at least ${min} ${noun}${min === 1 ? '' : 's'}`,
      value: shortValue(v),
    });
  }
}

function checkArray(
  s: Schema,
  v: unknown[],
  path: string,
  out: SchemaError[],
  unknown: 'ignore' | 'reject',
): void {
  checkCount('item', v.length, s.minItems, s.maxItems, v, path, out);
  if (s.items) {
    for (const [i, item] of v.entries()) check(s.items, item, indexPath(path, i), out, unknown);
  }

  const listType = s['x-kubernetes-list-type'];
  if (listType === 'set' || s.uniqueItems) {
    v.forEach((item, i) => {
      if (v.findIndex((other) => deepEqual(other, item)) < i)
        out.push({ field: indexPath(path, i), type: 'Duplicate value', detail: '', value: shortValue(item) });
    });
  } else if (listType === 'map' && s['x-kubernetes-list-map-keys']?.length) {
    const keys = s['x-kubernetes-list-map-keys'];
    const keyOf = (item: unknown) =>
      isPlainObject(item) ? JSON.stringify(keys.map((k) => own(item, k) ?? null)) : undefined;
    const seen = new Set<string>();
    v.forEach((item, i) => {
      const k = keyOf(item);
      if (k === undefined) return;
      if (seen.has(k))
        out.push({
          field: indexPath(path, i),
          type: 'Duplicate value',
          detail: `another item has the same ${keys.join(', ')}`,
          value: shortValue(
            Object.fromEntries(keys.map((key) => [key, (item as Record<string, unknown>)[key]])),
          ),
        });
      seen.add(k);
    });
  }
}

function checkObject(
  s: Schema,
  v: Record<string, unknown>,
  path: string,
  out: SchemaError[],
  unknown: 'ignore' | 'reject',
): void {
  const keys = Object.keys(v);
  checkCount('field', keys.length, s.minProperties, s.maxProperties, v, path, out);
  for (const name of s.required ?? []) {
    if (own(v, name) === undefined)
      out.push({ field: childPath(path, name), type: 'Required value', detail: '' });
  }
  const props = s.properties;
  const extra = s.additionalProperties;
  for (const key of keys) {
    const child = childPath(path, key);
    const declared = own(props, key);
    if (declared) {
      if (v[key] !== undefined) check(declared, v[key], child, out, unknown);
    } else if (extra && typeof extra === 'object') {
      check(extra, v[key], child, out, unknown);
    } else if (
      extra === false ||
      (unknown === 'reject' && !s['x-kubernetes-preserve-unknown-fields'] && extra !== true)
    ) {
      out.push({ field: child, type: 'Forbidden', detail: 'field not declared in schema' });
    }
  }
}
