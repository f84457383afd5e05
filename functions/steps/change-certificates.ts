/**
 * Change certificates: one pass of the plan.
 *
 * Ensures, in order: a backup Secret `<db>-tls-backup-<ops>`, owned by the OpsRequest (deleting
 * the request deletes it), holds the certificate Secrets, the database TLS spec, the pod template
 * wiring and the UIDs of the pods as they were before the request (first pass only; an existing
 * backup is never overwritten, so a re-run keeps the original: a rollback then restarts only pods
 * whose UID changed since, the ones this request restarted); the
 * certificate Secrets hold what this pass needs (`certificates`: new keys signed by the issuer's
 * CA; `trust-bundle`: ca.crt = old CA + new CA, leaves unchanged; `wiring`: untouched); on the
 * last pass, the database spec and the workload's pod template match the request.
 * Returns the pods to restart (with their current UIDs) and whether another pass follows.
 * Safe to repeat: a re-run issues fresh keys again before any pod has restarted, and writes
 * spec/template only when they differ. Keeps the claim's lease and hands it to the pod restarts.
 * Never writes the issuer's CA Secret. Throws InvalidIssuerError, InvalidRequestError,
 * DatabaseStateError, LeaseLostError (fatal), Kube* errors from the adapter.
 *
 * Gather: pass-context.ts. Act, by pass: backup.ts (first pass), issue-certificates.ts
 * (`certificates`), trust-passes.ts (`trust-bundle`, `retire-ca`), then the final pass's spec
 * and template here. Decide: `podPickup`, which pods restart or reload and how.
 */
import type { Deps } from '../deps.js';
import { KINDS } from '../kube/types.js';
import type { ConditionInput } from '../model/conditions.js';
import { type Plan, RELOADABLE_ACTIONS, type RestartMode, type TargetTls } from '../model/plan.js';
import { sameStoredTls } from '../model/tls-defaults.js';
import type { PerconaXtraDB } from '../model/types.js';
import { applyWiring, type TlsWiring } from '../model/wiring.js';
import { loadPki } from '../pki/load.js';
import { backupBeforeFirstWrite } from './backup.js';
import { type PodObject, recordEvent, type SecretObject, updateOpsStatus, type Workload } from './common.js';
import { fenced } from './fence.js';
import { issueLocally, issueWithCertManager, type PassOutcome } from './issue-certificates.js';
import { type ChangeCertificatesInput, decoded, gatherPass, type PassContext } from './pass-context.js';
import type { PodToRestart, Round } from './round.js';
import { addIssuerToTrust, retireOldCa } from './trust-passes.js';

export async function changeCertificates(input: ChangeCertificatesInput, given: Deps): Promise<Round> {
  // Every write below is refused by the API server once another execution holds the request.
  const deps = input.execution
    ? fenced(given, { namespace: input.namespace, opsRequest: input.opsRequest, execution: input.execution })
    : given;
  const ctx = await gatherPass(input, deps);
  const { ns, plan, pass, kind } = ctx;
  if (pass === 0) await backupBeforeFirstWrite(deps, ctx, input.execution);
  const outcome = await actOnPass(deps, ctx);
  const final = ctx.final
    ? await ensureFinalSpecAndTemplate(deps, ctx)
    : { specChanged: false, templateChanged: false };
  const conditions = [...outcome.conditions, ...(final.conditions ?? [])];
  const pickup = await podPickup(deps, ctx, { changedTrust: outcome.changedTrust, ...final });
  // cert-manager writes the issuing CA alone into ca.crt at every issuance, renewals included:
  // each pod of the pass checks the overlap right before it restarts or reloads (keep-trust.ts).
  const mustTrust =
    plan.issuance === 'cert-manager' && outcome.trustBundle && kind !== 'retire-ca'
      ? {
          secret: kind === 'certificates' ? ctx.targetNames.server : ctx.currentNames.server,
          cas: outcome.trustBundle,
        }
      : undefined;
  if (mustTrust) pickup.pods = pickup.pods.map((p) => ({ ...p, mustTrust }));

  await updateOpsStatus(deps, ctx.ops, { conditions });
  await recordEvent(
    deps,
    ctx.ops,
    'Normal',
    kind === 'certificates'
      ? 'IssueCertificates'
      : kind === 'trust-bundle'
        ? 'UpdateTrustBundle'
        : kind === 'retire-ca'
          ? 'RetireOldCA'
          : 'UpdatePetSets',
    `Pass ${pass + 1}/${plan.passes.length} (${kind}) done for PerconaXtraDB ${ns}/${plan.database}; ${pickup.pods.length} pod(s) to ${pickup.mode === 'Reload' ? `reload${pickup.trustOverlap ? ' in parallel' : ''}` : 'restart'}`,
  );
  deps.logger.info('pass done', {
    pass,
    kind,
    templateChanged: final.templateChanged,
    specChanged: final.specChanged,
    rollout: pickup.rollout,
    mode: pickup.mode,
    trustOverlap: pickup.trustOverlap,
    pods: pickup.pods.length,
  });
  return {
    pass,
    next: pass + 1,
    more: !ctx.final,
    kind,
    rollout: pickup.rollout,
    mode: pickup.mode,
    trustOverlap: pickup.trustOverlap,
    selector: ctx.selector,
    pods: pickup.pods,
    certificates: outcome.certificates,
    lease: ctx.lease ?? null,
  };
}

/** The write of the pass's kind; a `wiring` pass writes nothing here (its change is the template). */
function actOnPass(deps: Deps, ctx: PassContext): Promise<PassOutcome> {
  switch (ctx.kind) {
    case 'certificates':
      return ctx.plan.issuance === 'cert-manager' ? issueWithCertManager(deps, ctx) : issueLocally(deps, ctx);
    case 'trust-bundle':
      return addIssuerToTrust(deps, ctx);
    case 'retire-ca':
      return retireOldCa(deps, ctx);
    default:
      return Promise.resolve({ certificates: [], conditions: [], changedTrust: false });
  }
}

/** On the last pass: the database spec and the workload's pod template as the request wants them. */
async function ensureFinalSpecAndTemplate(
  deps: Deps,
  { ns, plan, db, workload, target, targetNames }: PassContext,
): Promise<{ specChanged: boolean; templateChanged: boolean; conditions?: ConditionInput[] }> {
  const specChanged = await ensureDatabaseSpec(deps, db, target);
  const wiring: TlsWiring = {
    enabled: target.enabled,
    requireSSL: target.requireSSL,
    secretNames: targetNames,
  };
  const { template, changed } = applyWiring(workload.object.spec.template, wiring);
  if (!changed) return { specChanged, templateChanged: false };
  await deps.kube.patch(
    workload.kind,
    { namespace: ns, name: plan.database },
    { spec: { template } },
    'merge',
  );
  return {
    specChanged,
    templateChanged: true,
    conditions: [
      {
        type: 'UpdatePetSets',
        status: 'True',
        reason: 'UpdatePetSetsSucceeded',
        message: `Successfully reconciled the ${workload.kind.kind} ${ns}/${plan.database} with tls configuration`,
      },
    ],
  };
}

/**
 * Which pods pick up the pass, and how: restarted one at a time (or rolled by the workload's
 * controller), or reloaded in Reload mode — in parallel only when old and new material trust each
 * other. A trust pass that changed no ca.crt (the pods trust the new CA already) restarts nothing.
 */
async function podPickup(
  deps: Deps,
  ctx: PassContext,
  changed: { changedTrust: boolean; specChanged: boolean; templateChanged: boolean },
): Promise<{ pods: PodToRestart[]; rollout: boolean; mode: RestartMode; trustOverlap: boolean }> {
  const { kind, plan } = ctx;
  const restart =
    kind === 'certificates' ||
    ((kind === 'trust-bundle' || kind === 'retire-ca') && changed.changedTrust) ||
    changed.templateChanged ||
    changed.specChanged;
  const rollout = changed.templateChanged && rollsItself(ctx.workload.object);
  const pods = restart ? podsToRestart(ctx.pods, plan, rollout) : [];
  const mode: RestartMode =
    plan.restartMode === 'Reload' &&
    RELOADABLE_ACTIONS.has(plan.action) &&
    kind !== 'wiring' &&
    !changed.templateChanged &&
    pods.length > 0
      ? 'Reload'
      : 'Restart';
  const server = ctx.currentNames.server;
  const trustOverlap =
    mode === 'Reload' && (await overlaps(server, ctx.secrets, await readServerSecret(deps, ctx.ns, server)));
  return { pods, rollout, mode, trustOverlap };
}

async function readServerSecret(deps: Deps, ns: string, name: string): Promise<SecretObject | undefined> {
  return deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name });
}

/**
 * Whether the server Secret before this pass (`secrets`, read at the start) and after it trust
 * each other's certificate: then a pod that loaded either can verify a peer that loaded the other.
 */
async function overlaps(
  name: string,
  before: Map<string, SecretObject>,
  after: SecretObject | undefined,
): Promise<boolean> {
  const pki = await loadPki();
  const old = decoded(pki, before.get(name));
  const now = decoded(pki, after);
  if (!old?.['tls.crt'] || !old['ca.crt'] || !now?.['tls.crt'] || !now['ca.crt']) return false;
  return pki.trustOverlap(
    { certPem: old['tls.crt'], caPem: old['ca.crt'] },
    { certPem: now['tls.crt'], caPem: now['ca.crt'] },
  );
}

/** Writes spec.tls / spec.requireSSL when they differ from the target; true when it wrote. */
async function ensureDatabaseSpec(deps: Deps, db: PerconaXtraDB, target: TargetTls): Promise<boolean> {
  const desiredTls = target.enabled
    ? { issuerRef: target.issuerRef, certificates: target.certificates }
    : null;
  const currentTls = db.spec.tls ?? null;
  // Compared as KubeDB stores them: its webhook defaults every write (model/tls-defaults.ts).
  const sameTls = sameStoredTls(
    db.metadata.name!,
    desiredTls,
    currentTls ? { issuerRef: currentTls.issuerRef, certificates: currentTls.certificates ?? [] } : null,
  );
  const sameSsl = (db.spec.requireSSL ?? false) === target.requireSSL;
  if (sameTls && sameSsl) return false;
  await deps.kube.patch(
    KINDS.PerconaXtraDB,
    { namespace: db.metadata.namespace!, name: db.metadata.name! },
    { spec: { tls: desiredTls, requireSSL: target.requireSSL } },
    'merge',
  );
  return true;
}

/** StatefulSet semantics: RollingUpdate unless OnDelete is set. */
export function rollsItself(workload: Workload): boolean {
  return (workload.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

function podsToRestart(pods: PodObject[], plan: Plan, rollout: boolean): PodToRestart[] {
  const uid = new Map(pods.map((p) => [p.metadata.name!, p.metadata.uid ?? '']));
  // A StatefulSet's controller rolls from the highest ordinal down; eviction goes in ordinal order like KubeDB.
  const order = rollout ? [...plan.pods].reverse() : plan.pods;
  return order.map((name, index) => ({ name, uid: uid.get(name) ?? '', index, total: order.length }));
}
