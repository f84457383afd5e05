/**
 * Access to an EKS cluster from a Lambda function: endpoint and CA from `eks:DescribeCluster`
 * (asked once per container and cluster), bearer token from a presigned STS request (see
 * token.ts), renewed before its 15-minute life ends. `kube/index.ts` imports this module only
 * when `EKS_CLUSTER_NAME` is set, so local runs never load the EKS client.
 */
import { DescribeClusterCommand, type DescribeClusterCommandOutput, EKSClient } from '@aws-sdk/client-eks';
import { AwsUnavailableError, KubeForbiddenError } from '../errors.js';
import { type AwsCredentials, createEksToken, TOKEN_RENEW_AFTER_MS } from './token.js';

export interface EksAccess {
  /** API server URL, e.g. https://ABC.gr7.eu-west-1.eks.amazonaws.com */
  server: string;
  /** The cluster CA, PEM. */
  caPem: string;
  /** A bearer token valid for several more minutes; cached and renewed as it ages. */
  token(): Promise<string>;
}

export interface EksAccessOptions {
  clusterName: string;
  /** Default: the EKS client's region (AWS_REGION in Lambda). */
  region?: string;
  /** Injected by tests (pointed at a local stand-in); default a new EKSClient. */
  eksClient?: EKSClient;
  /** Default: the EKS client's own credential provider (the Lambda role). */
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
  stsEndpoint?: string;
  /** Clock, injected by tests to age the token. */
  now?: () => Date;
}

const clusters = new Map<string, Promise<{ server: string; caPem: string }>>();

/** Forgets cached DescribeCluster answers (tests; a cluster whose endpoint changed). */
export function resetEksAccessCache(): void {
  clusters.clear();
}

/**
 * Resolves the cluster (cached per container) and returns its access.
 * Throws AwsUnavailableError when EKS is throttling or failing (retryable), KubeForbiddenError when
 * the role may not describe the cluster or it does not exist (fatal: a deployment problem).
 */
export async function createEksAccess(opts: EksAccessOptions): Promise<EksAccess> {
  const eks = opts.eksClient ?? new EKSClient(opts.region ? { region: opts.region } : {});
  const now = opts.now ?? (() => new Date());
  const region = opts.region ?? (await eks.config.region());
  const key = `${region}/${opts.clusterName}`;
  let cluster = clusters.get(key);
  if (!cluster) {
    cluster = describe(eks, opts.clusterName);
    clusters.set(key, cluster);
    // A failure must not stick for the container's life.
    cluster.catch(() => clusters.delete(key));
  }
  const { server, caPem } = await cluster;
  const credentials = opts.credentials ?? (() => eks.config.credentials() as Promise<AwsCredentials>);

  let current: { token: string; signedAt: number } | undefined;
  let pending: Promise<string> | undefined;
  const token = async (): Promise<string> => {
    const at = now();
    if (current && at.getTime() - current.signedAt < TOKEN_RENEW_AFTER_MS) return current.token;
    pending ??= createEksToken({
      clusterName: opts.clusterName,
      region,
      credentials,
      stsEndpoint: opts.stsEndpoint,
      now: at,
    })
      .then((t) => {
        current = { token: t, signedAt: at.getTime() };
        return t;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  return { server, caPem, token };
}

async function describe(eks: EKSClient, name: string): Promise<{ server: string; caPem: string }> {
  let out: DescribeClusterCommandOutput;
  try {
    out = await eks.send(new DescribeClusterCommand({ name }));
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    const status = e.$metadata?.httpStatusCode ?? 0;
    if (status >= 500 || status === 429 || e.$retryable || /Throttl|Timeout|ECONN/i.test(e.name ?? '')) {
      throw new AwsUnavailableError(`eks:DescribeCluster ${name} failed: ${e.name}`, { cause: err });
    }
    throw new KubeForbiddenError(`cannot use EKS cluster ${name}: ${e.name ?? String(err)}`, { cause: err });
  }
  const c = out.cluster;
  if (!c?.endpoint || !c.certificateAuthority?.data) {
    throw new AwsUnavailableError(`EKS cluster ${name} has no endpoint or CA yet (still creating?)`);
  }
  return { server: c.endpoint, caPem: Buffer.from(c.certificateAuthority.data, 'base64').toString('utf8') };
}
