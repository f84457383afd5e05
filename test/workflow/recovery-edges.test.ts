/**
 * The recovery's and the sweep's edge cases that no other test reaches: who a recovery refuses to act
 * for, a recovery of an execution stopped before any change, the wait message for a request whose
 * execution died, and the sweep's choices for closed executions, claims without a lease and pauses
 * that are not ours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import {
  CLAIM_ANNOTATION,
  CLAIMED_AT_ANNOTATION,
  LEASE_SECONDS_ANNOTATION,
  LEASE_UNTIL_ANNOTATION,
} from '../../functions/model/names.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { claimNeedsRecovery, stalePauses } from '../../functions/steps/sweep.js';
import type { TaskFn } from '../../local/runner/index.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, paused, startWorld, sweepOnce, type World } from './helpers.js';

const DB = 'px-edges';

/** Writes (not reads) the API server applied since the request log was last reset. */
const writes = (world: World) =>
  world.sim.requests
    .all()
    .filter((r) => !['get', 'list', 'watch'].includes(r.verb) && r.status < 300)
    .map((r) => `${r.verb} ${r.path}`);

/** A request as an execution left it: Progressing, with the claim annotations given. */
function leftBehind(world: World, name: string, annotations: Record<string, string>) {
  world.createOps(opsRequestFrom('pxcops-rotate', { name, database: DB }));
  const o = world.ops(name);
  world.sim.store.put({
    ...o,
    metadata: { ...o.metadata, annotations: { ...(o.metadata.annotations ?? {}), ...annotations } },
    status: { phase: 'Progressing' },
  });
}

describe('Recovery and sweep edge cases', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('a recovery for an execution that no longer holds the request does nothing: "claimed by X, not by Y"', async () => {
    leftBehind(world, 'edge-other', { [CLAIM_ANNOTATION]: 'exec-new' });
    world.sim.requests.reset();

    const r = await world.run({
      recover: { namespace: NS, opsRequest: 'edge-other', execution: 'exec-old', status: 'ABORTED' },
    });

    expect(r.output).toMatchObject({ skip: true, reason: 'claimed by execution exec-new, not by exec-old' });
    expect(writes(world)).toEqual([]);
    expect(world.ops('edge-other').metadata.annotations?.[CLAIM_ANNOTATION]).toBe('exec-new');
    await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'edge-other' });
  });

  it('a recovery of a request nobody claimed does nothing: "not claimed by any execution"', async () => {
    leftBehind(world, 'edge-unclaimed', {});
    world.sim.requests.reset();

    const r = await world.run({
      recover: { namespace: NS, opsRequest: 'edge-unclaimed', execution: 'exec-x', status: 'ABORTED' },
    });

    expect(r.output).toMatchObject({
      skip: true,
      reason: 'not claimed by any execution: nothing was started',
    });
    expect(writes(world)).toEqual([]);
    await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'edge-unclaimed' });
  });

  it('a recovery of a deleted request whose database it does not pause does nothing: "not paused by …"', async () => {
    world.sim.requests.reset();

    const r = await world.run({
      recover: { namespace: NS, opsRequest: 'edge-gone', database: DB, via: 'sweep' },
    });

    expect(r.output).toMatchObject({
      skip: true,
      reason: `PerconaXtraDB ${NS}/${DB} is not paused by PerconaXtraDBOpsRequest ${NS}/edge-gone`,
    });
    expect(writes(world)).toEqual([]);
  });

  it('a recovery of an execution stopped before any change resumes the database and says nothing had changed', async () => {
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'edge-early', database: DB }));
    const controller = new AbortController();
    const stopped = await world.run(
      { namespace: NS, opsRequest: 'edge-early' },
      {
        executionName: 'edge-early-1',
        signal: controller.signal,
        wrapTask: (state, fn): TaskFn =>
          state !== 'Change certificates'
            ? fn
            : async () => {
                controller.abort();
                throw new Error('stopped');
              },
      },
    );
    expect(stopped.status, stopped.cause).toBe('ABORTED');
    expect(paused(world, DB)).toBe(true);

    const r = await world.run({ recover: { execution: 'edge-early-1', status: 'ABORTED' } });

    expect(r.status).toBe('FAILED');
    const failed = world.ops('edge-early').status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.message).toMatch(
      /^execution edge-early-1 was stopped \(ABORTED\) before it could roll back; recovered by execution \S+ \(event rule\); no change had been made yet, nothing to roll back$/,
    );
    expect(paused(world, DB)).toBe(false);
  });

  it('a request waiting for one whose execution stopped renewing its lease says so, and stays Pending past its timeout', async () => {
    leftBehind(world, 'edge-dead', {
      [CLAIM_ANNOTATION]: 'exec-dead',
      [LEASE_UNTIL_ANNOTATION]: new Date(Date.now() - 60_000).toISOString(),
      [LEASE_SECONDS_ANNOTATION]: '60',
    });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'edge-waits', database: DB, spec: { timeout: '2s' } }),
    );
    try {
      const r = await world.run({ namespace: NS, opsRequest: 'edge-waits' });

      // Failing it would unpause the other request's database (KubeDB's ops webhook resumes a
      // database whenever any of its requests completes): it is left Pending for the sweep.
      const why =
        /PerconaXtraDBOpsRequest demo\/edge-dead \(Progressing\) holds PerconaXtraDB demo\/px-edges \(its execution exec-dead stopped renewing its lease at \S+: run that request again, or recover it, to free the database\)/;
      expect(r.status).toBe('SUCCEEDED');
      expect(r.output).toMatchObject({ skip: true, reason: expect.stringMatching(why) });
      const waiting = world.ops('edge-waits');
      expect(waiting.status?.phase).toBe('Pending');
      expect(waiting.status?.conditions?.find((c) => c.type === 'WaitingForDatabase')?.message).toMatch(why);
    } finally {
      for (const n of ['edge-dead', 'edge-waits'])
        await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: n });
    }
  });

  it('the sweep recovers claims whose execution FAILED, and claims without a lease once a default lease has passed since the claim', async () => {
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    leftBehind(world, 'edge-failed', { [CLAIM_ANNOTATION]: 'exec-failed' });
    leftBehind(world, 'edge-nolease-old', {
      [CLAIM_ANNOTATION]: 'exec-nolease-old',
      [CLAIMED_AT_ANNOTATION]: old,
    });
    leftBehind(world, 'edge-nolease-new', {
      [CLAIM_ANNOTATION]: 'exec-nolease-new',
      [CLAIMED_AT_ANNOTATION]: new Date().toISOString(),
    });
    const { result, started } = await sweepOnce(world, { 'exec-failed': 'FAILED' });

    expect(result.recovered.map((r) => `${r.opsRequest} ${r.status}`).sort()).toEqual([
      'edge-failed FAILED',
      'edge-nolease-old UNKNOWN',
    ]);
    expect(
      started.map((s) => (s.input as { recover: { execution: string } }).recover.execution).sort(),
    ).toEqual(['exec-failed', 'exec-nolease-old']);
    for (const n of ['edge-failed', 'edge-nolease-old', 'edge-nolease-new'])
      await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: n });
  });

  it('the sweep leaves alone a database paused by someone else (not one of our requests)', async () => {
    const d = world.db(DB);
    const mine: PerconaXtraDB = {
      ...d,
      status: {
        ...(d.status ?? {}),
        conditions: [
          ...(d.status?.conditions ?? []),
          {
            type: 'Paused',
            status: 'True',
            reason: 'PausedByUser',
            message: 'paused by the DBA for maintenance',
          },
        ],
      },
    };
    world.sim.store.put(mine);
    try {
      const { result, started } = await sweepOnce(world);

      expect(result.recovered).toEqual([]);
      expect(started).toEqual([]);
      // Pure: only a Paused condition that names a request that no longer exists is ours to resume.
      const byGone = {
        ...mine,
        metadata: { ...mine.metadata, name: 'px-other' },
        status: {
          conditions: [
            {
              type: 'Paused',
              status: 'True',
              message: `Paused by PerconaXtraDBOpsRequest ${NS}/gone for ReconfigureTLS`,
            },
          ],
        },
      } as PerconaXtraDB;
      expect(stalePauses([mine, byGone], [] as PerconaXtraDBOpsRequest[])).toEqual([
        { namespace: NS, opsRequest: 'gone', database: 'px-other' },
      ]);
      // A closed execution is recovered whatever its lease says; a running one never.
      const claimed = {
        metadata: { annotations: { [CLAIM_ANNOTATION]: 'e' } },
      } as unknown as PerconaXtraDBOpsRequest;
      expect(claimNeedsRecovery(claimed, 'FAILED', new Date())).toBe(true);
      expect(claimNeedsRecovery(claimed, 'RUNNING', new Date(Date.now() + 3_600_000))).toBe(false);
    } finally {
      world.sim.store.put({
        ...world.db(DB),
        status: { ...(world.db(DB).status ?? {}), conditions: d.status?.conditions ?? [] },
      });
    }
  });
});
