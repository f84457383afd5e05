import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { restartComplete } from '../../../functions/steps/check-pod.js';
import { isPodReady, type PodObject } from '../../../functions/steps/common.js';
import {
  parseChangeCertificates,
  parseCheckPod,
  parsePause,
  parseReloadPods,
  parseRestartPod,
  parseResume,
  parseRollBack,
} from '../../../functions/steps/inputs.js';
import { parseExecutionInput, parseValidateEvent } from '../../../functions/steps/validate-input.js';

const PARSERS: Record<string, (e: unknown) => unknown> = {
  validate: parseValidateEvent,
  pause: parsePause,
  'change-certificates': parseChangeCertificates,
  'restart-pod': parseRestartPod,
  'reload-pods': parseReloadPods,
  'check-pod': parseCheckPod,
  resume: parseResume,
  'roll-back': parseRollBack,
  console: parseExecutionInput,
};

const samples = Object.keys(PARSERS).flatMap((dir) =>
  readdirSync(`events/${dir}`).map((file) => ({
    dir,
    file,
    event: JSON.parse(readFileSync(`events/${dir}/${file}`, 'utf8')),
  })),
);

describe('Sample events (events/<function>/*.json) pass their handler’s input validation', () => {
  it('has a sample for every function and the console', () => {
    expect(new Set(samples.map((s) => s.dir))).toEqual(new Set(Object.keys(PARSERS)));
  });
  it.each(samples)('$dir/$file', ({ dir, event }) => {
    expect(() => PARSERS[dir]!(event)).not.toThrow();
  });
});

describe('Execution input shapes', () => {
  it.each([
    { input: { namespace: 'demo', opsRequest: 'r' }, kind: 'by-name' },
    { input: { namespace: 'demo', database: 'db', tls: { rotateCertificates: true } }, kind: 'console' },
    {
      input: { namespace: 'demo', database: 'db', tls: {}, timeout: '5m', apply: 'Always' },
      kind: 'console',
    },
  ])('accepts $kind $input', ({ input, kind }) => {
    expect(parseExecutionInput(input).kind).toBe(kind);
  });

  it.each([
    { input: null, why: 'not a JSON object: got null null' },
    { input: [], why: 'not a JSON object: got array []' },
    { input: 'demo/sample-pxc', why: 'not a JSON object: got string "demo/sample-pxc"' },
    { input: { namespace: 'demo', opsRequest: 'r', database: 'db' }, why: 'unexpected field(s) database' },
    { input: { namespace: 'demo', database: 'db' }, why: 'tls: Required value' },
    {
      input: { namespace: 'demo', database: 'db', tls: 'yes' },
      why: 'tls: Invalid value: "yes": must be of type object',
    },
    { input: { namespace: '', opsRequest: 'r' }, why: 'namespace: Invalid value: "": must not be empty' },
    {
      input: { namespace: 'demo', database: 'db', tls: {}, timeout: 5 },
      why: 'timeout: Invalid value: 5: must be of type string',
    },
    {
      input: { namespace: 'demo', database: ['sample-pxc'], tls: { rotateCertificates: true } },
      why: 'database: Invalid value: ["sample-pxc"]: must be of type string',
    },
    {
      input: { namespace: 'Demo', opsRequest: 'r' },
      why: 'namespace: Invalid value: "Demo": must be a DNS-1123 label',
    },
    {
      input: { namespace: 'demo', database: 'db', tls: { rotateCertificates: 'yes' } },
      why: 'tls.rotateCertificates: Invalid value: "yes": must be of type boolean',
    },
    {
      input: { namespace: 'demo', database: 'db', tls: { rotate: true } },
      why: 'tls.rotate: Forbidden: field not declared in schema',
    },
    { input: { recover: {} }, why: 'recover: Invalid value: {}: must have at least 1 field' },
    {
      input: { recover: { database: 'db' } },
      why: 'recover needs "execution", or "namespace" and "opsRequest"',
    },
  ])('refuses $input ($why), showing both accepted shapes', ({ input, why }) => {
    expect(() => parseExecutionInput(input)).toThrow(why);
    expect(() => parseExecutionInput(input)).toThrow('"opsRequest": "<name>"');
  });

  it('names at most five unexpected fields, however many were sent', () => {
    const input: Record<string, unknown> = { namespace: 'demo', opsRequest: 'r' };
    for (let i = 0; i < 10_000; i++) input[`extra-${i}-${'x'.repeat(100)}`] = i;

    expect(() => parseExecutionInput(input)).toThrow(
      /unexpected field\(s\) ("extra-\d-x+"…[^,]*, ){4}"extra-4-x+"… \(\d+ characters\) and 9995 more\)/,
    );
    try {
      parseExecutionInput(input);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(1000);
    }
  });

  it('never echoes more than about 100 characters of a value', () => {
    const huge = { namespace: 'a'.repeat(1_000_000), opsRequest: 'r'.repeat(300_000) };
    let message = '';
    try {
      parseExecutionInput(huge);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('(1000000 characters)');
    expect(message).toContain('(300000 characters)');
    expect(message.length).toBeLessThan(1000);
  });

  it('accepts a recovery by execution, or by request', () => {
    expect(
      parseExecutionInput({ recover: { execution: 'e-1', status: 'ABORTED', via: 'event rule' } }),
    ).toEqual({
      kind: 'recover',
      execution: 'e-1',
      status: 'ABORTED',
      via: 'event rule',
    });
    expect(parseExecutionInput({ recover: { namespace: 'demo', opsRequest: 'r' } }).kind).toBe('recover');
  });
});

describe('Restart complete', () => {
  const pod = (name: string, uid: string, ready: boolean): PodObject => ({
    metadata: { name, uid },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  const view = (...pods: PodObject[]) => new Map(pods.map((p) => [p.metadata.name!, p]));

  it.each([
    {
      why: 'new UID, Ready, all replicas Ready',
      pods: view(pod('a', 'new', true), pod('b', 'b', true)),
      done: true,
    },
    { why: 'still the old pod', pods: view(pod('a', 'old', true), pod('b', 'b', true)), done: false },
    { why: 'new pod not Ready', pods: view(pod('a', 'new', false), pod('b', 'b', true)), done: false },
    {
      why: 'another replica not Ready',
      pods: view(pod('a', 'new', true), pod('b', 'b', false)),
      done: false,
    },
    { why: 'pod missing', pods: view(pod('b', 'b', true)), done: false },
  ])('$why → $done', ({ pods, done }) => {
    expect(restartComplete(pods, { name: 'a', uid: 'old' }, 2)).toBe(done);
  });

  it('does not count a terminating pod as Ready', () => {
    expect(
      isPodReady({
        ...pod('a', 'x', true),
        metadata: { name: 'a', deletionTimestamp: '2026-01-01T00:00:00Z' },
      }),
    ).toBe(false);
  });
});
