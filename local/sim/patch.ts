/**
 * The three patch formats the API server accepts on PATCH:
 * - JSON merge patch (RFC 7386),
 * - JSON patch (RFC 6902, including `test`),
 * - strategic merge patch for built-in kinds: lists with a merge key (containers, volumes,
 *   volumeMounts, env, conditions, ports, ...) are merged element by element by that key, other
 *   lists are replaced, and the `$patch`, `$deleteFromPrimitiveList/<field>`,
 *   `$setElementOrder/<field>` and `$retainKeys` directives are honoured.
 */
import { ApiError, type J } from './store.js';

function isObject(x: unknown): x is Record<string, J> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

// ---- RFC 7386 --------------------------------------------------------------------------------

export function mergePatch(target: J, patch: J): J {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, J> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---- RFC 6902 --------------------------------------------------------------------------------

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: J;
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw invalidPatch(`JSON pointer "${ptr}" must start with "/"`);
  return ptr
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function invalidPatch(msg: string): ApiError {
  return new ApiError(422, 'Invalid', msg);
}

function getAt(doc: J, path: string[]): J {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) {
      const i = Number(seg);
      if (!/^\d+$/.test(seg) || i >= cur.length) return undefined;
      cur = cur[i];
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, seg)) return undefined;
      cur = cur[seg];
    } else return undefined;
  }
  return cur;
}

function parentOf(doc: J, path: string[], op: string, ptr: string): { parent: J; last: string } {
  if (path.length === 0) throw invalidPatch(`${op} at the document root is not supported`);
  const parent = getAt(doc, path.slice(0, -1));
  if (parent === undefined || (typeof parent !== 'object' && parent !== null) || parent === null) {
    throw invalidPatch(`${op} operation does not apply: doc is missing path: "${ptr}"`);
  }
  return { parent, last: path[path.length - 1]! };
}

function addAt(doc: J, ptr: string, value: J): void {
  const path = parsePointer(ptr);
  const { parent, last } = parentOf(doc, path, 'add', ptr);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!/^(\d+|-)$/.test(last) || i > parent.length) {
      throw invalidPatch(`add operation does not apply: index out of bounds at "${ptr}"`);
    }
    parent.splice(i, 0, value);
  } else parent[last] = value;
}

function removeAt(doc: J, ptr: string, op = 'remove'): J {
  const path = parsePointer(ptr);
  const { parent, last } = parentOf(doc, path, op, ptr);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!/^\d+$/.test(last) || i >= parent.length) {
      throw invalidPatch(`${op} operation does not apply: doc is missing path: "${ptr}"`);
    }
    return parent.splice(i, 1)[0];
  }
  if (!Object.hasOwn(parent, last)) {
    throw invalidPatch(`${op} operation does not apply: doc is missing path: "${ptr}"`);
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

export function jsonPatch(target: J, ops: unknown): J {
  if (!Array.isArray(ops))
    throw new ApiError(400, 'BadRequest', 'json patch must be a JSON array of operations');
  const doc = structuredClone(target);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isObject(raw) || typeof raw.path !== 'string')
      throw new ApiError(400, 'BadRequest', 'invalid json patch operation');
    switch (raw.op) {
      case 'add':
        addAt(doc, raw.path, structuredClone(raw.value));
        break;
      case 'remove':
        removeAt(doc, raw.path);
        break;
      case 'replace': {
        removeAt(doc, raw.path, 'replace');
        addAt(doc, raw.path, structuredClone(raw.value));
        break;
      }
      case 'move': {
        const v = removeAt(doc, raw.from ?? '', 'move');
        addAt(doc, raw.path, v);
        break;
      }
      case 'copy': {
        const v = getAt(doc, parsePointer(raw.from ?? ''));
        if (v === undefined)
          throw invalidPatch(`copy operation does not apply: doc is missing from path: "${raw.from}"`);
        addAt(doc, raw.path, structuredClone(v));
        break;
      }
      case 'test': {
        const v = getAt(doc, parsePointer(raw.path));
        if (!deepEqual(v, raw.value)) {
          throw invalidPatch(`testing value ${raw.path} failed: test operation failed`);
        }
        break;
      }
      default:
        throw new ApiError(400, 'BadRequest', `unknown json patch operation "${raw.op}"`);
    }
  }
  return doc;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

// ---- strategic merge patch -------------------------------------------------------------------

/**
 * Merge keys of the built-in types this project touches, by field name (and the parent field
 * when one name means two things: a container's `ports` are keyed by `containerPort`, a
 * Service's by `port`). Lists not named here are atomic (replaced), like `args`.
 */
function mergeKeyOf(field: string, parent: string | undefined): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'hostAliases':
      return field === 'hostAliases' ? 'ip' : 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'ports':
      return parent === 'containers' || parent === 'initContainers' ? 'containerPort' : 'port';
    case 'tolerations':
    case 'args':
    case 'command':
      return undefined;
    default:
      return undefined;
  }
}

/** Primitive lists merged as sets rather than replaced. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

export function strategicMergePatch(target: J, patch: J): J {
  return smpObject(target, patch, undefined);
}

function smpObject(target: J, patch: J, parentField: string | undefined): J {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'delete') return undefined;
  const replace = patch.$patch === 'replace';
  const base: Record<string, J> = isObject(target) && !replace ? { ...target } : {};
  const retainKeys: string[] | undefined = Array.isArray(patch.$retainKeys) ? patch.$retainKeys : undefined;
  const orders: Record<string, J[]> = {};
  const deletes: Record<string, J[]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      orders[k.slice('$setElementOrder/'.length)] = v;
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      deletes[k.slice('$deleteFromPrimitiveList/'.length)] = v;
      continue;
    }
    if (v === null) {
      delete base[k];
      continue;
    }
    if (Array.isArray(v)) {
      base[k] = smpList(base[k], v, k, parentField);
    } else if (isObject(v)) {
      const merged = smpObject(base[k], v, k);
      if (merged === undefined) delete base[k];
      else base[k] = merged;
    } else base[k] = v;
  }
  for (const [field, values] of Object.entries(deletes)) {
    if (Array.isArray(base[field]))
      base[field] = base[field].filter((x: J) => !values.some((d) => deepEqual(d, x)));
  }
  for (const [field, order] of Object.entries(orders)) {
    const mk = mergeKeyOf(field, parentField);
    if (Array.isArray(base[field])) base[field] = applyOrder(base[field], order, mk);
  }
  if (retainKeys) {
    for (const k of Object.keys(base)) if (!retainKeys.includes(k)) delete base[k];
  }
  return base;
}

function smpList(target: J, patch: J[], field: string, parentField: string | undefined): J[] {
  const mk = mergeKeyOf(field, parentField);
  const current: J[] = Array.isArray(target) ? target : [];
  if (patch.some((x) => isObject(x) && x.$patch === 'replace')) {
    return patch.filter((x) => !(isObject(x) && x.$patch === 'replace')).map((x) => structuredClone(x));
  }
  if (!mk) {
    if (MERGED_PRIMITIVE_LISTS.has(field)) {
      const out = [...current];
      for (const x of patch) if (!out.some((y) => deepEqual(x, y))) out.push(x);
      return out;
    }
    return patch.map((x) => structuredClone(x));
  }
  const out: J[] = current.map((x) => x);
  for (const item of patch) {
    if (!isObject(item)) continue;
    const idx = out.findIndex((x) => isObject(x) && x[mk] === item[mk]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpObject(out[idx], item, field);
    else out.push(smpObject(undefined, item, field));
  }
  return out;
}

function applyOrder(list: J[], order: J[], mk: string | undefined): J[] {
  const keyOf = (x: J) => (mk && isObject(x) ? x[mk] : x);
  const wanted = order.map((o) => (mk && isObject(o) ? o[mk] : o));
  const ordered: J[] = [];
  for (const w of wanted) {
    const found = list.find((x) => deepEqual(keyOf(x), w));
    if (found !== undefined) ordered.push(found);
  }
  for (const x of list) if (!ordered.includes(x)) ordered.push(x);
  return ordered;
}
