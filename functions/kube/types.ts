import type { ServerTime } from './server-clock.js';

/**
 * The one narrow Kubernetes interface every step uses.
 *
 * Steps never see HTTP: they call `Kube`, and the adapter (`client.ts`) maps API errors to the
 * families in `../errors.ts` (409 Conflict → KubeConflictError, 429 → KubeThrottledError, 5xx and
 * network → KubeUnavailableError, 401/403 → KubeForbiddenError, 409 AlreadyExists on create →
 * KubeAlreadyExistsError, other 4xx → KubeRequestError). A 404 on get is `undefined`, a 404 on
 * delete is `false`; both are normal answers, not errors.
 */

export interface ResourceKind {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** The resources the functions touch (and the simulator serves). */
export const KINDS = {
  Namespace: { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  Pod: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  Secret: { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  Service: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  ConfigMap: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  Event: { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  StatefulSet: { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  PetSet: { apiVersion: 'apps.k8s.appscode.com/v1', kind: 'PetSet', plural: 'petsets', namespaced: true },
  PodDisruptionBudget: {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
  },
  PerconaXtraDB: {
    apiVersion: 'kubedb.com/v1',
    kind: 'PerconaXtraDB',
    plural: 'perconaxtradbs',
    namespaced: true,
  },
  PerconaXtraDBOpsRequest: {
    apiVersion: 'ops.kubedb.com/v1alpha1',
    kind: 'PerconaXtraDBOpsRequest',
    plural: 'perconaxtradbopsrequests',
    namespaced: true,
  },
  Issuer: { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', plural: 'issuers', namespaced: true },
  ClusterIssuer: {
    apiVersion: 'cert-manager.io/v1',
    kind: 'ClusterIssuer',
    plural: 'clusterissuers',
    namespaced: false,
  },
  Certificate: {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    plural: 'certificates',
    namespaced: true,
  },
  AppBinding: {
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    plural: 'appbindings',
    namespaced: true,
  },
  // KubeDB supervisor's maintenance windows (read by the expiry scan when the CRDs are installed).
  MaintenanceWindow: {
    apiVersion: 'supervisor.appscode.com/v1alpha1',
    kind: 'MaintenanceWindow',
    plural: 'maintenancewindows',
    namespaced: true,
  },
  ClusterMaintenanceWindow: {
    apiVersion: 'supervisor.appscode.com/v1alpha1',
    kind: 'ClusterMaintenanceWindow',
    plural: 'clustermaintenancewindows',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceKind>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface ObjectRef {
  /** Omitted for cluster-scoped kinds. */
  namespace?: string;
  name: string;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult<T> {
  items: T[];
  /** Continue token for the next page; absent on the last page. */
  continue?: string;
  resourceVersion: string;
}

export type PatchType = 'merge' | 'json' | 'strategic';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** Server-side bound; the watch also ends when `onEvent` returns true. */
  timeoutSeconds: number;
}

/** What a command run through `pods/exec` printed and how it ended. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The command's exit code; -1 when it did not run (e.g. "executable file not found"). */
  exitCode: number;
  /** The Status message when the exec did not end in Success. */
  message?: string;
}

export interface ExecOptions {
  container: string;
  command: string[];
  /** Bound on the whole exec (connect, run, stream); default 20 s. */
  timeoutSeconds?: number;
}

/** What the API server serves of one API group at its preferred version (discovery). */
export interface DiscoveredGroup {
  version: string;
  resources: Array<{ kind: string; plural: string; namespaced: boolean }>;
}

export interface Kube {
  /**
   * The API server's time as far as this client knows it from the answers so far (./server-clock.ts);
   * undefined before the first answer, or for a client that cannot tell.
   */
  serverTime?(): ServerTime | undefined;
  /**
   * Discovery of an API group (`GET /apis/<group>`, then its preferred version): undefined when the
   * API server does not serve the group (404).
   */
  discover(group: string): Promise<DiscoveredGroup | undefined>;
  /** The object, or undefined when it does not exist (404). */
  get<T extends KubeObject>(kind: ResourceKind, ref: ObjectRef): Promise<T | undefined>;
  /** One page. `namespace` undefined lists across all namespaces (or a cluster-scoped kind). */
  list<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string | undefined,
    opts?: ListOptions,
  ): Promise<ListResult<T>>;
  /** Throws KubeAlreadyExistsError on 409 AlreadyExists. `metadata.generateName` is honoured. */
  create<T extends KubeObject>(kind: ResourceKind, obj: T): Promise<T>;
  /** PUT; with `metadata.resourceVersion` set a stale write throws KubeConflictError. */
  replace<T extends KubeObject>(kind: ResourceKind, obj: T, subresource?: 'status'): Promise<T>;
  patch<T extends KubeObject>(
    kind: ResourceKind,
    ref: ObjectRef,
    patch: unknown,
    type: PatchType,
    subresource?: 'status',
  ): Promise<T>;
  /**
   * True when this call deleted it, false when it was already gone (404). `uid` and
   * `resourceVersion` are preconditions: another object or a newer version is KubeConflictError.
   */
  delete(
    kind: ResourceKind,
    ref: ObjectRef,
    opts?: { uid?: string; resourceVersion?: string },
  ): Promise<boolean>;
  /**
   * Eviction API (policy/v1). A PodDisruptionBudget refusal is KubeThrottledError (429); with `uid`,
   * a pod of that name with another UID is left alone (409, KubeConflictError).
   */
  /** False when there was nothing to evict (the pod is gone, or with `uid` is another pod now). */
  evict(ref: Required<ObjectRef>, opts?: { uid?: string }): Promise<boolean>;
  /**
   * Runs a command in a pod's container through the `pods/exec` subresource (WebSocket, v5/v4
   * channel protocol), without stdin or TTY. A refused upgrade maps to the error families like any
   * request (403 → KubeForbiddenError; 400 for a container that is not running → KubeRequestError).
   */
  exec(ref: Required<ObjectRef>, opts: ExecOptions): Promise<ExecResult>;
  /**
   * Watches until `onEvent` returns true (resolves true) or the timeout ends (resolves false).
   * Used for short holds while waiting for readiness, never for minutes.
   */
  watch<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (type: WatchEventType, obj: T) => boolean,
  ): Promise<boolean>;
}
