/**
 * Pausing a database the way KubeDB's ops requests do, as pure deciders (tested by tables).
 *
 * KubeDB's ops-manager does not just add `Paused: True`: it sets the `Paused` condition with
 * status Unknown and `spec.healthChecker.disableWriteCheck: true`, and continues only once the
 * provisioner has confirmed the pause (KubeDB changelog, "Confirm the db has been paused before
 * ops continue"). Until then the provisioner may still be reconciling — re-rendering the PetSet
 * from the spec — and the write check would fail (and turn the phase NotReady/Critical) while
 * members restart. The provisioner confirms by turning the condition True; resuming restores the
 * write check and removes the condition.
 *
 * What the provisioner writes when it confirms (reason, message) is not public, so who holds the
 * pause is also recorded in an annotation on the database, next to the write-check setting it had
 * before, so that resuming can put back exactly that.
 */
import { GROUP } from './names.js';
import type { Condition, PerconaXtraDB } from './types.js';

export const PAUSED = 'Paused';
/** On the database: the OpsRequest ("ns/name") that paused it. */
export const PAUSED_BY_ANNOTATION = `${GROUP}/paused-by`;
/** On the database: `spec.healthChecker.disableWriteCheck` before the pause: "true", "false" or "unset". */
export const WRITE_CHECK_ANNOTATION = `${GROUP}/disable-write-check-before-pause`;

const PAUSED_BY_MESSAGE = /^Paused by PerconaXtraDBOpsRequest ([^/\s]+)\/(\S+) for ReconfigureTLS$/;

export function pauseMessage(holder: string): string {
  return `Paused by PerconaXtraDBOpsRequest ${holder} for ReconfigureTLS`;
}

/** The database's Paused condition when it pauses the database (True, or Unknown until confirmed). */
export function pausedCondition(db: PerconaXtraDB): Condition | undefined {
  return db.status?.conditions?.find(
    (c) => c.type === PAUSED && (c.status === 'True' || c.status === 'Unknown'),
  );
}

/**
 * Who holds the pause: "ns/name" of an OpsRequest, "" for someone else (KubeDB's ops-manager,
 * `kubectl kubedb pause`), undefined when the database is not paused.
 */
export function pausedBy(db: PerconaXtraDB): string | undefined {
  const c = pausedCondition(db);
  if (!c) return undefined;
  const recorded = db.metadata.annotations?.[PAUSED_BY_ANNOTATION];
  if (recorded) return recorded;
  const m = PAUSED_BY_MESSAGE.exec(c.message ?? '');
  return m ? `${m[1]}/${m[2]}` : '';
}

/** The provisioner has confirmed: the condition is True (not Unknown). */
export function pauseConfirmed(db: PerconaXtraDB): boolean {
  return pausedCondition(db)?.status === 'True';
}

function writeCheckValue(db: PerconaXtraDB): 'true' | 'false' | 'unset' {
  const v = (db.spec.healthChecker as { disableWriteCheck?: unknown } | undefined)?.disableWriteCheck;
  return v === true ? 'true' : v === false ? 'false' : 'unset';
}

/**
 * The merge patch that records the holder and the write-check setting and disables the write
 * check, or undefined when it is already so. The setting before the pause is recorded only once,
 * so a re-run (which sees `true`) never overwrites it.
 */
export function pauseSpecPatch(db: PerconaXtraDB, holder: string): object | undefined {
  const annotations = db.metadata.annotations ?? {};
  const recorded = annotations[WRITE_CHECK_ANNOTATION];
  const done =
    annotations[PAUSED_BY_ANNOTATION] === holder && recorded !== undefined && writeCheckValue(db) === 'true';
  if (done) return undefined;
  return {
    metadata: {
      annotations: {
        [PAUSED_BY_ANNOTATION]: holder,
        [WRITE_CHECK_ANNOTATION]: recorded ?? writeCheckValue(db),
      },
    },
    spec: { healthChecker: { disableWriteCheck: true } },
  };
}

/**
 * The merge patch that puts the write check back as it was and drops both annotations, or
 * undefined when this holder has nothing recorded on the database.
 */
export function resumeSpecPatch(db: PerconaXtraDB, holder: string): object | undefined {
  const annotations = db.metadata.annotations ?? {};
  if (annotations[PAUSED_BY_ANNOTATION] !== holder) return undefined;
  const before = annotations[WRITE_CHECK_ANNOTATION];
  return {
    metadata: { annotations: { [PAUSED_BY_ANNOTATION]: null, [WRITE_CHECK_ANNOTATION]: null } },
    ...(before === undefined
      ? {}
      : { spec: { healthChecker: { disableWriteCheck: before === 'unset' ? null : before === 'true' } } }),
  };
}
