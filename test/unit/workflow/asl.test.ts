import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import {
  allStates,
  DEFINITION_PATH,
  HANDLERS,
  loadDefinition,
  substitute,
} from '../../../local/runner/index.js';

// asl-validator ships no type declarations.
const aslValidator = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
  isValid: boolean;
  errorsText: (separator: string) => string;
};

const raw = readFileSync(DEFINITION_PATH, 'utf8');
const def = loadDefinition();
const states = allStates(def);

describe('statemachine/reconfigure-tls.asl.json', () => {
  it('is valid ASL (asl-validator) once the placeholders are substituted', () => {
    const { isValid, errorsText } = aslValidator(JSON.parse(substitute(raw)));
    expect(isValid, errorsText('\n')).toBe(true);
  });

  it('loads in aws-local-stepfunctions with JSONPath checks on', () => {
    expect(() => new StateMachine(def as never, { validationOptions: { checkArn: false } })).not.toThrow();
  });

  it('uses JSONPath only: no JSONata, no Assign', () => {
    expect(raw).not.toMatch(/"QueryLanguage"|"Assign"|\{%/);
  });

  it('comments every state', () => {
    expect(
      states.filter(([, s]) => typeof s.Comment !== 'string' || s.Comment === '').map(([n]) => n),
    ).toEqual([]);
  });

  it('has only the agreed placeholders', () => {
    const placeholders = new Set([...raw.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]));
    expect([...placeholders].sort()).toEqual(
      [...Object.keys(HANDLERS).map((f) => `${f}Arn`), 'EventBusName', 'RecoveryDeadLetterQueueUrl'].sort(),
    );
  });

  it('names the Tasks like their functions (state "Change certificates" ↔ ChangeCertificatesFunction)', () => {
    const expected: Record<string, string> = {
      Validate: 'ValidateFunction',
      Pause: 'PauseFunction',
      'Change certificates': 'ChangeCertificatesFunction',
      'Restart pod': 'RestartPodFunction',
      'Reload pods': 'ReloadPodsFunction',
      'Check pod': 'CheckPodFunction',
      Resume: 'ResumeFunction',
      'Roll back': 'RollBackFunction',
    };
    for (const [state, fn] of Object.entries(expected)) {
      const s = states.find(([n]) => n === state)?.[1];
      expect(s?.Resource, state).toMatch(new RegExp(`:function:${fn}$`));
    }
  });

  it('restarts pods one at a time', () => {
    for (const [name, s] of states.filter(([, s]) => s.Type === 'Map'))
      expect(s.MaxConcurrency, name).toBe(1);
  });
});
