import { KubeAlreadyExistsError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { effectiveIssuerRef } from '../model/certificates.js';
import { type RenewalPolicy, renewalPolicyFromEnv, renewalTimeFor } from '../model/renewal-policy.js';
import {
  limitsFromEnv,
  type ScheduleLimits,
  type StartReason,
  scheduleRenewals,
  type Waiting,
} from '../model/schedule.js';
import { CERTIFICATE_ALIASES, type PerconaXtraDB, type PerconaXtraDBOpsRequest } from '../model/types.js';
import { type KubeDbWindowObject, resolveWindow, type WindowSchedule } from '../model/windows.js';
import { loadPki, type Pki } from '../pki/load.js';
import type { StartExecution } from '../triggers/aws.js';
import { isWaiting } from '../triggers/events.js';
import { listWatched } from '../triggers/list.js';
import type { StepLogger } from '../triggers/logger.js';
import { rateLimitedKube } from '../triggers/rate.js';
import { otherProcessor } from './ops-manager.js';
import {
  type CaRenewalNeeded,
  type CertState,
  caDueDatabases,
  type DatabaseCerts,
  type ExpirySummary,
  expirySummary,
  findWindowProblems,
  type IssuerCa,
  planRenewals,
  type Renewal,
  type RenewalPlan,
  renewalOpsRequest,
  renewalRestartMode,
  type Secret,
  stackWindow,
} from './renewal-plan.js';
import { WINDOW_EVENT_REASON, windowEvent, windowEventName } from './window-events.js';

export interface ScanExpiryDeps {
  kube: Kube;
  startExecution: StartExecution;
  /** Publishes the scan's metrics (Powertools Metrics in Lambda); per-database figures go to the log. */
  recordExpiry(summary: ExpirySummary): void;
  now(): Date;
  logger: StepLogger;
  pageSize?: number;
  /** Default: the stack's RenewBeforeDays / ShortLifetimeDays. */
  policy?: RenewalPolicy;
  /** A namespaced install's namespaces (WATCH_NAMESPACES); empty or absent: the whole cluster. */
  namespaces?: readonly string[];
  /** Default: the stack's MaxRenewalsPerCluster / MaxRenewalsPerNamespace / DeadlineMarginHours. */
  limits?: ScheduleLimits;
  /** Default: the stack's RenewalWindow* parameters (env); tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** Requests a second the scan may put on the API server (default: ApiRequestsPerSecond, env API_REQUESTS_PER_SECOND, else 20). */
  requestsPerSecond?: number;
}

export const DEFAULT_REQUESTS_PER_SECOND = 20;

export interface ScanExpiryInput {
  /** Plan and report only: create nothing, start nothing. */
  dryRun?: boolean;
  /** The EKS cluster to scan (the fleet fan-out's item); absent: the stack's EKS_CLUSTER_NAME. Read by the handler. */
  cluster?: string;
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
  caRenewalNeeded: CaRenewalNeeded[];
  /** Due, not started in this scan: outside the window, or over a parallelism limit. */
  waiting: Waiting[];
  /** Renewals started in this scan, by reason (no-window, in-window, deadline). */
  started: Record<StartReason, number>;
  /** Databases whose window cannot be met (or read), reported at once. */
  windowProblems: Array<{ namespace: string; database: string; problem: string }>;
  listCalls: number;
}

/**
 * Scan expiry: finds databases whose certificates are due or expired and, for each, ensures a
 * rotate OpsRequest and an execution for it, both with deterministic names.
 *
 * List calls do not grow with the number of databases: PerconaXtraDBs, TLS Secrets and OpsRequests
 * are each listed once across all namespaces (or once per watched namespace), 500 per page. Safe to repeat: an existing request
 * (409) is success and is not started again once taken; StartExecution with an existing name is
 * idempotent (ExecutionAlreadyExists is success). Throws the Kube error families and
 * AwsUnavailableError / InvalidRequestError from Step Functions.
 */
export async function scanExpiry(input: ScanExpiryInput, deps: ScanExpiryDeps): Promise<ScanExpiryResult> {
  const now = deps.now();
  const env = deps.env ?? process.env;
  const perSecond =
    deps.requestsPerSecond ?? (Number(env.API_REQUESTS_PER_SECOND) || DEFAULT_REQUESTS_PER_SECOND);
  // However large the fleet, the scan stays under the API request budget of the cluster.
  const kube = rateLimitedKube(deps.kube, perSecond);
  const fleet = await gatherFleet(kube, deps);
  const { withTls, policy, databases } = fleet;
  const issuerCas = await gatherIssuerCas(databases, caDueDatabases(databases, now, policy), deps);
  const plan = planRenewals(databases, fleet.existing, now, { policy, issuerCas });
  const { schedule, windowProblems } = scheduleInWindows(
    fleet,
    plan,
    deps.limits ?? limitsFromEnv(env),
    now,
    env,
  );
  plan.renew = schedule.start;
  const started = reportScan(deps, plan, schedule, windowProblems);
  const due = plan.renew.length + plan.restart.length + plan.skipped.length + schedule.waiting.length;

  // With KubeDB's ops-manager installed a renewal request would be processed twice: create none.
  const fresh = new Set(plan.renew);
  const refused = plan.renew.length + plan.restart.length > 0 ? await otherProcessor(kube) : undefined;
  if (refused) {
    for (const r of [...plan.renew, ...plan.restart])
      plan.skipped.push({ namespace: r.namespace, database: r.database, reason: refused });
    plan.renew = [];
    plan.restart = [];
  }
  let acted = { created: [] as string[], executionsStarted: 0, executionsEnsured: 0 };
  if (!input.dryRun) {
    if (windowProblems.length) await sendWindowEvents(kube, deps, fleet, windowProblems, now);
    acted = await startRenewals(kube, deps, [...plan.renew, ...plan.restart], fresh, env);
  }
  const result: ScanExpiryResult = {
    databases: fleet.databaseCount,
    withTls: withTls.length,
    due,
    created: acted.created.sort(),
    executionsStarted: acted.executionsStarted,
    executionsEnsured: acted.executionsEnsured,
    skipped: plan.skipped,
    caRenewalNeeded: plan.caRenewalNeeded,
    waiting: schedule.waiting,
    started,
    windowProblems,
    listCalls: fleet.listCalls,
  };
  deps.logger.info('expiry scan done', { ...result, dryRun: Boolean(input.dryRun) });
  return result;
}

/** What one scan reads: a constant number of list calls, however many databases there are. */
interface Fleet {
  databaseCount: number;
  withTls: PerconaXtraDB[];
  pki: Pki | undefined;
  policy: RenewalPolicy;
  databases: DatabaseCerts[];
  /** ReconfigureTLS requests by `namespace/database`. */
  existing: Map<string, PerconaXtraDBOpsRequest[]>;
  requests: PerconaXtraDBOpsRequest[];
  namespaceWindows: Array<KubeDbWindowObject & KubeObject>;
  clusterWindows: Array<KubeDbWindowObject & KubeObject>;
  listCalls: number;
}

/** Lists PerconaXtraDBs, TLS Secrets, OpsRequests and maintenance windows once each, and reads every TLS database's certificates. */
async function gatherFleet(kube: Kube, deps: ScanExpiryDeps): Promise<Fleet> {
  const { pageSize, namespaces } = deps;
  const [dbs, secrets, requests, namespaceWindows, clusterWindows] = await Promise.all([
    listWatched<PerconaXtraDB>(kube, KINDS.PerconaXtraDB, namespaces, { pageSize }),
    listWatched<Secret>(kube, KINDS.Secret, namespaces, {
      fieldSelector: 'type=kubernetes.io/tls',
      pageSize,
    }),
    listWatched<PerconaXtraDBOpsRequest>(kube, KINDS.PerconaXtraDBOpsRequest, namespaces, { pageSize }),
    listIfServed<KubeDbWindowObject & KubeObject>(kube, KINDS.MaintenanceWindow, namespaces, pageSize),
    listIfServed<KubeDbWindowObject & KubeObject>(kube, KINDS.ClusterMaintenanceWindow, undefined, pageSize),
  ]);
  const secretByKey = new Map(secrets.items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const withTls = dbs.items.filter((db) => db.spec?.tls?.issuerRef && !db.metadata.deletionTimestamp);
  const pki = withTls.length ? await loadPki() : undefined;
  const policy = deps.policy ?? renewalPolicyFromEnv();
  const existing = new Map<string, PerconaXtraDBOpsRequest[]>();
  for (const r of requests.items) {
    if (r.spec?.type !== 'ReconfigureTLS') continue;
    const key = `${r.metadata.namespace}/${r.spec.databaseRef?.name}`;
    existing.set(key, [...(existing.get(key) ?? []), r]);
  }
  return {
    databaseCount: dbs.items.length,
    withTls,
    pki,
    policy,
    databases: withTls.map((db) => gatherCerts(pki!, db, secretByKey, policy, deps.logger)),
    existing,
    requests: requests.items,
    namespaceWindows: namespaceWindows.items,
    clusterWindows: clusterWindows.items,
    listCalls: dbs.calls + secrets.calls + requests.calls + namespaceWindows.calls + clusterWindows.calls,
  };
}

/** Maintenance windows and parallelism limits decide which of the due renewals start now; and which windows cannot be met. */
function scheduleInWindows(
  fleet: Fleet,
  plan: RenewalPlan,
  limits: ScheduleLimits,
  now: Date,
  env: NodeJS.ProcessEnv,
): {
  schedule: ReturnType<typeof scheduleRenewals<Renewal>>;
  windowProblems: ReturnType<typeof findWindowProblems>;
} {
  const { pki } = fleet;
  const sources = {
    namespaceWindows: fleet.namespaceWindows,
    clusterWindows: fleet.clusterWindows,
    stack: pki ? stackWindow(env, pki.parseDuration) : undefined,
    parseDuration: (text: string, field: string) => pki!.parseDuration(text, field),
  };
  const dbByKey = new Map(fleet.withTls.map((db) => [`${db.metadata.namespace}/${db.metadata.name}`, db]));
  const windows = new Map<string, { window?: WindowSchedule; problem?: string }>();
  const windowOf = (c: { namespace: string; database: string }) => {
    const key = `${c.namespace}/${c.database}`;
    let found = windows.get(key);
    if (!found) {
      found = resolveWindow(
        { namespace: c.namespace, annotations: dbByKey.get(key)?.metadata.annotations },
        sources,
      );
      windows.set(key, found);
    }
    return found;
  };
  const inFlight = fleet.requests
    .filter((r) => r.spec?.type === 'ReconfigureTLS' && (r.status?.phase === 'Progressing' || isWaiting(r)))
    .map((r) => r.metadata.namespace ?? '');
  const schedule = scheduleRenewals(plan.renew, windowOf, inFlight, limits, now.getTime());
  return {
    schedule,
    windowProblems: findWindowProblems(fleet.databases, windowOf, fleet.policy, limits, now),
  };
}

/** One log line per database (searchable, free of metric charges), a fixed set of metrics per cluster; the started renewals by reason. */
function reportScan(
  deps: ScanExpiryDeps,
  plan: RenewalPlan,
  schedule: ReturnType<typeof scheduleRenewals<Renewal>>,
  windowProblems: ReturnType<typeof findWindowProblems>,
): Record<StartReason, number> {
  for (const { days, ...d } of plan.daysToExpiry)
    deps.logger.info('certificate expiry', { ...d, daysToExpiry: days });
  for (const c of plan.caRenewalNeeded) deps.logger.warn('CA renewal needed', { ...c });
  for (const w of windowProblems) deps.logger.warn('maintenance window cannot be met', { ...w });
  for (const w of schedule.waiting) deps.logger.info('renewal waits', { ...w });
  const started: Record<StartReason, number> = { 'no-window': 0, 'in-window': 0, deadline: 0 };
  for (const r of schedule.start) started[r.startReason] += 1;
  deps.recordExpiry({
    ...expirySummary(plan),
    windowProblems: windowProblems.length,
    waiting: schedule.waiting.length,
    startedByDeadline: started.deadline,
  });
  return started;
}

/** A Warning Event per window problem not reported yet: one list tells which already have theirs, so an hourly scan does not re-send them. */
async function sendWindowEvents(
  kube: Kube,
  deps: ScanExpiryDeps,
  fleet: Fleet,
  windowProblems: ReturnType<typeof findWindowProblems>,
  now: Date,
): Promise<void> {
  const reported = await listWatched<KubeObject>(kube, KINDS.Event, deps.namespaces, {
    fieldSelector: `reason=${WINDOW_EVENT_REASON}`,
    pageSize: deps.pageSize,
  });
  const have = new Set(reported.items.map((e) => `${e.metadata.namespace}/${e.metadata.name}`));
  const dbByKey = new Map(fleet.withTls.map((db) => [`${db.metadata.namespace}/${db.metadata.name}`, db]));
  await forEachLimited(
    windowProblems.filter((w) => !have.has(`${w.namespace}/${windowEventName(w.database, w.problem)}`)),
    4,
    (w) => windowEvent(kube, dbByKey.get(`${w.namespace}/${w.database}`)!, w.problem, now),
  );
}

/** Ensures each renewal's OpsRequest (new ones only; 409 is success) and starts its execution (an existing name is success). */
async function startRenewals(
  kube: Kube,
  deps: ScanExpiryDeps,
  renewals: Renewal[],
  fresh: Set<Renewal>,
  env: NodeJS.ProcessEnv,
): Promise<{ created: string[]; executionsStarted: number; executionsEnsured: number }> {
  const out = { created: [] as string[], executionsStarted: 0, executionsEnsured: 0 };
  await forEachLimited(renewals, 4, async (r) => {
    if (fresh.has(r)) {
      try {
        await kube.create(KINDS.PerconaXtraDBOpsRequest, renewalOpsRequest(r, renewalRestartMode(r, env)));
        out.created.push(`${r.namespace}/${r.opsRequest}`);
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
    if (fresh.has(r)) out.executionsStarted += 1;
    else out.executionsEnsured += 1;
  });
  return out;
}

function gatherCerts(
  pki: Pki,
  db: PerconaXtraDB,
  secrets: Map<string, Secret>,
  policy: RenewalPolicy,
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
      // tls.crt and ca.crt: the scanner needs the leaf's and its CA's validity, never the private key.
      const crt = Buffer.from(secret.data['tls.crt'], 'base64').toString('utf8');
      const caCrt = secret.data['ca.crt']
        ? Buffer.from(secret.data['ca.crt'], 'base64').toString('utf8')
        : '';
      const seen = pki.certificateValidity(crt, { caCrt });
      const explicit = spec?.renewBefore ? pki.parseDuration(spec.renewBefore, 'renewBefore') : undefined;
      return {
        alias,
        secretName,
        serial: seen.serial,
        notBefore: seen.notBefore,
        notAfter: seen.notAfter,
        renewalTime: renewalTimeFor(
          new Date(seen.notBefore),
          new Date(seen.notAfter),
          policy,
          explicit,
        ).toISOString(),
        ...(seen.ca ? { ca: seen.ca } : {}),
      };
    } catch (err) {
      logger.warn('certificate secret unreadable', { namespace, database, secretName, error: String(err) });
      return { alias, secretName, problem: 'unreadable' };
    }
  });
  const issuerRef = effectiveIssuerRef(specs, 'server', db.spec.tls?.issuerRef);
  return { namespace, database, certs, ...(issuerRef ? { issuerRef } : {}) };
}

/**
 * For the few databases whose CA is due: the CA their issuer holds now (one read of the issuer and
 * its Secret per distinct issuer, not per database). An issuer that cannot be used says why.
 */
async function gatherIssuerCas(
  databases: DatabaseCerts[],
  caDue: Map<string, unknown>,
  deps: ScanExpiryDeps,
): Promise<Map<string, IssuerCa>> {
  const out = new Map<string, IssuerCa>();
  if (caDue.size === 0) return out;
  const { resolveIssuer } = await loadPki();
  const byIssuer = new Map<string, Promise<IssuerCa>>();
  const crn = process.env.CLUSTER_RESOURCE_NAMESPACE;
  for (const db of databases) {
    const key = `${db.namespace}/${db.database}`;
    if (!caDue.has(key) || !db.issuerRef) continue;
    const ref = db.issuerRef;
    const issuerKey =
      ref.kind === 'ClusterIssuer' ? `ClusterIssuer/${ref.name}` : `Issuer/${db.namespace}/${ref.name}`;
    let found = byIssuer.get(issuerKey);
    if (!found) {
      found = resolveIssuer(deps.kube, ref, {
        namespace: db.namespace,
        now: deps.now(),
        ...(crn ? { clusterResourceNamespace: crn } : {}),
      }).then(
        (ca): IssuerCa => ({ fingerprint: ca.fingerprint, notAfter: ca.notAfter }),
        (err): IssuerCa => ({ problem: (err as Error).message }),
      );
      byIssuer.set(issuerKey, found);
    }
    out.set(key, await found);
  }
  return out;
}

/** A list of a custom resource whose CRD may not be installed: none (and no error) when the API server does not serve it. */
async function listIfServed<T extends KubeObject>(
  kube: Kube,
  kind: (typeof KINDS)[keyof typeof KINDS],
  namespaces: readonly string[] | undefined,
  pageSize: number | undefined,
): Promise<{ items: T[]; calls: number }> {
  try {
    return await listWatched<T>(kube, kind, namespaces, { pageSize });
  } catch (err) {
    if ((err as { status?: { code?: number } }).status?.code === 404) return { items: [], calls: 1 };
    throw err;
  }
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
