/**
 * template.yaml as a real account receives it: what the SAM transform generates from it (rules read
 * in aws-sam-translator's source, cited per test) and what a second stack, an unattended deploy and a
 * private cluster need. Every check iterates over every resource or function, so resources added
 * later are held to it too. CI also translates the template with aws-sam-translator itself for two
 * stack names (scripts/check-sam-translate.py).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplate, type Template } from '../../scripts/template.js';

// biome-ignore lint/suspicious/noExplicitAny: template nodes are looked up by key, as CloudFormation does
type Node = any;

const template: Template = loadTemplate('template.yaml');
const resources = Object.entries(template.Resources);
const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation !Sub syntax
const STACK_NAME = '${AWS::StackName}';

/** A name value that stays the same in every stack: a literal, or a Sub/Join of literals only. */
function fixedName(value: Node): boolean {
  if (typeof value === 'string') return true;
  if (value?.['Fn::Sub'] !== undefined) {
    const text: string = Array.isArray(value['Fn::Sub']) ? value['Fn::Sub'][0] : value['Fn::Sub'];
    const vars = [...text.matchAll(/\$\{([^}!]+)\}/g)].map((m) => m[1]!);
    // Region, account and partition are the same for a second stack in the same account and region.
    return vars.every((v) =>
      ['AWS::Region', 'AWS::AccountId', 'AWS::Partition', 'AWS::URLSuffix'].includes(v),
    );
  }
  if (value?.['Fn::Join'] !== undefined) return (value['Fn::Join'][1] as Node[]).every(fixedName);
  return false; // Ref, GetAtt, If, ...: named by a parameter or after another resource
}

/** Names scoped to a parent, not to the account and region (an inline policy's name, per role). */
const SCOPED = new Set(['AWS::IAM::Policy/PolicyName']);

/** Events of SAM resources, with the logical id SAM gives what it generates from them. */
const samEvents = resources.flatMap(([id, r]) =>
  Object.entries((r.Properties?.Events as Record<string, Node> | undefined) ?? {}).map(([name, event]) => ({
    owner: id,
    name,
    generatedId: `${id}${name}`,
    event,
  })),
);

function statements(node: unknown, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  if (Array.isArray(node)) for (const n of node) statements(n, out);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === 'Statement') out.push(...(Array.isArray(v) ? v : [v]));
      statements(v, out);
    }
  return out;
}
const grantsXray = (s: Record<string, unknown>) =>
  ([] as unknown[]).concat(s.Action).some((a) => String(a).startsWith('xray:'));
const XRAY_MANAGED = /AWSXrayWriteOnlyAccess|AWSXRayDaemonWriteAccess/;

describe('On a real account, template.yaml', () => {
  it('names nothing it creates with a fixed name, so a second stack fits in the same account and region', () => {
    const fixed: string[] = [];
    for (const [id, r] of resources)
      for (const [key, value] of Object.entries(r.Properties ?? {}))
        if (key.endsWith('Name') && !SCOPED.has(`${r.Type}/${key}`) && fixedName(value))
          fixed.push(`${id}.${key} = ${JSON.stringify(value)}`);
    // SAM names the schedule of a ScheduleV2 event after the function and event (`Name or logical id`)
    // unless OmitName is set (samtranslator/model/eventsources/scheduler.py; SAM issue #3109).
    for (const { generatedId, event } of samEvents)
      if (event.Type === 'ScheduleV2' && !event.Properties?.OmitName) {
        const name = event.Properties?.Name;
        if (name === undefined || fixedName(name))
          fixed.push(`${generatedId} (ScheduleV2) = ${JSON.stringify(name ?? generatedId)}`);
      }
    expect(fixed).toEqual([]);
  });

  it('names its own log groups after the stack', () => {
    for (const [id, r] of ofType('AWS::Logs::LogGroup'))
      expect(JSON.stringify(r.Properties?.LogGroupName ?? ''), id).toContain(STACK_NAME);
  });

  it('logs every function to a log group of its own with the stack’s retention', () => {
    const groups = new Set<string>();
    for (const [id, fn] of ofType('AWS::Serverless::Function')) {
      const ref = (fn.Properties?.LoggingConfig as Node)?.LogGroup?.Ref as string | undefined;
      expect(ref, `${id} LoggingConfig.LogGroup`).toBeDefined();
      expect(groups.has(ref!), `${id} shares ${ref}`).toBe(false);
      groups.add(ref!);
      expect(template.Resources[ref!]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: { Ref: 'LogRetentionDays' } },
      });
    }
    for (const [id, sm] of ofType('AWS::Serverless::StateMachine'))
      for (const d of (sm.Properties?.Logging as Node)?.Destinations ?? []) {
        const group = d.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
        expect(template.Resources[group]?.Properties?.RetentionInDays, `${id} → ${group}`).toEqual({
          Ref: 'LogRetentionDays',
        });
      }
  });

  it('keeps undeliverable events 14 days, in queues the rules may write to', () => {
    for (const { generatedId, event } of samEvents) {
      const dlq = event.Properties?.DeadLetterConfig;
      if (!dlq) continue;
      // `Type: SQS` makes SAM create the queue itself, with SQS's default of 4 days
      // (samtranslator/model/eventbridge_utils.py); an Arn leaves queue and policy to us.
      expect(dlq.Type, `${generatedId} DeadLetterConfig`).toBeUndefined();
      const queue = dlq.Arn['Fn::GetAtt'][0] as string;
      const policies = ofType('AWS::SQS::QueuePolicy').filter(([, p]) =>
        JSON.stringify(p.Properties?.Queues).includes(`"Ref":"${queue}"`),
      );
      expect(
        policies.flatMap(([, p]) => statements(p.Properties)),
        `${queue} policy for rule ${generatedId}`,
      ).toContainEqual(
        expect.objectContaining({
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [generatedId, 'Arn'] } } },
        }),
      );
    }
    for (const [id, q] of ofType('AWS::SQS::Queue'))
      expect(q.Properties?.MessageRetentionPeriod, id).toBe(14 * 24 * 3600);
  });

  it('grants X-Ray once per role', () => {
    // A traced state machine's generated role gets AWSXrayWriteOnlyAccess from SAM
    // (samtranslator/model/stepfunctions/generators.py, _construct_role): its Policies add none.
    for (const [id, sm] of ofType('AWS::Serverless::StateMachine'))
      if ((sm.Properties?.Tracing as Node)?.Enabled)
        expect(statements(sm.Properties?.Policies).filter(grantsXray), id).toEqual([]);
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      const managed = JSON.stringify(role.Properties?.ManagedPolicyArns ?? []).match(
        new RegExp(XRAY_MANAGED.source, 'g'),
      );
      const inline = statements(role.Properties?.Policies).filter(grantsXray);
      expect((managed?.length ?? 0) + inline.length, id).toBeLessThanOrEqual(1);
    }
  });

  it('deploys unattended once the first guided deploy is done (samconfig.toml)', () => {
    const config = readFileSync('samconfig.toml', 'utf8');
    const deploySections = config.split(/^\[/m).filter((s) => /^[\w-]+\.deploy\.parameters\]/.test(s));
    expect(deploySections.length).toBeGreaterThan(0);
    for (const section of deploySections) {
      expect(section).toMatch(/^confirm_changeset\s*=\s*false$/m);
      expect(section).toMatch(/^fail_on_empty_changeset\s*=\s*false$/m);
    }
  });

  it('lists, for private clusters, the interface endpoints of exactly the AWS APIs the functions call', () => {
    // The services the code has clients for: @aws-sdk/client-<x> imports under functions/.
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    const clients = new Set(
      files('functions').flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/['"]@aws-sdk\/client-([a-z0-9-]+)['"]/g)].map((m) => m[1]!),
      ),
    );
    // SDK package → the service name of its VPC endpoint (com.amazonaws.<region>.<name>).
    const ENDPOINT: Record<string, string> = { eks: 'eks', eventbridge: 'events', sfn: 'states', sts: 'sts' };
    const needed = [...clients].map((c) => ENDPOINT[c] ?? `unknown client ${c}`).sort();
    const readme = readFileSync('README.md', 'utf8');
    const listed = [
      ...new Set([...readme.matchAll(/com\.amazonaws\.<region>\.([a-z0-9-]+)/g)].map((m) => m[1]!)),
    ].sort();
    expect(listed).toEqual(needed);
    // The token is presigned offline (functions/kube/token.ts): nothing calls STS.
    expect(needed).not.toContain('sts');
    expect(readme).not.toMatch(/route to STS/);
  });

  it('states the CheckPod and RestartPod timeouts in docs/how-it-works.md as the template sets them', () => {
    const timeout = (id: string) =>
      Number(template.Resources[id]!.Properties?.Timeout ?? template.Globals?.Function?.Timeout ?? 3);
    const readme = readFileSync('docs/how-it-works.md', 'utf8');
    for (const id of ['CheckPodFunction', 'RestartPodFunction']) {
      const stated = new RegExp(`${id}'s (\\d+) s`).exec(readme);
      expect(stated?.[1], `docs/how-it-works.md: "${id}'s <n> s"`).toBe(String(timeout(id)));
    }
  });
});
