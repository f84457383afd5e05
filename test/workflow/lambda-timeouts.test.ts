/**
 * A Lambda function that runs past its Timeout, through the real ASL: the local runner cuts the
 * invocation off with Sandbox.Timedout as Lambda does (Timeouts shortened here), and requests it
 * had already sent still reach the simulator.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { inspectTlsSecret } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { describe as news } from '../../local/runner/progress.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { addTls, evictions, NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-timeouts';
/** Restart pod's Lambda Timeout in these tests (30 s in template.yaml). */
const RESTART_POD_TIMEOUT = 3;

function serverSerial(world: World): string {
  return inspectTlsSecret({ 'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt') }).serial;
}

function allReady(world: World): boolean {
  return Object.keys(podUids(world, DB)).every((name) =>
    world
      .get(KINDS.Pod, name)
      ?.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      ),
  );
}

/** Eviction requests for one pod that the simulator has answered, by status. */
function evictionAnswers(world: World, pod: string): number[] {
  return world.sim.requests
    .all()
    .filter((r) => r.verb === 'evict' && r.path.endsWith(`/pods/${pod}/eviction`) && r.status !== 0)
    .map((r) => r.status);
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('A Lambda function that runs past its Timeout', () => {
  let world: World;
  beforeAll(async () => {
    // Holds end early once the pod is back; 1 s keeps even a slow one inside the short Timeout.
    process.env.CHECK_POD_HOLD_SECONDS = '1';
    world = await startWorld();
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'timeouts-add');
  });
  afterAll(async () => {
    delete process.env.CHECK_POD_HOLD_SECONDS;
    await world?.stop();
  });

  it('is retried: a Restart pod stuck on its eviction is cut off, run again, and the request succeeds; the eviction that lands late leaves the pod that came back alone', async () => {
    const stuck = `${DB}-1`;
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'timeouts-once', database: DB }));
    world.sim.requests.reset();
    // The API server sits on this eviction past the function's Timeout, then processes it: by
    // then the retried try has evicted the pod and its replacement is back.
    world.sim.faults.inject({
      method: 'POST',
      path: new RegExp(`/pods/${stuck}/eviction$`),
      times: 1,
      action: { delayMs: (RESTART_POD_TIMEOUT + 2) * 1000 },
    });
    const lines: string[] = [];

    const result = await world.run(
      { namespace: NS, opsRequest: 'timeouts-once' },
      {
        functionTimeouts: { RestartPodFunction: RESTART_POD_TIMEOUT },
        onProgress: (p) => {
          const line = news(p);
          if (line) lines.push(line.text);
        },
      },
    );
    // The cut-off try gets the answer to its late eviction now, and logs it: kept off the console.
    const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await until('the late eviction to be answered', () => evictionAnswers(world, stuck).length === 2);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      quiet.mockRestore();
    }

    expect(result.status, result.cause).toBe('SUCCEEDED');
    // One retry of Restart pod, by the retrier for Lambda timeouts.
    const retried = result.events
      .filter((e) => e.type === 'StateRetried' && e.state?.name === 'Restart pod')
      .map((e) => (e.retry as { retrier: { ErrorEquals: string[] } }).retrier.ErrorEquals);
    expect(retried).toEqual([['Sandbox.Timedout']]);
    expect(lines).toContain(
      `Restart pod: did not finish within its time limit (${RESTART_POD_TIMEOUT} s, the Timeout of its Lambda function); retry 1 of 2`,
    );
    // Each pod restarted once: the late eviction, sent for the old pod, was refused for the new one.
    expect(evictions(world)).toEqual({ [`${DB}-0`]: 1, [stuck]: 1, [`${DB}-2`]: 1 });
    expect(evictionAnswers(world, stuck).sort()).toEqual([201, 409]);
    expect(world.ops('timeouts-once').status?.phase).toBe('Successful');
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(allReady(world)).toBe(true);
  });

  it('fails after its retries when it hangs every time: rolled back, the database resumed, the reason names the step and its limit', async () => {
    const before = serverSerial(world);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'timeouts-always', database: DB }));
    let tries = 0;
    // Restart pod never answers for the second pod (the first has restarted on the new certificates).
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Restart pod'
        ? fn
        : async (input) => {
            if ((input as { pod?: { index?: number } }).pod?.index !== 1) return fn(input);
            tries++;
            return new Promise<never>(() => {});
          };

    const result = await world.run(
      { namespace: NS, opsRequest: 'timeouts-always' },
      { functionTimeouts: { RestartPodFunction: RESTART_POD_TIMEOUT }, wrapTask },
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Sandbox.Timedout');
    expect(tries).toBe(3);
    const ops = world.ops('timeouts-always');
    expect(ops.status?.phase).toBe('Failed');
    const reason = ops.status?.conditions?.find((c) => c.type === 'Failed')?.message ?? '';
    expect(reason).toMatch(
      new RegExp(
        `^The "Restart pods" step did not finish within its time limit \\(${RESTART_POD_TIMEOUT} s, the Timeout of its Lambda function\\), even when retried; .*; rolled back to the previous certificates and TLS settings`,
      ),
    );
    expect(reason).not.toMatch(/Sandbox|RequestId/);
    expect(serverSerial(world)).toBe(before);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
    expect(allReady(world)).toBe(true);
  });
});
