/**
 * Setting up a cluster for a run, shared by the demo, the tests and the benchmark: the samples
 * in k8s/samples (the one source of fixtures), a CA Issuer with a real CA, OpsRequest builders.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { PerconaXtraDBOpsRequest, ReconfigureTLSSpec } from '../../functions/model/types.js';
import { createTestCA } from '../../functions/pki/index.js';
import type { Simulator } from '../sim/index.js';

const SAMPLES = fileURLToPath(new URL('../../k8s/samples/', import.meta.url));

export type SampleName =
  | 'issuer'
  | 'perconaxtradb'
  | 'pxcops-add-tls'
  | 'pxcops-rotate'
  | 'pxcops-rotate-reload'
  | 'pxcops-update'
  | 'pxcops-change-issuer'
  | 'pxcops-require-ssl-off'
  | 'pxcops-require-ssl-on'
  | 'pxcops-remove-tls';

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form
export type Manifest = Record<string, any>;

export function loadSample(name: SampleName): Manifest[] {
  return parseAllDocuments(readFileSync(`${SAMPLES}${name}.yaml`, 'utf8')).map((d) => d.toJSON() as Manifest);
}

/** An OpsRequest from a sample, with a new name/namespace/database and any spec changes. */
export function opsRequestFrom(
  sample: Exclude<SampleName, 'issuer' | 'perconaxtradb'>,
  o: {
    name?: string;
    namespace?: string;
    database?: string;
    tls?: ReconfigureTLSSpec;
    spec?: Partial<PerconaXtraDBOpsRequest['spec']>;
    /** Merged over the sample's (e.g. pxc-tls-ops.io/restart-mode). */
    annotations?: Record<string, string>;
  } = {},
): PerconaXtraDBOpsRequest {
  const base = loadSample(sample)[0] as PerconaXtraDBOpsRequest;
  return {
    ...base,
    metadata: {
      name: o.name ?? base.metadata.name,
      namespace: o.namespace ?? base.metadata.namespace,
      ...(base.metadata.annotations || o.annotations
        ? { annotations: { ...(base.metadata.annotations ?? {}), ...(o.annotations ?? {}) } }
        : {}),
    },
    spec: {
      ...base.spec,
      databaseRef: { name: o.database ?? base.spec.databaseRef.name },
      ...(o.tls ? { tls: o.tls } : {}),
      ...(o.spec ?? {}),
    },
  };
}

export interface CaIssuer {
  kind: 'Issuer' | 'ClusterIssuer';
  name: string;
  certPem: string;
  secretName: string;
}

/**
 * A cert-manager CA Issuer (or ClusterIssuer) and its CA Secret, written in-process. `ca` lets a
 * test pass a broken or expired CA; by default a fresh self-signed one is made.
 */
export async function createCaIssuer(
  sim: Simulator,
  o: {
    kind?: 'Issuer' | 'ClusterIssuer';
    name: string;
    namespace?: string;
    commonName?: string;
    ca?: { certPem: string; keyPem: string };
    clusterResourceNamespace?: string;
  },
): Promise<CaIssuer> {
  const kind = o.kind ?? 'Issuer';
  const ca = o.ca ?? (await createTestCA({ commonName: o.commonName ?? `${o.name} CA` }));
  const secretNamespace =
    kind === 'Issuer' ? (o.namespace ?? 'demo') : (o.clusterResourceNamespace ?? 'cert-manager');
  const secretName = `${o.name}-ca`;
  sim.store.put({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: secretName, namespace: secretNamespace },
    data: {
      'tls.crt': Buffer.from(ca.certPem).toString('base64'),
      'tls.key': Buffer.from(ca.keyPem).toString('base64'),
    },
  });
  sim.store.put({
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: { name: o.name, ...(kind === 'Issuer' ? { namespace: o.namespace ?? 'demo' } : {}) },
    spec: { ca: { secretName } },
  });
  return { kind, name: o.name, certPem: ca.certPem, secretName };
}

export function issuerRef(issuer: CaIssuer) {
  return { apiGroup: 'cert-manager.io', kind: issuer.kind, name: issuer.name };
}
