/**
 * Whether a rollback backup Secret was written by this request, as pure checks. A backup is found
 * by its name, and anyone who may create Secrets in the namespace can create that name first (or
 * leave one behind from a request deleted with `--cascade=orphan` and created again under the same
 * name). So it is used only when proven: owned by this OpsRequest's UID, labelled by this project for
 * this request, with the execution that wrote it recorded, and listing only Secrets Validate
 * approved for this request. Anything else is refused with the reason, and nothing is restored or
 * deleted from it.
 */
import type { KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';
import {
  BACKUP_LABEL,
  BACKUP_STATE_ANNOTATION,
  BACKUP_WRITER_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
} from './names.js';

export interface BackupLists {
  managed: string[];
  existed: string[];
}

/**
 * Why `backup` cannot be trusted as the backup of OpsRequest `ops` (undefined: it can).
 * `approved`: the Secret names Validate checked for the request (a backup listing any other is
 * refused: it could make a rollback delete or overwrite a Secret nobody approved).
 */
export function backupProblem(
  backup: KubeObject & { data?: Record<string, string> },
  ops: { name: string; uid?: string },
  approved: ReadonlySet<string>,
): string | undefined {
  const meta = backup.metadata;
  const owned = (meta.ownerReferences ?? []).some(
    (o) => o.kind === KINDS.PerconaXtraDBOpsRequest.kind && !!ops.uid && o.uid === ops.uid,
  );
  if (!owned)
    return `it is not owned by this PerconaXtraDBOpsRequest (UID ${ops.uid ?? 'unknown'}): this request did not write it`;
  const labels = meta.labels ?? {};
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || labels[BACKUP_LABEL] !== ops.name)
    return `it does not carry the labels ${MANAGED_BY_LABEL}=${MANAGED_BY} and ${BACKUP_LABEL}=${ops.name}`;
  if (!meta.annotations?.[BACKUP_WRITER_ANNOTATION])
    return `it does not record the execution that wrote it (${BACKUP_WRITER_ANNOTATION})`;
  let lists: Partial<BackupLists>;
  try {
    lists = JSON.parse(meta.annotations?.[BACKUP_STATE_ANNOTATION] ?? '') as Partial<BackupLists>;
  } catch {
    return `its ${BACKUP_STATE_ANNOTATION} annotation is not the state this project writes`;
  }
  const managed = lists.managed;
  const existed = lists.existed;
  if (!isNames(managed) || !isNames(existed))
    return `its ${BACKUP_STATE_ANNOTATION} annotation is not the state this project writes`;
  const foreign = managed.filter((n) => !approved.has(n));
  if (foreign.length)
    return `it lists Secret(s) ${foreign.join(', ')}, which this request was never approved to write`;
  const stray = existed.filter((n) => !managed.includes(n));
  if (stray.length) return `it says Secret(s) ${stray.join(', ')} existed without listing them as managed`;
  return undefined;
}

function isNames(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((n) => typeof n === 'string');
}
