import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerconaXtraDB, tlsSecret, waitForPodsReady } from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { eventually, startFast } from './helpers.js';

const NS = 'demo';
const PX = ['kubedb.com/v1', 'PerconaXtraDB'] as const;
const get = (sim: Simulator, kind: readonly [string, string], name: string) =>
  sim.store.get<J>(kind[0], kind[1], NS, name);
const template = (sim: Simulator, db: string) =>
  get(sim, ['apps.k8s.appscode.com/v1', 'PetSet'], db).spec.template.spec;
const dbArgs = (sim: Simulator, db: string): string[] =>
  template(sim, db).containers.find((c: J) => c.name === 'perconaxtradb').args;
const pause = (status: 'True' | 'Unknown', message = 'Paused by someone') => ({
  type: 'Paused',
  status,
  reason: 'PausedByOpsRequest',
  message,
  lastTransitionTime: new Date().toISOString(),
});

describe('KubeDB provisioner stand-in', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startFast();
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('confirms a pause: Paused Unknown turns True, the message kept', async () => {
    createPerconaXtraDB(sim, { namespace: NS, name: 'pv-pause' });
    const db = get(sim, PX, 'pv-pause');
    sim.store.put({
      ...db,
      status: { ...db.status, conditions: [...db.status.conditions, pause('Unknown')] },
    });

    const confirmed = await eventually(() =>
      get(sim, PX, 'pv-pause').status.conditions.find((c: J) => c.type === 'Paused' && c.status === 'True'),
    );

    expect(confirmed.message).toBe('Paused by someone');
    expect(sim.provisionerWrites()).toContainEqual(
      expect.objectContaining({ database: 'pv-pause', what: 'confirm-pause' }),
    );
  });

  it('renders nothing for a database its fixtures provisioned (with and without TLS)', async () => {
    const before = sim.provisionerWrites().length;
    const plain = createPerconaXtraDB(sim, { namespace: NS, name: 'pv-plain' });
    createPerconaXtraDB(sim, { namespace: NS, name: 'pv-tls', tls: { requireSSL: true } });
    await waitForPodsReady(sim, NS, plain.podNames); // pv-tls has no Secrets: its pods stay NotReady
    await new Promise((r) => setTimeout(r, 50));

    expect(
      sim
        .provisionerWrites()
        .slice(before)
        .filter((w) => w.what === 'template'),
    ).toEqual([]);
    expect(dbArgs(sim, 'pv-tls')).toEqual([
      '--defaults-file=/etc/mysql/my.cnf',
      '--ssl-capath=/etc/mysql/certs/server',
      '--ssl-ca=/etc/mysql/certs/server/ca.crt',
      '--ssl-cert=/etc/mysql/certs/server/tls.crt',
      '--ssl-key=/etc/mysql/certs/server/tls.key',
      '--require-secure-transport=ON',
    ]);
  });

  it("re-renders a resumed database's template from its spec, and leaves a paused one alone", async () => {
    createPerconaXtraDB(sim, { namespace: NS, name: 'pv-render', tls: { requireSSL: true } });
    const db = get(sim, PX, 'pv-render');
    // Paused: a spec change is not rendered.
    sim.store.put({
      ...db,
      spec: { ...db.spec, requireSSL: false },
      status: { ...db.status, conditions: [...db.status.conditions, pause('True')] },
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(dbArgs(sim, 'pv-render')).toContain('--require-secure-transport=ON');

    // Resumed: rendered.
    const paused = get(sim, PX, 'pv-render');
    sim.store.put({
      ...paused,
      status: {
        ...paused.status,
        conditions: paused.status.conditions.filter((c: J) => c.type !== 'Paused'),
      },
    });
    await eventually(() => !dbArgs(sim, 'pv-render').includes('--require-secure-transport=ON') || undefined);
    expect(sim.provisionerWrites()).toContainEqual(
      expect.objectContaining({ database: 'pv-render', what: 'template' }),
    );
  });

  it("keeps the AppBinding's caBundle on the server Secret's ca.crt and tlsSecret on the client Secret", async () => {
    const pem = { caPem: 'CA-ONE', certPem: 'C', keyPem: 'K' };
    createPerconaXtraDB(sim, {
      namespace: NS,
      name: 'pv-bind',
      tls: { secrets: { server: pem, client: pem } },
    });
    const binding = () => get(sim, ['appcatalog.appscode.com/v1alpha1', 'AppBinding'], 'pv-bind');
    expect(binding().spec.clientConfig.caBundle).toBe(Buffer.from('CA-ONE').toString('base64'));
    expect(binding().spec.tlsSecret).toEqual({ name: 'pv-bind-client-cert' });

    sim.store.put(tlsSecret(NS, 'pv-bind-server-cert', { ...pem, caPem: 'CA-TWO' }));
    const db = get(sim, PX, 'pv-bind');
    sim.store.put({ ...db, metadata: { ...db.metadata, labels: { touched: 'yes' } } });
    await eventually(
      () => binding().spec.clientConfig.caBundle === Buffer.from('CA-TWO').toString('base64') || undefined,
    );

    const { tls: _, requireSSL: __, ...plain } = get(sim, PX, 'pv-bind').spec;
    sim.store.put({ ...get(sim, PX, 'pv-bind'), spec: plain });
    await eventually(() => binding().spec.tlsSecret === undefined || undefined);
    expect(binding().spec.clientConfig).toEqual({ service: { name: 'pv-bind', port: 3306, scheme: 'tcp' } });
  });

  it('can be switched off: nobody confirms a pause', async () => {
    const off = await startFast({ provisioner: false });
    try {
      createPerconaXtraDB(off, { namespace: NS, name: 'pv-off' });
      const db = get(off, PX, 'pv-off');
      off.store.put({ ...db, status: { ...db.status, conditions: [pause('Unknown')] } });
      await new Promise((r) => setTimeout(r, 100));
      expect(get(off, PX, 'pv-off').status.conditions[0].status).toBe('Unknown');
      expect(off.provisionerWrites()).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});
