/**
 * Refusing to run beside KubeDB's enterprise ops-manager. It processes every
 * PerconaXtraDBOpsRequest (the ones the expiry scanner creates included) and manages the
 * cert-manager Certificates of every database with `spec.tls.issuerRef`: two processors of one
 * request would pause, re-issue and restart against each other.
 *
 * It is recognised by its own workload, not by a webhook: kubedb/installer's kubedb-webhook-server
 * chart renders the ValidatingWebhookConfiguration `validators.ops.kubedb.com` for the community
 * webhook server too (templates/ops-manager/validating-webhook.yaml), so that name is on every
 * default install. The ops-manager is the `kubedb-ops-manager` chart: a StatefulSet since
 * v2025.3.20 (a Deployment before: installer commit a9c7c1b "Introduce shard config"), labelled
 * `app.kubernetes.io/name: kubedb-ops-manager` (its _helpers.tpl selectorLabels). The workload
 * is looked for in every namespace (one list call per kind, label-selected); one with zero
 * replicas does not process anything and is not counted.
 * The stack parameter OnlyOpsRequestProcessor (env ONLY_OPS_REQUEST_PROCESSOR=true) says this
 * deployment is the only processor anyway — for a cluster where the ops-manager runs but does not
 * process PerconaXtraDB requests.
 */
import { OpsManagerPresentError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';

export const OPS_MANAGER_SELECTOR = 'app.kubernetes.io/name=kubedb-ops-manager';

/** The stack parameter: this deployment is declared the only processor. */
export function declaredOnlyProcessor(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ONLY_OPS_REQUEST_PROCESSOR === 'true';
}

interface Workload extends KubeObject {
  spec?: { replicas?: number };
}

/** Why this deployment must not process requests, or undefined when it may. */
export async function otherProcessor(
  kube: Kube,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (declaredOnlyProcessor(env)) return undefined;
  const found: string[] = [];
  for (const kind of [KINDS.StatefulSet, KINDS.Deployment]) {
    const list = await kube.list<Workload>(kind, undefined, { labelSelector: OPS_MANAGER_SELECTOR });
    for (const w of list.items)
      if ((w.spec?.replicas ?? 1) > 0) found.push(`${kind.kind} ${w.metadata.namespace}/${w.metadata.name}`);
  }
  if (found.length === 0) return undefined;
  return (
    `KubeDB's enterprise ops-manager is running (${found.join(', ')}, label ${OPS_MANAGER_SELECTOR}): ` +
    'it processes every PerconaXtraDBOpsRequest and manages the Certificates of TLS databases itself, so ' +
    "pxc-tls-ops leaves the request to it. Turn it off in KubeDB's chart values (kubedb-ops-manager.enabled=false), " +
    'or, if it does not process PerconaXtraDB requests on this cluster, deploy with OnlyOpsRequestProcessor=true'
  );
}

/** Throws OpsManagerPresentError (fatal: nothing is written) when another processor is installed. */
export async function assertOnlyProcessor(kube: Kube, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const why = await otherProcessor(kube, env);
  if (why) throw new OpsManagerPresentError(why);
}
