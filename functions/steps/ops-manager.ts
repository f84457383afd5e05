/**
 * Refusing to run beside KubeDB's enterprise ops-manager. It processes every
 * PerconaXtraDBOpsRequest (the ones the expiry scanner creates included) and manages the
 * cert-manager Certificates of every database with `spec.tls.issuerRef`: two processors of one
 * request would pause, re-issue and restart against each other.
 *
 * It is recognised by its admission webhook: KubeDB's installer registers the
 * ValidatingWebhookConfiguration `validators.ops.kubedb.com` (kubedb/installer's webhook CA
 * bundle list; the APIService `v1alpha1.validators.ops.kubedb.com` serves it), which validates
 * every ops.kubedb.com request. The stack parameter OnlyOpsRequestProcessor (env
 * ONLY_OPS_REQUEST_PROCESSOR=true) says this deployment is the only processor anyway — for a
 * cluster where the ops-manager is installed but does not process PerconaXtraDB requests.
 */
import { OpsManagerPresentError } from '../errors.js';
import type { Kube, KubeObject } from '../kube/types.js';
import { KINDS } from '../kube/types.js';

export const OPS_MANAGER_WEBHOOK = 'validators.ops.kubedb.com';

/** The stack parameter: this deployment is declared the only processor. */
export function declaredOnlyProcessor(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ONLY_OPS_REQUEST_PROCESSOR === 'true';
}

/** Why this deployment must not process requests, or undefined when it may. */
export async function otherProcessor(
  kube: Kube,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (declaredOnlyProcessor(env)) return undefined;
  const webhook = await kube.get<KubeObject>(KINDS.ValidatingWebhookConfiguration, {
    name: OPS_MANAGER_WEBHOOK,
  });
  if (!webhook) return undefined;
  return (
    `KubeDB's enterprise ops-manager is installed (ValidatingWebhookConfiguration ${OPS_MANAGER_WEBHOOK} exists): ` +
    'it processes every PerconaXtraDBOpsRequest and manages the Certificates of TLS databases itself, so ' +
    'pxc-tls-ops leaves the request to it. If the ops-manager does not process PerconaXtraDB requests on this ' +
    'cluster, deploy with OnlyOpsRequestProcessor=true'
  );
}

/** Throws OpsManagerPresentError (fatal: nothing is written) when another processor is installed. */
export async function assertOnlyProcessor(kube: Kube, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const why = await otherProcessor(kube, env);
  if (why) throw new OpsManagerPresentError(why);
}
