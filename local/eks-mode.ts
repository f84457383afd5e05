/**
 * The simulator's "EKS mode": an `authenticate` hook that accepts only EKS bearer tokens whose
 * presigned STS `GetCallerIdentity` URL carries a valid SigV4 signature for the test credentials,
 * the expected cluster and the region of the STS endpoint it names (as STS itself checks), and
 * that are younger than the 15 minutes the EKS API server allows.
 *
 * Real EKS forwards the URL to STS; here we recompute the signature ourselves with node:crypto
 * (an implementation independent of the @smithy signer that made it), so tests exercise the
 * functions' real token path end to end without AWS.
 *
 *   const sim = await startSimulator({ https: true, authenticate: eksAuthenticator({ clusterName, credentials }) });
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
const MAX_TOKEN_AGE_MS = 15 * 60_000;
/** Tokens signed up to this far in the future (clock skew) are still accepted. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface EksModeOptions {
  clusterName: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  now?: () => Date;
}

export type TokenVerdict = { ok: true; accessKeyId: string } | { ok: false; reason: string };

/** The hook for `startSimulator({ authenticate })`: true only for a valid EKS token. */
export function eksAuthenticator(
  opts: EksModeOptions,
): (token: string | undefined, req?: IncomingMessage) => boolean {
  return (token) => token !== undefined && verifyEksToken(token, opts).ok;
}

/** Checks one bearer token; the reason names what is wrong (tests assert it). */
export function verifyEksToken(token: string, opts: EksModeOptions): TokenVerdict {
  if (!token.startsWith(EKS_TOKEN_PREFIX)) return { ok: false, reason: 'not an EKS token' };
  let url: URL;
  try {
    url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'token is not a base64url URL' };
  }
  const q = url.searchParams;
  if (url.protocol !== 'https:') return { ok: false, reason: 'STS URL is not https' };
  if (url.pathname !== '/') return { ok: false, reason: 'STS URL path is not /' };
  if (q.get('Action') !== 'GetCallerIdentity')
    return { ok: false, reason: 'Action is not GetCallerIdentity' };
  if (q.get('Version') !== '2011-06-15') return { ok: false, reason: 'unexpected STS Version' };
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return { ok: false, reason: 'not SigV4' };

  const [accessKeyId, shortDate, region, service, terminator, ...rest] = (
    q.get('X-Amz-Credential') ?? ''
  ).split('/');
  if (
    !accessKeyId ||
    !shortDate ||
    !region ||
    service !== 'sts' ||
    terminator !== 'aws4_request' ||
    rest.length
  ) {
    return { ok: false, reason: 'malformed X-Amz-Credential' };
  }
  // STS checks a signature with the key of its own region: a token signed for another region
  // than the endpoint it names is refused there, whatever the rest of the signature says.
  const endpointRegion = stsRegionOf(url.hostname);
  if (!endpointRegion) return { ok: false, reason: `${url.hostname} is not an STS endpoint` };
  if (region !== endpointRegion) {
    return {
      ok: false,
      reason: `signed for region ${region}, but the STS endpoint ${url.hostname} is in ${endpointRegion}`,
    };
  }
  if (accessKeyId !== opts.credentials.accessKeyId) return { ok: false, reason: 'unknown access key' };
  if (opts.credentials.sessionToken && q.get('X-Amz-Security-Token') !== opts.credentials.sessionToken) {
    return { ok: false, reason: 'wrong session token' };
  }

  const amzDate = q.get('X-Amz-Date') ?? '';
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined || amzDate.slice(0, 8) !== shortDate)
    return { ok: false, reason: 'bad X-Amz-Date' };
  const expires = Number(q.get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > 60) {
    return { ok: false, reason: 'X-Amz-Expires must be 1..60' };
  }
  const age = (opts.now?.() ?? new Date()).getTime() - signedAt;
  if (age > MAX_TOKEN_AGE_MS) return { ok: false, reason: 'token expired' };
  if (age < -MAX_CLOCK_SKEW_MS) return { ok: false, reason: 'token signed in the future' };

  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-k8s-aws-id')) {
    return { ok: false, reason: 'host and x-k8s-aws-id must be signed' };
  }
  const headerValues: Record<string, string> = { host: url.host, 'x-k8s-aws-id': opts.clusterName };
  const unknown = signedHeaders.find((h) => !(h in headerValues));
  if (unknown) return { ok: false, reason: `cannot verify signed header ${unknown}` };

  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    signedHeaders.map((h) => `${h}:${headerValues[h]}\n`).join(''),
    signedHeaders.join(';'),
    EMPTY_SHA256,
  ].join('\n');
  const scope = `${shortDate}/${region}/sts/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${opts.credentials.secretAccessKey}`, shortDate);
  for (const part of [region, 'sts', 'aws4_request']) key = hmac(key, part);
  const expected = Buffer.from(createHmac('sha256', key).update(stringToSign).digest('hex'));
  const given = Buffer.from(q.get('X-Amz-Signature') ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    // A token for another cluster fails here too: x-k8s-aws-id is part of the signature.
    return { ok: false, reason: 'signature does not match' };
  }
  return { ok: true, accessKeyId };
}

/** The region an STS host answers for: `sts.<region>.amazonaws.com[.cn]`, or us-east-1 for the global `sts.amazonaws.com`. */
export function stsRegionOf(hostname: string): string | undefined {
  if (hostname === 'sts.amazonaws.com') return 'us-east-1';
  return /^sts(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/.exec(hostname)?.[1];
}

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
