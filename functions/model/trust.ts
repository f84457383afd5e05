/**
 * Which trust bundle a running pod holds. mysqld reads ca.crt when it starts, so a pod holds a
 * certificate Secret's current ca.crt only if it was created after that ca.crt was written — the
 * time the workflow records on the Secret (`pxc-tls-ops.io/ca-since`). An interrupted trust pass
 * leaves the new bundle in the Secret but not in the pods it had not restarted yet.
 */
import type { KubeObject } from '../kube/types.js';
import { CA_SINCE_ANNOTATION } from './names.js';

/** Whether `pod` started after `secret`'s ca.crt was last written; unknown (no record) counts as no. */
export function loadedCurrentCa(secret: KubeObject | undefined, pod: KubeObject): boolean {
  const since = Date.parse(secret?.metadata.annotations?.[CA_SINCE_ANNOTATION] ?? '');
  const started = Date.parse(pod.metadata.creationTimestamp ?? '');
  return !Number.isNaN(since) && !Number.isNaN(started) && started >= since;
}
