/**
 * A simulated cluster for one benchmark case: a CA Issuer (and the ClusterIssuer a change of
 * issuer moves to), one PerconaXtraDB with `replicas` Ready pods, with or without TLS, and the
 * Kubernetes client the workflow uses. Fixtures are written in-process, so `sim.requests` counts
 * only what the workflow itself sends.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import type { Kube } from '../functions/kube/types.js';
import {
  checkCertificateAuthority,
  createTestCA,
  issueCertificates,
  secretManifest,
} from '../functions/pki/index.js';
import { createCaIssuer } from '../local/runner/world.js';
import { createPerconaXtraDB, waitForPodsReady } from '../local/sim/fixtures.js';
import { type Simulator, startSimulator } from '../local/sim/index.js';
import type { KubeletSyncModel } from '../local/sim/volumes.js';

export const NS = 'demo';
export const DB = 'sample-pxc';

export interface BenchWorld {
  sim: Simulator;
  kube: Kube;
  podNames: string[];
  stop(): Promise<void>;
}

/** The workflow's logs would drown the table: only errors reach the console. */
export const quietLogger = (): Logger => new Logger({ serviceName: 'pxc-tls-ops-bench', logLevel: 'ERROR' });

export async function startBenchWorld(o: {
  replicas: number;
  podReadyDelayMs: number;
  /** Start with TLS on (certificates from px-issuer, requireSSL true), as rotate/update/... need. */
  tls: boolean;
  /** Kubelet sync delay of Secret volumes in running pods (Reload mode waits for it). */
  secretPropagationMs?: number;
  /** The realistic kubelet instead (local/sim/volumes.ts). */
  kubelet?: KubeletSyncModel;
}): Promise<BenchWorld> {
  const sim = await startSimulator({
    podReadyDelayMs: o.podReadyDelayMs,
    ...(o.secretPropagationMs ? { secretPropagationMs: o.secretPropagationMs } : {}),
    ...(o.kubelet ? { kubelet: o.kubelet } : {}),
  });
  try {
    const root = await createTestCA({ commonName: 'px-issuer CA' });
    const issuer = await createCaIssuer(sim, { name: 'px-issuer', namespace: NS, ca: root });
    await createCaIssuer(sim, { kind: 'ClusterIssuer', name: 'px-new-ca' });
    if (o.tls) {
      const issued = await issueCertificates({
        database: DB,
        namespace: NS,
        certificates: [],
        ca: {
          issuerRef: { apiGroup: 'cert-manager.io', kind: issuer.kind, name: issuer.name },
          secretRef: { namespace: NS, name: issuer.secretName },
          ...checkCertificateAuthority(root.certPem, root.keyPem, { who: 'bench CA' }),
        },
      });
      for (const s of issued) sim.store.put(secretManifest(s, NS));
    }
    const created = createPerconaXtraDB(sim, {
      namespace: NS,
      name: DB,
      replicas: o.replicas,
      ...(o.tls ? { tls: { requireSSL: true } } : {}),
    });
    await waitForPodsReady(sim, NS, created.podNames, 60_000 + o.podReadyDelayMs * 2);
    const kube = kubeFromKubeconfig(sim.kubeconfig);
    sim.requests.reset();
    return { sim, kube, podNames: created.podNames, stop: () => sim.stop() };
  } catch (err) {
    await sim.stop();
    throw err;
  }
}
