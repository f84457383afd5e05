/**
 * Status conditions the Kubernetes way: one entry per type, `lastTransitionTime` moves only when
 * the status flips, `observedGeneration` is stamped on every write. Pure, tested by tables.
 */
import type { Condition } from './types.js';

export interface ConditionInput {
  type: string;
  status: Condition['status'];
  /** Omitted when empty, as KubeDB leaves it off its per-pod conditions ("evict pod; ConditionStatus:True; ..."). */
  reason?: string;
  message: string;
  severity?: string;
}

/**
 * The conditions after setting `next`. Returns the same array (by reference) when nothing
 * would change, so callers can skip the write.
 */
export function setCondition(
  current: readonly Condition[] | undefined,
  next: ConditionInput,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const list = current ? [...current] : [];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const merged: Condition = {
    type: next.type,
    status: next.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...(next.reason ? { reason: next.reason } : {}),
    message: next.message,
    lastTransitionTime:
      old && old.status === next.status && old.lastTransitionTime
        ? old.lastTransitionTime
        : now.toISOString(),
    ...(next.severity ? { severity: next.severity } : {}),
  };
  if (old && sameCondition(old, merged)) return current as Condition[];
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/** Several conditions at once; same reference back when none changed. */
export function setConditions(
  current: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  let list = (current ?? []) as Condition[];
  for (const c of next) list = setCondition(list, c, generation, now);
  return list === current ? (current as Condition[]) : list;
}

/** The conditions without `type`; same reference back when it was not there. */
export function removeCondition(current: readonly Condition[] | undefined, type: string): Condition[] {
  if (!current?.some((c) => c.type === type)) return (current ?? []) as Condition[];
  return current.filter((c) => c.type !== type);
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.severity === b.severity
  );
}
