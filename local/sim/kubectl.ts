/**
 * What kubectl asks of a server beyond plain REST:
 * - server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), so
 *   `kubectl get` shows the usual columns (pods READY/STATUS/RESTARTS, sets READY, KubeDB's
 *   VERSION/STATUS, OpsRequest TYPE/STATUS, ...) and `get -w` streams rows;
 * - a minimal OpenAPI v3 index, only enough for kubectl to see that the server does field
 *   validation itself (the `fieldValidation` query parameter on PATCH), so `kubectl create -f`
 *   and `apply -f` need no client-side schema.
 */
import { groupVersion, RESOURCES, type SimResource } from './resources.js';
import type { J, Obj } from './store.js';

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority?: number;
  cell: (o: Obj) => unknown;
}

const nameCol: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name',
  cell: (o) => o.metadata.name,
};
const ageCol: Column = {
  name: 'Age',
  type: 'string',
  description: 'Age',
  cell: (o) => age(o.metadata.creationTimestamp),
};

function cond(o: Obj, type: string): J {
  return (o.status?.conditions ?? []).find((c: J) => c.type === type);
}

function columnsFor(res: SimResource): Column[] {
  switch (res.kind) {
    case 'Pod':
      return [
        nameCol,
        {
          name: 'Ready',
          type: 'string',
          description: 'ready containers',
          cell: (o) => {
            const cs: J[] = o.status?.containerStatuses ?? [];
            return `${cs.filter((c) => c.ready).length}/${(o.spec?.containers ?? []).length}`;
          },
        },
        { name: 'Status', type: 'string', description: 'pod status', cell: podStatus },
        {
          name: 'Restarts',
          type: 'string',
          description: 'restarts',
          cell: (o) =>
            String(
              (o.status?.containerStatuses ?? []).reduce((n: number, c: J) => n + (c.restartCount ?? 0), 0),
            ),
        },
        ageCol,
        {
          name: 'IP',
          type: 'string',
          description: 'pod IP',
          priority: 1,
          cell: (o) => o.status?.podIP ?? '<none>',
        },
        {
          name: 'Node',
          type: 'string',
          description: 'node',
          priority: 1,
          cell: (o) => o.spec?.nodeName ?? '<none>',
        },
      ];
    case 'StatefulSet':
    case 'PetSet':
      return [
        nameCol,
        {
          name: 'Ready',
          type: 'string',
          description: 'ready replicas',
          cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
        },
        ageCol,
      ];
    case 'PodDisruptionBudget':
      return [
        nameCol,
        {
          name: 'Min Available',
          type: 'string',
          description: '',
          cell: (o) => String(o.spec?.minAvailable ?? 'N/A'),
        },
        {
          name: 'Max Unavailable',
          type: 'string',
          description: '',
          cell: (o) => String(o.spec?.maxUnavailable ?? 'N/A'),
        },
        {
          name: 'Allowed Disruptions',
          type: 'integer',
          description: '',
          cell: (o) => o.status?.disruptionsAllowed ?? 0,
        },
        ageCol,
      ];
    case 'Secret':
      return [
        nameCol,
        { name: 'Type', type: 'string', description: 'type', cell: (o) => o.type ?? 'Opaque' },
        { name: 'Data', type: 'integer', description: 'keys', cell: (o) => Object.keys(o.data ?? {}).length },
        ageCol,
      ];
    case 'Namespace':
      return [
        nameCol,
        { name: 'Status', type: 'string', description: 'phase', cell: (o) => o.status?.phase ?? 'Active' },
        ageCol,
      ];
    case 'Event':
      return [
        {
          name: 'Last Seen',
          type: 'string',
          description: '',
          cell: (o) => age(o.lastTimestamp ?? o.metadata.creationTimestamp),
        },
        { name: 'Type', type: 'string', description: '', cell: (o) => o.type ?? '' },
        { name: 'Reason', type: 'string', description: '', cell: (o) => o.reason ?? '' },
        {
          name: 'Object',
          type: 'string',
          description: '',
          cell: (o) =>
            `${String(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`,
        },
        { name: 'Message', type: 'string', description: '', cell: (o) => o.message ?? '' },
      ];
    case 'PerconaXtraDB':
      return [
        nameCol,
        { name: 'Version', type: 'string', description: '', cell: (o) => o.spec?.version ?? '' },
        { name: 'Status', type: 'string', description: '', cell: (o) => o.status?.phase ?? '' },
        ageCol,
      ];
    case 'PerconaXtraDBOpsRequest':
      return [
        nameCol,
        { name: 'Type', type: 'string', description: '', cell: (o) => o.spec?.type ?? '' },
        { name: 'Status', type: 'string', description: '', cell: (o) => o.status?.phase ?? '' },
        ageCol,
      ];
    case 'Certificate':
    case 'Issuer':
    case 'ClusterIssuer':
      return [
        nameCol,
        { name: 'Ready', type: 'string', description: '', cell: (o) => cond(o, 'Ready')?.status ?? '' },
        ...(res.kind === 'Certificate'
          ? [{ name: 'Secret', type: 'string', description: '', cell: (o: Obj) => o.spec?.secretName ?? '' }]
          : []),
        ageCol,
      ];
    default:
      return [nameCol, ageCol];
  }
}

function podStatus(o: Obj): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  for (const c of o.status?.containerStatuses ?? []) {
    if (c.state?.waiting?.reason) return c.state.waiting.reason;
  }
  return o.status?.phase ?? 'Pending';
}

function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** A meta.k8s.io/v1 Table for these objects; rows carry the object when `includeObject=Object`. */
export function toTable(res: SimResource, objs: Obj[], includeObject: string | null, meta: J = {}): unknown {
  const cols = columnsFor(res);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: cols.map(({ cell: _c, ...d }) => ({ priority: 0, format: '', ...d })),
    rows: objs.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object:
        includeObject === 'Object'
          ? o
          : includeObject === 'None'
            ? undefined
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

/** `/openapi/v3`: one entry per group/version we serve. */
export function openapiRoot(): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const r of RESOURCES) {
    for (const v of r.versions) {
      const key = r.group === '' ? `api/${v}` : `apis/${r.group}/${v}`;
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=sim1` };
    }
  }
  return { paths };
}

/** `/openapi/v3/<gv>`: PATCH operations that declare the `fieldValidation` query parameter. */
export function openapiGroupVersion(gvPath: string): unknown {
  const [first, ...rest] = gvPath.split('/');
  const group = first === 'api' ? '' : rest[0]!;
  const version = first === 'api' ? rest[0]! : rest[1]!;
  const list = RESOURCES.filter((r) => r.group === group && r.versions.includes(version));
  if (list.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of list) {
    const prefix = `/${first === 'api' ? 'api' : `apis/${group}`}/${version}`;
    const path = r.namespaced
      ? `${prefix}/namespaces/{namespace}/${r.plural}/{name}`
      : `${prefix}/${r.plural}/{name}`;
    paths[path] = {
      patch: {
        operationId: `patch${r.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        ],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (pxc-tls-ops simulator)', version: groupVersion(group, version) },
    paths,
    components: {},
  };
}
