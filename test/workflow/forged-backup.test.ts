import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { backupProblem } from '../../functions/model/backup.js';
import {
  BACKUP_LABEL,
  BACKUP_STATE_ANNOTATION,
  BACKUP_WRITER_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
} from '../../functions/model/names.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { opsRequestFrom } from '../../local/runner/world.js';
import { NS, startWorld, type World } from './helpers.js';

const DB = 'px-forge';
const VICTIM = 'other-db-auth';

/** What someone who may create Secrets (not delete them) puts under the backup's name. */
function forgedBackup(ops: string, o: { ownerUid?: string } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: `${DB}-tls-backup-${ops}`,
      namespace: NS,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [BACKUP_LABEL]: ops },
      annotations: {
        [BACKUP_WRITER_ANNOTATION]: 'someone',
        [BACKUP_STATE_ANNOTATION]: JSON.stringify({
          database: { tls: null, requireSSL: null },
          workload: { kind: 'PetSet', name: DB, wiring: {} },
          existed: [],
          managed: [VICTIM, `${DB}-server-cert`],
        }),
      },
      ...(o.ownerUid
        ? {
            ownerReferences: [
              {
                apiVersion: KINDS.PerconaXtraDBOpsRequest.apiVersion,
                kind: KINDS.PerconaXtraDBOpsRequest.kind,
                name: ops,
                uid: o.ownerUid,
              },
            ],
          }
        : {}),
    },
    data: {},
  };
}

describe('A backup Secret the request did not write is refused, and never causes a write or delete', () => {
  let world: World;
  let victimVersion: string;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    world.sim.store.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: VICTIM, namespace: NS },
      data: { password: Buffer.from('s3cret').toString('base64') },
    });
    victimVersion = world.get(KINDS.Secret, VICTIM).metadata.resourceVersion;
  });
  afterAll(async () => {
    await world?.stop();
  });

  /** Writes and deletes of Secrets the API server applied since the request log was reset. */
  const secretWrites = () =>
    world.sim.requests
      .all()
      .filter((r) => r.resource === 'secrets' && !['get', 'list', 'watch'].includes(r.verb) && r.status < 300)
      .map((r) => `${r.verb} ${r.path} ${r.status}`);

  it.each([
    [
      'pre-created before the request, owned by nobody',
      false,
      /it is not owned by this PerconaXtraDBOpsRequest \(UID [-0-9a-f]+\): this request did not write it/,
    ],
    [
      'created after it, owned by its UID, listing a Secret nobody approved',
      true,
      /it lists Secret\(s\) other-db-auth, which this request was never approved to write/,
    ],
  ])('a failing request whose backup was %s: rollback refuses it, deletes nothing', async (_, owned, why) => {
    const name = owned ? 'add2' : 'add1';
    // A request that fails in Validate (no such issuer): its failure path looks for a backup.
    const ops = opsRequestFrom('pxcops-add-tls', { name, database: DB });
    ops.spec.tls!.issuerRef!.name = 'no-such-issuer';
    if (!owned) world.sim.store.create(forgedBackup(name));
    world.createOps(ops);
    if (owned) world.sim.store.create(forgedBackup(name, { ownerUid: world.ops(name).metadata.uid }));
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: name });

    expect(result.status).toBe('FAILED');
    const failed = world.ops(name).status?.conditions?.find((c) => c.type === 'Failed');
    expect(world.ops(name).status?.phase).toBe('Failed');
    expect(failed?.message).toContain(
      `refused Secret ${NS}/${DB}-tls-backup-${name} as this request's backup: `,
    );
    expect(failed?.message).toMatch(why);
    expect(world.get(KINDS.Secret, VICTIM)?.metadata.resourceVersion).toBe(victimVersion);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-${name}`)).toBeDefined();
    expect(secretWrites()).toEqual([]);
  });

  it('a request that finds a backup it did not write fails before changing anything, and leaves it', async () => {
    const name = 'add3';
    world.sim.store.create(forgedBackup(name));
    world.createOps(opsRequestFrom('pxcops-add-tls', { name, database: DB }));
    const dbBefore = JSON.stringify(world.db(DB).spec);
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: name });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidRequestError');
    expect(result.cause).toMatch(
      new RegExp(
        `Secret ${NS}/${DB}-tls-backup-${name} already exists and is not this request's backup: it is not owned by this PerconaXtraDBOpsRequest`,
      ),
    );
    expect(world.ops(name).status?.phase).toBe('Failed');
    expect(JSON.stringify(world.db(DB).spec)).toBe(dbBefore);
    expect(world.get(KINDS.Secret, `${DB}-server-cert`)).toBeUndefined();
    expect(world.get(KINDS.Secret, VICTIM)?.metadata.resourceVersion).toBe(victimVersion);
    expect(world.get(KINDS.Secret, `${DB}-tls-backup-${name}`)).toBeDefined();
    expect(secretWrites()).toEqual([]);
  });
});

describe('backupProblem (pure)', () => {
  const ops = { name: 'r', uid: 'u-1' };
  const approved = new Set(['db-server-cert']);
  const backup = (over: Partial<PerconaXtraDBOpsRequest['metadata']> = {}, lists?: object) => ({
    metadata: {
      name: 'db-tls-backup-r',
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [BACKUP_LABEL]: 'r' },
      annotations: {
        [BACKUP_WRITER_ANNOTATION]: 'exec-1',
        [BACKUP_STATE_ANNOTATION]: JSON.stringify(lists ?? { managed: ['db-server-cert'], existed: [] }),
      },
      ownerReferences: [{ apiVersion: 'x', kind: 'PerconaXtraDBOpsRequest', name: 'r', uid: 'u-1' }],
      ...over,
    },
  });

  it.each([
    ['proven', backup(), undefined],
    [
      'owned by another UID (a request deleted with --cascade=orphan and created again)',
      backup({
        ownerReferences: [{ apiVersion: 'x', kind: 'PerconaXtraDBOpsRequest', name: 'r', uid: 'u-0' }],
      }),
      /not owned by this PerconaXtraDBOpsRequest \(UID u-1\)/,
    ],
    ['without the labels', backup({ labels: { [BACKUP_LABEL]: 'r' } }), /does not carry the labels/],
    [
      'labelled for another request',
      backup({ labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [BACKUP_LABEL]: 'other' } }),
      /does not carry the labels/,
    ],
    [
      'without its writer',
      backup({ annotations: { [BACKUP_STATE_ANNOTATION]: '{"managed":[],"existed":[]}' } }),
      /does not record the execution/,
    ],
    [
      'listing an unapproved Secret',
      backup({}, { managed: ['db-server-cert', 'root-auth'], existed: [] }),
      /root-auth, which this request was never approved/,
    ],
    [
      'saying an unlisted Secret existed',
      backup({}, { managed: ['db-server-cert'], existed: ['root-auth'] }),
      /root-auth existed without listing them/,
    ],
    [
      'with lists that are not lists',
      backup({}, { managed: 'db-server-cert', existed: [] }),
      /not the state this project writes/,
    ],
  ])('%s', (_, b, expected) => {
    const why = backupProblem(b, ops, approved);
    if (expected === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(expected);
  });
});
