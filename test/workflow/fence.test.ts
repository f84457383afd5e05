/**
 * The fenced client (functions/steps/fence.ts) against the simulated API server, write by write:
 * what an execution that no longer holds the request can and cannot do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../functions/deps.js';
import { KINDS } from '../../functions/kube/types.js';
import { CLAIM_ANNOTATION, FENCE_ANNOTATION } from '../../functions/model/names.js';
import { fenceAll, fencedKube } from '../../functions/steps/fence.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, startWorld, type World } from './helpers.js';

const DB = 'px-fence';
const OPS = 'fence-req';

describe('Fenced writes', () => {
  let world: World;
  const holder = (execution: string) => ({ namespace: NS, opsRequest: OPS, execution });
  const claimBy = (execution: string) => {
    const o = world.ops(OPS);
    world.sim.store.put({
      ...o,
      metadata: {
        ...o.metadata,
        annotations: { ...(o.metadata.annotations ?? {}), [CLAIM_ANNOTATION]: execution },
      },
    });
  };
  const secret = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    data: { k: Buffer.from(name).toString('base64') },
  });

  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: OPS, database: DB }));
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('the holder writes, and its fence goes on what it wrote', async () => {
    claimBy('exec-a');
    const kube = fencedKube(world.kube, holder('exec-a'));

    await kube.create(KINDS.Secret, secret('fence-a'));
    await kube.patch(
      KINDS.PerconaXtraDB,
      { namespace: NS, name: DB },
      { spec: { requireSSL: false } },
      'merge',
    );

    expect(world.get(KINDS.Secret, 'fence-a').metadata.annotations?.[FENCE_ANNOTATION]).toBe('exec-a');
    expect(world.db(DB).metadata.annotations?.[FENCE_ANNOTATION]).toBe('exec-a');
  });

  it('after a take-over, the old holder can neither patch, replace, delete nor create: LeaseLostError, nothing changed', async () => {
    claimBy('exec-a');
    const late = fencedKube(world.kube, holder('exec-a'));
    // exec-a read these before the take-over.
    const dbRead = await late.get(KINDS.PerconaXtraDB, { namespace: NS, name: DB });
    const secretRead = await late.get(KINDS.Secret, { namespace: NS, name: 'fence-a' });
    claimBy('exec-b');
    // The take-over's first move: its fence on what it will restore (fenceAll reads only deps.kube).
    const fencedNow = await fenceAll({ kube: world.kube } as Deps, holder('exec-b'), [
      { kind: KINDS.PerconaXtraDB, ref: { namespace: NS, name: DB } },
      { kind: KINDS.Secret, ref: { namespace: NS, name: 'fence-a' } },
    ]);
    expect(fencedNow).toBe(2);
    const dbVersion = world.db(DB).metadata.resourceVersion;
    const secretVersion = world.get(KINDS.Secret, 'fence-a').metadata.resourceVersion;

    await expect(
      late.patch(KINDS.PerconaXtraDB, { namespace: NS, name: DB }, { spec: { requireSSL: true } }, 'merge'),
    ).rejects.toMatchObject({ name: 'LeaseLostError' });
    await expect(late.replace(KINDS.Secret, { ...secretRead!, data: {} })).rejects.toMatchObject({
      name: 'LeaseLostError',
    });
    await expect(late.delete(KINDS.Secret, { namespace: NS, name: 'fence-a' })).rejects.toMatchObject({
      name: 'LeaseLostError',
    });
    await expect(late.create(KINDS.Secret, secret('fence-late'))).rejects.toMatchObject({
      name: 'LeaseLostError',
    });
    await expect(
      late.patch(
        KINDS.PerconaXtraDBOpsRequest,
        { namespace: NS, name: OPS },
        { status: { phase: 'Progressing' } },
        'merge',
        'status',
      ),
    ).rejects.toBeTruthy();

    expect(dbRead).toBeDefined();
    expect(world.db(DB).metadata.resourceVersion).toBe(dbVersion);
    expect(world.get(KINDS.Secret, 'fence-a').metadata.resourceVersion).toBe(secretVersion);
    // The create went through (no precondition exists for one) and was taken back at once.
    expect(world.get(KINDS.Secret, 'fence-late')).toBeUndefined();
    expect(world.ops(OPS).status?.phase).not.toBe('Progressing');
  });
});
