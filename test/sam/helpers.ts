/**
 * Shared set-up for the SAM tests: certificates of a chosen age, PerconaXtraDB objects with their
 * three TLS Secrets written straight into the simulator's store (no pods: the triggers never
 * look at them), and a recording logger.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import { eventBridgePublish } from '../../functions/triggers/aws.js';
import type { StepLogger } from '../../functions/triggers/logger.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';

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
