/**
 * The database container's Secret volumes as Reload pods needs them: where the server's files are
 * mounted, whether a pod's mount can ever change in place, and the touch that makes the kubelet
 * sync a pod's volumes now instead of at its periodic sync.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import { TLS_SECRET_VERSION_ANNOTATION } from '../model/names.js';
import type { PodObject } from './common.js';
import type { PodToRestart } from './round.js';

export const CONTAINER = 'perconaxtradb';
export const SERVER_MOUNT = '/etc/mysql/certs/server';
export const SERVER_VOLUME = 'tls-server-config';

/**
 * Ensures every pending pod carries the Secret version it should see (see reload-pods.ts):
 * one merge patch per pod not yet carrying it, under the UID and resourceVersion of the pod as
 * listed, so it never lands on a successor pod nor over a change it did not see. A refusal is
 * logged and left to the next check (a conflict) or to the kubelet's periodic sync (no RBAC).
 */
export async function touchPods(
  namespace: string,
  version: string | undefined,
  deps: Deps,
  pending: PodToRestart[],
  pods: Map<string, PodObject>,
): Promise<void> {
  if (!version) return;
  await Promise.all(
    pending.map(async (target) => {
      const pod = pods.get(target.name);
      if (!pod || pod.metadata.uid !== target.uid || pod.metadata.deletionTimestamp) return;
      if (pod.metadata.annotations?.[TLS_SECRET_VERSION_ANNOTATION] === version) return;
      try {
        await deps.kube.patch(
          KINDS.Pod,
          { namespace: namespace, name: target.name },
          {
            metadata: {
              uid: pod.metadata.uid,
              resourceVersion: pod.metadata.resourceVersion,
              annotations: { [TLS_SECRET_VERSION_ANNOTATION]: version },
            },
          },
          'merge',
        );
      } catch (err) {
        // Any refusal (403 without `patch` on pods, 409, network trouble) only costs time: the
        // files still arrive at the periodic sync, and the next check tries the touch again.
        deps.logger.warn(
          'could not touch the pod to make the kubelet sync its volumes now; waiting for its periodic sync',
          {
            pod: target.name,
            error: (err as Error).message,
          },
        );
      }
    }),
  );
}

/** Why this pod's files can never change in place, if they cannot. */
export function mountProblem(pod: PodObject | undefined, secretName: string): string | undefined {
  const spec = pod?.spec as
    | {
        containers?: Array<{
          name: string;
          volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
        }>;
        volumes?: Array<{ name: string; secret?: { secretName?: string } }>;
      }
    | undefined;
  const c = spec?.containers?.find((x) => x.name === CONTAINER);
  if (!c) return `the pod has no ${CONTAINER} container`;
  const vol = spec?.volumes?.find((v) => v.secret?.secretName === secretName);
  const mounts = (c.volumeMounts ?? []).filter((m) => m.name === vol?.name);
  if (mounts.some((m) => m.subPath))
    return `Secret ${secretName} is mounted through subPath, which the kubelet never updates in a running pod`;
  if (!mounts.some((m) => m.mountPath.replace(/\/$/, '') === SERVER_MOUNT))
    return `Secret ${secretName} is not mounted at ${SERVER_MOUNT}`;
  return undefined;
}
