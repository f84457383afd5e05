/**
 * Running beside KubeDB: the request's spec is frozen at claim, the pause is confirmed by the
 * provisioner, the provisioner's re-render after resume changes nothing, the AppBinding carries
 * the CAs the pods trust, and KubeDB's enterprise ops-manager is refused — all through the real
 * ASL on the simulator with its KubeDB provisioner stand-in running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { FENCE_ANNOTATION } from '../../functions/model/names.js';
import { chainsTo } from '../../functions/pki/index.js';
import { type CaIssuer, createCaIssuer, issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { addTls, NS, secretPem, startWorld, type World } from './helpers.js';

const DB = 'px-beside';

describe('An OpsRequest spec is frozen once claimed', () => {
  let world: World;
  let other: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    other = await createCaIssuer(world.sim, { name: 'px-other', namespace: NS });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'frozen-add');
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

/** The database's Paused condition and write check, as the steps after Pause see them. */
function pauseSeen(world: World, db: string) {
  const d = world.db(db);
  return {
    paused: d.status?.conditions?.find((c) => c.type === 'Paused')?.status,
    disableWriteCheck: (d.spec.healthChecker as { disableWriteCheck?: boolean } | undefined)
      ?.disableWriteCheck,
    // The fence stays on purpose (docs/fencing.md): it names the last execution that wrote here.
    annotations: Object.keys(d.metadata.annotations ?? {}).filter(
      (k) => k.startsWith('pxc-tls-ops.io/') && k !== FENCE_ANNOTATION,
    ),
  };
}

describe('Pause as KubeDB does: Unknown + disableWriteCheck, on the provisioner confirmation', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ simulator: { provisioner: { confirmDelayMs: 400 } } });
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('changes nothing before the provisioner confirms, and restores both on resume', async () => {
    const d = world.db(DB);
    world.sim.store.put({
      ...d,
      spec: { ...d.spec, healthChecker: { disableWriteCheck: false, periodSeconds: 10 } },
    });
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'pause-add', database: DB }));
    let during: ReturnType<typeof pauseSeen> | undefined;
    let changeStarted = 0;

    const result = await world.run(
      { namespace: NS, opsRequest: 'pause-add' },
      {
        wrapTask: (state, fn) =>
          state !== 'Change certificates'
            ? fn
            : async (input) => {
                changeStarted ||= Date.now();
                during ??= pauseSeen(world, DB);
                return fn(input);
              },
      },
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(during).toEqual({
      paused: 'True',
      disableWriteCheck: true,
      annotations: expect.arrayContaining(['pxc-tls-ops.io/paused-by']),
    });
    const confirmed = world.sim
      .provisionerWrites()
      .find((w) => w.what === 'confirm-pause' && w.database === DB);
    expect(confirmed && confirmed.at <= changeStarted).toBe(true);
    expect(pauseSeen(world, DB)).toEqual({ paused: undefined, disableWriteCheck: false, annotations: [] });
    // As it was (the API server filled the other defaults of healthChecker when it was written).
    expect(world.db(DB).spec.healthChecker).toMatchObject({ disableWriteCheck: false, periodSeconds: 10 });
  });

  it('removes the write-check field again when it was not set before', async () => {
    const d = world.db(DB);
    const { healthChecker: _, ...spec } = d.spec;
    world.sim.store.put({ ...d, spec });
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'pause-rotate', database: DB }));
    let during: ReturnType<typeof pauseSeen> | undefined;

    const result = await world.run(
      { namespace: NS, opsRequest: 'pause-rotate' },
      {
        wrapTask: (state, fn) =>
          state !== 'Change certificates'
            ? fn
            : async (input) => {
                during ??= pauseSeen(world, DB);
                return fn(input);
              },
      },
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(during?.disableWriteCheck).toBe(true);
    expect(
      (world.db(DB).spec.healthChecker as { disableWriteCheck?: boolean } | undefined)?.disableWriteCheck,
    ).toBeUndefined();
    expect(pauseSeen(world, DB).annotations).toEqual([]);
  });
});

describe('Pause when no KubeDB provisioner answers', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ simulator: { provisioner: false } });
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('fails after spec.timeout with a reason, changes nothing and resumes the database', async () => {
    world.createOps(
      opsRequestFrom('pxcops-add-tls', { name: 'unconfirmed', database: DB, spec: { timeout: '2s' } }),
    );
    const petset = world.get(KINDS.PetSet, DB).metadata.resourceVersion;

    const result = await world.run({ namespace: NS, opsRequest: 'unconfirmed' });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DatabaseStateError');
    expect(result.cause).toMatch(
      /has not confirmed the pause of PerconaXtraDB demo\/px-beside.*is the KubeDB operator running/,
    );
    expect(world.ops('unconfirmed').status?.phase).toBe('Failed');
    expect(pauseSeen(world, DB)).toEqual({
      paused: undefined,
      disableWriteCheck: undefined,
      annotations: [],
    });
    expect(world.get(KINDS.PetSet, DB).metadata.resourceVersion).toBe(petset);
    expect(world.get(KINDS.Secret, `${DB}-server-cert`)).toBeUndefined();
  });
});

describe("The provisioner's re-render after resume changes nothing, for all six actions", () => {
  let world: World;
  let other: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    other = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-rerender' });
    await world.createDatabase({ name: DB, updateStrategy: 'RollingUpdate' });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it.each([
    ['add TLS', () => opsRequestFrom('pxcops-add-tls', { name: 'rr-add', database: DB })],
    ['rotate', () => opsRequestFrom('pxcops-rotate', { name: 'rr-rotate', database: DB })],
    ['update', () => opsRequestFrom('pxcops-update', { name: 'rr-update', database: DB })],
    [
      'change issuer',
      () =>
        opsRequestFrom('pxcops-change-issuer', {
          name: 'rr-issuer',
          database: DB,
          tls: { issuerRef: issuerRef(other) },
        }),
    ],
    ['requireSSL off', () => opsRequestFrom('pxcops-require-ssl-off', { name: 'rr-ssl', database: DB })],
    ['remove TLS', () => opsRequestFrom('pxcops-remove-tls', { name: 'rr-remove', database: DB })],
  ])('%s', async (_, ops) => {
    const created = world.createOps(ops());

    const result = await world.run({ namespace: NS, opsRequest: created.metadata.name! });
    const ended = Date.now();
    await new Promise((r) => setTimeout(r, 300)); // the provisioner reconciles the resumed database

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const after = world.sim.provisionerWrites().filter((w) => w.database === DB && w.at >= ended);
    expect(after.filter((w) => w.what === 'template')).toEqual([]);
    const restarted = world.sim.readiness().filter((r) => r.pod.startsWith(`${DB}-`) && r.at >= ended);
    expect(restarted).toEqual([]);
  });
});

describe('The AppBinding always carries the CAs the pods trust', () => {
  let world: World;
  let other: CaIssuer;
  /** Mismatches seen after any task: the AppBinding's caBundle against the server Secret's ca.crt. */
  const drift: string[] = [];
  const check = (state: string) => {
    const binding = world.get({ apiVersion: 'appcatalog.appscode.com/v1alpha1', kind: 'AppBinding' }, DB);
    const server = world.get(KINDS.Secret, `${DB}-server-cert`);
    const want = server?.data?.['ca.crt'];
    const have = binding?.spec?.clientConfig?.caBundle;
    if (have !== want)
      drift.push(`${state}: AppBinding ${have ? 'has another caBundle' : 'has no caBundle'}`);
    const tlsSecret = binding?.spec?.tlsSecret?.name;
    if (tlsSecret !== (want ? `${DB}-client-cert` : undefined))
      drift.push(`${state}: tlsSecret ${tlsSecret}`);
  };
  const watched = {
    wrapTask: (state: string, fn: (i: never) => Promise<unknown>) => async (input: never) => {
      const out = await fn(input);
      if (state !== 'Resume') check(state);
      return out;
    },
  };
  beforeAll(async () => {
    world = await startWorld();
    other = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'px-bind-ca' });
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it.each([
    ['add TLS', () => opsRequestFrom('pxcops-add-tls', { name: 'ab-add', database: DB })],
    [
      'change issuer (both CAs during the change)',
      () =>
        opsRequestFrom('pxcops-change-issuer', {
          name: 'ab-issuer',
          database: DB,
          tls: { issuerRef: issuerRef(other) },
        }),
    ],
    [
      'rotate (the old CA leaves)',
      () => opsRequestFrom('pxcops-rotate', { name: 'ab-rotate', database: DB }),
    ],
    ['remove TLS (cleared)', () => opsRequestFrom('pxcops-remove-tls', { name: 'ab-remove', database: DB })],
  ])('%s', async (_, ops) => {
    drift.length = 0;
    const created = world.createOps(ops());

    const result = await world.run(
      { namespace: NS, opsRequest: created.metadata.name! },
      watched as unknown as Parameters<World['run']>[1],
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    check('end');
    expect(drift).toEqual([]);
  });
});

/** The kubedb-ops-manager chart's workload (kubedb/installer charts/kubedb-ops-manager): its selector label. */
function opsManagerWorkload(kind: 'Deployment' | 'StatefulSet', replicas = 1) {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: {
      name: 'kubedb-kubedb-ops-manager',
      namespace: 'kubedb',
      labels: { 'app.kubernetes.io/name': 'kubedb-ops-manager', 'app.kubernetes.io/instance': 'kubedb' },
    },
    spec: {
      replicas,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kubedb-ops-manager' } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'kubedb-ops-manager' } },
        spec: { containers: [] },
      },
    },
  };
}

describe("KubeDB's enterprise ops-manager is refused unless the stack says this is the only processor", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
    world.sim.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kubedb' } });
  });
  afterAll(async () => {
    delete process.env.ONLY_OPS_REQUEST_PROCESSOR;
    await world?.stop();
  });

  it('runs beside validators.ops.kubedb.com alone: the community webhook server registers it on every install', async () => {
    process.env.ONLY_OPS_REQUEST_PROCESSOR = 'false';
    expect(
      world.get(
        { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' },
        'validators.ops.kubedb.com',
        '',
      ),
    ).toBeDefined();
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'om-community', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'om-community' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
  });

  it('leaves a request to a running ops-manager (a Deployment, older charts): refused naming it, nothing written, not even the claim', async () => {
    process.env.ONLY_OPS_REQUEST_PROCESSOR = 'false';
    world.sim.store.create(opsManagerWorkload('Deployment'));
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'om-rotate', database: DB }));
    const db = world.db(DB).metadata.resourceVersion;

    const result = await world.run({ namespace: NS, opsRequest: 'om-rotate' });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('OpsManagerPresentError');
    expect(result.cause).toMatch(/ops-manager is running \(Deployment kubedb\/kubedb-kubedb-ops-manager/);
    expect(result.cause).toMatch(/kubedb-ops-manager\.enabled=false/);
    expect(result.cause).toMatch(/OnlyOpsRequestProcessor=true/);
    const ops = world.ops('om-rotate');
    expect(ops.metadata.annotations ?? {}).toEqual({});
    expect(ops.status?.phase).toBeUndefined();
    expect(world.db(DB).metadata.resourceVersion).toBe(db);
    world.sim.store.delete('apps/v1', 'Deployment', 'kubedb', 'kubedb-kubedb-ops-manager');
  });

  it('refuses beside the StatefulSet of current charts, and creates nothing for console input', async () => {
    delete process.env.ONLY_OPS_REQUEST_PROCESSOR;
    world.sim.store.create(opsManagerWorkload('StatefulSet'));
    const before = world.sim.store.list('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS).length;

    const result = await world.run({ namespace: NS, database: DB, tls: { rotateCertificates: true } });

    expect(result.error).toBe('OpsManagerPresentError');
    expect(result.cause).toMatch(/StatefulSet kubedb\/kubedb-kubedb-ops-manager/);
    expect(world.sim.store.list('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS)).toHaveLength(
      before,
    );
  });

  it('runs the request when the stack declares this deployment the only processor', async () => {
    process.env.ONLY_OPS_REQUEST_PROCESSOR = 'true';
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'om-only', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'om-only' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
  });
});

describe("Conditions and Events as KubeDB's docs show them", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('words a successful request like KubeDB: Running stays True, UpdatePetSets succeeded, per-pod steps', async () => {
    world.createOps(opsRequestFrom('pxcops-add-tls', { name: 'kc-add', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'kc-add' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const conditions = world.ops('kc-add').status?.conditions ?? [];
    const byType = (t: string) => conditions.find((c) => c.type === t);
    expect(byType('Running')).toMatchObject({
      status: 'True',
      reason: 'Running',
      message: expect.stringMatching(
        /^Controller has started to Progress the PerconaXtraDBOpsRequest: demo\/kc-add/,
      ),
    });
    expect(byType('UpdatePetSets')).toMatchObject({
      status: 'True',
      reason: 'UpdatePetSetsSucceeded',
      message: 'Successfully restarted PerconaXtraDB pods for PerconaXtraDBOpsRequest: demo/kc-add',
    });
    expect(byType('CertificateSynced')).toMatchObject({
      reason: 'CertificateSynced',
      message: 'Successfully synced all certificates',
    });
    expect(byType(`EvictPod--${DB}-1`)).toEqual(
      expect.objectContaining({
        status: 'True',
        message: `evict pod; ConditionStatus:True; PodName:${DB}-1`,
      }),
    );
    expect(byType(`EvictPod--${DB}-1`)).not.toHaveProperty('reason');
    expect(byType('Successful')).toMatchObject({ status: 'True', reason: 'Successful' });
    const events = world.sim.store
      .list<{ reason: string; message: string; involvedObject: { name: string } }>('v1', 'Event', NS)
      .filter((e) => e.involvedObject.name === 'kc-add');
    expect(events).toContainEqual(
      expect.objectContaining({
        reason: 'Starting',
        message: expect.stringMatching(/^Start processing for PerconaXtraDBOpsRequest: demo\/kc-add/),
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        reason: 'Starting',
        message: expect.stringMatching(new RegExp(`^Restarting Pod: demo/${DB}-0`)),
      }),
    );
  });
});

describe("Per-certificate issuerRef: each alias is signed by its own issuer, as KubeDB's spec says", () => {
  let world: World;
  let clients: CaIssuer;
  let servers: CaIssuer;
  beforeAll(async () => {
    world = await startWorld();
    clients = await createCaIssuer(world.sim, { name: 'px-clients', namespace: NS });
    servers = await createCaIssuer(world.sim, { name: 'px-servers', namespace: NS });
    await world.createDatabase({ name: DB });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('adds TLS with the client certificate from another issuer', async () => {
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'pc-add',
        database: DB,
        tls: {
          issuerRef: issuerRef(world.issuer),
          certificates: [{ alias: 'client', issuerRef: issuerRef(clients) }],
        },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'pc-add' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(chainsTo(secretPem(world, `${DB}-client-cert`, 'tls.crt')!, clients.certPem)).toBe(true);
    expect(chainsTo(secretPem(world, `${DB}-server-cert`, 'tls.crt')!, world.issuer.certPem)).toBe(true);
    expect(chainsTo(secretPem(world, `${DB}-metrics-exporter-cert`, 'tls.crt')!, world.issuer.certPem)).toBe(
      true,
    );
  });

  it('moves the server certificate to its own issuer in two passes, no pod refused by a peer', async () => {
    world.createOps(
      opsRequestFrom('pxcops-update', {
        name: 'pc-server',
        database: DB,
        tls: { certificates: [{ alias: 'server', issuerRef: issuerRef(servers) }] },
        spec: { timeout: '30s' },
      }),
    );
    const restarts: string[] = [];

    const result = await world.run(
      { namespace: NS, opsRequest: 'pc-server' },
      {
        onProgress: (p) =>
          p.event === 'entered' && p.state === 'Restart pod' && p.pod && restarts.push(p.pod.name),
      },
    );

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(restarts).toHaveLength(6);
    expect(chainsTo(secretPem(world, `${DB}-server-cert`, 'tls.crt')!, servers.certPem)).toBe(true);
    expect(chainsTo(secretPem(world, `${DB}-client-cert`, 'tls.crt')!, clients.certPem)).toBe(true);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('tells an Issuer from the ClusterIssuer of the same name: each alias is signed by the one it names', async () => {
    const DB2 = `${DB}-same`;
    const local = await createCaIssuer(world.sim, {
      name: 'px-same',
      namespace: NS,
      commonName: 'namespaced CA',
    });
    const cluster = await createCaIssuer(world.sim, {
      kind: 'ClusterIssuer',
      name: 'px-same',
      commonName: 'cluster CA',
    });
    await world.createDatabase({ name: DB2 });
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'pc-same-name',
        database: DB2,
        tls: {
          issuerRef: issuerRef(local),
          certificates: [{ alias: 'client', issuerRef: issuerRef(cluster) }],
        },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'pc-same-name' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const crt = (alias: string) => secretPem(world, `${DB2}-${alias}-cert`, 'tls.crt')!;
    expect(chainsTo(crt('client'), cluster.certPem)).toBe(true);
    expect(chainsTo(crt('client'), local.certPem)).toBe(false);
    expect(chainsTo(crt('server'), local.certPem)).toBe(true);
    expect(chainsTo(crt('metrics-exporter'), local.certPem)).toBe(true);
    expect(world.db(DB2).spec.tls?.certificates?.find((c) => c.alias === 'client')?.issuerRef).toMatchObject({
      kind: 'ClusterIssuer',
      name: 'px-same',
    });
  });
});
