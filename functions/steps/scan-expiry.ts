import { createHash } from 'node:crypto';
import { KubeAlreadyExistsError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { effectiveIssuerRef } from '../model/certificates.js';
import { GROUP, RESTART_MODE_ANNOTATION, SOURCE_LABEL } from '../model/names.js';
import type { RestartMode } from '../model/plan.js';
import {
  checkCa,
  type RenewalPolicy,
  renewalPolicyFromEnv,
  renewalTimeFor,
  renewBeforeFor,
} from '../model/renewal-policy.js';
import {
  limitsFromEnv,
  type ScheduleLimits,
  type StartReason,
  scheduleRenewals,
  type Waiting,
} from '../model/schedule.js';
import {
  CERTIFICATE_ALIASES,
  type CertificateAlias,
  type IssuerRef,
  type PerconaXtraDB,
  type PerconaXtraDBOpsRequest,
} from '../model/types.js';
import {
  type KubeDbWindowObject,
  resolveWindow,
  type StackWindow,
  type WindowSchedule,
  windowProblem,
} from '../model/windows.js';
import { loadPki, type Pki } from '../pki/load.js';
import type { StartExecution } from '../triggers/aws.js';
import { isWaiting } from '../triggers/events.js';
import { listWatched } from '../triggers/list.js';
import type { StepLogger } from '../triggers/logger.js';
import { rateLimitedKube } from '../triggers/rate.js';
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
  notBefore?: string;
  notAfter?: string;
  /** By the stack's renewal policy (../model/renewal-policy.ts), or the certificate's own renewBefore. */
  renewalTime?: string;
  /** The CA in ca.crt that signed the certificate. */
  ca?: { notAfter: string; fingerprint: string; subject: string };
  problem?: string;
}

export interface DatabaseCerts {
  namespace: string;
  database: string;
  certs: CertState[];
  /** The server certificate's issuer (the one whose CA the scan checks). */
  issuerRef?: IssuerRef;
}

/**
 * What the issuer holds now, for a database whose CA is due: the CA the next issuance would use
 * (fingerprint and end), or why it cannot be used. Read only for databases whose CA is due.
 */
export type IssuerCa = { fingerprint: string; notAfter: string } | { problem: string };

export interface Renewal {
  namespace: string;
  database: string;
  opsRequest: string;
  executionName: string;
  apply: 'IfReady' | 'Always';
  expired: boolean;
  notAfter: string;
  renewalTime: string;
  /** Set when the renewal starts early (or at all) because of the CA: the issuer has a new CA and the old one expires before the next renewal. */
  caReason?: string;
  /** The shortest lifetime among its certificates (short-lived ones renew in Reload mode). */
  lifetimeMs?: number;
  /** Why it starts now: no window applies, inside a window, or a deadline override (scheduleRenewals). */
  startReason?: StartReason;
  startDetail?: string;
}

/** A database whose CA expires before its certificates' next renewal, and nobody has renewed the CA yet. */
export interface CaRenewalNeeded {
  namespace: string;
  database: string;
  reason: string;
}

export interface RenewalPlan {
  /** Databases whose certificates are due or expired and have no request in progress. */
  renew: Renewal[];
  /** Our request for this certificate already exists and nobody has taken it: start again (idempotent). */
  restart: Renewal[];
  /** Due, but left alone this time; the reason says why. */
  skipped: Array<{ namespace: string; database: string; reason: string }>;
  /** CAs to renew before their certificates can be (reported: the CA Secret is not this project's to write). */
  caRenewalNeeded: CaRenewalNeeded[];
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
  /** Databases whose CA expires before their certificates' next renewal and has not been renewed. */
  caRenewalNeeded: number;
  /** Databases whose maintenance window cannot be met or read (set by the scan after scheduling). */
  windowProblems?: number;
  /** Due renewals held for a window or a limit. */
  waiting?: number;
  /** Renewals started outside a window by deadline override. */
  startedByDeadline?: number;
}

/** Pure: the metrics of a plan. */
export function expirySummary(plan: RenewalPlan): ExpirySummary {
  const days = plan.daysToExpiry.map((d) => d.days);
  return {
    databases: days.length,
    due: plan.daysToExpiry.filter((d) => d.state !== 'ok').length,
    expired: plan.daysToExpiry.filter((d) => d.state === 'expired').length,
    ...(days.length ? { minDaysToExpiry: Math.min(...days) } : {}),
    caRenewalNeeded: plan.caRenewalNeeded.length,
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

/** Pure: the databases whose CA (the one in ca.crt that signed the server certificate) is due by checkCa. */
export function caDueDatabases(
  databases: DatabaseCerts[],
  now: Date,
  policy: RenewalPolicy,
): Map<string, { reason: string; nextLeafRenewal: Date; fingerprint: string; expired: boolean }> {
  const out = new Map<
    string,
    { reason: string; nextLeafRenewal: Date; fingerprint: string; expired: boolean }
  >();
  for (const db of databases) {
    const server = db.certs.find((c) => c.alias === 'server' && c.ca && c.notBefore && c.notAfter);
    if (!server?.ca) continue;
    const check = checkCa(
      {
        notBefore: new Date(server.notBefore!),
        notAfter: new Date(server.notAfter!),
        renewalTime: new Date(server.renewalTime!),
      },
      new Date(server.ca.notAfter),
      now,
      policy,
    );
    if (check.due)
      out.set(`${db.namespace}/${db.database}`, {
        reason: `${check.reason} (${server.ca.subject})`,
        nextLeafRenewal: check.nextLeafRenewal,
        fingerprint: server.ca.fingerprint,
        expired: check.expired,
      });
  }
  return out;
}

export interface PlanOptions {
  policy?: RenewalPolicy;
  /** For databases whose CA is due (caDueDatabases): what their issuer holds now, by `namespace/database`. */
  issuerCas?: Map<string, IssuerCa>;
}

/**
 * Pure: which databases to renew. Due = the earliest renewal time of its certificates has passed
 * (the stack's renewal policy, or a certificate's own renewBefore); expired = the earliest notAfter
 * has passed. `existing` holds the ReconfigureTLS requests per database.
 *
 * The CA: when the CA that signed the certificates expires before their next renewal, the issuer
 * is asked what it holds. A new CA there that outlives that renewal starts the renewal now, even
 * before the leaves are due (Validate sees the CA change and rolls it out with a trust bundle
 * first, like a change of issuer). The same or another dying CA is reported (caRenewalNeeded):
 * re-issuing leaves from it would only move the outage.
 */
export function planRenewals(
  databases: DatabaseCerts[],
  existing: Map<string, PerconaXtraDBOpsRequest[]>,
  now: Date,
  opts: PlanOptions = {},
): RenewalPlan {
  const policy = opts.policy ?? renewalPolicyFromEnv({});
  const caDue = caDueDatabases(databases, now, policy);
  const plan: RenewalPlan = { renew: [], restart: [], skipped: [], caRenewalNeeded: [], daysToExpiry: [] };
  for (const db of databases) {
    const readable = db.certs.filter((c) => c.notAfter && c.renewalTime && c.serial);
    if (readable.length === 0) continue;
    const key = `${db.namespace}/${db.database}`;
    const notAfter = minIso(readable.map((c) => c.notAfter!));
    const renewalTime = minIso(readable.map((c) => c.renewalTime!));
    const leavesDue = Date.parse(renewalTime) <= now.getTime();
    const ca = caDue.get(key);
    // An expired CA takes TLS down as surely as an expired leaf: the renewal runs with apply: Always.
    const expired = Date.parse(notAfter) <= now.getTime() || ca?.expired === true;
    let caReason: string | undefined;
    if (ca) {
      const held = opts.issuerCas?.get(key);
      const renewedCa =
        held &&
        'fingerprint' in held &&
        held.fingerprint !== ca.fingerprint &&
        Date.parse(held.notAfter) > ca.nextLeafRenewal.getTime()
          ? held
          : undefined;
      if (renewedCa) caReason = `${ca.reason}; the issuer holds a new CA valid until ${renewedCa.notAfter}`;
      else
        plan.caRenewalNeeded.push({
          namespace: db.namespace,
          database: db.database,
          reason: `${ca.reason}: renew the issuer's CA first${held && 'problem' in held ? ` (${held.problem})` : ''}`,
        });
    }
    const due = leavesDue || caReason !== undefined;
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
      lifetimeMs: Math.min(
        ...readable.map((c) => (c.notBefore ? Date.parse(c.notAfter!) - Date.parse(c.notBefore) : Infinity)),
      ),
      ...(caReason ? { caReason } : {}),
    };
    const requests = existing.get(key) ?? [];
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
          : (r.caReason ?? `certificate renewal time ${r.renewalTime} passed (expires ${r.notAfter})`),
        [RESTART_MODE_ANNOTATION]: restartMode,
        ...(r.startDetail ? { [START_REASON_ANNOTATION]: r.startDetail } : {}),
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

/** Why a renewal started when it did (inside a window, or by deadline override): `kubectl get pxcops -o yaml` shows it. */
export const START_REASON_ANNOTATION = `${GROUP}/start-reason`;

/** The stack's RenewalWindowCron / RenewalWindowDuration / RenewalWindowTimeZone parameters; absent when the cron is empty. */
export function stackWindow(
  env: NodeJS.ProcessEnv,
  parse: (text: string, field: string) => number,
): StackWindow | undefined {
  if (!env.RENEWAL_WINDOW_CRON) return undefined;
  return {
    cron: env.RENEWAL_WINDOW_CRON,
    durationMs: parse(env.RENEWAL_WINDOW_DURATION || '4h', 'RenewalWindowDuration'),
    ...(env.RENEWAL_WINDOW_TIME_ZONE ? { timeZone: env.RENEWAL_WINDOW_TIME_ZONE } : {}),
  };
}

/** The stack's DefaultRestartMode parameter (env DEFAULT_RESTART_MODE): Reload only when it says so. */
export function stackRestartMode(env: NodeJS.ProcessEnv = process.env): RestartMode {
  return env.DEFAULT_RESTART_MODE === 'Reload' ? 'Reload' : 'Restart';
}

/** Certificates living at most this long are short-lived: renewed weekly or more often. */
export const SHORT_LIVED_MS = 14 * DAY_MS;

/**
 * The restart mode of a renewal: Reload for a database with short-lived certificates (a weekly
 * renewal restarts nothing: no state transfer, no dropped connections, each week), else the
 * stack's DefaultRestartMode. Without k8s/rbac-reload.yaml a reload is refused and the pod is
 * restarted as usual, so Reload is never worse than Restart.
 */
export function renewalRestartMode(
  r: Pick<Renewal, 'lifetimeMs'>,
  env: NodeJS.ProcessEnv = process.env,
): RestartMode {
  if (r.lifetimeMs !== undefined && r.lifetimeMs <= SHORT_LIVED_MS) return 'Reload';
  return stackRestartMode(env);
}

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
  const listCalls =
    dbs.calls + secrets.calls + requests.calls + namespaceWindows.calls + clusterWindows.calls;

  const secretByKey = new Map(secrets.items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const withTls = dbs.items.filter((db) => db.spec?.tls?.issuerRef && !db.metadata.deletionTimestamp);
  const pki = withTls.length ? await loadPki() : undefined;
  const policy = deps.policy ?? renewalPolicyFromEnv();
  const databases = withTls.map((db) => gatherCerts(pki!, db, secretByKey, policy, deps.logger));
  const issuerCas = await gatherIssuerCas(databases, caDueDatabases(databases, now, policy), deps);

  const existing = new Map<string, PerconaXtraDBOpsRequest[]>();
  for (const r of requests.items) {
    if (r.spec?.type !== 'ReconfigureTLS') continue;
    const key = `${r.metadata.namespace}/${r.spec.databaseRef?.name}`;
    existing.set(key, [...(existing.get(key) ?? []), r]);
  }

  const plan = planRenewals(databases, existing, now, { policy, issuerCas });

  // Maintenance windows and parallelism limits decide which of the due renewals start now.
  const limits = deps.limits ?? limitsFromEnv(env);
  const sources = {
    namespaceWindows: namespaceWindows.items,
    clusterWindows: clusterWindows.items,
    stack: pki ? stackWindow(env, pki.parseDuration) : undefined,
    parseDuration: (text: string, field: string) => pki!.parseDuration(text, field),
  };
  const dbByKey = new Map(withTls.map((db) => [`${db.metadata.namespace}/${db.metadata.name}`, db]));
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
  const inFlight = requests.items
    .filter((r) => r.spec?.type === 'ReconfigureTLS' && (r.status?.phase === 'Progressing' || isWaiting(r)))
    .map((r) => r.metadata.namespace ?? '');
  const schedule = scheduleRenewals(plan.renew, windowOf, inFlight, limits, now.getTime());
  plan.renew = schedule.start;
  const windowProblems = findWindowProblems(databases, windowOf, policy, limits, now);

  // One log line per database (searchable, free of metric charges), a fixed set of metrics per cluster.
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
  const due = plan.renew.length + plan.restart.length + plan.skipped.length + schedule.waiting.length;

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
    if (windowProblems.length) {
      // One list tells which problems already have their Event: an hourly scan does not re-send them.
      const reported = await listWatched<KubeObject>(kube, KINDS.Event, namespaces, {
        fieldSelector: `reason=${WINDOW_EVENT_REASON}`,
        pageSize,
      });
      const have = new Set(reported.items.map((e) => `${e.metadata.namespace}/${e.metadata.name}`));
      await forEachLimited(
        windowProblems.filter((w) => !have.has(`${w.namespace}/${windowEventName(w.database, w.problem)}`)),
        4,
        (w) => windowEvent(kube, dbByKey.get(`${w.namespace}/${w.database}`)!, w.problem, now),
      );
    }
    await forEachLimited([...plan.renew, ...plan.restart], 4, async (r) => {
      if (fresh.has(r)) {
        try {
          await kube.create(KINDS.PerconaXtraDBOpsRequest, renewalOpsRequest(r, renewalRestartMode(r, env)));
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
    caRenewalNeeded: plan.caRenewalNeeded,
    waiting: schedule.waiting,
    started,
    windowProblems,
    listCalls,
  };
  deps.logger.info('expiry scan done', { ...result, dryRun: Boolean(input.dryRun) });
  return result;
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

/**
 * Pure: databases whose window cannot be met (or read). The question is asked once per window and
 * renewal slack: the slack of a database is that of its shortest-lived certificate.
 */
export function findWindowProblems(
  databases: DatabaseCerts[],
  windowOf: (c: { namespace: string; database: string }) => { window?: WindowSchedule; problem?: string },
  policy: RenewalPolicy,
  limits: ScheduleLimits,
  now: Date,
): Array<{ namespace: string; database: string; problem: string }> {
  const out: Array<{ namespace: string; database: string; problem: string }> = [];
  const asked = new Map<string, string | undefined>();
  for (const db of databases) {
    const { window, problem } = windowOf(db);
    if (problem) {
      out.push({ namespace: db.namespace, database: db.database, problem });
      continue;
    }
    const lifetimes = db.certs
      .filter((c) => c.notBefore && c.notAfter)
      .map((c) => Date.parse(c.notAfter!) - Date.parse(c.notBefore!));
    if (!window || lifetimes.length === 0) continue;
    const slack = renewBeforeFor(Math.min(...lifetimes), policy);
    const key = `${window.source}|${slack}`;
    if (!asked.has(key)) asked.set(key, windowProblem(window, now.getTime(), slack, limits.marginMs));
    const found = asked.get(key);
    if (found) out.push({ namespace: db.namespace, database: db.database, problem: found });
  }
  return out;
}

/**
 * A Warning Event on the database for a window that cannot be met, named by the problem: the same
 * problem on every hourly scan is one Event (listed first; 409 is success too), a new problem a new Event.
 */
const WINDOW_EVENT_REASON = 'MaintenanceWindowUnsatisfiable';

function windowEventName(database: string, problem: string): string {
  return `${database}.window-${createHash('sha256').update(problem).digest('hex').slice(0, 12)}`;
}

async function windowEvent(kube: Kube, db: PerconaXtraDB, problem: string, now: Date): Promise<void> {
  const namespace = db.metadata.namespace!;
  try {
    await kube.create(KINDS.Event, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace, name: windowEventName(db.metadata.name!, problem) },
      involvedObject: {
        apiVersion: KINDS.PerconaXtraDB.apiVersion,
        kind: KINDS.PerconaXtraDB.kind,
        namespace,
        name: db.metadata.name,
        uid: db.metadata.uid,
      },
      type: 'Warning',
      reason: WINDOW_EVENT_REASON,
      message: problem.slice(0, 1000),
      source: { component: MANAGED_BY },
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      count: 1,
    } as KubeObject);
  } catch (err) {
    if (!(err instanceof KubeAlreadyExistsError)) throw err;
  }
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
