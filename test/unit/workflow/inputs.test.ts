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
import { parseExecutionInput, parseValidateEvent } from '../../../functions/steps/validate.js';

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
    { input: null, why: 'not a JSON object' },
    { input: [], why: 'not a JSON object' },
    { input: { namespace: 'demo', opsRequest: 'r', database: 'db' }, why: 'unexpected field(s) database' },
    { input: { namespace: 'demo', database: 'db' }, why: 'missing tls' },
    { input: { namespace: 'demo', database: 'db', tls: 'yes' }, why: 'tls must be an object' },
    { input: { namespace: '', opsRequest: 'r' }, why: 'non-empty strings' },
    {
      input: { namespace: 'demo', database: 'db', tls: {}, timeout: 5 },
      why: 'timeout must be a non-empty string',
    },
  ])('refuses $input ($why), showing both accepted shapes', ({ input, why }) => {
    expect(() => parseExecutionInput(input)).toThrow(why);
    expect(() => parseExecutionInput(input)).toThrow('"opsRequest": "<name>"');
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
