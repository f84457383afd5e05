import { InvalidRequestError } from '../errors.js';
import type { Kube, KubeObject, ListOptions, ResourceKind } from '../kube/types.js';
import { isDns1123Label } from '../model/schema/index.js';

/** Default page size: big enough that 1,000 databases take two calls, small enough for 512 MB. */
export const PAGE_SIZE = 500;

/**
 * Every item of a list, page by page (`limit` + `continue`). `namespace` undefined lists across all
 * namespaces. Returns the items and how many list calls it made (the scanner reports it).
 */
export async function listAll<T extends KubeObject>(
  kube: Kube,
  kind: ResourceKind,
  namespace: string | undefined,
  opts: Omit<ListOptions, 'limit' | 'continue'> & { pageSize?: number } = {},
): Promise<{ items: T[]; calls: number }> {
  const { pageSize = PAGE_SIZE, ...selectors } = opts;
  const items: T[] = [];
  let token: string | undefined;
  let calls = 0;
  do {
    const page = await kube.list<T>(kind, namespace, { ...selectors, limit: pageSize, continue: token });
    calls += 1;
    items.push(...page.items);
    token = page.continue || undefined;
  } while (token);
  return { items, calls };
}

/**
 * The namespaces a namespaced install watches (WATCH_NAMESPACES, the stack's WatchNamespaces
 * parameter: `demo,shop`); empty: the whole cluster. A name that is not a namespace name is a
 * configuration error, said at once rather than turned into a 404 on every list.
 */
export function watchedNamespaces(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = (env.WATCH_NAMESPACES ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const bad = names.filter((n): boolean => !isDns1123Label(n));
  if (bad.length)
    throw new InvalidRequestError(
      `WATCH_NAMESPACES: ${bad.map((n) => JSON.stringify(n.slice(0, 63))).join(', ')} is not a namespace name`,
    );
  return [...new Set(names)];
}

/**
 * `listAll` across the watched namespaces: one list per namespace when some are given (so RoleBindings
 * in those namespaces are enough: k8s/rbac-namespaced.yaml), else one list across the cluster.
 */
export async function listWatched<T extends KubeObject>(
  kube: Kube,
  kind: ResourceKind,
  namespaces: readonly string[] | undefined,
  opts: Omit<ListOptions, 'limit' | 'continue'> & { pageSize?: number } = {},
): Promise<{ items: T[]; calls: number }> {
  if (!namespaces?.length) return listAll<T>(kube, kind, undefined, opts);
  const out: { items: T[]; calls: number } = { items: [], calls: 0 };
  for (const ns of namespaces) {
    const page = await listAll<T>(kube, kind, ns, opts);
    out.items.push(...page.items);
    out.calls += page.calls;
  }
  return out;
}
