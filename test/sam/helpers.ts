/**
 * Shared set-up for the SAM tests: certificates of a chosen age, PerconaXtraDB objects with their
 * three TLS Secrets written straight into the simulator's store (no pods: the triggers never
 * look at them), and a recording logger.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import { eventBridgePublish } from '../../functions/triggers/aws.js';
import type { StepLogger } from '../../functions/triggers/logger.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { loadTemplate } from '../../scripts/template.js';

// The databases and certificate ages live with the local world so the benchmark uses them too.
export { certificateAges, type PemSet, putDatabaseWithTls } from '../../local/fixtures/expiry.js';

export function putOpsRequest(
  sim: Simulator,
  namespace: string,
  name: string,
  opts: { database?: string; type?: string; phase?: string; tls?: Record<string, unknown> } = {},
): void {
  sim.store.create({
    apiVersion: 'ops.kubedb.com/v1alpha1',
    kind: 'PerconaXtraDBOpsRequest',
    metadata: { namespace, name },
    spec: {
      type: opts.type ?? 'ReconfigureTLS',
      databaseRef: { name: opts.database ?? 'sample-pxc' },
      tls: opts.tls ?? { rotateCertificates: true },
    },
    ...(opts.phase ? { status: { phase: opts.phase } } : {}),
  });
}

export function recordingLogger(): StepLogger & {
  lines: Array<{ level: string; message: string; extra?: unknown }>;
} {
  const lines: Array<{ level: string; message: string; extra?: unknown }> = [];
  const at = (level: string) => (message: string, extra?: Record<string, unknown>) => {
    lines.push({ level, message, extra });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The serial number of the certificate in a TLS Secret of the simulator (to see whether it was renewed). */
export function secretSerial(sim: Simulator, namespace: string, name: string): string {
  const data = sim.store.get<{ data: Record<string, string> }>('v1', 'Secret', namespace, name)!.data;
  return inspectTlsSecret({ 'tls.crt': Buffer.from(data['tls.crt']!, 'base64').toString() }).serial;
}

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDPXCTLSOPSTEST', secretAccessKey: 'test-secret' };
export const STATE_MACHINE_ARN =
  'arn:aws:states:eu-west-1:123456789012:stateMachine:pxc-tls-ops-reconfigure-tls';

/** State name → the template's function logical id, for every Task state of an ASL definition (Maps included). */
export function taskFunctions(asl: string): Record<string, string> {
  const out: Record<string, string> = {};
  type States = Record<string, { Type: string; Resource?: string; ItemProcessor?: { States: States } }>;
  const walk = (states: States) => {
    for (const [name, s] of Object.entries(states)) {
      const fn = /^\$\{(\w+Function)Arn\}$/.exec(s.Resource ?? '')?.[1];
      if (s.Type === 'Task' && fn) out[name] = fn;
      if (s.ItemProcessor) walk(s.ItemProcessor.States);
    }
  };
  walk((JSON.parse(asl) as { States: States }).States);
  return out;
}

/**
 * The AWS API actions each function calls, and so the only ones its role may grant: every function
 * reaches the cluster through eks:DescribeCluster; the triggers talk to the bus and Step Functions.
 * test/sam/handlers.test.ts checks the triggers call no more than this, template.test.ts that no
 * role grants more.
 */
export const AWS_CALLS: Record<string, string[]> = {
  ValidateFunction: ['eks:DescribeCluster'],
  PauseFunction: ['eks:DescribeCluster'],
  ChangeCertificatesFunction: ['eks:DescribeCluster'],
  RestartPodFunction: ['eks:DescribeCluster'],
  ReloadPodsFunction: ['eks:DescribeCluster'],
  CheckPodFunction: ['eks:DescribeCluster'],
  ResumeFunction: ['eks:DescribeCluster'],
  RollBackFunction: ['eks:DescribeCluster'],
  SweepFunction: [
    'eks:DescribeCluster',
    'events:PutEvents',
    'states:StartExecution',
    'states:DescribeExecution',
  ],
  ForwardAuditFunction: ['eks:DescribeCluster', 'events:PutEvents'],
  ScanExpiryFunction: ['eks:DescribeCluster', 'states:StartExecution'],
};

/** An AWS stand-in call target (`AWSEvents.PutEvents`) as the IAM action it needs (`events:PutEvents`). */
export function iamAction(target: string): string {
  const [service, op] = target.split('.') as [string, string];
  const prefix: Record<string, string> = { AWSEvents: 'events', AWSStepFunctions: 'states', EKS: 'eks' };
  return `${prefix[service] ?? service}:${op}`;
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** When set, the rule applies only to objects with these names. */
  resourceNames?: string[];
}

/** An API request as RBAC sees it: group, resource (with subresource), verb. */
export function rbacRequest(
  method: string,
  path: string,
  simVerb: string,
): { group: string; resource: string; verb: string; name?: string } {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const [root, ...rest] = parts;
  const group = root === 'api' ? '' : rest.shift()!;
  rest.shift(); // version
  if (rest[0] === 'namespaces' && rest.length >= 3) rest.splice(0, 2);
  const [plural, name, sub] = rest;
  const resource = sub ? `${plural}/${sub}` : plural!;
  const verb = simVerb === 'evict' ? 'create' : simVerb;
  return {
    group,
    resource: method === 'POST' && sub === 'eviction' ? `${plural}/eviction` : resource,
    verb,
    ...(name ? { name: decodeURIComponent(name) } : {}),
  };
}

export interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: RbacRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string }>;
}

/** The RBAC objects of k8s/ manifests (`-l pxc-tls-ops.io/rbac=roles` style filters are not applied). */
export function rbacObjects(...files: string[]): RbacObject[] {
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJSON() as RbacObject),
  );
}

/**
 * What a Kubernetes group may do, as the API server works it out from these objects: the rules of
 * every ClusterRole bound to it cluster-wide, and (with `namespace`: for a request there) of every
 * Role or ClusterRole a RoleBinding in that namespace binds to it. `namespace` null: a cluster-scoped
 * request or a request across namespaces, which only ClusterRoleBindings can allow.
 */
export function groupRules(objects: RbacObject[], group: string, namespace: string | null): RbacRule[] {
  const role = (kind: string, name: string, ns?: string) =>
    objects.find(
      (o) => o.kind === kind && o.metadata.name === name && (kind !== 'Role' || o.metadata.namespace === ns),
    );
  return objects
    .filter(
      (b) =>
        (b.kind === 'ClusterRoleBinding' ||
          (b.kind === 'RoleBinding' && b.metadata.namespace === namespace)) &&
        b.subjects?.some((s) => s.kind === 'Group' && s.name === group),
    )
    .flatMap((b) => role(b.roleRef!.kind, b.roleRef!.name, b.metadata.namespace)?.rules ?? []);
}

/** The group names of every binding in these objects. */
export function boundGroups(objects: RbacObject[]): Set<string> {
  return new Set(
    objects.flatMap((o) => (o.subjects ?? []).filter((s) => s.kind === 'Group').map((s) => s.name)),
  );
}

/** Every rule any group of these manifests may use anywhere (the union): for replays that mix functions. */
export function anyFunctionRules(objects: RbacObject[]): RbacRule[] {
  return objects.flatMap((o) => o.rules ?? []);
}

/**
 * The Kubernetes group of each function, read from template.yaml: its role, that role's access
 * entry, the entry's group with KubernetesGroup at its default.
 */
export function functionGroups(): Record<string, string> {
  const t = loadTemplate('template.yaml');
  const group = String(t.Parameters?.KubernetesGroup?.Default);
  const resolve = (g: unknown): string => {
    const v = g as { Ref?: string; 'Fn::Sub'?: string };
    if (v.Ref === 'KubernetesGroup') return group;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation !Sub syntax
    if (typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'].replace('${KubernetesGroup}', group);
    return String(g);
  };
  const out: Record<string, string> = {};
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::Serverless::Function') continue;
    const role = (r.Properties!.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const entry = Object.values(t.Resources).find(
      (e) =>
        e.Type === 'AWS::EKS::AccessEntry' &&
        JSON.stringify(e.Properties!.PrincipalArn) === JSON.stringify({ 'Fn::GetAtt': [role, 'Arn'] }),
    );
    out[id] = resolve((entry!.Properties!.KubernetesGroups as unknown[])[0]);
  }
  return out;
}

export function rbacAllows(
  rules: RbacRule[],
  req: { group: string; resource: string; verb: string; name?: string },
): boolean {
  return rules.some(
    (r) =>
      r.apiGroups.includes(req.group) &&
      r.resources.includes(req.resource) &&
      r.verbs.includes(req.verb) &&
      (!r.resourceNames || (req.name !== undefined && r.resourceNames.includes(req.name))),
  );
}

/**
 * The world the sweep and forwarder tests share: a simulator with three namespaces, the
 * EventBridge stand-in, a Kube for the simulator, and deps for a trigger step. Registers its own
 * hooks; every test starts with no OpsRequests, no events and zeroed request counters.
 */
export function triggerWorld(bus = 'pxc-tls-ops-test') {
  const world = {} as { sim: Simulator; aws: AwsStandIn; kube: Kube };
  const deps = () => ({
    kube: world.kube,
    publish: eventBridgePublish(bus, {
      endpoint: world.aws.endpoint,
      region: 'eu-west-1',
      credentials: TEST_CREDENTIALS,
    }),
    cluster: 'demo-cluster',
    logger: recordingLogger(),
  });
  beforeAll(async () => {
    world.sim = await startSimulator({ namespaces: ['demo', 'team-a', 'team-b'] });
    world.aws = await startAwsStandIn();
    world.kube = kubeFromKubeconfig(world.sim.kubeconfig);
  });
  afterAll(async () => {
    await world.sim?.stop();
    await world.aws?.stop();
  });
  beforeEach(() => {
    const kind = ['ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest'] as const;
    for (const o of world.sim.store.list<{ metadata: { namespace: string; name: string } }>(...kind)) {
      world.sim.store.delete(...kind, o.metadata.namespace, o.metadata.name);
    }
    world.aws.events.length = 0;
    world.aws.calls.length = 0;
    world.sim.requests.reset();
  });
  return Object.assign(world, { deps });
}
