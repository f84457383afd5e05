/**
 * What a ReconfigureTLS request asks for, and how it is carried out: the admission rules
 * (DOMAIN.md "Admission rules") and the plan (action, passes, pods). Pure: the Validate step
 * gathers the objects, these functions decide, tests use plain tables.
 */

import { DatabaseStateError, InvalidRequestError } from '../errors.js';
import { parseDuration } from '../pki/duration.js';
import { mergeCertificateSpecs } from '../pki/profile.js';
import { certificateSpecProblems, issuerRefProblems } from '../pki/validate.js';
import { podName, RESTART_MODE_ANNOTATION } from './names.js';
import { shortValue } from './schema/values.js';
import { sameStoredTls } from './tls-defaults.js';
import type { CertificateSpec, IssuerRef, PerconaXtraDB, PerconaXtraDBOpsRequest } from './types.js';

export type Action = 'add' | 'rotate' | 'update' | 'change-issuer' | 'require-ssl' | 'remove';

/**
 * One round of changes followed by one restart of every pod:
 * - `trust-bundle`: ca.crt becomes old CA + new CA, leaf certificates unchanged (first half of a CA change);
 * - `certificates`: new keys and certificates (and the database spec and pod wiring for add/update);
 * - `wiring`: only the database spec and pod template (requireSSL, remove);
 * - `retire-ca`: ca.crt becomes the new CA alone, leaves unchanged (last pass of a CA change in
 *   Reload mode, once every pod presents a certificate from the new CA).
 */
export type PassKind = 'trust-bundle' | 'certificates' | 'wiring' | 'retire-ca';

/**
 * How the pods pick up a pass's new files: `Restart` (evict each pod, as KubeDB does) or `Reload`
 * (wait for the mounted Secret volumes to change, then reload TLS inside the running server; a pod
 * whose reload cannot be proven is restarted). Chosen per request by RESTART_MODE_ANNOTATION,
 * defaulting to the stack's DefaultRestartMode parameter.
 */
export type RestartMode = 'Restart' | 'Reload';
export const RESTART_MODES: readonly RestartMode[] = ['Restart', 'Reload'];

/**
 * Actions whose passes keep the Secret names and mount paths, so the kubelet updates the files in
 * running pods and a reload can load them; add, remove and requireSSL change the pod template or
 * the server's flags, which only a restart applies.
 */
export const RELOADABLE_ACTIONS: ReadonlySet<Action> = new Set(['rotate', 'update', 'change-issuer']);

export const DEFAULT_TIMEOUT = '10m';

export interface Plan {
  action: Action;
  database: string;
  /** The OpsRequest's UID, so Events from any step attach to it (kubectl describe matches on it). */
  opsRequestUid: string;
  replicas: number;
  /** Pod names in restart order (ordinal order, like KubeDB). */
  pods: string[];
  passes: PassKind[];
  timeoutSeconds: number;
  apply: 'IfReady' | 'Always';
  /**
   * Who writes the certificates: `local` (this project signs with the CA issuer's key, node-forge)
   * or `cert-manager` (cert-manager Certificates own the Secrets, or the issuer is one only
   * cert-manager can sign with): then the workflow drives the Certificates.
   */
  issuance: 'local' | 'cert-manager';
  /** Restart unless the request (or the stack default) asks for Reload. */
  restartMode?: RestartMode;
  /**
   * The certificate Secret names Validate checked for this request (the database's now and the
   * request's): a rollback restores or deletes no other Secret, whatever a backup lists.
   */
  secretNames?: string[];
}

/** The TLS part of the database spec a request leads to. */
export interface TargetTls {
  enabled: boolean;
  issuerRef?: IssuerRef;
  certificates: CertificateSpec[];
  requireSSL: boolean;
}

const TLS_FIELDS = new Set(['issuerRef', 'certificates', 'rotateCertificates', 'remove', 'requireSSL']);

/** The request is for us at all (checked before the claim: other request types are someone else's). */
export function checkRequestType(ops: PerconaXtraDBOpsRequest): void {
  if (ops.spec?.type !== 'ReconfigureTLS') {
    throw new InvalidRequestError(
      `spec.type is ${shortValue(ops.spec?.type)}: this workflow only handles ReconfigureTLS requests`,
    );
  }
}

export function timeoutSeconds(ops: PerconaXtraDBOpsRequest): number {
  const ms = parseDuration(ops.spec.timeout ?? DEFAULT_TIMEOUT, 'spec.timeout');
  if (ms < 1000)
    throw new InvalidRequestError(`spec.timeout: ${shortValue(ops.spec.timeout)} is shorter than 1s`);
  return Math.ceil(ms / 1000);
}

/**
 * The request's restart mode: its RESTART_MODE_ANNOTATION, else the stack default (anything but
 * `Reload` there means Restart). An annotation with another value is an InvalidRequestError: a
 * typo must not silently restart every pod.
 */
export function restartModeOf(ops: PerconaXtraDBOpsRequest, stackDefault?: string): RestartMode {
  const asked = ops.metadata.annotations?.[RESTART_MODE_ANNOTATION];
  if (asked === undefined) return stackDefault === 'Reload' ? 'Reload' : 'Restart';
  if (!RESTART_MODES.includes(asked as RestartMode)) {
    throw new InvalidRequestError(
      `metadata.annotations["${RESTART_MODE_ANNOTATION}"]: ${JSON.stringify(asked)} is not Reload or Restart`,
    );
  }
  return asked as RestartMode;
}

/**
 * The rules that need only the request itself (fields, durations, exactly one kind of change):
 * checked before waiting for the database, so a request that can never run is refused at once.
 */
export function admitSpec(ops: PerconaXtraDBOpsRequest): void {
  const tls = ops.spec.tls;
  if (!tls || typeof tls !== 'object')
    throw new InvalidRequestError('spec.tls is required for ReconfigureTLS');
  const unknown = Object.keys(tls).filter((k) => !TLS_FIELDS.has(k));
  if (unknown.length > 0) throw new InvalidRequestError(`spec.tls: unknown field(s) ${unknown.join(', ')}`);
  if (!ops.spec.databaseRef?.name) throw new InvalidRequestError('spec.databaseRef.name is required');
  restartModeOf(ops);
  const apply = ops.spec.apply ?? 'IfReady';
  if (apply !== 'IfReady' && apply !== 'Always') {
    throw new InvalidRequestError(`spec.apply: ${shortValue(apply)} is not IfReady or Always`);
  }
  timeoutSeconds(ops);

  const asked = [
    tls.remove === true ? 'remove' : undefined,
    tls.rotateCertificates === true ? 'rotateCertificates' : undefined,
    tls.issuerRef !== undefined || tls.certificates !== undefined || tls.requireSSL !== undefined
      ? 'issuerRef/certificates/requireSSL'
      : undefined,
  ].filter((x): x is string => x !== undefined);
  if (asked.length !== 1) {
    throw new InvalidRequestError(
      asked.length === 0
        ? 'spec.tls asks for nothing: set exactly one of remove, rotateCertificates, or issuerRef/certificates/requireSSL'
        : `spec.tls asks for ${asked.join(' and ')} at once: exactly one of remove, rotateCertificates, or issuerRef/certificates/requireSSL is allowed`,
    );
  }
  const problems = [
    ...issuerRefProblems(tls.issuerRef, 'spec.tls.issuerRef'),
    ...certificateSpecProblems(tls.certificates ?? []),
  ];
  if (tls.requireSSL !== undefined && typeof tls.requireSSL !== 'boolean') {
    problems.push(`spec.tls.requireSSL: ${shortValue(tls.requireSSL)} is not a boolean`);
  }
  if (problems.length > 0) throw new InvalidRequestError(`invalid request: ${problems.join('; ')}`);
}

/**
 * The action a request asks for, or InvalidRequestError/DatabaseStateError saying which rule it
 * breaks. `db` undefined means the database does not exist.
 */
export function admit(ops: PerconaXtraDBOpsRequest, db: PerconaXtraDB | undefined): Action {
  const ns = ops.metadata.namespace;
  const tls = ops.spec.tls!;
  admitSpec(ops);
  const apply = ops.spec.apply ?? 'IfReady';
  const dbName = `PerconaXtraDB ${ns}/${ops.spec.databaseRef.name}`;
  if (!db) throw new DatabaseStateError(`${dbName} not found`);
  if (apply === 'IfReady' && db.status?.phase !== 'Ready') {
    throw new DatabaseStateError(
      `${dbName} is ${db.status?.phase ?? 'not Ready (no status)'}; apply: IfReady only runs on a Ready database (use apply: Always to proceed anyway)`,
    );
  }
  const hasTls = !!db.spec.tls?.issuerRef;
  if (tls.remove) {
    if (!hasTls) throw new InvalidRequestError(`remove: ${dbName} has no TLS to remove`);
    return 'remove';
  }
  if (tls.rotateCertificates) {
    if (!hasTls)
      throw new InvalidRequestError(
        `rotateCertificates: ${dbName} has no TLS to rotate (add it with issuerRef)`,
      );
    return 'rotate';
  }
  if (!hasTls) {
    if (!tls.issuerRef) {
      throw new InvalidRequestError(`${dbName} has no TLS: adding it needs spec.tls.issuerRef`);
    }
    return 'add';
  }
  if (tls.issuerRef && !sameIssuer(tls.issuerRef, db.spec.tls!.issuerRef!)) return 'change-issuer';
  if (tls.certificates !== undefined || tls.issuerRef) return 'update';
  return 'require-ssl';
}

export function sameIssuer(a: IssuerRef, b: IssuerRef): boolean {
  return a.kind === b.kind && a.name === b.name;
}

/** The database's TLS spec once the request is done. Idempotent: applying it twice gives the same. */
export function targetTls(
  action: Action,
  request: PerconaXtraDBOpsRequest['spec']['tls'],
  db: PerconaXtraDB,
): TargetTls {
  const current = db.spec.tls;
  const requireSSL = db.spec.requireSSL ?? false;
  if (action === 'remove') return { enabled: false, certificates: [], requireSSL: false };
  return {
    enabled: true,
    issuerRef: request?.issuerRef ?? current?.issuerRef,
    certificates: mergeCertificateSpecs(current?.certificates ?? [], request?.certificates ?? []),
    requireSSL: request?.requireSSL ?? requireSSL,
  };
}

export interface PassOptions {
  /** Every pod already trusts the new CA of the server certificate. */
  newCaAlreadyTrusted?: boolean;
  /** The server certificate's issuer changes (the database's issuerRef, or the server alias's own). */
  serverIssuerChanges?: boolean;
  /**
   * A rotation under the same issuer whose CA was renewed since the certificates were issued
   * (the issuer's CA is not in the Secret's ca.crt, and the old CA has not expired yet).
   */
  serverCaRenewed?: boolean;
  /** Reload mode adds the pass that retires the old CA. */
  restartMode?: RestartMode;
}

/**
 * Whether the request asks for what the database already has: an update or requireSSL change
 * (an add-TLS request re-applied as it was is an update) whose target equals the current spec.
 * Such a request changes nothing and restarts no pod; rotate and remove always act.
 */
export function asksForCurrentState(action: Action, target: TargetTls, db: PerconaXtraDB): boolean {
  if (action !== 'update' && action !== 'require-ssl') return false;
  const current = db.spec.tls;
  return (
    !!current?.issuerRef &&
    sameIssuer(target.issuerRef!, current.issuerRef) &&
    // As KubeDB stores them: its webhook has defaulted the current spec, and would default the target.
    sameStoredTls(
      db.metadata.name!,
      { issuerRef: current.issuerRef, certificates: target.certificates },
      { issuerRef: current.issuerRef, certificates: current.certificates ?? [] },
    ) &&
    target.requireSSL === (db.spec.requireSSL ?? false)
  );
}

/**
 * The passes an action needs. A change of the server certificate's CA — a change of issuer, an
 * update that gives the server alias an issuer of its own, or a rotation after the issuer's CA was
 * renewed — is two passes (trust first, then
 * certificates) unless every pod already trusts the new CA. In Reload mode a third pass drops the
 * old CA from ca.crt, so it stops being trusted when the request ends: a reload costs seconds. In
 * Restart mode the old CA stays in the bundle until the next rotation, as before: a third rolling
 * restart (a state transfer and dropped connections per pod) to retire a CA that signs nothing any
 * more is not worth it.
 */
export function passesFor(action: Action, opts: PassOptions = {}): PassKind[] {
  if (
    action === 'change-issuer' ||
    (action === 'update' && opts.serverIssuerChanges) ||
    (action === 'rotate' && opts.serverCaRenewed)
  ) {
    const passes: PassKind[] = opts.newCaAlreadyTrusted ? ['certificates'] : ['trust-bundle', 'certificates'];
    return opts.restartMode === 'Reload' ? [...passes, 'retire-ca'] : passes;
  }
  switch (action) {
    case 'add':
    case 'rotate':
    case 'update':
      return ['certificates'];
    case 'require-ssl':
    case 'remove':
      return ['wiring'];
  }
}

export function buildPlan(
  ops: PerconaXtraDBOpsRequest,
  db: PerconaXtraDB,
  action: Action,
  opts: PassOptions & { issuance?: Plan['issuance']; stackRestartMode?: string } = {},
): Plan {
  const replicas = db.spec.replicas ?? 3;
  const restartMode = restartModeOf(ops, opts.stackRestartMode);
  return {
    action,
    database: db.metadata.name!,
    opsRequestUid: ops.metadata.uid ?? '',
    replicas,
    pods: Array.from({ length: replicas }, (_, i) => podName(db.metadata.name!, i)),
    passes: passesFor(action, { ...opts, restartMode }),
    timeoutSeconds: timeoutSeconds(ops),
    apply: ops.spec.apply === 'Always' ? 'Always' : 'IfReady',
    issuance: opts.issuance ?? 'local',
    restartMode,
  };
}

/** Another request for the same database that this one must wait for, if any. */
export function blockingRequest(
  self: PerconaXtraDBOpsRequest,
  others: readonly PerconaXtraDBOpsRequest[],
  claimAnnotation: string,
): PerconaXtraDBOpsRequest | undefined {
  const db = self.spec.databaseRef?.name;
  const selfKey = orderKey(self);
  return others.find((o) => {
    if ((o.metadata.uid && o.metadata.uid === self.metadata.uid) || o.metadata.name === self.metadata.name)
      return false;
    if (o.spec?.type !== 'ReconfigureTLS' || o.spec?.databaseRef?.name !== db) return false;
    const phase = o.status?.phase;
    if (phase === 'Successful' || phase === 'Failed' || phase === 'Skipped') return false;
    if (phase === 'Progressing') return true;
    // Both claimed, neither started yet: the older one goes first.
    return !!o.metadata.annotations?.[claimAnnotation] && orderKey(o) < selfKey;
  });
}

function orderKey(o: PerconaXtraDBOpsRequest): string {
  return `${o.metadata.creationTimestamp ?? ''}/${o.metadata.name ?? ''}`;
}
