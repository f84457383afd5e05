/**
 * Exit codes of `npm run local` (listed in its --help), one per verdict a script or a person
 * needs to tell apart: done, undone, never started, not ours, and "look at it now".
 */
export const EXIT = {
  /** The OpsRequest is Successful (also "nothing to change"). */
  succeeded: 0,
  /** The request failed; what it changed was rolled back and the database resumed. */
  failed: 1,
  /** Refused before any change (bad request, input, options, kubeconfig, missing objects). */
  refused: 2,
  /** Already finished, claimed by another execution, or left Pending while another change holds its database: this run did nothing. */
  nothingToDo: 3,
  /** The request failed and its rollback did not complete: the backup Secret keeps the previous state. */
  rollbackIncomplete: 4,
  /** Stopped with Ctrl-C: the request was recovered (Failed, database resumed) and may be run again. */
  interrupted: 130,
} as const;
