import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../local/sim/index.js';
import { type BuiltFunction, buildFunctions } from '../../scripts/build.js';
import { BUDGET, FUNCTION_ENV, importBundle } from '../../scripts/bundle-report.js';
import { loadTemplate, type Template, templateFunctions } from '../../scripts/template.js';
import { AWS_CALLS } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: template nodes are looked up by key, as CloudFormation does
type Node = any;

const template: Template = loadTemplate('template.yaml');
const functions = templateFunctions(template);
const asl = readFileSync('statemachine/reconfigure-tls.asl.json', 'utf8');
const stateMachine = template.Resources.ReconfigureTlsStateMachine!.Properties as Node;

/** Every object in the template with a `Statement` key: IAM policy documents of any kind. */
function statements(node: unknown, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  if (Array.isArray(node)) for (const n of node) statements(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'Statement') out.push(...(Array.isArray(v) ? v : [v]));
      statements(v, out);
    }
  }
  return out;
}

/** Does this function have a trigger: an event source, or a log subscription pointing at it? */
function triggered(logicalId: string): boolean {
  const fn = template.Resources[logicalId]!;
  if (Object.keys((fn.Properties?.Events as object | undefined) ?? {}).length > 0) return true;
  return Object.values(template.Resources).some(
    (r) =>
      r.Type === 'AWS::Logs::SubscriptionFilter' &&
      JSON.stringify(r.Properties?.DestinationArn) === JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }),
  );
}

/**
 * The IAM actions a function's role grants: its inline policies and the managed policies of this
 * template it attaches (AWS-managed ones — logs, X-Ray, VPC interfaces — are Lambda's own plumbing).
 */
function roleActions(functionId: string): Set<string> {
  const roleId = (template.Resources[functionId]!.Properties as Node).Role['Fn::GetAtt'][0] as string;
  const role = template.Resources[roleId]!;
  const attached = ((role.Properties!.ManagedPolicyArns as Node[]) ?? [])
    .filter((a) => a?.Ref && template.Resources[a.Ref])
    .map((a) => template.Resources[a.Ref]!);
  const separate = Object.values(template.Resources).filter(
    (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties!.Roles).includes(`"${roleId}"`),
  );
  return new Set(
    statements([role.Properties!.Policies, ...attached, ...separate]).flatMap((s) =>
      ([] as unknown[]).concat(s.Action).map(String),
    ),
  );
}

describe('template.yaml', () => {
  it('declares the eleven functions of the design, named after their handler files', () => {
    expect(functions.map((f) => f.logicalId).sort()).toEqual(
      [
        'ChangeCertificatesFunction',
        'CheckPodFunction',
        'ForwardAuditFunction',
        'PauseFunction',
        'ReloadPodsFunction',
        'ResumeFunction',
        'RestartPodFunction',
        'RollBackFunction',
        'ScanExpiryFunction',
        'SweepFunction',
        'ValidateFunction',
      ].sort(),
    );
    for (const f of functions) {
      const name = basename(f.entry, '.ts');
      const pascal = name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
      expect(f.logicalId).toBe(`${pascal}Function`);
      expect(f.handler).toBe(`${name}.handler`);
    }
  });

  it.each(functions.map((f) => [f.logicalId, f] as const))(
    '%s has a handler file and a sample event',
    (_, f) => {
      expect(f.entry).toMatch(/^functions\/handlers\/[a-z-]+\.ts$/);
      expect(existsSync(f.entry), f.entry).toBe(true);
      const samples = join('events', basename(f.entry, '.ts'));
      const files = existsSync(samples) ? readdirSync(samples).filter((n) => n.endsWith('.json')) : [];
      expect(files.length, `${samples}/*.json`).toBeGreaterThan(0);
      for (const file of files)
        expect(() => JSON.parse(readFileSync(join(samples, file), 'utf8'))).not.toThrow();
    },
  );

  it.each(functions.map((f) => [f.logicalId] as const))(
    '%s is used by the state machine or a trigger',
    (id) => {
      const substitution = Object.entries(stateMachine.DefinitionSubstitutions).find(
        ([, v]) => JSON.stringify(v) === JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }),
      );
      const inAsl = substitution !== undefined && asl.includes(`\${${substitution[0]}}`);
      expect(inAsl || triggered(id)).toBe(true);
    },
  );

  it('bundles every function as minified ESM for Node 22 with source maps and a require shim', () => {
    for (const f of functions) {
      const p = f.buildProperties;
      expect(template.Resources[f.logicalId]!.Metadata?.BuildMethod).toBe('esbuild');
      expect(p).toMatchObject({
        Format: 'esm',
        Platform: 'node',
        Target: 'node22',
        Minify: true,
        Sourcemap: true,
      });
      expect(p.OutExtension).toEqual(['.js=.mjs']);
      expect((p.Banner as string[])[0]).toMatch(/^js=.*createRequire.*import\.meta\.url/);
    }
    expect(template.Globals?.Function).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
  });

  it('grants no IAM action with a wildcard', () => {
    const all = statements(template.Resources);
    expect(all.length).toBeGreaterThan(4);
    for (const s of all) {
      expect(s.NotAction, JSON.stringify(s)).toBeUndefined();
      const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
      for (const a of actions) {
        expect(typeof a, JSON.stringify(s)).toBe('string');
        expect(a as string, JSON.stringify(s)).not.toContain('*');
      }
    }
  });

  it('scopes the functions to the one cluster, the one state machine and the one bus', () => {
    const docs = statements(template.Resources);
    const byAction = (action: string) => docs.filter((s) => s.Action === action);
    expect(byAction('eks:DescribeCluster')).toEqual([
      expect.objectContaining({
        Resource: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation !Sub syntax
          'Fn::Sub': 'arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${EksClusterName}',
        },
      }),
    ]);
    for (const s of byAction('states:StartExecution'))
      expect(s).toMatchObject({ Resource: { Ref: 'ReconfigureTlsStateMachine' } });
    for (const s of byAction('events:PutEvents'))
      expect(s).toMatchObject({ Resource: { 'Fn::GetAtt': ['EventBus', 'Arn'] } });
    expect(byAction('states:StartExecution').length).toBeGreaterThan(0);
    expect(byAction('events:PutEvents').length).toBeGreaterThan(0);
  });

  it.each(Object.entries(AWS_CALLS))('gives %s a role with exactly the AWS actions it calls', (id, calls) => {
    expect(roleActions(id)).toEqual(new Set(calls));
  });

  it('gives Reload pods a role and a Kubernetes group no other function shares', () => {
    const role = (id: string) => JSON.stringify((template.Resources[id]!.Properties as Node).Role);
    const reload = role('ReloadPodsFunction');
    expect(functions.filter((f) => role(f.logicalId) === reload).map((f) => f.logicalId)).toEqual([
      'ReloadPodsFunction',
    ]);
    const entries = Object.values(template.Resources).filter((r) => r.Type === 'AWS::EKS::AccessEntry');
    const groupsOf = (roleId: string) =>
      entries
        .filter(
          (e) =>
            JSON.stringify(e.Properties!.PrincipalArn) === JSON.stringify({ 'Fn::GetAtt': [roleId, 'Arn'] }),
        )
        .flatMap((e) => (e.Properties!.KubernetesGroups as unknown[]).map((g) => JSON.stringify(g)));
    const reloadRole = (template.Resources.ReloadPodsFunction!.Properties as Node).Role['Fn::GetAtt'][0];
    const reloadGroups = groupsOf(reloadRole);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation !Sub syntax
    expect(reloadGroups).toEqual([JSON.stringify({ 'Fn::Sub': '${KubernetesGroup}-reload' })]);
    // Every role has exactly one access entry, and no other role is mapped to the Reload group.
    for (const f of functions) {
      const id = (template.Resources[f.logicalId]!.Properties as Node).Role['Fn::GetAtt'][0];
      expect(groupsOf(id), id).toHaveLength(1);
      if (id !== reloadRole) expect(groupsOf(id)).not.toEqual(reloadGroups);
    }
  });

  it('substitutes every ASL placeholder and nothing else', () => {
    const placeholders = new Set([...asl.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]));
    expect(new Set(Object.keys(stateMachine.DefinitionSubstitutions))).toEqual(placeholders);
  });

  it('logs the state machine without execution data and traces it with X-Ray', () => {
    expect(stateMachine.Logging).toMatchObject({ IncludeExecutionData: false });
    expect(stateMachine.Tracing).toEqual({ Enabled: true });
    expect(stateMachine.DefinitionUri).toBe('statemachine/reconfigure-tls.asl.json');
  });

  it('starts the state machine from Pending ReconfigureTLS events, with retries and a dead-letter queue', () => {
    const rule = stateMachine.Events.OpsRequestPending;
    expect(rule.Type).toBe('EventBridgeRule');
    expect(rule.Properties.EventBusName).toEqual({ Ref: 'EventBus' });
    expect(rule.Properties.Pattern).toEqual({
      source: ['pxc-tls-ops'],
      'detail-type': ['PerconaXtraDBOpsRequest Pending'],
      detail: { type: ['ReconfigureTLS'] },
    });
    expect(rule.Properties.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    expect(rule.Properties.DeadLetterConfig).toEqual({
      Arn: { 'Fn::GetAtt': ['OpsRequestPendingDeadLetterQueue', 'Arn'] },
    });
  });

  it('schedules the sweep every 5 minutes and the expiry scan hourly, both as parameters', () => {
    const schedule = (id: string) => (template.Resources[id]!.Properties!.Events as Node).Schedule;
    expect(schedule('SweepFunction')).toMatchObject({
      Type: 'ScheduleV2',
      Properties: { ScheduleExpression: { Ref: 'SweepSchedule' } },
    });
    expect(schedule('ScanExpiryFunction')).toMatchObject({
      Type: 'ScheduleV2',
      Properties: { ScheduleExpression: { Ref: 'ExpiryScanSchedule' } },
    });
    expect(template.Parameters?.SweepSchedule?.Default).toBe('rate(5 minutes)');
    // Hourly: a maintenance window of an hour sees a scan, and 7-day certificates renew on time.
    expect(template.Parameters?.ExpiryScanSchedule?.Default).toBe('rate(1 hour)');
  });

  it('makes the audit subscription, the access entry and the VPC settings optional', () => {
    expect(template.Resources.AuditLogSubscription?.Condition).toBe('HasAuditLogGroup');
    expect(template.Resources.AuditLogInvokePermission?.Condition).toBe('HasAuditLogGroup');
    expect(template.Resources.WorkflowFunctionAccessEntry).toMatchObject({
      Type: 'AWS::EKS::AccessEntry',
      Condition: 'CreateAccessEntry',
      Properties: { KubernetesGroups: [{ Ref: 'KubernetesGroup' }] },
    });
    for (const r of Object.values(template.Resources).filter((r) => r.Type === 'AWS::EKS::AccessEntry'))
      expect(r.Condition).toBe('CreateAccessEntry');
    expect((template.Globals!.Function!.VpcConfig as Node)['Fn::If'][0]).toBe('HasVpc');
  });

  it('gives the functions the environment the code reads', () => {
    const env = (template.Globals!.Function!.Environment as Node).Variables;
    for (const name of [
      'EKS_CLUSTER_NAME',
      'CLUSTER_RESOURCE_NAMESPACE',
      'EVENT_BUS_NAME',
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_LOG_LEVEL',
    ]) {
      expect(env[name], name).toBeDefined();
    }
    const scan = template.Resources.ScanExpiryFunction!.Properties as Node;
    expect(scan.Environment.Variables.STATE_MACHINE_ARN).toEqual({ Ref: 'ReconfigureTlsStateMachine' });
  });

  it('outputs the state machine ARN, the bus name and every function role ARN', () => {
    const roles = new Set(
      functions.map((f) => (template.Resources[f.logicalId]!.Properties as Node).Role['Fn::GetAtt'][0]),
    );
    expect(Object.keys(template.Outputs ?? {})).toEqual(
      expect.arrayContaining(['StateMachineArn', 'EventBusName', ...[...roles].map((r) => `${r}Arn`)]),
    );
  });
});

describe('the bundles', () => {
  let outDir: string;
  let built: BuiltFunction[];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'pxc-bundles-'));
    built = await buildFunctions({ outDir });
  }, 300_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('build from the template settings, one per function, each with a source map without sources', () => {
    expect(built.map((b) => b.logicalId).sort()).toEqual(functions.map((f) => f.logicalId).sort());
    for (const b of built) {
      expect(b.outfile.startsWith(join(outDir, b.logicalId))).toBe(true);
      expect(b.outfile.endsWith(`${b.handler.split('.')[0]}.mjs`)).toBe(true);
      expect(b.args).toContain('--sources-content=false');
      const maps = readdirSync(join(outDir, b.logicalId)).filter((f) => f.endsWith('.map'));
      expect(maps).toContain(`${basename(b.outfile)}.map`);
      for (const map of maps)
        expect(
          JSON.parse(readFileSync(join(outDir, b.logicalId, map), 'utf8')).sourcesContent ?? [],
          map,
        ).toEqual([]);
    }
  });

  it('load at most 1 MB at a cold start, never the kubeconfig path (client-node, undici)', () => {
    for (const b of built) {
      expect(b.bytes, b.logicalId).toBeLessThanOrEqual(BUDGET.bytes);
      const loaded = b.packages.map((p) => p.name);
      expect(loaded, b.logicalId).not.toContain('@kubernetes/client-node');
      expect(loaded, b.logicalId).not.toContain('undici');
      // ... which still ships, as a chunk loaded on demand, for `sam local invoke` with a kubeconfig.
      expect(
        b.lazyPackages.map((p) => p.name),
        b.logicalId,
      ).toContain('@kubernetes/client-node');
    }
  });

  it('import on Node 22 and export a handler function', () => {
    // importBundle exits non-zero (and throws) when the bundle fails to load or has no handler.
    for (const b of built) expect(importBundle(b.outfile).importMs).toBeGreaterThan(0);
  }, 180_000);

  it('run against a cluster named by KUBECONFIG, as `sam local invoke` does with a kubeconfig', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pxc-bundle-kubeconfig-'));
    const sim = await startSimulator({
      kubeconfigPath: join(dir, 'kubeconfig'),
      https: true,
      namespaces: ['demo'],
    });
    try {
      sim.store.create({
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        metadata: { namespace: 'demo', name: 'pxops-done' },
        spec: {
          type: 'ReconfigureTLS',
          databaseRef: { name: 'sample-pxc' },
          tls: { rotateCertificates: true },
        },
        status: { phase: 'Successful' },
      });
      const sweep = built.find((b) => b.logicalId === 'SweepFunction')!;
      const invoke = `
        const { handler } = await import(process.argv[1]);
        const context = { functionName: 'sweep', awsRequestId: 'local', getRemainingTimeInMillis: () => 30000 };
        console.log(JSON.stringify(await handler({}, context)));`;
      // Asynchronous: the simulator answers from this process while the bundle runs in its own.
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--input-type=module', '-e', invoke, pathToFileURL(sweep.outfile).href],
        {
          env: { PATH: process.env.PATH, ...FUNCTION_ENV, KUBECONFIG: join(dir, 'kubeconfig') },
          timeout: 60_000,
        },
      );
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
        listed: 1,
        pending: 0,
        recovered: 0,
        listCalls: 1,
      });
      expect(sim.requests.countBy({ verb: 'list', resource: 'perconaxtradbopsrequests' })).toBe(1);
    } finally {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
