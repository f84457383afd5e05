/**
 * Values as schema messages show and walk them: a value shortened for a message, errors worded as
 * the API server's `field.Error`s, paths in its notation, and the JSON-type and own-property
 * helpers every operation on values shares.
 */
import type { SchemaError, SchemaType } from './types.js';

/** How many characters of a value a message may show. */
export const SHOWN_VALUE_CHARS = 100;

/**
 * A value as JSON for a message, never longer than about `max` characters: longer texts are cut
 * and say how long they were (`"aaaa…" (1000000 characters)`).
 */
export function shortValue(value: unknown, max = SHOWN_VALUE_CHARS): string {
  if (typeof value === 'string' && value.length > max) {
    return `${JSON.stringify(value.slice(0, max))}… (${value.length} characters)`;
  }
  let text: string;
  try {
    text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters of JSON)` : text;
}

/** One error as the API server prints a `field.Error`: `<field>: <type>[: <value>][: <detail>]`. */
export function formatSchemaError(e: SchemaError): string {
  return `${e.field || '<root>'}: ${e.type}${e.value !== undefined ? `: ${e.value}` : ''}${e.detail ? `: ${e.detail}` : ''}`;
}

/** Several errors in one line (the first `max`, then how many more). */
export function formatSchemaErrors(errors: readonly SchemaError[], max = 10): string {
  const shown = errors.slice(0, max).map(formatSchemaError);
  if (errors.length > max) shown.push(`and ${errors.length - max} more`);
  return shown.join('; ');
}

// ---- paths ----------------------------------------------------------------------------------

const SIMPLE_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `spec` + `tls` → `spec.tls`; keys that are not identifiers go in brackets like map keys. */
export function childPath(path: string, key: string): string {
  if (!SIMPLE_KEY.test(key)) return `${path}[${key.length > 60 ? `${key.slice(0, 60)}…` : key}]`;
  return path ? `${path}.${key}` : key;
}

export function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}

// ---- helpers --------------------------------------------------------------------------------

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `o[key]` only when it is `o`'s own: field names come from the value's sender, and every object
 * inherits `constructor`, `toString`, `__proto__`... which no schema declares and no value has.
 */
export function own<T>(o: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return o !== undefined && Object.hasOwn(o, key) ? o[key] : undefined;
}

/** `o[key] = value` as a field, even for `__proto__` (an assignment would set the prototype). */
export function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

/** The JSON type of a value, in the schema's words (integers are numbers that are whole). */
export function jsonType(v: unknown): SchemaType | 'null' | 'undefined' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isInteger(v) ? 'integer' : 'number';
    case 'object':
      return 'object';
    default:
      return 'undefined';
  }
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return (
    ka.length === kb.length &&
    ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
