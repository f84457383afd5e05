/**
 * `npm run local -- --dry-run`: what a request would do, read from the cluster and decided by the
 * same pure functions Validate and Change certificates use (admission, target TLS, plan, wiring),
 * with nothing written. The cluster is reached through `readOnly(kube)`, so a write attempted by
 * mistake fails here instead of reaching the cluster.
 */
import type { Kube } from '../functions/kube/types.js';
import { KINDS } from '../functions/kube/types.js';
import { CLAIM_ANNOTATION } from '../functions/model/names.js';
import {
  admit,
  asksForCurrentState,
  buildPlan,
  checkRequestType,
  RELOADABLE_ACTIONS,
  targetTls,
} from '../functions/model/plan.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { applyWiring } from '../functions/model/wiring.js';
import { resolveIssuer } from '../functions/pki/index.js';
import { rollsItself } from '../functions/steps/change-certificates.js';
import { getWorkload } from '../functions/steps/common.js';
import { secretNamesOf } from '../functions/steps/pass-context.js';
import { consoleRequestSpec, parseExecutionInput } from '../functions/steps/validate-input.js';

/** A Kube that answers reads and refuses every write. */
export function readOnly(kube: Kube): Kube {
  const refuse = (what: string) => async () => {
    throw new Error(`dry run: refusing to ${what}`);
  };
  return {
    discover: kube.discover.bind(kube),
    get: kube.get.bind(kube),
    list: kube.list.bind(kube),
    watch: kube.watch.bind(kube),
    create: refuse('create an object'),
    replace: refuse('replace an object'),
    patch: refuse('patch an object'),
    delete: refuse('delete an object'),
    evict: refuse('evict a pod'),
    exec: refuse('run a command in a pod'),
  } as Kube;
}

export interface DryRun {
  /**
   * `plan`: the lines of the plan; `unchanged`: the database already has what the request asks
   * (the run would end Successful, changing nothing); `nothing`: already finished or claimed;
   * `refused`: why not.
   */
  verdict: 'plan' | 'unchanged' | 'nothing' | 'refused';
  lines: string[];
}

export async function dryRun(kube: Kube, rawInput: unknown, now = new Date()): Promise<DryRun> {
  const k = readOnly(kube);
  try {
    return await decide(k, rawInput, now);
  } catch (err) {
    return { verdict: 'refused', lines: [(err as Error).message] };
  }
}

async function decide(kube: Kube, rawInput: unknown, now: Date): Promise<DryRun> {
  const input = parseExecutionInput(rawInput);
  if (input.kind === 'recover')
    return {
      verdict: 'refused',
      lines: ['a recovery has no dry run: it restores what an interrupted run changed'],
    };
  const ns = input.namespace;
  let ops: PerconaXtraDBOpsRequest;
  if (input.kind === 'by-name') {
    const found = await kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      namespace: ns,
      name: input.opsRequest,
    });
    if (!found)
      return {
        verdict: 'refused',
        lines: [`There is no PerconaXtraDBOpsRequest "${input.opsRequest}" in namespace "${ns}"`],
      };
    ops = found;
    const phase = ops.status?.phase;
    if (phase === 'Successful' || phase === 'Failed' || phase === 'Skipped')
      return { verdict: 'nothing', lines: [`nothing to do: the request is already ${phase}`] };
    const owner = ops.metadata.annotations?.[CLAIM_ANNOTATION];
    if (owner)
      return {
        verdict: 'nothing',
        lines: [`nothing to do: the request is claimed by execution ${owner}, which is handling it`],
      };
  } else {
    ops = {
      apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
      kind: KINDS.PerconaXtraDBOpsRequest.kind,
      metadata: { namespace: ns, name: `${input.database}-tls-(generated)` },
      spec: consoleRequestSpec(input),
    };
  }
  checkRequestType(ops);
  const db = await kube.get<PerconaXtraDB>(KINDS.PerconaXtraDB, {
    namespace: ns,
    name: ops.spec.databaseRef?.name ?? '',
  });
  const action = admit(ops, db);
  const target = targetTls(action, ops.spec.tls, db!);
  const workload = await getWorkload(kube, ns, db!.metadata.name!);
  const secretNames = secretNamesOf(target.certificates, db!.metadata.name!);
  const wiring = workload
    ? applyWiring(workload.object.spec.template, {
        enabled: target.enabled,
        requireSSL: target.requireSSL,
        secretNames,
      })
    : undefined;
  if (asksForCurrentState(action, target, db!) && wiring && !wiring.changed)
    return {
      verdict: 'unchanged',
      lines: [`nothing to change: PerconaXtraDB ${ns}/${db!.metadata.name} already has these TLS settings`],
    };
  let issuer = '';
  if (target.enabled && action !== 'require-ssl') {
    const ca = await resolveIssuer(kube, target.issuerRef!, { namespace: ns, now });
    issuer = `${ca.issuerRef.kind} ${ca.issuerRef.name}`;
  }
  const plan = buildPlan(ops, db!, action, {
    ...(process.env.DEFAULT_RESTART_MODE ? { stackRestartMode: process.env.DEFAULT_RESTART_MODE } : {}),
  });
  const reload = plan.restartMode === 'Reload' && RELOADABLE_ACTIONS.has(action) && !wiring?.changed;
  const rollout = !!wiring?.changed && !!workload && rollsItself(workload.object);
  const order = rollout ? [...plan.pods].reverse() : plan.pods;
  const currentNames = secretNamesOf(db!.spec.tls?.certificates, db!.metadata.name!);
  const lines = [
    `request: ${ns}/${ops.metadata.name} → ${action} on PerconaXtraDB ${ns}/${plan.database} (${plan.replicas} pods, timeout ${plan.timeoutSeconds}s per step, apply ${plan.apply}, ${plan.restartMode} mode)`,
    ...(issuer ? [`issuer: ${issuer} (CA checked)`] : []),
    `passes: ${plan.passes.length}${action === 'change-issuer' ? ' (one only if every pod already trusts the new CA)' : ''}`,
  ];
  plan.passes.forEach((kind, i) => {
    const writes =
      kind === 'certificates'
        ? `write Secrets ${Object.values(secretNames).join(', ')} (new keys and certificates from ${issuer})`
        : kind === 'trust-bundle'
          ? `write ca.crt of Secrets ${[...new Set(Object.values(currentNames))].join(', ')} (current CA + new CA)`
          : kind === 'retire-ca'
            ? `write ca.crt of Secrets ${[...new Set(Object.values(currentNames))].join(', ')} (new CA only: the old CA is no longer trusted)`
            : 'no Secret written';
    lines.push(`  ${i + 1}. ${kind}: ${writes}`);
    if (i === plan.passes.length - 1) {
      lines.push(
        `     then PerconaXtraDB spec.tls/requireSSL${wiring?.changed ? ` and the ${workload!.kind.kind}'s pod template TLS wiring` : ''} as asked`,
      );
    }
    lines.push(
      reload && kind !== 'wiring'
        ? `     reload TLS in the running pods through pods/exec, in parallel; restart one at a time only a pod whose reload cannot be proven: ${plan.pods.join(', ')}`
        : rollout && i === plan.passes.length - 1
          ? `     pods rolled by the ${workload!.kind.kind} controller (RollingUpdate): ${order.join(', ')}`
          : `     restart one at a time (eviction, PodDisruptionBudgets apply): ${plan.pods.join(', ')}`,
    );
  });
  if (action === 'remove')
    lines.push(`at the end: delete Secrets ${[...new Set(Object.values(currentNames))].join(', ')}`);
  lines.push('nothing was written (dry run)');
  return { verdict: 'plan', lines };
}
