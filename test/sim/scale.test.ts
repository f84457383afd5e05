import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa } from '../../local/sim/ca.js';
import { ALIASES, createPerconaXtraDB, type PemSet } from '../../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { type Clients, clientsFor, eventually } from './helpers.js';

const DATABASES = 1000;

/**
 * The simulator holds 1,000 PerconaXtraDBs with 3 pods and 3 TLS Secrets each, and serves them
 * page by page. The times are printed (not asserted: benchmarks measure speed).
 */
describe('Simulator at scale', () => {
  let sim: Simulator;
  let c: Clients;
  const figures: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = performance.now();
    sim = await startSimulator({
      podReadyDelayMs: 50,
      podDeleteGraceMs: 10,
      namespaces: ['default', 'demo'],
    });
    const res = await fetch(`${sim.url}/version`, { headers: { Authorization: 'Bearer sim' } });
    figures.startToFirstAnswerMs = performance.now() - t0;
    expect(res.status).toBe(200);
    c = clientsFor(sim);
    const ca = makeCa('scale-ca');
    const leaf = issueCert(ca, 'scale');
    const pem: PemSet = { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
    const secrets = Object.fromEntries(ALIASES.map((a) => [a, pem]));
    const t1 = performance.now();
    for (let i = 0; i < DATABASES; i++) {
      createPerconaXtraDB(sim, {
        namespace: 'demo',
        name: `db-${String(i).padStart(4, '0')}`,
        tls: { secrets },
      });
    }
    figures.create1000Ms = performance.now() - t1;
    await eventually(
      () =>
        new Set(
          sim
            .readiness()
            .filter((r) => r.ready)
            .map((r) => r.uid),
        ).size ===
        3 * DATABASES,
      120_000,
      '3,000 Ready pods',
    );
    const ready = sim.store
      .list<J>('v1', 'Pod', 'demo')
      .filter((p) => p.status?.conditions?.some((x: J) => x.type === 'Ready' && x.status === 'True'));
    expect(ready.length).toBe(3 * DATABASES);
    figures.allPodsReadyMs = performance.now() - t1;
  }, 180_000);

  afterAll(async () => {
    console.log(
      `simulator scale figures (${DATABASES} databases): ${JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v)])))}`,
    );
    await sim?.stop();
  });

  async function listAll(
    list: (
      cont: string | undefined,
    ) => Promise<{ items: unknown[]; metadata?: { _continue?: string; continue?: string } }>,
  ) {
    const t = performance.now();
    let n = 0;
    let pages = 0;
    let cont: string | undefined;
    do {
      const page = await list(cont);
      n += page.items.length;
      pages++;
      // Typed clients rename `continue` to `_continue`; CustomObjectsApi returns the raw JSON.
      cont = page.metadata?._continue ?? page.metadata?.continue;
    } while (cont);
    return { n, pages, ms: performance.now() - t };
  }

  it('lists all 1,000 PerconaXtraDBs with pagination', async () => {
    const r = await listAll(
      async (cont) =>
        (await c.custom.listNamespacedCustomObject({
          group: 'kubedb.com',
          version: 'v1',
          plural: 'perconaxtradbs',
          namespace: 'demo',
          limit: 100,
          _continue: cont,
        })) as { items: unknown[]; metadata?: { continue?: string; _continue?: string } },
    );
    figures.listPerconaXtraDBsMs = r.ms;
    expect([r.n, r.pages]).toEqual([DATABASES, 10]);
  }, 60_000);

  it('lists all 3,000 pods and 4,000 Secrets (3 TLS + 1 auth per database) with pagination', async () => {
    const pods = await listAll((cont) =>
      c.core.listNamespacedPod({ namespace: 'demo', limit: 500, _continue: cont }),
    );
    const secrets = await listAll((cont) =>
      c.core.listSecretForAllNamespaces({ limit: 500, _continue: cont }),
    );
    figures.listPodsMs = pods.ms;
    figures.listSecretsMs = secrets.ms;
    expect([pods.n, secrets.n]).toEqual([3 * DATABASES, 4 * DATABASES]);
  }, 60_000);

  it('still answers a label-selected list for one database', async () => {
    const t = performance.now();
    const pods = await c.core.listNamespacedPod({
      namespace: 'demo',
      labelSelector: 'app.kubernetes.io/instance=db-0500',
    });
    figures.selectOneDatabasePodsMs = performance.now() - t;
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(['db-0500-0', 'db-0500-1', 'db-0500-2']);
  });
});
