import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, paused, startWorld, type World } from './helpers.js';

const TLS_DB = 'px-unsafe-tls';
const PLAIN_DB = 'px-unsafe-plain';

/** Everything a refused request must leave alone: the databases, their workloads, pods and Secrets, the CA. */
function snapshot(world: World): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kind of ['PerconaXtraDB', 'PetSet', 'Pod', 'Secret'] as const) {
    const api =
      kind === 'PerconaXtraDB' ? 'kubedb.com/v1' : kind === 'PetSet' ? 'apps.k8s.appscode.com/v1' : 'v1';
    for (const o of world.sim.store.list<{ metadata: { name: string; resourceVersion: string } }>(
      api,
      kind,
      NS,
    ))
      out[`${kind}/${o.metadata.name}`] = o.metadata.resourceVersion;
  }
  return out;
}

describe('Requests that would damage the database are refused, changing nothing', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: TLS_DB });
    await world.createDatabase({ name: PLAIN_DB });
    await addTls(world, TLS_DB, 'unsafe-setup');
    // Somebody else's Secret, with the name a request might pick.
    world.sim.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: 'app-credentials', namespace: NS },
      data: { password: Buffer.from('s3cret').toString('base64') },
    });
  });
  afterAll(async () => {
    await world?.stop();
  });

  async function refuses(
    o: { ops?: PerconaXtraDBOpsRequest; input?: unknown },
    expected: { error: string; reason: RegExp },
  ) {
    const before = snapshot(world);
    if (o.ops) world.createOps(o.ops);
    const result = await world.run(
      'input' in o ? o.input : { namespace: NS, opsRequest: o.ops!.metadata.name },
    );

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe(expected.error);
    expect(result.cause).toMatch(expected.reason);
    expect((result.cause ?? '').length).toBeLessThan(1200);
    if (o.ops) {
      const ops = world.ops(o.ops.metadata.name!);
      expect(ops.status?.phase).toBe('Failed');
      expect(ops.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(expected.reason);
    }
    expect(snapshot(world)).toEqual(before);
    expect(paused(world, TLS_DB) || paused(world, PLAIN_DB)).toBe(false);
  }

  describe('a secretName may only name a Secret the request owns', () => {
    it("refuses the issuer's CA Secret, which would lose the CA and its key", async () => {
      const caData = JSON.stringify(world.get(KINDS.Secret, world.issuer.secretName).data);
      await refuses(
        {
          ops: opsRequestFrom('pxcops-update', {
            name: 'unsafe-ca-secret',
            database: TLS_DB,
            tls: { certificates: [{ alias: 'server', secretName: world.issuer.secretName }] },
          }),
        },
        {
          error: 'InvalidRequestError',
          reason: /Secret demo\/px-issuer-ca is the issuer's CA Secret and is never written/,
        },
      );
      expect(JSON.stringify(world.get(KINDS.Secret, world.issuer.secretName).data)).toBe(caData);
    });

    it('refuses the CA Secret when TLS is added, too', async () => {
      await refuses(
        {
          ops: opsRequestFrom('pxcops-add-tls', {
            name: 'unsafe-ca-secret-add',
            database: PLAIN_DB,
            tls: {
              issuerRef: issuerRef(world.issuer),
              certificates: [{ alias: 'client', secretName: world.issuer.secretName }],
            },
          }),
        },
        { error: 'InvalidRequestError', reason: /is the issuer's CA Secret/ },
      );
    });

    it('refuses two aliases sharing one Secret (the client certificate would be served as the server’s)', async () => {
      await refuses(
        {
          ops: opsRequestFrom('pxcops-add-tls', {
            name: 'unsafe-shared',
            database: PLAIN_DB,
            tls: {
              issuerRef: issuerRef(world.issuer),
              certificates: [
                { alias: 'server', secretName: 'px-shared-cert' },
                { alias: 'client', secretName: 'px-shared-cert' },
              ],
            },
          }),
        },
        {
          error: 'InvalidRequestError',
          reason: /aliases server and client would share Secret demo\/px-shared-cert/,
        },
      );
    });

    it('refuses a Secret that exists and is not one pxc-tls-ops manages for this database and alias', async () => {
      await refuses(
        {
          ops: opsRequestFrom('pxcops-update', {
            name: 'unsafe-foreign',
            database: TLS_DB,
            tls: { certificates: [{ alias: 'metrics-exporter', secretName: 'app-credentials' }] },
          }),
        },
        {
          error: 'InvalidRequestError',
          reason: /Secret demo\/app-credentials already exists and is not the metrics-exporter certificate/,
        },
      );
    });

    it("refuses another alias' Secret of the same database", async () => {
      await refuses(
        {
          ops: opsRequestFrom('pxcops-update', {
            name: 'unsafe-swap',
            database: TLS_DB,
            tls: { certificates: [{ alias: 'server', secretName: `${TLS_DB}-client-cert` }] },
          }),
        },
        { error: 'InvalidRequestError', reason: /aliases server and client would share Secret/ },
      );
    });
  });

  it("refuses the name of the request's own backup Secret, which holds the previous keys", async () => {
    await refuses(
      {
        ops: opsRequestFrom('pxcops-update', {
          name: 'unsafe-backup-name',
          database: TLS_DB,
          tls: { certificates: [{ alias: 'client', secretName: `${TLS_DB}-tls-backup-unsafe-backup-name` }] },
        }),
      },
      {
        error: 'InvalidRequestError',
        reason:
          /client: Secret demo\/px-unsafe-tls-tls-backup-unsafe-backup-name is the name of this request's backup/,
      },
    );
  });

  describe("a Secret that a cert-manager Certificate writes is the database's only if the database owns it", () => {
    const SECRET = 'custom-client-tls';
    beforeAll(() => {
      world.sim.store.put({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: SECRET, namespace: NS },
        data: {},
      });
    });
    /** A Certificate not named as KubeDB names them, so only its owner can vouch for the Secret. */
    const certificate = (ownerUid: string) => ({
      apiVersion: KINDS.Certificate.apiVersion,
      kind: 'Certificate',
      metadata: {
        name: 'custom-client',
        namespace: NS,
        ownerReferences: [
          {
            apiVersion: 'kubedb.com/v1',
            kind: 'PerconaXtraDB',
            name: TLS_DB,
            uid: ownerUid,
            controller: true,
          },
        ],
      },
      spec: { secretName: SECRET, issuerRef: { name: world.issuer.name, kind: 'Issuer' } },
    });
    const request = (name: string) =>
      opsRequestFrom('pxcops-update', {
        name,
        database: TLS_DB,
        tls: { certificates: [{ alias: 'client', secretName: SECRET }] },
      });

    it('refuses it when the Certificate belongs to something else', async () => {
      world.sim.store.put(certificate('0e5b9a3c-0000-4000-8000-000000000000'));
      await refuses(
        { ops: request('unsafe-cert-foreign') },
        {
          error: 'InvalidRequestError',
          reason: /client: Secret demo\/custom-client-tls already exists and is not the client certificate/,
        },
      );
    });

    it('accepts it when the Certificate is owned by the database, whatever the Certificate is called', async () => {
      world.sim.store.put(certificate(world.db(TLS_DB).metadata.uid!));
      world.createOps(request('unsafe-cert-owned'));
      // Validate is what decides; stop the execution as soon as it has.
      const stop = new AbortController();
      let validated: unknown;
      const result = await world.run(
        { namespace: NS, opsRequest: 'unsafe-cert-owned' },
        {
          signal: stop.signal,
          wrapTask: (state, fn) =>
            state !== 'Validate'
              ? fn
              : async (input) => {
                  const out = await fn(input);
                  validated = out;
                  stop.abort();
                  return out;
                },
        },
      );
      await world.kube.delete(KINDS.PerconaXtraDBOpsRequest, { namespace: NS, name: 'unsafe-cert-owned' });
      await world.kube.delete(KINDS.Certificate, { namespace: NS, name: 'custom-client' });

      expect(result.status, result.cause).toBe('ABORTED');
      expect(validated).toMatchObject({ plan: { issuance: 'cert-manager' } });
    });
  });

  describe('every field is checked by type before anything is read from the cluster', () => {
    it('refuses a database named by a list, naming the field, the type and the value', async () => {
      const ops = opsRequestFrom('pxcops-add-tls', { name: 'unsafe-list', database: PLAIN_DB });
      (ops.spec.databaseRef as unknown as { name: string[] }).name = [PLAIN_DB];
      world.sim.requests.reset();
      await refuses(
        { ops },
        {
          error: 'InvalidRequestError',
          reason: /spec\.databaseRef\.name: Invalid value: \["px-unsafe-plain"\]: must be of type string/,
        },
      );
      expect(world.db(PLAIN_DB).spec.tls).toBeUndefined();
      // Nothing about the database was read: the refusal came from the schema.
      expect(world.sim.requests.all().filter((r) => r.resource === 'perconaxtradbs')).toEqual([]);
    });

    it('refuses rotateCertificates given as a string', async () => {
      await refuses(
        {
          ops: opsRequestFrom('pxcops-rotate', {
            name: 'unsafe-bool',
            database: TLS_DB,
            tls: { rotateCertificates: 'yes' as never },
          }),
        },
        {
          error: 'InvalidRequestError',
          reason: /spec\.tls\.rotateCertificates: Invalid value: "yes": must be of type boolean/,
        },
      );
    });
  });

  describe('console input edge cases get a clear refusal, never an internal error or an echo', () => {
    it.each([
      {
        why: 'a JSON array',
        input: [{ namespace: NS, opsRequest: 'x' }],
        reason: /^invalid input \(not a JSON object: got array/,
      },
      { why: 'null', input: null, reason: /^invalid input \(not a JSON object: got null/ },
      {
        why: 'a string',
        input: 'demo/pxops-rotate',
        reason: /^invalid input \(not a JSON object: got string "demo\/pxops-rotate"\)/,
      },
      {
        why: 'a namespace of a million characters',
        input: { namespace: 'a'.repeat(1_000_000), opsRequest: 'pxops-rotate' },
        reason: /namespace: Too long: "a{100}"… \(1000000 characters\): may not be more than 63 characters/,
      },
      {
        why: 'a huge console input tls field',
        input: {
          namespace: NS,
          database: TLS_DB,
          tls: { certificates: [{ alias: 'server', dnsNames: ['x'.repeat(500_000)] }] },
        },
        reason:
          /tls\.certificates\[0\]\.dnsNames\[0\]: Too long: "x{100}"… \(500000 characters\): may not be more than 253 characters/,
      },
    ])('$why', async ({ input, reason }) => {
      world.sim.requests.reset();
      await refuses({ input }, { error: 'InvalidRequestError', reason });
      // Refused before anything was written (the failure path only looks for a request this
      // execution might have created), and nothing big reached the API server.
      const requests = world.sim.requests.all();
      expect(requests.filter((r) => r.verb !== 'get' && r.verb !== 'list')).toEqual([]);
      expect(requests.filter((r) => r.path.length > 300)).toEqual([]);
    });
  });
});
