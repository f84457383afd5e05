import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { CONSOLE_SOURCE, SOURCE_LABEL } from '../../functions/model/names.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { loadSample, opsRequestFrom } from '../../local/runner/world.js';
import { findPrivateKey, NS, startWorld, type World } from './helpers.js';

const DB = 'px-claim';
const WRITES = new Set(['create', 'update', 'patch', 'delete', 'evict']);

function successfulWrites(world: World) {
  return world.sim.requests.all().filter((r) => WRITES.has(r.verb) && r.status < 300);
}

describe('Claim, duplicates and console input', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'claim-add', database: DB }));
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('two executions started together for one OpsRequest: one does the work, the other writes nothing', async () => {
    world.sim.requests.reset();

    const [a, b] = await Promise.all([
      world.run({ namespace: NS, opsRequest: 'claim-add' }, { executionName: 'exec-a' }),
      world.run({ namespace: NS, opsRequest: 'claim-add' }, { executionName: 'exec-b' }),
    ]);

    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const worked = [a, b].filter((r) =>
      r.events.some((e) => e.type === 'StateEntered' && e.state?.name === 'Pause'),
    );
    const skipped = [a, b].filter((r) =>
      r.events.some((e) => e.type === 'StateEntered' && e.state?.name === 'Nothing to do'),
    );
    expect(worked).toHaveLength(1);
    expect(skipped).toHaveLength(1);
    expect((skipped[0]!.output as { reason?: string }).reason).toMatch(
      new RegExp(`^claimed by execution ${worked[0]!.executionName} \\(lease until `),
    );
    const ops = world.ops('claim-add');
    expect(ops.status?.phase).toBe('Successful');
    // Exactly one claim was written: the other execution's PUT (if it got that far) was refused.
    const claims = successfulWrites(world).filter(
      (r) => r.verb === 'update' && r.resource === 'perconaxtradbopsrequests',
    );
    expect(claims).toHaveLength(1);
  });

  it('a request that is already Successful is a no-op that writes nothing', async () => {
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'claim-add' });

    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ skip: true, reason: 'already Successful' });
    expect(successfulWrites(world)).toEqual([]);
  });

  it('console input creates a labelled OpsRequest with a generated name, then runs it', async () => {
    const result = await world.run({
      namespace: NS,
      database: DB,
      tls: { rotateCertificates: true },
      timeout: '5m',
    });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const created = world.sim.store
      .list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest.apiVersion, 'PerconaXtraDBOpsRequest', NS)
      .filter((o) => o.metadata.labels?.[SOURCE_LABEL] === CONSOLE_SOURCE);
    expect(created).toHaveLength(1);
    expect(created[0]!.metadata.name).toMatch(/^px-claim-tls-/);
    expect(created[0]!.spec).toMatchObject({
      type: 'ReconfigureTLS',
      databaseRef: { name: DB },
      tls: { rotateCertificates: true },
      timeout: '5m',
    });
    expect(created[0]!.status?.phase).toBe('Successful');
    expect((result.output as { opsRequest?: string }).opsRequest).toBe(created[0]!.metadata.name);
  });

  it('rejects any other input shape with a message showing the two accepted ones, creating nothing', async () => {
    const before = world.sim.store.list('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS).length;

    const result = await world.run({ namespace: NS, opsRequest: 'claim-add', dryRun: true });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidRequestError');
    expect(result.cause).toContain('{"namespace": "<ns>", "opsRequest": "<name>"}');
    expect(result.cause).toContain('{"namespace": "<ns>", "database": "<name>", "tls": {...}}');
    expect(world.sim.store.list('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS)).toHaveLength(
      before,
    );
  });
});

describe('The private key scan every workflow run goes through', () => {
  it('finds a PEM private key in an event log, plain or base64 as in a Secret', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n';
    expect(findPrivateKey([{ state: { output: { key: pem } } }], [])).toBe('the event log');
    expect(findPrivateKey([{ data: Buffer.from(pem).toString('base64') }], [])).toBe('the event log');
    expect(
      findPrivateKey([], [`{"message":"${loadSample('issuer').length}","k":"-----BEGIN PRIVATE KEY-----"}`]),
    ).toBe('the logs');
    expect(findPrivateKey([{ state: { output: { serial: '0a1b' } } }], ['{"message":"ok"}'])).toBeUndefined();
  });
});
