/**
 * Names, labels and annotations this project writes, in one place so the steps, the rollback and
 * the tests agree on them.
 */
import { createHash } from 'node:crypto';

/** Our own prefix: not kubedb.com or cert-manager.io, whose prefixes belong to those projects. */
export const GROUP = 'pxc-tls-ops.io';

/** On the OpsRequest: the Step Functions execution that owns it (written under a resourceVersion precondition). */
export const CLAIM_ANNOTATION = `${GROUP}/claimed-by`;
/** On the OpsRequest: hash of its spec when it was claimed; a later edit fails the request (see frozen-spec.ts). */
export const SPEC_HASH_ANNOTATION = `${GROUP}/spec-hash`;
/** On the OpsRequest: when the claim was made (for the "one request per database" wait). */
export const CLAIMED_AT_ANNOTATION = `${GROUP}/claimed-at`;
/**
 * On the OpsRequest, beside the claim: until when the claiming execution holds it (RFC 3339), and
 * for how long each renewal extends it (seconds). An expired lease may be taken over by a re-run.
 */
export const LEASE_UNTIL_ANNOTATION = `${GROUP}/lease-until`;
export const LEASE_SECONDS_ANNOTATION = `${GROUP}/lease-seconds`;
/** On the OpsRequest: how many recoveries have taken it over (bounded: ../model/lease.ts MAX_RECOVERY_ATTEMPTS). */
export const RECOVERY_ATTEMPTS_ANNOTATION = `${GROUP}/recovery-attempts`;
/** On the OpsRequest: when recovery was given up (the sweep starts none after it; said once). */
export const RECOVERY_ABANDONED_ANNOTATION = `${GROUP}/recovery-abandoned`;
/**
 * Label (label-safe form of the claiming execution's name), so the request an execution claimed
 * is found with one list call across namespaces, knowing only the execution's name.
 */
export const CLAIM_LABEL = `${GROUP}/claimed-by`;
/**
 * On every object a request writes or restores: the execution whose writes the API server still
 * accepts (../steps/fence.ts). A take-over changes it first, so a late write of the old holder is refused.
 */
export const FENCE_ANNOTATION = `${GROUP}/fenced-by`;
/**
 * On each pod a Reload pass reloads: the resourceVersion of the Secret its volume should show.
 * Updating the pod object makes the kubelet sync that pod's Secret volumes at once instead of at its
 * next periodic sync (about a minute; kubernetes/website PR 32513), so a pass waits seconds, not minutes.
 */
export const TLS_SECRET_VERSION_ANNOTATION = `${GROUP}/tls-secret-version`;
/** On the OpsRequest: `Reload` or `Restart`, how pods pick up new certificates (default: the stack's DefaultRestartMode). */
export const RESTART_MODE_ANNOTATION = `${GROUP}/restart-mode`;
/** On console-created OpsRequests: where the request came from. */
export const SOURCE_LABEL = `${GROUP}/source`;
/** On console-created OpsRequests: the execution that created it (label-safe form). */
export const EXECUTION_LABEL = `${GROUP}/execution`;
/** On the rollback backup Secret: the workload template wiring and database TLS spec before the change (JSON). */
export const BACKUP_STATE_ANNOTATION = `${GROUP}/previous-state`;
/** On the rollback backup Secret: which certificate Secrets existed before (JSON list of names). */
export const BACKUP_SECRETS_ANNOTATION = `${GROUP}/previous-secrets`;
export const BACKUP_LABEL = `${GROUP}/backup-of`;
/** On the rollback backup Secret: the execution that wrote it (a backup is trusted only if proven: ../model/backup.ts). */
export const BACKUP_WRITER_ANNOTATION = `${GROUP}/written-by`;
/**
 * On a certificate Secret: when its ca.crt last changed (RFC 3339). A pod created since then loaded
 * that trust bundle; one created before still trusts only what ca.crt held when it started.
 */
export const CA_SINCE_ANNOTATION = `${GROUP}/ca-since`;

export const MANAGED_BY = 'pxc-tls-ops';
/** Labels of the certificate Secrets this project writes (pki/issue.ts sets them; Validate checks them). */
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const ALIAS_LABEL = `${GROUP}/alias`;
export const CONSOLE_SOURCE = 'console';

/**
 * On the OpsRequest, one per pod this request evicted: the UID it evicted. A rollback replaces only
 * those pods (a pod replaced by anyone else, a node drain say, is reported and left alone).
 */
export function evictedAnnotation(pod: string): string {
  const part = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,44}[A-Za-z0-9])?$/.test(pod)
    ? pod
    : createHash('sha256').update(pod).digest('hex').slice(0, 40);
  return `${GROUP}/evicted-${part}`;
}

/** Pod name → UID this request evicted, from the OpsRequest's annotations. */
export function evictedPods(annotations: Record<string, string> | undefined, pods: readonly string[]) {
  return Object.fromEntries(
    pods.flatMap((p) => {
      const uid = annotations?.[evictedAnnotation(p)];
      return uid ? [[p, uid]] : [];
    }),
  ) as Record<string, string>;
}

/** The Secret that keeps what Change certificates overwrote, until the request ends. */
export function backupSecretName(database: string, opsRequest: string): string {
  return truncateName(`${database}-tls-backup-${opsRequest}`);
}

/** Where the backup Secret keeps one key of one certificate Secret. */
export function backupKey(secretName: string, key: string): string {
  return `${secretName}__${key}`;
}

export function podName(database: string, ordinal: number): string {
  return `${database}-${ordinal}`;
}

/** A label value (≤ 63 chars, alphanumerics at both ends) for an execution name; long names are hashed. */
export function labelSafe(value: string): string {
  if (/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(value)) return value;
  return `x-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

/** Kubernetes object names are at most 253 characters; a long one keeps a hash so it stays unique. */
export function truncateName(name: string, max = 253): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, max - 11)}-${hash}`;
}
