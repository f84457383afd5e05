/**
 * `getKube()`: the one place a function gets its cluster connection.
 *
 * Cached per Lambda container and per cluster, so DescribeCluster and the token are reused across
 * invocations, and one deployment can serve several EKS clusters (the fleet scan names the cluster
 * in its input; without one, `EKS_CLUSTER_NAME`, the single-cluster stack as before).
 * `KUBECONFIG` (local runs, the simulator, any cluster) wins over `EKS_CLUSTER_NAME` (Lambda);
 * each half is imported lazily: local runs never load the AWS SDK, Lambda never evaluates
 * client-node's KubeConfig (and its HTTP stack) at cold start.
 */
import { KubeRequestError } from '../errors.js';
import { kubeFromAccess } from './http.js';
import type { Kube } from './types.js';

export type { Kube } from './types.js';
export { KINDS } from './types.js';

const cached = new Map<string, Promise<Kube>>();

/**
 * The connection to `cluster` (an EKS cluster name), or to the stack's own cluster when none is
 * named. A failed start is forgotten, so one unreachable cluster neither poisons the container
 * nor the connections to the others.
 */
export function getKube(env: NodeJS.ProcessEnv = process.env, cluster?: string): Promise<Kube> {
  const name = cluster || env.EKS_CLUSTER_NAME;
  const key = env.KUBECONFIG ? `kubeconfig:${env.KUBECONFIG}` : `eks:${name ?? ''}`;
  let kube = cached.get(key);
  if (!kube) {
    kube = connect(env, name).catch((err: unknown) => {
      cached.delete(key);
      throw err;
    });
    cached.set(key, kube);
  }
  return kube;
}

/** Forget the cached connections (tests that switch clusters, or after credentials change). */
export function resetKube(): void {
  cached.clear();
}

async function connect(env: NodeJS.ProcessEnv, clusterName: string | undefined): Promise<Kube> {
  if (env.KUBECONFIG) {
    const { kubeFromKubeconfig } = await import('./kubeconfig.js');
    return kubeFromKubeconfig(env.KUBECONFIG.split(':')[0]!);
  }
  if (clusterName) {
    const { createEksAccess } = await import('./eks.js');
    return kubeFromAccess(
      await createEksAccess({
        clusterName,
        ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      }),
    );
  }
  throw new KubeRequestError('no cluster configured: set KUBECONFIG (local) or EKS_CLUSTER_NAME (Lambda)');
}
