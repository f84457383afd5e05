/**
 * `getKube()`: the one place a function gets its cluster connection.
 *
 * Cached per Lambda container, so DescribeCluster and the token are reused across invocations.
 * `KUBECONFIG` (local runs, the simulator, any cluster) wins over `EKS_CLUSTER_NAME` (Lambda);
 * each half is imported lazily: local runs never load the AWS SDK, Lambda never evaluates
 * client-node's KubeConfig (and its HTTP stack) at cold start.
 */
import { KubeRequestError } from '../errors.js';
import { kubeFromAccess } from './http.js';
import type { Kube } from './types.js';

export type { Kube } from './types.js';
export { KINDS } from './types.js';

let cached: Promise<Kube> | undefined;

export function getKube(env: NodeJS.ProcessEnv = process.env): Promise<Kube> {
  cached ??= connect(env).catch((err: unknown) => {
    cached = undefined; // a failed start must not poison the container
    throw err;
  });
  return cached;
}

/** Forget the cached connection (tests that switch clusters, or after credentials change). */
export function resetKube(): void {
  cached = undefined;
}

async function connect(env: NodeJS.ProcessEnv): Promise<Kube> {
  if (env.KUBECONFIG) {
    const { kubeFromKubeconfig } = await import('./kubeconfig.js');
    return kubeFromKubeconfig(env.KUBECONFIG.split(':')[0]!);
  }
  if (env.EKS_CLUSTER_NAME) {
    const { createEksAccess } = await import('./eks.js');
    return kubeFromAccess(
      await createEksAccess({
        clusterName: env.EKS_CLUSTER_NAME,
        ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      }),
    );
  }
  throw new KubeRequestError('no cluster configured: set KUBECONFIG (local) or EKS_CLUSTER_NAME (Lambda)');
}
