/** Shared builders for the certificate tests: CAs are made once per file (RSA keygen is the slow part). */
import type { Kube, KubeObject, ObjectRef, ResourceKind } from '../../../functions/kube/types.js';
import {
  type CertificateAuthority,
  checkCertificateAuthority,
  createTestCA,
} from '../../../functions/pki/index.js';

export type TestCA = Awaited<ReturnType<typeof createTestCA>>;

/** A CertificateAuthority as resolveIssuer would return it, for a tls.crt (+ optional ca.crt) and key. */
export function authority(
  tlsCrt: string,
  keyPem: string,
  caCrt?: string,
  name = 'px-issuer',
): CertificateAuthority {
  return {
    issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name },
    secretRef: { namespace: 'demo', name: `${name}-ca` },
    ...checkCertificateAuthority(tlsCrt, keyPem, { who: `Issuer demo/${name}`, caCrt }),
  };
}

/** Root → intermediate, the intermediate being the signing CA (tls.crt = intermediate + root). */
export async function intermediateSetup(): Promise<{
  root: TestCA;
  intermediate: TestCA;
  ca: CertificateAuthority;
}> {
  const root = await createTestCA({ commonName: 'test root CA' });
  const intermediate = await createTestCA({ commonName: 'test intermediate CA', parent: root });
  return { root, intermediate, ca: authority(intermediate.certPem + root.certPem, intermediate.keyPem) };
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** A read-only in-memory Kube: enough for resolveIssuer, which only reads. */
export function fakeKube(objects: KubeObject[]): Kube & { gets: string[] } {
  const key = (kind: ResourceKind, ref: ObjectRef) => `${kind.kind}/${ref.namespace ?? ''}/${ref.name}`;
  const store = new Map(
    objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, structuredClone(o)]),
  );
  const gets: string[] = [];
  const unsupported = () => {
    throw new Error('fakeKube: read-only');
  };
  return {
    gets,
    async get<T extends KubeObject>(kind: ResourceKind, ref: ObjectRef) {
      gets.push(key(kind, ref));
      return store.get(key(kind, ref)) as T | undefined;
    },
    discover: unsupported,
    list: unsupported,
    create: unsupported,
    replace: unsupported,
    patch: unsupported,
    delete: unsupported,
    evict: unsupported,
    watch: unsupported,
    exec: unsupported,
  };
}

export function caSecret(namespace: string, name: string, data: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace, name },
    type: 'kubernetes.io/tls',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  } as KubeObject;
}

export function issuer(
  kind: 'Issuer' | 'ClusterIssuer',
  name: string,
  spec: Record<string, unknown>,
  namespace?: string,
) {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec,
  } as KubeObject;
}
