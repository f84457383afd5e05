/**
 * Group "disruption" of the benchmark (issue 22), run only with `--only disruption` (it needs
 * Debian's mariadb-server, galera-4 and rsync): what clients feel during each action, on 3 real
 * MariaDB Galera servers (the simulator's `mysqld: 'mariadb'` mode), Restart and Reload side by
 * side, in one run, with the ASL's real Wait durations. The disruption probe (local/sim/probe.ts)
 * runs through each execution.
 *
 * Cases: on `sample-pxc` (Galera TLS on, TLS from the start) update, rotate, requireSSL off,
 * requireSSL on and change of issuer in Restart mode, then rotate, update and change of issuer in
 * Reload mode; on `plain-pxc` (plain Galera, as KubeDB's PXC images run) add TLS and remove TLS.
 */

import { kubeFromKubeconfig } from '../functions/kube/client.js';
import { RESTART_MODE_ANNOTATION } from '../functions/model/names.js';
import { runExecution } from '../local/runner/index.js';
import { createCaIssuer, opsRequestFrom } from '../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../local/sim/fixtures.js';
import { startSimulator } from '../local/sim/index.js';
import { DisruptionProbe, type ProbeFigures } from '../local/sim/probe.js';
import { type Figure, figure } from './stats.js';
import { quietLogger } from './world.js';

const NS = 'demo';
const REPLICAS = 3;
const GROUP = 'Disruption (3 real Galera servers)';

type Sample = Parameters<typeof opsRequestFrom>[0];

export interface DisruptionCase {
  action: string;
  mode: 'Restart' | 'Reload';
  database: string;
  wallS: number;
  status: string;
  restarts: number;
  probe: ProbeFigures;
}

export interface DisruptionBench {
  cases: DisruptionCase[];
  table: string;
  figures: Figure[];
}

export async function benchDisruption(
  o: { onProgress?: (line: string) => void } = {},
): Promise<DisruptionBench> {
  const log = o.onProgress ?? (() => undefined);
  const sim = await startSimulator({ mysqld: 'mariadb', podReadyDelayMs: 100, secretPropagationMs: 2000 });
  const cases: DisruptionCase[] = [];
  try {
    const kube = kubeFromKubeconfig(sim.kubeconfig);
    await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-third-ca' });
    let n = 0;
    const one = async (
      database: string,
      action: string,
      sample: Sample,
      mode: 'Restart' | 'Reload',
      issuer?: string,
    ) => {
      const name = `d-${++n}-${sample.replace(/^pxcops-/, '')}`;
      sim.store.create(
        opsRequestFrom(sample, {
          name,
          namespace: NS,
          database,
          ...(issuer
            ? { tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: issuer } } }
            : {}),
          annotations: { [RESTART_MODE_ANNOTATION]: mode },
        }),
      );
      const probe = new DisruptionProbe(sim, { namespace: NS, database, replicas: REPLICAS }).start();
      const t = Date.now();
      const result = await runExecution({
        kube,
        logger: quietLogger(),
        input: { namespace: NS, opsRequest: name },
        executionName: `${name}-${t}`,
      });
      const wallS = (Date.now() - t) / 1000;
      const figures = await probe.stop();
      const restarts = result.events.filter(
        (e) => e.type === 'StateEntered' && e.state?.name === 'Restart pod',
      ).length;
      const c: DisruptionCase = {
        action,
        mode,
        database,
        wallS,
        status: result.status,
        restarts,
        probe: figures,
      };
      cases.push(c);
      log(`${action} ${mode}: ${result.status} in ${wallS.toFixed(1)} s; ${summary(figures)}`);
      await waitForPodsReady(sim, NS, podsOf(database), 180_000);
    };

    createPerconaXtraDB(sim, {
      namespace: NS,
      name: 'sample-pxc',
      replicas: REPLICAS,
      tls: { requireSSL: true, certManager: true },
      args: ['--pxc-encrypt-cluster-traffic=ON'],
    });
    await waitForPodsReady(sim, NS, podsOf('sample-pxc'), 180_000);
    for (const [action, sample, issuer] of [
      ['update', 'pxcops-update', undefined],
      ['rotate', 'pxcops-rotate', undefined],
      ['requireSSL off', 'pxcops-require-ssl-off', undefined],
      ['requireSSL on', 'pxcops-require-ssl-on', undefined],
      ['change of issuer', 'pxcops-change-issuer', 'px-new-ca'],
    ] as Array<[string, Sample, string | undefined]>)
      await one('sample-pxc', action, sample, 'Restart', issuer);
    for (const [action, sample, issuer] of [
      ['rotate', 'pxcops-rotate', undefined],
      ['update', 'pxcops-update', undefined],
      ['change of issuer', 'pxcops-change-issuer', 'px-third-ca'],
    ] as Array<[string, Sample, string | undefined]>)
      await one('sample-pxc', action, sample, 'Reload', issuer);

    sim.store.delete('kubedb.com/v1', 'PerconaXtraDB', NS, 'sample-pxc');
    createPerconaXtraDB(sim, { namespace: NS, name: 'plain-pxc', replicas: REPLICAS });
    await waitForPodsReady(sim, NS, podsOf('plain-pxc'), 180_000);
    await one('plain-pxc', 'add TLS', 'pxcops-add-tls', 'Restart');
    await one('plain-pxc', 'remove TLS', 'pxcops-remove-tls', 'Restart');
  } finally {
    await sim.stop();
  }
  return { cases, table: renderDisruption(cases), figures: targets(cases) };
}

function podsOf(db: string): string[] {
  return Array.from({ length: REPLICAS }, (_, i) => `${db}-${i}`);
}

function summary(f: ProbeFigures): string {
  const failed = f.tlsFailed.refused + f.tlsFailed.verify + f.tlsFailed.other;
  return `TLS ${f.tlsOk} ok / ${failed} failed, writes ${f.writes} (${f.writeFailed} failed, ${f.unreplicated} unreplicated), cluster ≥ ${f.minClusterSize}, ${f.nonPrimary} non-Primary`;
}

/** The side-by-side table: one row per action, Restart and Reload columns. */
export function renderDisruption(cases: DisruptionCase[]): string {
  const head =
    '| action | mode | wall s | pod restarts | TLS connections ok | failed: refused / verify / other | writes | failed / unreplicated | min cluster size | non-Primary samples |\n' +
    '|---|---|---:|---:|---:|---|---:|---|---:|---:|';
  const lines = cases.map((c) => {
    const f = c.probe;
    return `| ${c.action}${c.database === 'plain-pxc' ? ' (plain Galera)' : ''} | ${c.mode}${c.status === 'SUCCEEDED' ? '' : ` (${c.status})`} | ${c.wallS.toFixed(1)} | ${c.restarts} | ${f.tlsOk} | ${f.tlsFailed.refused} / ${f.tlsFailed.verify} / ${f.tlsFailed.other} | ${f.writes} | ${f.writeFailed} / ${f.unreplicated} | ${Number.isFinite(f.minClusterSize) ? f.minClusterSize : '–'} | ${f.nonPrimary} |`;
  });
  return [head, ...lines].join('\n');
}

/** The issue's targets, one figure each per case. */
function targets(cases: DisruptionCase[]): Figure[] {
  const out: Figure[] = [];
  for (const c of cases) {
    const f = c.probe;
    const label = `${c.action}, ${c.mode}${c.database === 'plain-pxc' ? ', plain Galera' : ''}`;
    const failed = f.tlsFailed.refused + f.tlsFailed.verify + f.tlsFailed.other;
    out.push(figure(GROUP, `${label}: wall time`, 's', [c.wallS], { note: summary(f) }));
    if (c.mode === 'Reload') {
      const clean =
        failed === 0 &&
        f.writeFailed === 0 &&
        f.unreplicated === 0 &&
        f.minClusterSize >= 3 &&
        f.nonPrimary === 0;
      out.push({
        ...figure(GROUP, `${label}: failed connections + failed writes + non-Primary`, '', [
          failed + f.writeFailed + f.unreplicated + f.nonPrimary,
        ]),
        target: '0, cluster size never below 3',
        met: clean,
      });
    } else {
      out.push({
        ...figure(GROUP, `${label}: certificate-verify failures`, '', [f.tlsFailed.verify]),
        target: '0; cluster ≥ 2, 0 non-Primary',
        met: f.tlsFailed.verify === 0 && f.minClusterSize >= 2 && f.nonPrimary === 0,
      });
    }
  }
  return out;
}
