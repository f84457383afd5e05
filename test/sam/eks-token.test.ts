import { EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AwsUnavailableError, KubeForbiddenError } from '../../functions/errors.js';
import { kubeFromAccess } from '../../functions/kube/client.js';
import { createEksAccess, resetEksAccessCache } from '../../functions/kube/eks.js';
import { getKube, resetKube } from '../../functions/kube/index.js';
import { createEksToken, decodeEksToken, TOKEN_PREFIX } from '../../functions/kube/token.js';
import { KINDS } from '../../functions/kube/types.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { eksAuthenticator, verifyEksToken } from '../../local/eks-mode.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';

const CLUSTER = 'demo-cluster';
const REGION = 'eu-west-1';
const credentials = {
  accessKeyId: 'AKIDPXCTLSOPSTEST',
  secretAccessKey: 'test/secret+key',
  sessionToken: 'test-session',
};
const MINUTE = 60_000;

describe('EKS access', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let eksClient: EKSClient;
  let now: Date;
  let caPem: string;
  const clock = () => now;

  beforeAll(async () => {
    sim = await startSimulator({
      https: true,
      authenticate: eksAuthenticator({ clusterName: CLUSTER, credentials, now: clock }),
    });
    const kubeconfig = parse(sim.kubeconfig) as { clusters: Array<{ cluster: Record<string, string> }> };
    caPem = Buffer.from(kubeconfig.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString();
    aws = await startAwsStandIn({ region: REGION, clusters: { [CLUSTER]: { endpoint: sim.url, caPem } } });
    eksClient = new EKSClient({ endpoint: aws.endpoint, region: REGION, credentials });
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });
  beforeEach(() => {
    now = new Date();
    resetEksAccessCache();
    aws.calls.length = 0;
  });

  /** A Kube whose every request carries this token (to try tokens the functions would never make). */
  const kubeWithToken = (token: string) =>
    kubeFromAccess({ server: sim.url, caPem, token: async () => token });

  it('reaches the API server with the endpoint and CA from DescribeCluster and a presigned STS token', async () => {
    const access = await createEksAccess({ clusterName: CLUSTER, eksClient, now: clock });
    expect(access.server).toBe(sim.url);
    expect(access.caPem).toContain('BEGIN CERTIFICATE');

    const namespaces = await kubeFromAccess(access).list(KINDS.Namespace, undefined);

    expect(namespaces.items.map((n) => n.metadata.name)).toContain('demo');
    expect(sim.requests.all().at(-1)).toMatchObject({ verb: 'list', resource: 'namespaces', status: 200 });
  });

  it('describes the cluster once per container', async () => {
    await createEksAccess({ clusterName: CLUSTER, eksClient, now: clock });
    await createEksAccess({ clusterName: CLUSTER, eksClient, now: clock });

    expect(aws.calls.filter((c) => c === 'EKS.DescribeCluster')).toHaveLength(1);
  });

  it('makes tokens the way aws eks get-token does', async () => {
    const token = await createEksToken({ clusterName: CLUSTER, region: REGION, credentials, now });

    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(token.slice(TOKEN_PREFIX.length)).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
    const url = decodeEksToken(token)!;
    expect(url.origin).toBe(`https://sts.${REGION}.amazonaws.com`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
      'X-Amz-Security-Token': credentials.sessionToken,
    });
    expect(verifyEksToken(token, { clusterName: CLUSTER, credentials, now: clock })).toEqual({
      ok: true,
      accessKeyId: credentials.accessKeyId,
    });
  });

  it.each([
    ['eu-west-1', 'https://sts.eu-west-1.amazonaws.com'],
    ['us-east-1', 'https://sts.us-east-1.amazonaws.com'],
    ['cn-north-1', 'https://sts.cn-north-1.amazonaws.com.cn'],
  ])('signs a %s token for the region of the STS endpoint it names (%s)', async (region, origin) => {
    const token = await createEksToken({ clusterName: CLUSTER, region, credentials, now });

    const url = decodeEksToken(token)!;
    expect(url.origin).toBe(origin);
    const [, , scopeRegion, service] = url.searchParams.get('X-Amz-Credential')!.split('/');
    expect([scopeRegion, service]).toEqual([region, 'sts']);
    expect(verifyEksToken(token, { clusterName: CLUSTER, credentials, now: clock })).toEqual({
      ok: true,
      accessKeyId: credentials.accessKeyId,
    });
  });

  it('is refused when the token is signed for another region than its STS endpoint', async () => {
    const skewed = await createEksToken({
      clusterName: CLUSTER,
      region: 'us-east-1',
      stsEndpoint: `https://sts.${REGION}.amazonaws.com`,
      credentials,
      now,
    });

    await expect(kubeWithToken(skewed).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
    expect(sim.requests.all().at(-1)?.status).toBe(401);
    expect(verifyEksToken(skewed, { clusterName: CLUSTER, credentials, now: clock })).toEqual({
      ok: false,
      reason: `signed for region us-east-1, but the STS endpoint sts.${REGION}.amazonaws.com is in ${REGION}`,
    });
  });

  it('keeps its token for 10 minutes and renews it before the 15 minutes run out', async () => {
    const access = await createEksAccess({ clusterName: CLUSTER, eksClient, now: clock });
    const kube = kubeFromAccess(access);
    const first = await access.token();

    now = new Date(now.getTime() + 9 * MINUTE);
    expect(await access.token()).toBe(first);

    now = new Date(now.getTime() + 5 * MINUTE); // 14 minutes after the first token
    const renewed = await access.token();
    expect(renewed).not.toBe(first);

    now = new Date(now.getTime() + 5 * MINUTE); // the first token is 19 minutes old: dead
    await expect(kubeWithToken(first).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
    await expect(kube.list(KINDS.Namespace, undefined)).resolves.toBeDefined();
  });

  it('is refused when the token is signed with the wrong secret', async () => {
    const forged = await createEksToken({
      clusterName: CLUSTER,
      region: REGION,
      credentials: { ...credentials, secretAccessKey: 'not-the-secret' },
      now,
    });

    await expect(kubeWithToken(forged).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
    expect(sim.requests.all().at(-1)?.status).toBe(401);
    expect(verifyEksToken(forged, { clusterName: CLUSTER, credentials })).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
  });

  it('is refused when the token has expired', async () => {
    const old = await createEksToken({
      clusterName: CLUSTER,
      region: REGION,
      credentials,
      now: new Date(now.getTime() - 16 * MINUTE),
    });

    await expect(kubeWithToken(old).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
    expect(sim.requests.all().at(-1)?.status).toBe(401);
    expect(verifyEksToken(old, { clusterName: CLUSTER, credentials })).toMatchObject({
      reason: 'token expired',
    });
  });

  it('is refused when the token was made for another cluster', async () => {
    const other = await createEksToken({ clusterName: 'other-cluster', region: REGION, credentials, now });

    await expect(kubeWithToken(other).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
  });

  it('is refused when the token was tampered with', async () => {
    const token = await createEksToken({ clusterName: CLUSTER, region: REGION, credentials, now });
    const url = decodeEksToken(token)!;
    url.searchParams.set('X-Amz-Date', url.searchParams.get('X-Amz-Date')!.replace(/\d{2}Z$/, '00Z'));
    url.searchParams.set('X-Amz-Expires', '900');
    const tampered = TOKEN_PREFIX + Buffer.from(url.toString()).toString('base64url');

    await expect(kubeWithToken(tampered).list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
    await expect(kubeWithToken('a-static-token').list(KINDS.Namespace, undefined)).rejects.toBeInstanceOf(
      KubeForbiddenError,
    );
  });

  it('fails for good on an unknown cluster and retryably when EKS throttles', async () => {
    await expect(
      createEksAccess({ clusterName: 'no-such-cluster', eksClient, now: clock }),
    ).rejects.toBeInstanceOf(KubeForbiddenError);

    aws.failNext('EKS.DescribeCluster', { type: 'ThrottlingException', status: 429, times: 10 });
    const throttled = new EKSClient({ endpoint: aws.endpoint, region: REGION, credentials, maxAttempts: 1 });
    await expect(
      createEksAccess({ clusterName: CLUSTER, eksClient: throttled, now: clock }),
    ).rejects.toBeInstanceOf(AwsUnavailableError);
    aws.failNext('EKS.DescribeCluster', { type: 'ThrottlingException', status: 429, times: 0 });
    // The failure is not cached: the next container start (or call) tries again and succeeds.
    await expect(createEksAccess({ clusterName: CLUSTER, eksClient, now: clock })).resolves.toMatchObject({
      server: sim.url,
    });
  });

  it('is what getKube() uses on Lambda, where only EKS_CLUSTER_NAME and the role are configured', async () => {
    const env = {
      EKS_CLUSTER_NAME: CLUSTER,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
    };
    const saved = Object.fromEntries(['KUBECONFIG', ...Object.keys(env)].map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    delete process.env.KUBECONFIG;
    resetKube();
    try {
      const kube = await getKube({ ...process.env });
      const namespaces = await kube.list(KINDS.Namespace, undefined);
      expect(namespaces.items.length).toBeGreaterThan(0);
      expect(aws.calls).toContain('EKS.DescribeCluster');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetKube();
    }
  });
});

describe('getKube() with several clusters from one deployment', () => {
  const OTHER = 'other-cluster';
  let sims: Simulator[];
  let aws: AwsStandIn;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    const now = () => new Date();
    sims = await Promise.all(
      [CLUSTER, OTHER].map((clusterName) =>
        startSimulator({ https: true, authenticate: eksAuthenticator({ clusterName, credentials, now }) }),
      ),
    );
    const ca = (sim: Simulator) => {
      const kc = parse(sim.kubeconfig) as { clusters: Array<{ cluster: Record<string, string> }> };
      return Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString();
    };
    aws = await startAwsStandIn({
      region: REGION,
      clusters: {
        [CLUSTER]: { endpoint: sims[0]!.url, caPem: ca(sims[0]!) },
        [OTHER]: { endpoint: sims[1]!.url, caPem: ca(sims[1]!) },
      },
    });
    const env = {
      EKS_CLUSTER_NAME: CLUSTER,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
    };
    for (const k of ['KUBECONFIG', ...Object.keys(env)]) saved[k] = process.env[k];
    Object.assign(process.env, env);
    delete process.env.KUBECONFIG;
    resetKube();
    resetEksAccessCache();
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetKube();
    resetEksAccessCache();
    await aws?.stop();
    await Promise.all(sims.map((s) => s.stop()));
  });

  const marker = async (cluster: string | undefined) => {
    const kube = await getKube({ ...process.env }, cluster);
    const names = (await kube.list(KINDS.Namespace, undefined)).items.map((n) => n.metadata.name);
    return names.filter((n) => n?.startsWith('only-on-'));
  };

  it('reaches the cluster its caller names, and the stack cluster when none is named', async () => {
    sims[0]!.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `only-on-${CLUSTER}` } });
    sims[1]!.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `only-on-${OTHER}` } });

    expect(await marker(OTHER)).toEqual([`only-on-${OTHER}`]);
    expect(await marker(CLUSTER)).toEqual([`only-on-${CLUSTER}`]);
    expect(await marker(undefined)).toEqual([`only-on-${CLUSTER}`]);
  });

  it('refuses an unknown cluster without poisoning the others', async () => {
    await expect(getKube({ ...process.env }, 'no-such-cluster')).rejects.toBeInstanceOf(KubeForbiddenError);
    expect(await marker(OTHER)).toEqual([`only-on-${OTHER}`]);
  });

  it('forgets a failed start, so the next scan tries that cluster again', async () => {
    resetKube();
    resetEksAccessCache();
    aws.failNext('EKS.DescribeCluster', { type: 'ThrottlingException', status: 429, times: 10 });
    await expect(getKube({ ...process.env }, OTHER)).rejects.toBeInstanceOf(AwsUnavailableError);
    aws.failNext('EKS.DescribeCluster', { type: 'ThrottlingException', status: 429, times: 0 });
    expect(await marker(OTHER)).toEqual([`only-on-${OTHER}`]);
  });
});
