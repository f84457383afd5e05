/**
 * EKS bearer tokens, made the way `aws eks get-token` and aws-iam-authenticator make them.
 *
 * A token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS `GetCallerIdentity` URL
 * whose signature covers the `x-k8s-aws-id: <cluster>` header. The API server hands the URL to
 * STS, which answers with the caller's identity; EKS maps that role to a Kubernetes group through
 * the access entry. The server accepts a token for 15 minutes after `X-Amz-Date`, whatever
 * `X-Amz-Expires` says, so callers renew well before that (see `TOKEN_RENEW_AFTER_MS`).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export const TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** How long the API server accepts a token after it was signed. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** Renew after 10 minutes: leaves 5 minutes for clock skew and a frozen Lambda container. */
export const TOKEN_RENEW_AFTER_MS = 10 * 60_000;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface TokenOptions {
  clusterName: string;
  region: string;
  credentials: AwsCredentials | (() => Promise<AwsCredentials>);
  /** STS endpoint to sign for; default the regional one, `https://sts.<region>.amazonaws.com`. */
  stsEndpoint?: string;
  now?: Date;
}

export function stsEndpointFor(region: string): string {
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sts.${region}.${suffix}`;
}

/** Presigns STS GetCallerIdentity for the cluster and wraps it as an EKS bearer token. */
export async function createEksToken(opts: TokenOptions): Promise<string> {
  const endpoint = new URL(opts.stsEndpoint ?? stsEndpointFor(opts.region));
  const credentials = opts.credentials;
  const signer = new SignatureV4({
    credentials: typeof credentials === 'function' ? credentials : async () => credentials,
    region: opts.region,
    service: 'sts',
    sha256: Sha256,
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port ? Number(endpoint.port) : undefined,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: endpoint.host, [CLUSTER_ID_HEADER]: opts.clusterName },
  });
  const signed = await signer.presign(request, { expiresIn: 60, signingDate: opts.now ?? new Date() });
  const url = new URL(`${endpoint.protocol}//${endpoint.host}/`);
  for (const [key, value] of Object.entries(signed.query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) if (v != null) url.searchParams.append(key, v);
  }
  return TOKEN_PREFIX + Buffer.from(url.toString(), 'utf8').toString('base64url');
}

/** The presigned URL inside a token, or undefined when it is not an EKS token. */
export function decodeEksToken(token: string): URL | undefined {
  if (!token.startsWith(TOKEN_PREFIX)) return undefined;
  try {
    return new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
