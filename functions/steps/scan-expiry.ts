import { createHash } from 'node:crypto';
import { KubeAlreadyExistsError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { GROUP, RESTART_MODE_ANNOTATION, SOURCE_LABEL } from '../model/names.js';
import type { RestartMode } from '../model/plan.js';
import {
  CERTIFICATE_ALIASES,
  type CertificateAlias,
  type PerconaXtraDB,
  type PerconaXtraDBOpsRequest,
} from '../model/types.js';
import { loadPki, type Pki } from '../pki/load.js';
import type { StartExecution } from '../triggers/aws.js';
import { isWaiting } from '../triggers/events.js';
import { listAll } from '../triggers/list.js';
import type { StepLogger } from '../triggers/logger.js';
import { otherProcessor } from './ops-manager.js';

export const MANAGED_BY = 'pxc-tls-ops';
/** Value of the source label on the requests the scanner creates (console-created ones say `console`). */
export const EXPIRY_SOURCE = 'expiry-scan';
const DAY_MS = 86_400_000;

interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/** One certificate Secret of a database, as the scanner found it. */
export interface CertState {
  alias: CertificateAlias;
  secretName: string;
  /** Absent when the Secret is missing or unreadable (`problem` says which). */
  serial?: string;
  notAfter?: string;
  renewalTime?: string;
  problem?: string;
}

export interface DatabaseCerts {
  namespace: string;
  database: string;
  certs: CertState[];
}

export interface Renewal {
  namespace: string;
  database: string;
  opsRequest: string;
  executionName: string;
  apply: 'IfReady' | 'Always';
  expired: boolean;
  notAfter: string;
  renewalTime: string;
}

export interface RenewalPlan {
  /** Databases whose certificates are due or expired and have no request in progress. */
  renew: Renewal[];
  /** Our request for this certificate already exists and nobody has taken it: start again (idempotent). */
  restart: Renewal[];
  /** Due, but left alone this time; the reason says why. */
  skipped: Array<{ namespace: string; database: string; reason: string }>;
  /** Per database with readable certificates: days until the earliest notAfter (negative = expired). */
  daysToExpiry: Array<{
    namespace: string;
    database: string;
    days: number;
    notAfter: string;
    renewalTime: string;
    state: 'ok' | 'due' | 'expired';
  }>;
}

/** What the scan publishes as metrics: a fixed handful of figures, however many databases there are. */
export interface ExpirySummary {
  /** Databases with readable certificates. */
  databases: number;
  /** Of those, past their renewal time (expired ones included). */
  due: number;
  expired: number;
  /** Days until the earliest notAfter of them all; absent when no database has a readable certificate. */
  minDaysToExpiry?: number;
}

/** Pure: the metrics of a plan. */
export function expirySummary(plan: RenewalPlan): ExpirySummary {
  const days = plan.daysToExpiry.map((d) => d.days);
  return {
    databases: days.length,
    due: plan.daysToExpiry.filter((d) => d.state !== 'ok').length,
    expired: plan.daysToExpiry.filter((d) => d.state === 'expired').length,
    ...(days.length ? { minDaysToExpiry: Math.min(...days) } : {}),
  };
}

/**
 * Deterministic names: the same certificates give the same OpsRequest and execution names on every
 * run (so repeats create nothing), new certificates give new names. An expired certificate gets a
 * name of its own, so a renewal that failed while due is tried once more with `apply: Always`.
 */
export function renewalNames(
  namespace: string,
  database: string,
  serials: string[],
  expired: boolean,
): { opsRequest: string; executionName: string } {
  const hash = createHash('sha256')
    .update([namespace, database, ...[...serials].sort(), expired ? 'expired' : 'due'].join('/'))
    .digest('hex')
    .slice(0, 10);
  const opsRequest = `${database.slice(0, 40)}-tls-renew-${hash}`;
  const full = `${namespace}-${opsRequest}`.replace(/[^A-Za-z0-9_-]/g, '-');
  // Step Functions execution names are at most 80 characters.
  const executionName = full.length <= 80 ? full : `${full.slice(0, 69)}-${hash}`;
  return { opsRequest, executionName };
}

/**
 * Pure: which databases to renew. Due = the earliest renewal time of its certificates has passed
 * (renewal time = notAfter − renewBefore, else a third of the lifetime before notAfter); expired =
 * the earliest notAfter has passed. `existing` holds the ReconfigureTLS requests per database.
 */
export function planRenewals(
  databases: DatabaseCerts[],
  existing: Map<string, PerconaXtraDBOpsRequest[]>,
  now: Date,
): RenewalPlan {
  const plan: RenewalPlan = { renew: [], restart: [], skipped: [], daysToExpiry: [] };
  for (const db of databases) {
    const readable = db.certs.filter((c) => c.notAfter && c.renewalTime && c.serial);
    if (readable.length === 0) continue;
    const notAfter = minIso(readable.map((c) => c.notAfter!));
    const renewalTime = minIso(readable.map((c) => c.renewalTime!));
    const due = Date.parse(renewalTime) <= now.getTime();
    const expired = Date.parse(notAfter) <= now.getTime();
    plan.daysToExpiry.push({
      namespace: db.namespace,
      database: db.database,
      days: Math.round(((Date.parse(notAfter) - now.getTime()) / DAY_MS) * 100) / 100,
      notAfter,
      renewalTime,
      state: expired ? 'expired' : due ? 'due' : 'ok',
    });
    if (!due) continue;
    const names = renewalNames(
      db.namespace,
      db.database,
      readable.map((c) => c.serial!),
      expired,
    );
    const renewal: Renewal = {
      namespace: db.namespace,
      database: db.database,
      ...names,
      apply: expired ? 'Always' : 'IfReady',
      expired,
      notAfter,
      renewalTime,
    };
    const requests = existing.get(`${db.namespace}/${db.database}`) ?? [];
    const ours = requests.find((r) => r.metadata.name === names.opsRequest);
    if (ours) {
      if (isWaiting(ours)) plan.restart.push(renewal);
      continue; // taken, done or failed: this certificate has had its renewal
    }
    const open = requests.find((r) => r.status?.phase === 'Progressing' || isWaiting(r));
    if (open) {
      plan.skipped.push({
        namespace: db.namespace,
        database: db.database,
        reason: `ReconfigureTLS request ${open.metadata.name} is open; renewal waits for the next scan`,
      });
      continue;
    }
    plan.renew.push(renewal);
  }
  return plan;
}

/**
 * The rotate request the scanner creates, in the shape of KubeDB's guide, with the stack's restart
 * mode written on it (so `kubectl get pxcops -o yaml` shows how the renewal reaches the pods).
 */
export function renewalOpsRequest(r: Renewal, restartMode: RestartMode = 'Restart'): PerconaXtraDBOpsRequest {
  return {
    apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
    kind: KINDS.PerconaXtraDBOpsRequest.kind,
    metadata: {
      name: r.opsRequest,
      namespace: r.namespace,
      labels: {
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/instance': r.database,
        [SOURCE_LABEL]: EXPIRY_SOURCE,
      },
      annotations: {
        [`${GROUP}/reason`]: r.expired
          ? `certificate expired at ${r.notAfter}`
          : `certificate renewal time ${r.renewalTime} passed (expires ${r.notAfter})`,
        [RESTART_MODE_ANNOTATION]: restartMode,
      },
    },
    spec: {
      type: 'ReconfigureTLS',
      databaseRef: { name: r.database },
      tls: { rotateCertificates: true },
      apply: r.apply,
    },
  };
}

/** The stack's DefaultRestartMode parameter (env DEFAULT_RESTART_MODE): Reload only when it says so. */
export function stackRestartMode(env: NodeJS.ProcessEnv = process.env): RestartMode {
  return env.DEFAULT_RESTART_MODE === 'Reload' ? 'Reload' : 'Restart';
}

export interface ScanExpiryDeps {
  kube: Kube;
  startExecution: StartExecution;
  /** Publishes the scan's metrics (Powertools Metrics in Lambda); per-database figures go to the log. */
  recordExpiry(summary: ExpirySummary): void;
  now(): Date;
  logger: StepLogger;
  pageSize?: number;
}

export interface ScanExpiryInput {
  /** Plan and report only: create nothing, start nothing. */
  dryRun?: boolean;
}

export interface ScanExpiryResult {
  databases: number;
  withTls: number;
  due: number;
  created: string[];
  /** StartExecution calls for requests created in this run. */
  executionsStarted: number;
  /** StartExecution calls repeated for requests of an earlier run still waiting (idempotent). */
  executionsEnsured: number;
  skipped: RenewalPlan['skipped'];
  listCalls: number;
}

/**
 * Scan expiry: finds databases whose certificates are due or expired and, for each, ensures a
 * rotate OpsRequest and an execution for it, both with deterministic names.
 *
 * List calls do not grow with the number of databases: PerconaXtraDBs, TLS Secrets and OpsRequests
 * are each listed once across all namespaces, 500 per page. Safe to repeat: an existing request
 * (409) is success and is not started again once taken; StartExecution with an existing name is
 * idempotent (ExecutionAlreadyExists is success). Throws the Kube error families and
 * AwsUnavailableError / InvalidRequestError from Step Functions.
 */
export async function scanExpiry(input: ScanExpiryInput, deps: ScanExpiryDeps): Promise<ScanExpiryResult> {
  const now = deps.now();
  const { kube, pageSize } = deps;
  const [dbs, secrets, requests] = await Promise.all([
    listAll<PerconaXtraDB>(kube, KINDS.PerconaXtraDB, undefined, { pageSize }),
    listAll<Secret>(kube, KINDS.Secret, undefined, { fieldSelector: 'type=kubernetes.io/tls', pageSize }),
    listAll<PerconaXtraDBOpsRequest>(kube, KINDS.PerconaXtraDBOpsRequest, undefined, { pageSize }),
  ]);
  const listCalls = dbs.calls + secrets.calls + requests.calls;

  const secretByKey = new Map(secrets.items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const withTls = dbs.items.filter((db) => db.spec?.tls?.issuerRef && !db.metadata.deletionTimestamp);
  const pki = withTls.length ? await loadPki() : undefined;
  const databases = withTls.map((db) => gatherCerts(pki!, db, secretByKey, deps.logger));

  const existing = new Map<string, PerconaXtraDBOpsRequest[]>();
  for (const r of requests.items) {
    if (r.spec?.type !== 'ReconfigureTLS') continue;
    const key = `${r.metadata.namespace}/${r.spec.databaseRef?.name}`;
    existing.set(key, [...(existing.get(key) ?? []), r]);
  }

  const plan = planRenewals(databases, existing, now);
  // One log line per database (searchable, free of metric charges), a fixed set of metrics per cluster.
  for (const { days, ...d } of plan.daysToExpiry)
    deps.logger.info('certificate expiry', { ...d, daysToExpiry: days });
  deps.recordExpiry(expirySummary(plan));
  const due = plan.renew.length + plan.restart.length + plan.skipped.length;

  const created: string[] = [];
  let executionsStarted = 0;
  let executionsEnsured = 0;
  const fresh = new Set(plan.renew);
  // With KubeDB's ops-manager installed a renewal request would be processed twice: create none.
  const refused = plan.renew.length + plan.restart.length > 0 ? await otherProcessor(kube) : undefined;
  if (refused) {
    for (const r of [...plan.renew, ...plan.restart])
      plan.skipped.push({ namespace: r.namespace, database: r.database, reason: refused });
    plan.renew = [];
    plan.restart = [];
  }
  if (!input.dryRun) {
    await forEachLimited([...plan.renew, ...plan.restart], 4, async (r) => {
      if (fresh.has(r)) {
        try {
          await kube.create(KINDS.PerconaXtraDBOpsRequest, renewalOpsRequest(r, stackRestartMode()));
          created.push(`${r.namespace}/${r.opsRequest}`);
        } catch (err) {
          // Created by a run that died before StartExecution, or by a concurrent run: ours either way.
          if (!(err instanceof KubeAlreadyExistsError)) throw err;
        }
      }
      const started = await deps.startExecution(r.executionName, {
        namespace: r.namespace,
        opsRequest: r.opsRequest,
      });
      if (started.alreadyExisted) return;
      if (fresh.has(r)) executionsStarted += 1;
      else executionsEnsured += 1;
    });
  }
  const result: ScanExpiryResult = {
    databases: dbs.items.length,
    withTls: withTls.length,
    due,
    created: created.sort(),
    executionsStarted,
    executionsEnsured,
    skipped: plan.skipped,
    listCalls,
  };
  deps.logger.info('expiry scan done', { ...result, dryRun: Boolean(input.dryRun) });
  return result;
}

function gatherCerts(
  pki: Pki,
  db: PerconaXtraDB,
  secrets: Map<string, Secret>,
  logger: StepLogger,
): DatabaseCerts {
  const namespace = db.metadata.namespace ?? '';
  const database = db.metadata.name ?? '';
  const specs = db.spec.tls?.certificates ?? [];
  const certs = CERTIFICATE_ALIASES.map((alias): CertState => {
    const spec = specs.find((c) => c.alias === alias);
    const secretName = spec?.secretName ?? `${database}-${alias}-cert`;
    const secret = secrets.get(`${namespace}/${secretName}`);
    if (!secret?.data?.['tls.crt']) return { alias, secretName, problem: 'secret missing' };
    try {
      // Only tls.crt: the scanner needs the leaf's validity, never the private key.
      const crt = Buffer.from(secret.data['tls.crt'], 'base64').toString('utf8');
      const seen = pki.certificateValidity(crt, { renewBefore: spec?.renewBefore });
      return {
        alias,
        secretName,
        serial: seen.serial,
        notAfter: seen.notAfter,
        renewalTime: seen.renewalTime,
      };
    } catch (err) {
      logger.warn('certificate secret unreadable', { namespace, database, secretName, error: String(err) });
      return { alias, secretName, problem: 'unreadable' };
    }
  });
  return { namespace, database, certs };
}

function minIso(values: string[]): string {
  return values.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
