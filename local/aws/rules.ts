/**
 * What EventBridge does between PutEvents and a rule's target, for the subset of the event-pattern
 * and InputTransformer syntax template.yaml uses, so tests can push the triggers' real events
 * through the template's own rule and get the exact state machine input AWS would produce.
 *
 * Patterns: nested objects of field → array of allowed values (exact match on strings, numbers,
 * booleans, null; an event field that is an array matches when any element does), plus
 * `{prefix}`, `{exists}` and `{"anything-but"}` (values, or `{prefix}`) matchers. Unsupported matchers throw, so a
 * template change the emulator cannot follow fails loudly rather than silently matching.
 */
import { randomUUID } from 'node:crypto';

export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

/** The event EventBridge delivers for one PutEvents entry. */
export function busEvent(
  entry: { Source?: string; DetailType?: string; Detail?: string },
  region = 'eu-west-1',
): BusEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType ?? '',
    source: entry.Source ?? '',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [],
    detail: entry.Detail ? JSON.parse(entry.Detail) : {},
  };
}

export function matchesPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  for (const [key, rule] of Object.entries(pattern)) {
    const value = (event as Record<string, unknown> | undefined)?.[key];
    if (Array.isArray(rule)) {
      if (!rule.some((r) => matchesValue(r, value))) return false;
    } else if (rule && typeof rule === 'object') {
      if (!value || typeof value !== 'object' || !matchesPattern(rule as Record<string, unknown>, value))
        return false;
    } else {
      throw new Error(`event pattern: ${key} must be an array or an object`);
    }
  }
  return true;
}

function matchesValue(rule: unknown, value: unknown): boolean {
  if (Array.isArray(value)) return value.some((v) => matchesValue(rule, v));
  if (rule === null || typeof rule !== 'object') return rule === value;
  const r = rule as Record<string, unknown>;
  if ('prefix' in r) return typeof value === 'string' && value.startsWith(String(r.prefix));
  if ('exists' in r) return (value !== undefined) === Boolean(r.exists);
  if ('anything-but' in r) {
    const but = r['anything-but'];
    if (but && typeof but === 'object' && !Array.isArray(but)) {
      const b = but as Record<string, unknown>;
      if ('prefix' in b) return typeof value === 'string' && !value.startsWith(String(b.prefix));
      throw new Error(`event pattern matcher not emulated: ${JSON.stringify(rule)}`);
    }
    return value !== undefined && !(Array.isArray(but) ? but : [but]).includes(value);
  }
  throw new Error(`event pattern matcher not emulated: ${JSON.stringify(rule)}`);
}

export interface InputTransformer {
  InputPathsMap?: Record<string, string>;
  InputTemplate: string;
}

/**
 * Applies an InputTransformer. Placeholders outside quotes take the JSON value at their path (a
 * string arrives quoted, as in the "Simple JSON" example of EventBridge's docs; Kubernetes names
 * need no escaping); missing paths become null. Placeholders inside a string literal are not
 * emulated (they throw): the template does not use them.
 */
export function applyInputTransformer(t: InputTransformer, event: unknown): string {
  const values: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(t.InputPathsMap ?? {})) values[name] = jsonPath(event, path);
  let inString = false;
  let out = '';
  const s = t.InputTemplate;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') inString = !inString;
    const m = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(s.slice(i)) : null;
    if (m && m[1]! in values) {
      if (inString) throw new Error(`InputTemplate: quoted placeholder <${m[1]}> is not emulated`);
      out += JSON.stringify(values[m[1]!] ?? null);
      i += m[0].length - 1;
    } else {
      out += c;
    }
  }
  return out;
}

function jsonPath(value: unknown, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`InputPathsMap: ${path} is not a JSONPath`);
  let cur = value;
  for (const part of path.slice(1).split('.').filter(Boolean)) {
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  }
  return cur;
}
