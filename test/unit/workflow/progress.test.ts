import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Progress } from '../../../local/runner/index.js';
import { describe as news, progressPrinter, REFRESH_MS } from '../../../local/runner/progress.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const pod = { name: 'db-1', index: 1, total: 3 };
const p = (o: Partial<Progress>): Progress => ({
  event: 'done',
  state: 'Check pod',
  type: 'Task',
  elapsedMs: 1000,
  startedAt: START,
  ...o,
});

describe('Progress lines', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('repeats the reason of a wait at least every 10 s while nothing new comes', () => {
    const lines: string[] = [];
    const printer = progressPrinter('', (l) => lines.push(l));
    printer(
      p({
        pod,
        output: {
          check: {
            ready: false,
            message: 'mysqld: unable to load certificate',
            deadline: '2026-01-01T00:10:00Z',
          },
        },
      }),
    );
    vi.advanceTimersByTime(REFRESH_MS + 1000);
    printer.stop();

    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /still waiting \(1\d\.\ds\): pod 2\/3 db-1 not Ready yet: mysqld: unable to load certificate/,
    );
  });

  it('stops repeating once something new has happened', () => {
    const lines: string[] = [];
    const printer = progressPrinter('', (l) => lines.push(l));
    printer(p({ pod, output: { check: { ready: false, message: 'starting', deadline: 'x' } } }));
    printer(
      p({
        pod,
        output: { check: { ready: true, uid: 'new-uid', readyAt: new Date(START + 1500).toISOString() } },
      }),
    );
    vi.advanceTimersByTime(3 * REFRESH_MS);
    printer.stop();

    expect(lines.at(-1)).toContain('pod 2/3 db-1 Ready again, new UID new-uid');
    expect(lines.join('\n')).not.toContain('still waiting');
  });

  it('prints nothing for a state merely entered, an iteration the runner cancelled, or a rollback that restored nothing', () => {
    expect(news(p({ event: 'entered', state: 'Restart pod', pod }))).toBeUndefined();
    expect(
      news(
        p({
          event: 'failed',
          state: 'Restart pod',
          pod,
          error: { name: 'LocalIterationCancelled', cause: 'x' },
        }),
      ),
    ).toBeUndefined();
    expect(
      news(p({ state: 'Roll back', output: { rollback: { restored: false, pods: [] } } })),
    ).toBeUndefined();
  });

  it('says a retry in words, with the API answer as a detail', () => {
    const line = news(
      p({
        event: 'failed',
        state: 'Validate',
        error: {
          name: 'KubeUnavailableError',
          cause: 'GET /api/v1/x: connect ECONNREFUSED',
          retry: { attempt: 2, of: 6 },
        },
      }),
    );
    expect(line?.text).toBe(
      'Validate: the Kubernetes API server did not answer [API: GET /api/v1/x: connect ECONNREFUSED]; retry 2 of 6',
    );
  });

  it('says a Lambda timeout in words: the step and its limit, never Lambda’s raw message', () => {
    const timedOut = (retry?: { attempt: number; of: number }) =>
      news(
        p({
          event: 'failed',
          state: 'Restart pod',
          error: {
            name: 'Sandbox.Timedout',
            cause: 'RequestId: 3f2a Error: Task timed out after 30.00 seconds',
            ...(retry ? { retry } : {}),
          },
        }),
      )?.text;
    expect(timedOut({ attempt: 1, of: 2 })).toBe(
      'Restart pod: did not finish within its time limit (30 s, the Timeout of its Lambda function); retry 1 of 2',
    );
    expect(timedOut()).toMatch(
      /^Restart pod stopped: The "Restart pod" step did not finish within its time limit \(30 s, the Timeout of its Lambda function\), even when retried; /,
    );
    expect(timedOut()).not.toMatch(/RequestId|Sandbox/);
  });
});

describe('What a DBA sees of a recovery', () => {
  const at = (p: Partial<Progress>): Progress =>
    ({ state: 'Validate', type: 'Task', event: 'done', elapsedMs: 0, startedAt: 0, ...p }) as Progress;

  it('names the request it recovers and the execution it takes over from, not an empty plan', () => {
    expect(
      news(
        at({
          event: 'entered',
          input: { request: { recover: { execution: 'rotate-1', status: 'ABORTED' } } },
        }),
      )?.text,
    ).toBe('recovering the request execution rotate-1 claimed');
    expect(
      news(
        at({
          output: {
            namespace: 'demo',
            opsRequest: 'pxops-rotate',
            skip: false,
            recovery: { from: 'rotate-1', via: 'event rule' },
          },
        }),
      )?.text,
    ).toBe(
      'demo/pxops-rotate: taking over from execution rotate-1 (event rule): restoring what it changed, then resuming the database',
    );
    expect(
      news(
        at({
          output: {
            namespace: 'demo',
            opsRequest: 'pxops-rotate',
            skip: false,
            recovery: { from: 'local-1', resume: true, via: 'lease take-over' },
          },
        }),
      )?.text,
    ).toMatch(
      /taking over from execution local-1, whose lease ran out: restoring what it changed, then starting over$/,
    );
  });

  it('reads the request from the wrapped input Validate gets', () => {
    expect(
      news(
        at({ event: 'entered', input: { request: { namespace: 'demo', opsRequest: 'r' }, execution: 'e' } }),
      )?.text,
    ).toBe('checking PerconaXtraDBOpsRequest demo/r, its database and issuer');
  });

  it.each([
    { why: 'a 590 KB namespace', request: { namespace: 'n'.repeat(590_000), opsRequest: 'r' } },
    { why: 'a 590 KB database', request: { namespace: 'demo', database: 'd'.repeat(590_000), tls: {} } },
    {
      why: 'a 590 KB request name to recover',
      request: { recover: { namespace: 'demo', opsRequest: 'o'.repeat(590_000) } },
    },
    { why: 'a 590 KB execution to recover', request: { recover: { execution: 'e'.repeat(590_000) } } },
    {
      why: 'a namespace that is an object',
      request: { namespace: { x: 'y'.repeat(590_000) }, opsRequest: 'r' },
    },
  ])('prints an input name Validate has not checked yet only clipped: $why', ({ request }) => {
    const line = news(at({ event: 'entered', input: { request, execution: 'e' } }))!.text;

    expect(line.length).toBeLessThan(200);
    expect(line).toMatch(/… \(590\d{3} characters( of JSON)?\)/);
  });
});
