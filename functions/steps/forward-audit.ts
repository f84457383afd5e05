import { gunzipSync } from 'node:zlib';
import { InvalidRequestError } from '../errors.js';
import type { Kube } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import {
  isPendingReconfigureTLS,
  type PendingDetail,
  type Publish,
  pendingDetail,
  pendingEntry,
} from '../triggers/events.js';
import type { StepLogger } from '../triggers/logger.js';

/** The CloudWatch Logs subscription payload Lambda receives. */
export interface CloudWatchLogsEvent {
  awslogs: { data: string };
}

/** What `awslogs.data` holds once decoded (base64, then gzip, then JSON). */
export interface LogsData {
  messageType: 'DATA_MESSAGE' | 'CONTROL_MESSAGE' | string;
  logGroup?: string;
  logStream?: string;
  logEvents: Array<{ id: string; timestamp: number; message: string }>;
}

/** The fields of a Kubernetes audit event (audit.k8s.io/v1) this reads. */
interface AuditEvent {
  kind?: string;
  stage?: string;
  verb?: string;
  objectRef?: {
    resource?: string;
    apiGroup?: string;
    namespace?: string;
    name?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number };
  responseObject?: PerconaXtraDBOpsRequest;
}

export interface AuditCreate {
  namespace: string;
  name: string;
  /** The created object when the audit level recorded it (RequestResponse); else read from the cluster. */
  object?: PerconaXtraDBOpsRequest;
}

export interface ForwardAuditDeps {
  /** Reads created requests the audit record does not include. */
  kube: Kube;
  publish: Publish;
  cluster: string;
  logger: StepLogger;
  /** A namespaced install's namespaces (WATCH_NAMESPACES): creates elsewhere are not ours to read. */
  namespaces?: readonly string[];
}

export interface ForwardAuditResult {
  creates: number;
  pending: PendingDetail[];
}

export function decodeLogsData(event: CloudWatchLogsEvent): LogsData {
  try {
    return JSON.parse(gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8')) as LogsData;
  } catch (err) {
    throw new InvalidRequestError('awslogs.data is not base64 gzip JSON', { cause: err });
  }
}

/**
 * Pure: the successful creates of PerconaXtraDBOpsRequests among the audit records, once each
 * (an audit log holds a record per stage; only ResponseComplete carries the outcome).
 */
export function opsRequestCreates(data: LogsData): AuditCreate[] {
  if (data.messageType !== 'DATA_MESSAGE') return [];
  const seen = new Map<string, AuditCreate>();
  for (const line of data.logEvents ?? []) {
    let audit: AuditEvent;
    try {
      audit = JSON.parse(line.message) as AuditEvent;
    } catch {
      continue; // not an audit record (EKS groups only audit records, but be lenient)
    }
    const ref = audit.objectRef;
    const code = audit.responseStatus?.code ?? 0;
    if (
      audit.verb !== 'create' ||
      (audit.stage !== undefined && audit.stage !== 'ResponseComplete') ||
      ref?.resource !== 'perconaxtradbopsrequests' ||
      ref.apiGroup !== 'ops.kubedb.com' ||
      ref.subresource ||
      code < 200 ||
      code > 299
    ) {
      continue;
    }
    const object = audit.responseObject?.metadata?.uid ? audit.responseObject : undefined;
    const name = ref.name ?? object?.metadata.name;
    if (!ref.namespace || !name) continue;
    seen.set(`${ref.namespace}/${name}`, { namespace: ref.namespace, name, object });
  }
  return [...seen.values()];
}

/**
 * Forward audit: turns EKS audit-log records of OpsRequest creates into `PerconaXtraDBOpsRequest
 * Pending` events, so a `kubectl apply` starts the state machine in seconds rather than at the
 * next sweep. Audit logs arrive late and best-effort: the sweep stays the safety net.
 *
 * Reads each created request (unless the record includes it) and forwards only ReconfigureTLS
 * requests still waiting; a request deleted since is skipped. Writes nothing to the cluster, so a
 * redelivered batch only repeats events, which Validate's claim makes harmless. Throws
 * InvalidRequestError for an undecodable payload, the Kube families, AwsUnavailableError.
 */
export async function forwardAudit(
  event: CloudWatchLogsEvent,
  deps: ForwardAuditDeps,
): Promise<ForwardAuditResult> {
  const creates = opsRequestCreates(decodeLogsData(event));
  const pending: PendingDetail[] = [];
  const watched = deps.namespaces?.length ? new Set(deps.namespaces) : undefined;
  for (const c of creates) {
    if (watched && !watched.has(c.namespace)) continue;
    const ops =
      c.object ??
      (await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
        namespace: c.namespace,
        name: c.name,
      }));
    if (ops && isPendingReconfigureTLS(ops)) pending.push(pendingDetail(ops, deps.cluster));
  }
  if (pending.length) await deps.publish(pending.map(pendingEntry));
  deps.logger.info('audit records forwarded', {
    creates: creates.length,
    forwarded: pending.map((p) => `${p.namespace}/${p.name}`),
  });
  return { creates: creates.length, pending };
}
