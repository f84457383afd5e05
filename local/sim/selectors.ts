/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
 * selectors (`path=value`, `path!=value` on any dotted field, e.g. `metadata.name`,
 * `involvedObject.uid`, `status.phase`), parsed into predicates.
 */
import { ApiError, type J, type Obj } from './store.js';

export type Predicate = (obj: Obj) => boolean;

const ALWAYS: Predicate = () => true;

export function parseLabelSelector(sel: string | undefined | null): Predicate {
  if (!sel?.trim()) return ALWAYS;
  const reqs: Array<(labels: Record<string, string>) => boolean> = [];
  for (const term of splitTerms(sel)) {
    const t = term.trim();
    if (!t) continue;
    let m = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
    if (m) {
      const k = m[1]!;
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      reqs.push(
        m[2] === 'in'
          ? (l) => Object.hasOwn(l, k) && values.includes(l[k]!)
          : (l) => !Object.hasOwn(l, k) || !values.includes(l[k]!),
      );
      continue;
    }
    m = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/.exec(t);
    if (m) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      reqs.push(op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v);
      continue;
    }
    m = /^(!?)\s*([A-Za-z0-9._/-]+)$/.exec(t);
    if (m) {
      const k = m[2]!;
      reqs.push(m[1] ? (l) => !Object.hasOwn(l, k) : (l) => Object.hasOwn(l, k));
      continue;
    }
    throw new ApiError(400, 'BadRequest', `unable to parse requirement: invalid label selector "${t}"`);
  }
  return (obj) => {
    const labels = obj.metadata?.labels ?? {};
    return reqs.every((r) => r(labels));
  };
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(sel: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of sel) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function parseFieldSelector(sel: string | undefined | null): Predicate {
  if (!sel?.trim()) return ALWAYS;
  const reqs: Predicate[] = [];
  for (const term of sel.split(',')) {
    const t = term.trim();
    if (!t) continue;
    const m = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (!m) throw new ApiError(400, 'BadRequest', `invalid field selector "${t}"`);
    const path = m[1]!.split('.');
    const want = m[3]!;
    const neg = m[2] === '!=';
    reqs.push((obj) => {
      let cur: J = obj;
      for (const p of path) cur = cur === undefined || cur === null ? undefined : cur[p];
      const have = cur === undefined || cur === null ? '' : String(cur);
      return neg ? have !== want : have === want;
    });
  }
  return (obj) => reqs.every((r) => r(obj));
}

/** A `LabelSelector` object (`matchLabels`, `matchExpressions`) as a predicate on labels. */
export function matchesSelectorObject(
  selector: { matchLabels?: Record<string, string>; matchExpressions?: J[] } | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values: string[] = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
