/**
 * An OpsRequest's spec is frozen once it is claimed. KubeDB's own admission webhook refuses any
 * change of `spec` after creation (kubedb/apimachinery, PerconaXtraDBOpsRequest webhook
 * `validatePerconaXtraDBOpsRequest`: a strategic-patch precondition on "spec"); without the
 * ops-manager installed nothing enforces that here, and the steps re-read `spec.tls` on every pass.
 * So the claim records a hash of the spec, and every step that reads the spec checks it: an edit
 * mid-run fails the request with a reason instead of taking effect halfway. Pure.
 */
import { createHash } from 'node:crypto';
import { InvalidRequestError } from '../errors.js';
import { SPEC_HASH_ANNOTATION } from './names.js';
import type { PerconaXtraDBOpsRequest } from './types.js';

/** JSON with object keys sorted, so the hash does not depend on key order. */
export function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x ?? null);
}

/** sha256 of the canonical JSON of the spec, hex (first 32 characters: enough to tell edits apart). */
export function specHash(spec: unknown): string {
  return createHash('sha256').update(canonical(spec)).digest('hex').slice(0, 32);
}

/** The hash recorded by the claim, if any. */
export function frozenHash(ops: PerconaXtraDBOpsRequest): string | undefined {
  return ops.metadata.annotations?.[SPEC_HASH_ANNOTATION];
}

/**
 * Throws InvalidRequestError when the spec differs from what was claimed. A request without a
 * recorded hash passes (the claim that adds it has not happened yet).
 */
export function assertSpecFrozen(ops: PerconaXtraDBOpsRequest): void {
  const recorded = frozenHash(ops);
  if (recorded === undefined || recorded === specHash(ops.spec)) return;
  throw new InvalidRequestError(
    `the spec of PerconaXtraDBOpsRequest ${ops.metadata.namespace}/${ops.metadata.name} was changed after it was claimed ` +
      `(hash ${recorded} at claim, ${specHash(ops.spec)} now): an OpsRequest's spec cannot change once it is processed, as with KubeDB; ` +
      'create a new request for the new spec',
  );
}
