/**
 * The state machine definition against the rules AWS enforces when it creates the state machine and
 * that asl-validator and aws-local-stepfunctions do not check (both accept every broken definition
 * in the table at the bottom). Sources:
 * - Amazon States Language (states-language.net/spec.html): "StartAt ... MUST match exactly the name
 *   of one of the States"; "The value of the Next field MUST exactly and case-sensitively match the
 *   name of another state"; for Retry and Catch: "The reserved name States.ALL ... MUST appear alone
 *   in the ErrorEquals array and MUST appear in the last Retrier/Catcher".
 * - Step Functions' own validation: a state nothing transitions to fails CreateStateMachine with
 *   "MISSING_TRANSITION_TARGET: State "X" is not reachable" (see aws-cloudformation/cfn-lint#4073).
 * - Error handling in Step Functions: "States.TaskFailed ... acts as a wildcard that matches any known
 *   error name except for States.Timeout"; the optimized EventBridge integration fails the Task with
 *   EventBridge.FailedEntry when PutEvents reports a failed entry (connect-eventbridge), and service
 *   errors are named <Service>.<Error> — never one of the functions' error names.
 * - A Lambda Task whose TimeoutSeconds is not above the function's Timeout ends as States.Timeout
 *   while the function may still be running, instead of as the function's own timeout.
 * - That timeout fails the Task with Sandbox.Timedout (Lambda's error type for a function timeout);
 *   Step Functions' best practice "Handle transient Lambda service exceptions" has every Lambda Task
 *   retry Lambda.ClientExecutionTimeoutException, Lambda.ServiceException, Lambda.AWSLambdaException
 *   and Lambda.SdkClientException. Retriers are tried before any Catcher, so a Task whose Retry
 *   matches none of them hands a timeout or a Lambda hiccup straight to its Catch.
 *
 * Every rule walks every state, nested Map processors and Parallel branches included, so states
 * added later are held to the same rules.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAMBDA_SERVICE_ERRORS, LAMBDA_TIMEOUT } from '../../functions/errors.js';
import { loadTemplate, type Template } from '../../scripts/template.js';

// biome-ignore lint/suspicious/noExplicitAny: definitions are walked as the JSON they are
type Json = any;

interface Scope {
  /** Where the scope is, for messages: "" for the top level, else "<Map state>/". */
  path: string;
  def: { StartAt?: string; States: Record<string, Json> };
}

const ASL_PATH = 'statemachine/reconfigure-tls.asl.json';
const STATE_MACHINE = 'ReconfigureTlsStateMachine';
/** Lambda's default Timeout when neither the function nor Globals sets one. */
const LAMBDA_DEFAULT_TIMEOUT = 3;

/** The top-level machine and every nested Map processor / Parallel branch, each its own scope. */
function scopes(def: Scope['def'], path = ''): Scope[] {
  const out: Scope[] = [{ path, def }];
  for (const [name, state] of Object.entries(def.States ?? {})) {
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) out.push(...scopes(inner, `${path}${name}/`));
    for (const [i, branch] of (state.Branches ?? []).entries())
      out.push(...scopes(branch, `${path}${name}[${i}]/`));
  }
  return out;
}

/** Every transition target of a state, with where it was found. */
function targets(state: Json): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (state.Next !== undefined) out.push(['Next', state.Next]);
  if (state.Default !== undefined) out.push(['Default', state.Default]);
  for (const [i, c] of (state.Choices ?? []).entries()) out.push([`Choices[${i}].Next`, c.Next]);
  for (const [i, c] of (state.Catch ?? []).entries()) out.push([`Catch[${i}].Next`, c.Next]);
  return out;
}

function checkTransitions({ path, def }: Scope): string[] {
  const names = new Set(Object.keys(def.States));
  const problems: string[] = [];
  if (!def.StartAt || !names.has(def.StartAt))
    problems.push(`${path}StartAt "${def.StartAt}" is not a state`);
  for (const [name, state] of Object.entries(def.States))
    for (const [field, target] of targets(state))
      if (!names.has(target)) problems.push(`${path}${name}: ${field} "${target}" is not a state`);
  // Reachable = StartAt plus everything some reachable state transitions to.
  const reached = new Set<string>();
  const queue = def.StartAt && names.has(def.StartAt) ? [def.StartAt] : [];
  while (queue.length) {
    const name = queue.pop()!;
    if (reached.has(name)) continue;
    reached.add(name);
    for (const [, target] of targets(def.States[name])) if (names.has(target)) queue.push(target);
  }
  for (const name of names) if (!reached.has(name)) problems.push(`${path}${name}: state is not reachable`);
  return problems;
}

function checkStatesAll({ path, def }: Scope): string[] {
  const problems: string[] = [];
  for (const [name, state] of Object.entries(def.States))
    for (const field of ['Retry', 'Catch'] as const) {
      const rules: Json[] = state[field] ?? [];
      for (const [i, rule] of rules.entries()) {
        if (!rule.ErrorEquals.includes('States.ALL')) continue;
        if (rule.ErrorEquals.length !== 1)
          problems.push(`${path}${name}: ${field}[${i}] lists States.ALL beside other errors`);
        if (i !== rules.length - 1)
          problems.push(`${path}${name}: ${field}[${i}] has States.ALL but is not last`);
      }
    }
  return problems;
}

/** DefinitionSubstitutions `${Name}` → `!GetAtt <Function>.Arn` → that function's Timeout (with Globals). */
function functionTimeout(template: Template, resource: string): { fn: string; timeout: number } | undefined {
  const m = /^\$\{(\w+)\}$/.exec(resource);
  if (!m) return undefined;
  const subs = (template.Resources[STATE_MACHINE]?.Properties?.DefinitionSubstitutions ?? {}) as Json;
  const fn = subs[m[1]!]?.['Fn::GetAtt']?.[0] as string | undefined;
  const res = fn ? template.Resources[fn] : undefined;
  if (!fn || res?.Type !== 'AWS::Serverless::Function') return undefined;
  const timeout = Number(
    res.Properties?.Timeout ?? template.Globals?.Function?.Timeout ?? LAMBDA_DEFAULT_TIMEOUT,
  );
  return { fn, timeout };
}

function checkLambdaTimeouts({ path, def }: Scope, template: Template): string[] {
  const problems: string[] = [];
  for (const [name, state] of Object.entries(def.States)) {
    if (state.Type !== 'Task') continue;
    const target = functionTimeout(template, String(state.Resource));
    if (!target) continue;
    if (typeof state.TimeoutSeconds !== 'number')
      problems.push(
        `${path}${name}: Lambda Task has no TimeoutSeconds (${target.fn} Timeout ${target.timeout})`,
      );
    else if (state.TimeoutSeconds <= target.timeout)
      problems.push(
        `${path}${name}: TimeoutSeconds ${state.TimeoutSeconds} is not above ${target.fn} Timeout ${target.timeout}`,
      );
  }
  return problems;
}

const PUT_EVENTS = 'arn:aws:states:::events:putEvents';
/** What a putEvents Task can fail with: the integration's own errors and the States.* ones. */
const raisedByPutEvents = (error: string) => error.startsWith('EventBridge.') || error.startsWith('States.');
/** Does a retrier's ErrorEquals match this error name (the wildcards as the docs define them)? */
const matches = (errorEquals: string[], error: string) =>
  errorEquals.includes(error) ||
  errorEquals.includes('States.ALL') ||
  (errorEquals.includes('States.TaskFailed') && error !== 'States.Timeout');

function checkPutEvents({ path, def }: Scope): string[] {
  const problems: string[] = [];
  for (const [name, state] of Object.entries(def.States)) {
    if (state.Type !== 'Task' || state.Resource !== PUT_EVENTS) continue;
    for (const field of ['Retry', 'Catch'] as const)
      for (const rule of state[field] ?? [])
        for (const error of rule.ErrorEquals)
          if (!raisedByPutEvents(error))
            problems.push(`${path}${name}: ${field} names ${error}, which events:putEvents never raises`);
    if (!(state.Retry ?? []).some((r: Json) => matches(r.ErrorEquals, 'EventBridge.FailedEntry')))
      problems.push(`${path}${name}: no retrier for EventBridge.FailedEntry (a throttled or failed entry)`);
  }
  return problems;
}

/** Each attempt after a timeout runs the function for its whole Timeout again: a few, not many. */
const MAX_TIMEOUT_RETRIES = 3;

/** The retrier Step Functions would use for this error: the first whose ErrorEquals matches. */
const retrierFor = (state: Json, error: string): Json | undefined =>
  (state.Retry ?? []).find((r: Json) => matches(r.ErrorEquals, error));

function checkLambdaRetries({ path, def }: Scope, template: Template): string[] {
  const problems: string[] = [];
  for (const [name, state] of Object.entries(def.States)) {
    if (state.Type !== 'Task' || !functionTimeout(template, String(state.Resource))) continue;
    for (const error of [LAMBDA_TIMEOUT, ...LAMBDA_SERVICE_ERRORS]) {
      const retrier = retrierFor(state, error);
      // MaxAttempts defaults to 3; 0 means "never retry".
      const attempts = retrier ? (retrier.MaxAttempts ?? 3) : 0;
      if (attempts < 1)
        problems.push(`${path}${name}: no retrier for ${error}, so its Catch takes it at once`);
      else if (error === LAMBDA_TIMEOUT && attempts > MAX_TIMEOUT_RETRIES)
        problems.push(
          `${path}${name}: retries ${error} ${attempts} times (at most ${MAX_TIMEOUT_RETRIES}: each try runs the whole Timeout)`,
        );
    }
  }
  return problems;
}

function specProblems(definition: Json, template: Template): string[] {
  return scopes(definition).flatMap((scope) => [
    ...checkTransitions(scope),
    ...checkStatesAll(scope),
    ...checkLambdaTimeouts(scope, template),
    ...checkLambdaRetries(scope, template),
    ...checkPutEvents(scope),
  ]);
}

const definition = JSON.parse(readFileSync(ASL_PATH, 'utf8'));
const template = loadTemplate('template.yaml');

describe('The state machine definition, against the rules AWS applies when it is created', () => {
  it('meets every rule, in every state including those inside Map processors', () => {
    expect(specProblems(definition, template)).toEqual([]);
  });

  it('finds the Lambda functions of its Tasks through DefinitionSubstitutions', () => {
    const lambdaTasks = scopes(definition).flatMap(({ def }) =>
      Object.values(def.States).filter((s: Json) => functionTimeout(template, String(s.Resource))),
    );
    expect(lambdaTasks.length).toBeGreaterThanOrEqual(8);
  });

  /** Each rule, shown failing on a copy of the real definition broken in one place. */
  const broken: Array<[string, (d: Json) => void, RegExp]> = [
    [
      'States.ALL beside another error in a Catch',
      (d) => {
        d.States['Roll back'].Catch = [
          { ErrorEquals: ['RollbackError', 'States.ALL'], Next: 'Finish rollback' },
        ];
      },
      /Roll back: Catch\[0\] lists States\.ALL beside other errors/,
    ],
    [
      'States.ALL beside another error in a Map state’s Catch',
      (d) => {
        d.States['Check restored pods'].Catch[0].ErrorEquals = ['StepTimeoutError', 'States.ALL'];
      },
      /Check restored pods: Catch\[0\] lists States\.ALL/,
    ],
    [
      'States.ALL in a Retrier that is not the last',
      (d) => {
        d.States.Validate.Retry.unshift({ ErrorEquals: ['States.ALL'], MaxAttempts: 1 });
      },
      /Validate: Retry\[0\] has States\.ALL but is not last/,
    ],
    [
      'States.ALL combined inside a Map processor',
      (d) => {
        d.States['Restart pods'].ItemProcessor.States['Check pod'].Retry[0].ErrorEquals.push('States.ALL');
      },
      /Restart pods\/Check pod: Retry\[0\] lists States\.ALL/,
    ],
    [
      'a Next that names no state',
      (d) => {
        d.States.Pause.Next = 'Change certificate';
      },
      /Pause: Next "Change certificate" is not a state/,
    ],
    [
      'a Catch whose Next names no state',
      (d) => {
        d.States.Resume.Catch[0].Next = 'Rollback';
      },
      /Resume: Catch\[0\]\.Next "Rollback" is not a state/,
    ],
    [
      'a Choice Default that leaves the Map processor',
      (d) => {
        d.States['Restart pods'].ItemProcessor.States['Pod ready?'].Default = 'Resume';
      },
      /Restart pods\/Pod ready\?: Default "Resume" is not a state/,
    ],
    [
      'a StartAt that names no state',
      (d) => {
        d.StartAt = 'validate';
      },
      /StartAt "validate" is not a state/,
    ],
    [
      'a state nothing transitions to',
      (d) => {
        d.States.Orphan = { Type: 'Succeed' };
      },
      /Orphan: state is not reachable/,
    ],
    [
      'a Lambda Task that gives up exactly when its function does',
      (d) => {
        d.States['Change certificates'].TimeoutSeconds = 110;
      },
      /Change certificates: TimeoutSeconds 110 is not above ChangeCertificatesFunction Timeout 110/,
    ],
    [
      'a Lambda Task without TimeoutSeconds',
      (d) => {
        delete d.States['Restart pods'].ItemProcessor.States['Restart pod'].TimeoutSeconds;
      },
      /Restart pods\/Restart pod: Lambda Task has no TimeoutSeconds/,
    ],
    [
      'a Lambda Task whose Lambda timeout goes straight to its Catch',
      (d) => {
        const retry = d.States['Change certificates'].Retry;
        d.States['Change certificates'].Retry = retry.filter(
          (r: Json) => !r.ErrorEquals.includes('Sandbox.Timedout'),
        );
      },
      /Change certificates: no retrier for Sandbox\.Timedout/,
    ],
    [
      'a Lambda Task inside a Map processor that does not retry a Lambda timeout',
      (d) => {
        const retry = d.States['Restart pods'].ItemProcessor.States['Check pod'].Retry;
        for (const r of retry) r.ErrorEquals = r.ErrorEquals.filter((e: string) => e !== 'Sandbox.Timedout');
        d.States['Restart pods'].ItemProcessor.States['Check pod'].Retry = retry.filter(
          (r: Json) => r.ErrorEquals.length,
        );
      },
      /Restart pods\/Check pod: no retrier for Sandbox\.Timedout/,
    ],
    [
      'a retrier that matches a Lambda timeout first but never retries it',
      (d) => {
        d.States.Resume.Retry.unshift({ ErrorEquals: ['Sandbox.Timedout'], MaxAttempts: 0 });
      },
      /Resume: no retrier for Sandbox\.Timedout/,
    ],
    [
      'a Lambda timeout retried as often as a throttled API call',
      (d) => {
        d.States.Pause.Retry.find((r: Json) => r.ErrorEquals.includes('Sandbox.Timedout')).MaxAttempts = 6;
      },
      /Pause: retries Sandbox\.Timedout 6 times/,
    ],
    [
      'a Lambda Task without the best practice’s Lambda.ClientExecutionTimeoutException',
      (d) => {
        for (const r of d.States['Roll back'].Retry)
          r.ErrorEquals = r.ErrorEquals.filter((e: string) => e !== 'Lambda.ClientExecutionTimeoutException');
      },
      /Roll back: no retrier for Lambda\.ClientExecutionTimeoutException/,
    ],
    [
      'a putEvents Task retrying Kubernetes errors',
      (d) => {
        d.States['Publish failure'].Retry.unshift({ ErrorEquals: ['KubeThrottledError'] });
      },
      /Publish failure: Retry names KubeThrottledError, which events:putEvents never raises/,
    ],
    [
      'a putEvents Task retrying only Lambda errors',
      (d) => {
        d.States['Publish success'].Retry = [{ ErrorEquals: ['Lambda.ServiceException'] }];
      },
      /Publish success: no retrier for EventBridge\.FailedEntry/,
    ],
  ];

  it.each(broken)('catches %s', (_, breakIt, expected) => {
    const copy = structuredClone(definition);
    breakIt(copy);
    expect(specProblems(copy, template).join('\n')).toMatch(expected);
  });
});
