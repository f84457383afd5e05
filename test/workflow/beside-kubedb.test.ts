/**
 * Running beside KubeDB: the request's spec is frozen at claim, the pause is confirmed by the
 * provisioner, the provisioner's re-render after resume changes nothing, the AppBinding carries
 * the CAs the pods trust, and KubeDB's enterprise ops-manager is refused — all through the real
 * ASL on the simulator with its KubeDB provisioner stand-in running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { type CaIssuer, createCaIssuer, issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { NS, startWorld, type World } from './helpers.js';

const DB = 'px-beside';

describe('An OpsRequest spec is frozen once claimed', () => {
  let world: World;
  let other: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    other = await createCaIssuer(world.sim, { name: 'px-other', namespace: NS });
    await world.createDatabase({ name: DB });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'frozen-add', database: DB }));
    const added = await world.run({ namespace: NS, opsRequest: 'frozen-add' });
    expect(added.status, added.cause).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('fails a request whose spec is edited between passes, and rolls the first pass back', async () => {
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'frozen-edit',
        database: DB,
        tls: { issuerRef: issuerRef(other) },
      }),
    );
    const dbBefore = world.db(DB).spec.tls;

    const result = await world.run(
      { namespace: NS, opsRequest: 'frozen-edit' },
      {
        wrapTask: (state, fn) =>
          state !== 'Change certificates'
            ? fn
            : async (input) => {
                if ((input as { pass?: number }).pass === 1) {
                  // Someone edits the request while the first (trust bundle) pass has run.
                  const ops = world.ops('frozen-edit');
                  world.sim.store.put({ ...ops, spec: { ...ops.spec, timeout: '1h' } });
                }
                return fn(input);
              },
      },
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidRequestError');
    expect(result.cause).toMatch(/frozen-edit was changed after it was claimed/);
    expect(world.ops('frozen-edit').status?.phase).toBe('Failed');
    expect(world.db(DB).spec.tls).toEqual(dbBefore);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-frozen-edit`)).toBeUndefined();
  });
});
