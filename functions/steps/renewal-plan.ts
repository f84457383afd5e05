/**
 * Scan expiry, decide — pure: which databases' certificates (or CA) are due, the renewal requests
 * and executions they get (deterministic names), the restart mode of a renewal, the metrics of a
 * scan and the maintenance windows that cannot be met. Tested by tables; the scan itself
 * (scan-expiry.ts) gathers, then acts on what these decide.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import { GROUP, RESTART_MODE_ANNOTATION, SOURCE_LABEL } from '../model/names.js';
import type { RestartMode } from '../model/plan.js';
import {
  checkCa,
  type RenewalPolicy,
  renewalPolicyFromEnv,
  renewBeforeFor,
} from '../model/renewal-policy.js';
import type { ScheduleLimits, StartReason } from '../model/schedule.js';
import type { CertificateAlias, IssuerRef, PerconaXtraDBOpsRequest } from '../model/types.js';
import { type StackWindow, type WindowSchedule, windowProblem } from '../model/windows.js';
import { isWaiting } from '../triggers/events.js';

export const MANAGED_BY = 'pxc-tls-ops';
/** Value of the source label on the requests the scanner creates (console-created ones say `console`). */
export const EXPIRY_SOURCE = 'expiry-scan';
const DAY_MS = 86_400_000;

export interface Secret extends KubeObject {
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

export function minIso(values: string[]): string {
  return values.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
}
