import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { createTestCA } from '../../functions/pki/index.js';
import { forwardAudit } from '../../functions/steps/forward-audit.js';
import { scanExpiry } from '../../functions/steps/scan-expiry.js';
import { sweep } from '../../functions/steps/sweep.js';
import { eventBridgePublish, sfnStartExecution } from '../../functions/triggers/aws.js';
import {
  type AwsStandIn,
  type ExecutionOutcome,
  type PutEvent,
  startAwsStandIn,
} from '../../local/aws/index.js';
import { auditRecord, logsSubscriptionEvent } from '../../local/aws/logs.js';
import { applyInputTransformer, busEvent, matchesPattern } from '../../local/aws/rules.js';
import { type PublishedEvent, runExecution } from '../../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { type Simulator, signerKey, startSimulator } from '../../local/sim/index.js';
import { eventBridgeRule, loadTemplate } from '../../scripts/template.js';
import {
  anyFunctionRules,
  boundGroups,
  functionGroups,
  groupRules,
  rbacAllows,
  rbacObjects,
  rbacRequest,
  recordingLogger,
  STATE_MACHINE_ARN,
  secretSerial,
  TEST_CREDENTIALS,
  taskFunctions,
} from './helpers.js';

const rule = eventBridgeRule(
  loadTemplate('template.yaml'),
  'ReconfigureTlsStateMachine',
  'OpsRequestPending',
);

const NS = 'demo';

/** The function (template logical id) each Task state of the ASL invokes. */
const TASK_FUNCTIONS = taskFunctions(readFileSync('statemachine/reconfigure-tls.asl.json', 'utf8'));
const DB = 'sample-pxc';

/**
 * The path a user's `kubectl apply` takes in AWS, with every AWS hop over its real protocol:
 * trigger → PutEvents (stand-in) → the template's own rule pattern and InputTransformer →
 * StartExecution (stand-in) → the state machine (local runner) against the simulator.
 */
describe('Rule: from a Pending event to a finished execution', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let kube: Kube;
  let sfn: SFNClient;
  const runs: Array<Promise<ExecutionOutcome | undefined>> = [];
  const outcomes: PublishedEvent[] = [];
  const inputs: unknown[] = [];
  const silent = new Logger({ serviceName: 'pxc-tls-ops-test', logLevel: 'SILENT' });
  /** A pod to hold NotReady once evicted (a restart that never comes back), until the rollback checks it. */
  let holdAfterEvict: string | undefined;
  /** Which function made each API request (by index into sim.requests): one call runs at a time here. */
  const madeBy: string[] = [];
  /** A task of the state machine overrides a trigger that started its execution and is still running. */
  async function as<T>(fn: string, call: () => Promise<T>, task = false): Promise<T> {
    const from = sim.requests.all().length;
    try {
      return await call();
    } finally {
      for (let i = from; i < sim.requests.all().length; i++) madeBy[i] = task ? fn : (madeBy[i] ?? fn);
    }
  }

  /** What EventBridge does with each entry the trigger put: match the rule, transform, start. */
  async function deliver(events: PutEvent[]): Promise<void> {
    for (const entry of events) {
      const event = busEvent(entry);
      if (!matchesPattern(rule.Pattern, event)) continue;
      const input = applyInputTransformer(rule.InputTransformer, event);
      inputs.push(JSON.parse(input));
      await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input }));
    }
  }

  const triggerDeps = () => ({
    kube,
    publish: eventBridgePublish('pxc-tls-ops', {
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: TEST_CREDENTIALS,
    }),
    cluster: 'demo-cluster',
    logger: recordingLogger(),
  });

  beforeAll(async () => {
    // The provisioner confirms pauses a little later, so Pause's watch is among the replayed requests.
    sim = await startSimulator({
      podReadyDelayMs: 150,
      podDeleteGraceMs: 30,
      provisioner: { confirmDelayMs: 200 },
    });
    kube = kubeFromKubeconfig(sim.kubeconfig);
    aws = await startAwsStandIn({
      stateMachineArns: [STATE_MACHINE_ARN],
      onExecution: (execution) => {
        const evict: Kube['evict'] = async (ref, o) => {
          const evicted = await kube.evict(ref, o);
          if (ref.name === holdAfterEvict) sim.faults.holdNotReady(NS, ref.name);
          return evicted;
        };
        const faulty = new Proxy(kube, {
          get: (target, key) => (key === 'evict' ? evict : Reflect.get(target, key, target).bind(target)),
        });
        const run = runExecution({
          kube: faulty,
          wrapTask: (state, fn) => async (input) => {
            if (state === 'Replace restored pod' && holdAfterEvict) sim.faults.release(NS, holdAfterEvict);
            return as(TASK_FUNCTIONS[state]!, () => fn(input), true);
          },
          input: JSON.parse(execution.input),
          executionName: execution.name,
          waitScale: 0.05,
          retryScale: 0.02,
          logger: silent,
        }).then((r) => {
          outcomes.push(...r.published);
          return { status: r.status, error: r.error, cause: r.cause } satisfies ExecutionOutcome;
        });
        runs.push(run);
        return run;
      },
    });
    sfn = new SFNClient({ endpoint: aws.endpoint, region: 'eu-west-1', credentials: TEST_CREDENTIALS });
    const issuer = await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    expect(issuer.name).toBe('px-issuer');
    const created = createPerconaXtraDB(sim, { namespace: NS, name: DB, replicas: 3 });
    await waitForPodsReady(sim, NS, created.podNames);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(runs);
    await sim?.stop();
    await aws?.stop();
  });

  const ops = (name: string) =>
    sim.store.get<PerconaXtraDBOpsRequest>('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS, name);

  it('runs the sweep’s event for a new add-TLS request to a successful execution', async () => {
    sim.store.create(opsRequestFrom('pxcops-add-tls', { database: DB }));

    await as('SweepFunction', () => sweep(triggerDeps()));
    await deliver(aws.events.splice(0));
    const [outcome] = await Promise.all(runs.splice(0));

    expect(inputs.at(-1)).toEqual({ namespace: NS, opsRequest: 'pxops-add-tls' });
    expect(outcome?.status, outcome?.cause).toBe('SUCCEEDED');
    expect(ops('pxops-add-tls')?.status?.phase).toBe('Successful');
    expect(outcomes.at(-1)).toMatchObject({
      Source: 'pxc-tls-ops',
      DetailType: 'PerconaXtraDBOpsRequest Succeeded',
    });
  }, 120_000);

  it('finds nothing waiting on the next sweep', async () => {
    await as('SweepFunction', () => sweep(triggerDeps()));
    expect(aws.events).toEqual([]);
  });

  it('runs the audit forwarder’s event for a rotate request to a successful execution', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate', { database: DB }));
    const audit = logsSubscriptionEvent([auditRecord({ namespace: NS, name: 'pxops-rotate' })]);

    await as('ForwardAuditFunction', () => forwardAudit(audit, triggerDeps()));
    await deliver(aws.events.splice(0));
    const [outcome] = await Promise.all(runs.splice(0));

    expect(inputs.at(-1)).toEqual({ namespace: NS, opsRequest: 'pxops-rotate' });
    expect(outcome?.status, outcome?.cause).toBe('SUCCEEDED');
    expect(ops('pxops-rotate')?.status?.phase).toBe('Successful');
  }, 120_000);

  it('renews a certificate the expiry scan finds due, through StartExecution and the state machine', async () => {
    const serial = () => secretSerial(sim, NS, `${DB}-server-cert`);
    const before = serial();
    const later = new Date(Date.now() + 80 * 86_400_000); // past the renewal time of a 90-day certificate

    const result = await as('ScanExpiryFunction', () =>
      scanExpiry(
        {},
        {
          kube,
          startExecution: sfnStartExecution(STATE_MACHINE_ARN, {
            endpoint: aws.endpoint,
            region: 'eu-west-1',
            credentials: TEST_CREDENTIALS,
          }),
          recordExpiry: () => {},
          now: () => later,
          logger: recordingLogger(),
        },
      ),
    );
    const [outcome] = await Promise.all(runs.splice(0));

    expect(result.created).toHaveLength(1);
    expect(outcome?.status, outcome?.cause).toBe('SUCCEEDED');
    expect(ops(result.created[0]!.split('/')[1]!)?.status?.phase).toBe('Successful');
    expect(serial()).not.toBe(before);
  }, 120_000);

  it('changes the issuer to a ClusterIssuer, started by the sweep', async () => {
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    sim.store.create(opsRequestFrom('pxcops-change-issuer', { database: DB }));

    await as('SweepFunction', () => sweep(triggerDeps()));
    await deliver(aws.events.splice(0));
    const [outcome] = await Promise.all(runs.splice(0));

    expect(outcome?.status, outcome?.cause).toBe('SUCCEEDED');
    expect(ops('pxops-change-issuer')?.status?.phase).toBe('Successful');
  }, 120_000);

  it('rolls back a rotation whose restarted pod never gets Ready, and reports Failed on the bus', async () => {
    holdAfterEvict = `${DB}-1`;
    sim.store.create(
      opsRequestFrom('pxcops-rotate', { name: 'rotate-held', database: DB, spec: { timeout: '3s' } }),
    );

    await as('SweepFunction', () => sweep(triggerDeps()));
    await deliver(aws.events.splice(0));
    const [outcome] = await Promise.all(runs.splice(0));
    holdAfterEvict = undefined;

    expect(outcome?.status).toBe('FAILED');
    expect(ops('rotate-held')?.status?.phase).toBe('Failed');
    expect(outcomes.at(-1)).toMatchObject({
      Source: 'pxc-tls-ops',
      DetailType: 'PerconaXtraDBOpsRequest Failed',
    });
  }, 120_000);

  it('moves a database whose Certificates cert-manager owns to an external issuer, then removes its TLS', async () => {
    const CM_DB = 'cm-pxc';
    const pca = { apiGroup: 'awspca.cert-manager.io', kind: 'AWSPCAClusterIssuer', name: 'rule-pca' };
    sim.certManager.addSigner(
      signerKey({ group: pca.apiGroup, kind: pca.kind, name: pca.name }, NS),
      await createTestCA(),
    );
    // The external issuer exists (Validate refuses one the cluster does not serve or have).
    sim.store.create({
      apiVersion: 'awspca.cert-manager.io/v1beta1',
      kind: 'AWSPCAClusterIssuer',
      metadata: { name: pca.name },
      spec: { arn: 'arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/simulated' },
    });
    const created = createPerconaXtraDB(sim, { namespace: NS, name: CM_DB, tls: { certManager: true } });
    await waitForPodsReady(sim, NS, created.podNames);
    for (const ops of [
      opsRequestFrom('pxcops-change-issuer', { name: 'cm-issuer', database: CM_DB, tls: { issuerRef: pca } }),
      opsRequestFrom('pxcops-remove-tls', { name: 'cm-remove', database: CM_DB }),
    ]) {
      sim.store.create(ops);
      await as('SweepFunction', () => sweep(triggerDeps()));
      await deliver(aws.events.splice(0));
      const [outcome] = await Promise.all(runs.splice(0));
      expect(outcome?.status, `${ops.metadata.name}: ${outcome?.cause}`).toBe('SUCCEEDED');
    }
  }, 120_000);

  it('rotates in Reload mode (annotation) without a pod restart, started by the sweep', async () => {
    sim.store.create(opsRequestFrom('pxcops-rotate-reload', { name: 'rotate-reload', database: DB }));

    await as('SweepFunction', () => sweep(triggerDeps()));
    await deliver(aws.events.splice(0));
    const [outcome] = await Promise.all(runs.splice(0));

    expect(outcome?.status, outcome?.cause).toBe('SUCCEEDED');
    expect(ops('rotate-reload')?.status?.phase).toBe('Successful');
    const execs = sim.requests.all().filter((r) => r.path.split('?')[0]!.endsWith('/exec'));
    expect(execs.length).toBeGreaterThan(0);
  }, 120_000);

  it('used, function by function, only API requests its own group may make; pods/exec only Reload pods', () => {
    const objects = rbacObjects('k8s/rbac.yaml', 'k8s/rbac-reload.yaml');
    const groups = functionGroups();
    const [reloadRole, reloadBinding] = rbacObjects('k8s/rbac-reload.yaml');
    const reloadRules = reloadRole!.rules!;
    const denied = new Set<string>();
    const execs: string[] = [];
    const by = new Set<string>();
    sim.requests.all().forEach((r, i) => {
      const fn = madeBy[i];
      expect(fn, `${r.verb} ${r.path}`).toBeDefined();
      by.add(fn!);
      const req = rbacRequest(r.method, r.path.split('?')[0]!, r.verb);
      const ns = /^\/apis?\/(?:[^/]+\/)?[^/]+\/namespaces\/([^/]+)\/./.exec(r.path)?.[1] ?? null;
      // Discovery (`/apis/<group>[/<version>]`) is a non-resource URL every authenticated client
      // may read (the default ClusterRole system:discovery).
      const discovery = /^\/apis\/[^/]+(\/[^/]+)?\/?$/.test(r.path.split('?')[0]!);
      if (!discovery && !rbacAllows(groupRules(objects, groups[fn!]!, ns), req))
        denied.add(`${fn} (${groups[fn!]}): ${r.verb} ${req.group || 'core'}/${req.resource}`);
      if (req.resource === 'pods/exec') {
        execs.push(req.name!);
        expect(fn).toBe('ReloadPodsFunction');
        // Namespaced Role: only the database's namespace, only its pod names; WebSocket exec is a GET before 1.35.
        expect(ns).toBe(reloadRole!.metadata.namespace);
        expect(rbacAllows(reloadRules, { ...req, verb: 'get' }), 'WebSocket exec before 1.35').toBe(true);
      }
    });
    expect([...denied]).toEqual([]);
    // Every function that ran here was checked, each against its own group.
    expect(by).toEqual(
      new Set([
        'SweepFunction',
        'ForwardAuditFunction',
        'ScanExpiryFunction',
        'ValidateFunction',
        'PauseFunction',
        'ChangeCertificatesFunction',
        'RestartPodFunction',
        'ReloadPodsFunction',
        'ResumeFunction',
        'RollBackFunction',
      ]),
    );
    expect(new Set(execs)).toEqual(new Set([`${DB}-0`, `${DB}-1`, `${DB}-2`]));
    expect(reloadRole!.kind).toBe('Role');
    expect(reloadBinding!.roleRef).toMatchObject({ kind: 'Role', name: reloadRole!.metadata.name });
    expect(reloadRules).toEqual([
      {
        apiGroups: [''],
        resources: ['pods/exec'],
        verbs: ['get', 'create'],
        resourceNames: [`${DB}-0`, `${DB}-1`, `${DB}-2`],
      },
      // The touch that makes the kubelet sync the pod's volumes now (docs/reload.md).
      {
        apiGroups: [''],
        resources: ['pods'],
        verbs: ['patch'],
        resourceNames: [`${DB}-0`, `${DB}-1`, `${DB}-2`],
      },
    ]);
    for (const rule of anyFunctionRules(
      rbacObjects('k8s/rbac.yaml', 'k8s/rbac-reload.yaml', 'k8s/rbac-namespaced.yaml'),
    )) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups].some((x) => x.includes('*'))).toBe(false);
    }
  });

  it('grants pods/exec to the Reload pods function’s group and to no other, in any manifest or namespace', () => {
    const objects = rbacObjects('k8s/rbac.yaml', 'k8s/rbac-reload.yaml', 'k8s/rbac-namespaced.yaml');
    const groups = functionGroups();
    const reloadGroup = groups.ReloadPodsFunction!;
    // The Reload group is the identity of Reload pods alone.
    expect(
      Object.entries(groups)
        .filter(([, g]) => g === reloadGroup)
        .map(([f]) => f),
    ).toEqual(['ReloadPodsFunction']);
    const namespaces = [null, ...new Set(objects.map((o) => o.metadata.namespace).filter(Boolean))] as Array<
      string | null
    >;
    const pods = [`${DB}-0`, `${DB}-1`, 'any-pod'];
    const exec = (group: string) =>
      namespaces.some((ns) =>
        ['get', 'create'].some((verb) =>
          pods.some((name) =>
            rbacAllows(groupRules(objects, group, ns), { group: '', resource: 'pods/exec', verb, name }),
          ),
        ),
      );
    for (const group of new Set([...boundGroups(objects), ...Object.values(groups)]))
      expect(exec(group), group).toBe(group === reloadGroup);
  });

  it('binds, in k8s/rbac-namespaced.yaml, the same ClusterRoles to the same groups as k8s/rbac.yaml does cluster-wide', () => {
    const cluster = rbacObjects('k8s/rbac.yaml');
    const namespaced = rbacObjects('k8s/rbac-namespaced.yaml');
    const key = (b: { roleRef?: { kind: string; name: string }; subjects?: Array<{ name: string }> }) =>
      `${b.roleRef!.kind}/${b.roleRef!.name} -> ${b.subjects!.map((s) => s.name).join(',')}`;
    const wide = cluster.filter((o) => o.kind === 'ClusterRoleBinding');
    expect(wide.length).toBe(5);
    const local = namespaced.filter((o) => o.kind === 'RoleBinding' && o.roleRef?.kind === 'ClusterRole');
    expect(new Set(local.map((b) => b.metadata.namespace))).toEqual(new Set(['demo']));
    expect(new Set(local.map(key))).toEqual(new Set(wide.map(key)));
    // `kubectl apply -f k8s/rbac.yaml -l pxc-tls-ops.io/rbac=roles` takes the roles and no binding.
    const label = (o: { metadata: { labels?: Record<string, string> } }) =>
      o.metadata.labels?.['pxc-tls-ops.io/rbac'];
    for (const o of cluster)
      expect(label(o as never), `${o.kind} ${o.metadata.name}`).toBe(
        o.kind === 'ClusterRole' ? 'roles' : 'cluster-wide',
      );
  });

  it('gives the state machine exactly the accepted input shape, and ignores other events', () => {
    const detail = {
      cluster: 'c',
      namespace: 'team-a',
      name: 'n',
      uid: 'u',
      type: 'ReconfigureTLS',
      database: 'd',
    };
    const pending = busEvent({
      Source: 'pxc-tls-ops',
      DetailType: 'PerconaXtraDBOpsRequest Pending',
      Detail: JSON.stringify(detail),
    });

    expect(JSON.parse(applyInputTransformer(rule.InputTransformer, pending))).toEqual({
      namespace: 'team-a',
      opsRequest: 'n',
    });
    const other = (patch: Record<string, unknown>) => ({ ...pending, ...patch });
    expect(matchesPattern(rule.Pattern, pending)).toBe(true);
    expect(matchesPattern(rule.Pattern, other({ detail: { ...detail, type: 'HorizontalScaling' } }))).toBe(
      false,
    );
    expect(matchesPattern(rule.Pattern, other({ 'detail-type': 'PerconaXtraDBOpsRequest Succeeded' }))).toBe(
      false,
    );
    expect(matchesPattern(rule.Pattern, other({ source: 'someone-else' }))).toBe(false);
  });
});
