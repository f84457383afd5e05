/**
 * The resources the simulator serves, with what discovery and the handlers need to know about
 * each: where it lives in the URL space, whether it is namespaced, whether it has a status
 * subresource, and whether strategic merge patch applies (built-in kinds only, as on a real
 * API server, where custom resources answer 415).
 */

export interface SimResource {
  group: string; // '' for the core group
  versions: string[]; // first one is the preferred (storage) version
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories?: string[];
  /** Has a `/status` subresource: the main resource never changes status, `/status` only status. */
  status: boolean;
  /** Built into Kubernetes: strategic merge patch is accepted. */
  builtIn: boolean;
  /** Extra subresources served besides status (pods: eviction; sets: scale). */
  subresources?: string[];
}

export const RESOURCES: SimResource[] = [
  r('', 'v1', 'Namespace', 'namespaces', false, ['ns'], true, true),
  r('', 'v1', 'Pod', 'pods', true, ['po'], true, true, ['eviction'], ['all']),
  r('', 'v1', 'Secret', 'secrets', true, [], false, true),
  r('', 'v1', 'Service', 'services', true, ['svc'], true, true, [], ['all']),
  r('', 'v1', 'ConfigMap', 'configmaps', true, ['cm'], false, true),
  r('', 'v1', 'Event', 'events', true, ['ev'], false, true),
  // KubeDB's own workloads are Deployments in older charts (the ops-manager until v2025.3.20).
  r('apps', 'v1', 'Deployment', 'deployments', true, ['deploy'], true, true, ['scale'], ['all']),
  r('apps', 'v1', 'StatefulSet', 'statefulsets', true, ['sts'], true, true, ['scale'], ['all']),
  r('apps.k8s.appscode.com', 'v1', 'PetSet', 'petsets', true, [], true, false, ['scale'], ['all']),
  r('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, ['pdb'], true, true),
  r(
    'kubedb.com',
    ['v1', 'v1alpha2'],
    'PerconaXtraDB',
    'perconaxtradbs',
    true,
    ['px'],
    true,
    false,
    [],
    ['datastore', 'kubedb', 'appscode', 'all'],
  ),
  r(
    'ops.kubedb.com',
    'v1alpha1',
    'PerconaXtraDBOpsRequest',
    'perconaxtradbopsrequests',
    true,
    ['pxcops'],
    true,
    false,
    [],
    ['ops', 'kubedb', 'appscode'],
  ),
  r('cert-manager.io', 'v1', 'Issuer', 'issuers', true, [], true, false, [], ['cert-manager']),
  r('cert-manager.io', 'v1', 'ClusterIssuer', 'clusterissuers', false, [], true, false, [], ['cert-manager']),
  r(
    'cert-manager.io',
    'v1',
    'Certificate',
    'certificates',
    true,
    ['cert', 'certs'],
    true,
    false,
    [],
    ['cert-manager'],
  ),
  // An external cert-manager issuer (AWS Private CA's issuer plugin): served so that discovery
  // finds it; cert-manager's stand-in signs for it with a simulated CA (addSigner).
  r(
    'awspca.cert-manager.io',
    'v1beta1',
    'AWSPCAClusterIssuer',
    'awspcaclusterissuers',
    false,
    [],
    true,
    false,
    [],
  ),
  r('awspca.cert-manager.io', 'v1beta1', 'AWSPCAIssuer', 'awspcaissuers', true, [], true, false, []),
  // KubeDB's provisioner writes one AppBinding per database (kmodules appcatalog CRD, no status).
  r(
    'appcatalog.appscode.com',
    'v1alpha1',
    'AppBinding',
    'appbindings',
    true,
    [],
    false,
    false,
    [],
    ['catalog', 'appscode', 'all'],
  ),
  // KubeDB supervisor's maintenance windows (kubeops/supervisor CRDs, status subresource).
  r(
    'supervisor.appscode.com',
    'v1alpha1',
    'MaintenanceWindow',
    'maintenancewindows',
    true,
    [],
    true,
    false,
    [],
    ['kubeops', 'appscode'],
  ),
  r(
    'supervisor.appscode.com',
    'v1alpha1',
    'ClusterMaintenanceWindow',
    'clustermaintenancewindows',
    false,
    [],
    true,
    false,
    [],
    ['kubeops', 'appscode'],
  ),
  // Admission webhooks: KubeDB's webhook server registers `validators.ops.kubedb.com` (community too).
  r(
    'admissionregistration.k8s.io',
    'v1',
    'ValidatingWebhookConfiguration',
    'validatingwebhookconfigurations',
    false,
    [],
    false,
    true,
    [],
    ['api-extensions'],
  ),
];

function r(
  group: string,
  versions: string | string[],
  kind: string,
  plural: string,
  namespaced: boolean,
  shortNames: string[],
  status: boolean,
  builtIn: boolean,
  subresources: string[] = [],
  categories: string[] = [],
): SimResource {
  return {
    group,
    versions: typeof versions === 'string' ? [versions] : versions,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames,
    status,
    builtIn,
    subresources,
    categories,
  };
}

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** Storage key of a resource: one store per group/plural, whatever version a client speaks. */
export function resourceKey(res: SimResource): string {
  return res.group === '' ? res.plural : `${res.plural}.${res.group}`;
}

export function findByPlural(group: string, version: string, plural: string): SimResource | undefined {
  return RESOURCES.find((x) => x.group === group && x.plural === plural && x.versions.includes(version));
}

export function findByKind(apiVersion: string, kind: string): SimResource | undefined {
  const { group, version } = splitApiVersion(apiVersion);
  return RESOURCES.find((x) => x.group === group && x.kind === kind && x.versions.includes(version));
}

export function preferredApiVersion(res: SimResource): string {
  return groupVersion(res.group, res.versions[0]!);
}
