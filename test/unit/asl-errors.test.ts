import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CLASSES,
  type ErrorName,
  LAMBDA_SERVICE_ERRORS,
  LAMBDA_TIMEOUT,
} from '../../functions/errors.js';
import { parseTemplate } from '../../scripts/template.js';

const ASL_PATH = 'statemachine/reconfigure-tls.asl.json';
const aslText = readFileSync(ASL_PATH, 'utf8');

interface Rule {
  ErrorEquals: string[];
}
interface State {
  Type: string;
  Retry?: Rule[];
  Catch?: Rule[];
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
}

function states(def: { States: Record<string, State> }): Array<[string, State]> {
  return Object.entries(def.States).flatMap(([name, s]) => {
    const inner = s.ItemProcessor ?? s.Iterator;
    return [[name, s] as [string, State], ...(inner ? states(inner) : [])];
  });
}

const all = states(JSON.parse(aslText));
const retried = new Set(all.flatMap(([, s]) => (s.Retry ?? []).flatMap((r) => r.ErrorEquals)));
const caught = new Set(all.flatMap(([, s]) => (s.Catch ?? []).flatMap((r) => r.ErrorEquals)));
/**
 * Names Step Functions itself raises (States.*), the EventBridge integration raises (which of these
 * a Task may name is checked in asl-spec.test.ts), or Lambda raises around an invoke: those only as
 * spelt once in functions/errors.ts, so a misspelt one (never raised, never retried) is caught here.
 */
const LAMBDA_NAMES: ReadonlySet<string> = new Set([LAMBDA_TIMEOUT, ...LAMBDA_SERVICE_ERRORS]);
const isServiceName = (n: string) =>
  n.startsWith('States.') || n.startsWith('EventBridge.') || LAMBDA_NAMES.has(n);

describe('The state machine and the error module agree', () => {
  it('names only errors the code defines in ErrorEquals', () => {
    const unknown = [...retried, ...caught].filter((n) => !isServiceName(n) && !(n in ERROR_CLASSES));
    expect(unknown).toEqual([]);
  });

  it('retries every retryable error class somewhere', () => {
    const retryable = (Object.keys(ERROR_CLASSES) as ErrorName[]).filter(
      (n) => new ERROR_CLASSES[n]('x').retryable,
    );
    expect(retryable.filter((n) => !retried.has(n))).toEqual([]);
  });

  it('retries the Lambda timeout and every transient Lambda service error somewhere', () => {
    expect([...LAMBDA_NAMES].filter((n) => !retried.has(n))).toEqual([]);
  });

  it('catches every fatal error class somewhere', () => {
    const fatal = (Object.keys(ERROR_CLASSES) as ErrorName[]).filter(
      (n) => !new ERROR_CLASSES[n]('x').retryable,
    );
    expect(fatal.filter((n) => !caught.has(n))).toEqual([]);
  });

  it('never retries a fatal error', () => {
    const fatal = (Object.keys(ERROR_CLASSES) as ErrorName[]).filter(
      (n) => !new ERROR_CLASSES[n]('x').retryable,
    );
    expect(fatal.filter((n) => retried.has(n))).toEqual([]);
  });

  it('sets error names as string literals, so a minifier cannot change them', () => {
    for (const [name, Cls] of Object.entries(ERROR_CLASSES)) expect(new Cls('x').name).toBe(name);
  });

  it('gives every Task a Catch into the failure path, or is itself on it', () => {
    const failurePath = new Set(['Finish rollback', 'Publish failure', 'Publish success', 'Roll back']);
    const tasks = all.filter(([, s]) => s.Type === 'Task' || s.Type === 'Map');
    const inMaps = new Set(
      all.flatMap(([, s]) => Object.keys((s.ItemProcessor ?? s.Iterator)?.States ?? {})),
    );
    const uncaught = tasks
      .filter(([n, s]) => !s.Catch && !failurePath.has(n) && !inMaps.has(n))
      .map(([n]) => n);
    expect(uncaught).toEqual([]);
  });

  it.runIf(existsSync('template.yaml'))(
    'has a DefinitionSubstitutions entry in template.yaml for every placeholder of the ASL',
    () => {
      const template = parseTemplate(readFileSync('template.yaml', 'utf8'));
      const machines = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Serverless::StateMachine',
      );
      expect(machines.length).toBeGreaterThan(0);
      const subs = machines.flatMap((m) =>
        Object.keys((m.Properties?.DefinitionSubstitutions as object) ?? {}),
      );
      const placeholders = [...new Set([...aslText.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))];
      expect(placeholders.filter((p) => !subs.includes(p))).toEqual([]);
    },
  );
});
