import type { Kube, KubeObject, ListOptions, ResourceKind } from '../kube/types.js';

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
