/**
 * What a DBA sees while a request runs (issue "live reasons while waiting, honest progress, plain
 * errors"): every wait says why, in the terminal and in the OpsRequest's Events; pod lines say
 * when a pod was evicted and when it was Ready again; nothing is printed for work that did not
 * happen; refusals are not rollbacks; an identical request changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { Progress } from '../../local/runner/index.js';
import { progressPrinter } from '../../local/runner/progress.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, podUids, startWorld, type World } from './helpers.js';

const DB = 'px-sees';

interface SimEvent {
  reason: string;
  message: string;
  count?: number;
  involvedObject: { name: string; uid?: string };
}

function events(world: World, ops: string): SimEvent[] {
  return world.sim.store.list<SimEvent>('v1', 'Event', NS).filter((e) => e.involvedObject.name === ops);
}

/** Runs a request by name and collects what the terminal would show. */
async function runAndPrint(world: World, name: string, opts: Parameters<World['run']>[1] = {}) {
  const lines: string[] = [];
  const progress: Progress[] = [];
  const printer = progressPrinter('', (l) => lines.push(l));
  const result = await world.run(
    { namespace: NS, opsRequest: name },
    {
      ...opts,
      onProgress: (p) => {
        progress.push(p);
        printer(p);
      },
    },
  );
  printer.stop();
  return { result, lines, progress, text: lines.join('\n') };
}

const evictions = (world: World) =>
  world.sim.requests.all().filter((r) => r.verb === 'evict' && r.status < 300);

describe('What a DBA sees', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'sees-add');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('says when each pod was evicted and when it was Ready again, with its new UID, in the terminal and in Events', async () => {
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sees-rotate', database: DB }));

    const { result, text } = await runAndPrint(world, 'sees-rotate');

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const after = podUids(world, DB);
    for (const [i, pod] of Object.keys(before).sort().entries()) {
      expect(text).toContain(`pod ${i + 1}/3 ${pod} evicted (old UID ${before[pod]})`);
      expect(text).toContain(`pod ${i + 1}/3 ${pod} Ready again, new UID ${after[pod]}`);
      expect(after[pod]).not.toBe(before[pod]);
    }
    const ready = events(world, 'sees-rotate').filter((e) => e.reason === 'PodReady');
    expect(ready.map((e) => e.message).sort()).toEqual(
      Object.keys(after)
        .sort()
        .map((p, i) => `Pod ${NS}/${p} (${i + 1}/3) is Ready again, new UID ${after[p]}`),
    );
    expect(text).toContain(`database ${NS}/${DB} resumed; request Successful`);
  }, 60_000);

  it('a PodDisruptionBudget refusing an eviction: waits naming the budget and the unhealthy pod, then goes on once it allows', async () => {
    world.sim.faults.holdNotReady(NS, `${DB}-2`);
    world.sim.store.delete('v1', 'Pod', NS, `${DB}-2`); // comes back NotReady: the budget has no room
    // apply: Always, since IfReady refuses to start while a pod is not Ready (issue 10).
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sees-pdb', database: DB, spec: { apply: 'Always' } }),
    );
    let released = false;
    const release = (p: Progress) => {
      // Let the budget allow disruptions again once the refusal has been reported twice.
      if (
        !released &&
        p.event === 'done' &&
        (p.output as { check?: { blocked?: boolean } })?.check?.blocked
      ) {
        if (events(world, 'sees-pdb').find((e) => e.reason === 'EvictionBlocked')?.count === 2) {
          released = true;
          world.sim.faults.release(NS, `${DB}-2`);
        }
      }
    };
    const lines: string[] = [];
    const printer = progressPrinter('', (l) => lines.push(l));

    const result = await world.run(
      { namespace: NS, opsRequest: 'sees-pdb' },
      {
        onProgress: (p) => {
          printer(p);
          release(p);
        },
      },
    );
    printer.stop();

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const blocked = events(world, 'sees-pdb').filter((e) => e.reason === 'EvictionBlocked');
    expect(blocked).toHaveLength(1); // one Event, refreshed in place
    expect(blocked[0]!.count).toBeGreaterThanOrEqual(2);
    expect(blocked[0]!.message).toMatch(
      new RegExp(`PodDisruptionBudget ${NS}/${DB} allows 0 disruption\\(s\\) now .*${DB}-2 is not Ready`),
    );
    expect(lines.join('\n')).toMatch(
      new RegExp(`pod 1/3 ${DB}-0 cannot be evicted yet: PodDisruptionBudget ${NS}/${DB} allows 0`),
    );
    expect(lines.join('\n')).not.toMatch(/KubeThrottledError|POST \/api/);
  }, 60_000);

  it('a budget that never allows the eviction fails the request with EvictionBlockedError and its reason', async () => {
    world.sim.faults.holdNotReady(NS, `${DB}-2`);
    world.sim.store.delete('v1', 'Pod', NS, `${DB}-2`);
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'sees-pdb-stuck',
        database: DB,
        spec: { timeout: '2s', apply: 'Always' },
      }),
    );
    const evicted = evictions(world).length;

    const { result } = await runAndPrint(world, 'sees-pdb-stuck');
    world.sim.faults.release(NS, `${DB}-2`);

    expect(result.error).toBe('EvictionBlockedError');
    const failed = world.ops('sees-pdb-stuck').status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.reason).toBe('EvictionBlockedError');
    expect(failed?.message).toMatch(
      new RegExp(
        `Pod ${NS}/${DB}-0 could not be evicted before the request's timeout .*PodDisruptionBudget ${NS}/${DB} allows 0`,
      ),
    );
    expect(evictions(world).length).toBe(evicted);
  }, 60_000);

  it('a pod that stays NotReady: its readiness message is shown while waiting and refreshed in one Event', async () => {
    world.sim.faults.reset();
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sees-stuck', database: DB, spec: { timeout: '3s' } }),
    );
    let held = false;
    const hold = (p: Progress) => {
      if (!held && p.event === 'entered' && p.state === 'Restart pod' && p.pod?.name === `${DB}-1`) {
        held = true;
        world.sim.faults.holdNotReady(NS, `${DB}-1`, 'mysqld: unable to load certificate');
      }
    };
    const lines: string[] = [];
    const printer = progressPrinter('', (l) => lines.push(l));
    // Short holds, so the 3 s timeout leaves room for checks that say "not Ready yet".
    process.env.CHECK_POD_HOLD_SECONDS = '1';

    const result = await world
      .run(
        { namespace: NS, opsRequest: 'sees-stuck' },
        {
          onProgress: (p) => {
            hold(p);
            printer(p);
          },
          wrapTask: (state, fn) =>
            state !== 'Check restored pod'
              ? fn
              : async (input) => {
                  world.sim.faults.release(NS, `${DB}-1`);
                  return fn(input);
                },
        },
      )
      .finally(() => {
        delete process.env.CHECK_POD_HOLD_SECONDS;
      });
    printer.stop();

    expect(result.error).toBe('StepTimeoutError');
    const text = lines.join('\n');
    expect(text).toMatch(new RegExp(`pod 2/3 ${DB}-1 not Ready yet: .*mysqld: unable to load certificate`));
    const waiting = events(world, 'sees-stuck').filter((e) => e.reason === 'WaitingForPod');
    expect(waiting.length).toBeGreaterThanOrEqual(1);
    expect(waiting.some((e) => /mysqld: unable to load certificate/.test(e.message))).toBe(true);
    // Nothing is printed for the pod that was never evicted, and the rollback is told as it went.
    expect(text).not.toContain(`pod 3/3 ${DB}-2`);
    expect(text).toMatch(/rolled back: previous certificates and TLS settings restored/);
  }, 60_000);

  it('a refused request (nothing changed) ends without rollback lines, as a refusal', async () => {
    // KubeDB's ops webhook would deny this request at creation: a cluster without KubeDB's webhook server.
    world.sim.setKubedbWebhooks(false);
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'sees-refused',
        database: DB,
        tls: { remove: true, rotateCertificates: true },
      }),
    );

    const { result, text } = await runAndPrint(world, 'sees-refused').finally(() =>
      world.sim.setKubedbWebhooks(true),
    );

    expect(result.error).toBe('InvalidRequestError');
    expect(text).not.toMatch(/roll/i);
    expect(text).toContain('refused: nothing was changed');
    const ops = world.ops('sees-refused');
    expect(ops.status?.phase).toBe('Failed');
    expect(ops.status?.conditions?.find((c) => c.type === 'Running')?.reason).toBe('Refused');
    expect(ops.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(
      /^Refused, nothing was changed: spec.tls asks for remove and rotateCertificates at once/,
    );
    expect(events(world, 'sees-refused').map((e) => e.reason)).toEqual(['Refused']);
  }, 60_000);

  it('an add-TLS request re-applied as it was ends Successful, "nothing to change", and restarts no pod', async () => {
    const evicted = evictions(world).length;
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'sees-add-again', database: DB }));

    const { result, text } = await runAndPrint(world, 'sees-add-again');

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const ops = world.ops('sees-add-again');
    expect(ops.status?.phase).toBe('Successful');
    expect(ops.status?.conditions?.find((c) => c.type === 'Successful')?.reason).toBe('NothingToChange');
    expect(text).toContain('nothing to change, no pod restarted');
    expect(evictions(world).length).toBe(evicted);
    expect(podUids(world, DB)).toEqual(before);
    expect(result.published.map((e) => e.DetailType)).toEqual(['PerconaXtraDBOpsRequest Succeeded']);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  }, 60_000);

  it('waiting for another request on the same database names it, in the terminal and in one refreshed Event', async () => {
    const other = world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sees-holder', database: DB }));
    world.sim.store.put({
      ...other,
      metadata: { ...other.metadata, annotations: { 'pxc-tls-ops.io/claimed-by': 'someone' } },
      status: { phase: 'Progressing' },
    });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'sees-busy', database: DB, spec: { timeout: '2s' } }),
    );

    const { result, text } = await runAndPrint(world, 'sees-busy', { retryScale: 0.1 });
    world.sim.store.delete(
      KINDS.PerconaXtraDBOpsRequest.apiVersion,
      'PerconaXtraDBOpsRequest',
      NS,
      'sees-holder',
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(text).toContain(
      `Waiting: PerconaXtraDBOpsRequest ${NS}/sees-holder (Progressing) holds PerconaXtraDB ${NS}/${DB}`,
    );
    const waiting = events(world, 'sees-busy').filter((e) => e.reason === 'Waiting');
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.count).toBeGreaterThanOrEqual(2);
    expect(text).toContain(`Pending: PerconaXtraDBOpsRequest ${NS}/sees-holder (Progressing) holds`);
    expect(world.ops('sees-busy').status?.phase).toBe('Pending');
  }, 60_000);

  it('a request refused for its issuer waits Pending while another request holds the database, and is refused once it is free', async () => {
    const other = world.createOps(opsRequestFrom('pxcops-rotate', { name: 'sees-holder-2', database: DB }));
    world.sim.store.put({
      ...other,
      metadata: { ...other.metadata, annotations: { 'pxc-tls-ops.io/claimed-by': 'someone' } },
      status: { phase: 'Progressing' },
    });
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'sees-invalid-while-busy',
        database: DB,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'no-such-issuer' } },
        spec: { timeout: '1s' },
      }),
    );

    const { result, text } = await runAndPrint(world, 'sees-invalid-while-busy');
    world.sim.store.delete(
      KINDS.PerconaXtraDBOpsRequest.apiVersion,
      'PerconaXtraDBOpsRequest',
      NS,
      'sees-holder-2',
    );
    const refused = await runAndPrint(world, 'sees-invalid-while-busy');

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(text).toContain('Pending: ');
    expect(text).not.toContain('refused: nothing was changed');
    expect(refused.result.error).toBe('InvalidIssuerError');
    expect(refused.text).toContain('refused: nothing was changed');
    expect(
      events(world, 'sees-invalid-while-busy')
        .map((e) => e.reason)
        .sort(),
    ).toEqual(['Refused', 'Waiting']);
  }, 60_000);

  it('a request in the wrong namespace, or console input for a namespace that does not exist: plain reasons', async () => {
    const wrong = await world.run({ namespace: 'default', opsRequest: 'sees-add' });
    const missing = await world.run({
      namespace: 'nosuchns',
      database: DB,
      tls: { rotateCertificates: true },
    });

    expect(wrong.cause).toBe(
      'There is no PerconaXtraDBOpsRequest "sees-add" in namespace "default"; one with that name is in namespace "demo": use that namespace',
    );
    expect(missing.cause).toMatch(/^Namespace "nosuchns" does not exist: fix "namespace" in the input/);
    expect(missing.cause).not.toMatch(/^POST/);
  }, 60_000);
});
