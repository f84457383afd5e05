/**
 * CloudWatch Logs subscription payloads, as Lambda receives them: `{awslogs: {data}}` where data is
 * base64 of gzip of `{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents}`.
 * Used to make the forwarder's sample events and its tests from readable audit records.
 */
import { gzipSync } from 'node:zlib';

export function auditRecord(opts: {
  namespace: string;
  name: string;
  verb?: string;
  code?: number;
  stage?: string;
  resource?: string;
  responseObject?: unknown;
}): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: opts.responseObject ? 'RequestResponse' : 'Metadata',
    auditID: `a-${opts.namespace}-${opts.name}-${opts.verb ?? 'create'}-${opts.stage ?? 'ResponseComplete'}`,
    stage: opts.stage ?? 'ResponseComplete',
    requestURI: `/apis/ops.kubedb.com/v1alpha1/namespaces/${opts.namespace}/${opts.resource ?? 'perconaxtradbopsrequests'}`,
    verb: opts.verb ?? 'create',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['10.0.0.1'],
    userAgent: 'kubectl/v1.33.0',
    objectRef: {
      resource: opts.resource ?? 'perconaxtradbopsrequests',
      namespace: opts.namespace,
      name: opts.name,
      apiGroup: 'ops.kubedb.com',
      apiVersion: 'v1alpha1',
    },
    responseStatus: { metadata: {}, code: opts.code ?? 201 },
    ...(opts.responseObject ? { responseObject: opts.responseObject } : {}),
    requestReceivedTimestamp: '2026-11-28T00:00:00.000000Z',
    stageTimestamp: '2026-11-28T00:00:00.050000Z',
  };
}

export function logsSubscriptionEvent(
  records: unknown[],
  opts: { logGroup?: string; messageType?: string } = {},
): { awslogs: { data: string } } {
  const data = {
    messageType: opts.messageType ?? 'DATA_MESSAGE',
    owner: '123456789012',
    logGroup: opts.logGroup ?? '/aws/eks/demo-cluster/cluster',
    logStream: 'kube-apiserver-audit-0123456789abcdef',
    subscriptionFilters: ['pxc-tls-ops-AuditLogSubscription'],
    logEvents: records.map((r, i) => ({
      id: String(38_000_000_000_000_000_000_000_000_000_000_000_000n + BigInt(i)),
      timestamp: 1_795_824_000_000 + i,
      message: JSON.stringify(r),
    })),
  };
  return { awslogs: { data: gzipSync(Buffer.from(JSON.stringify(data))).toString('base64') } };
}
