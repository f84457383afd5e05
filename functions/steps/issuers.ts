/**
 * The issuers a request uses, alias by alias (KubeDB's per-certificate `issuerRef`, else the
 * database's): read once each, classified (../model/certificates.ts `classifyIssuer`), and for
 * cert-manager CA issuers resolved to their checked CA (../pki/issuer.ts). Refused issuers are an
 * InvalidIssuerError naming the issuer and why; a missing one too.
 */
import type { Deps } from '../deps.js';
import { InvalidIssuerError, KubeForbiddenError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import {
  CERT_MANAGER_GROUP,
  classifyIssuer,
  effectiveIssuerRef,
  type IssuerClass,
} from '../model/certificates.js';
import type { CertificateAlias, CertificateSpec, IssuerRef } from '../model/types.js';
import { CERTIFICATE_ALIASES } from '../model/types.js';
import type { CertificateAuthority } from '../pki/index.js';
import { loadPki } from '../pki/load.js';
import { issuerOptions } from './common.js';

export interface AliasIssuer {
  ref: IssuerRef;
  class: IssuerClass;
  /** Set for CA issuers. */
  ca?: CertificateAuthority;
}

export function issuerKey(ref: IssuerRef): string {
  return `${ref.apiGroup || CERT_MANAGER_GROUP}/${ref.kind}/${ref.name}`;
}

export function describeIssuer(ref: IssuerRef, ns: string): string {
  const group = ref.apiGroup || CERT_MANAGER_GROUP;
  if (group !== CERT_MANAGER_GROUP) return `${ref.kind}.${group} ${ref.name}`;
  return ref.kind === 'Issuer' ? `Issuer ${ns}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/** Reads and classifies the issuer of every alias; `resolveCa` false skips the CA checks. */
export async function issuersByAlias(
  deps: Deps,
  ns: string,
  target: { issuerRef?: IssuerRef; certificates: readonly CertificateSpec[] },
  opts: { resolveCa?: boolean } = {},
): Promise<Record<CertificateAlias, AliasIssuer>> {
  const seen = new Map<string, AliasIssuer>();
  const out = {} as Record<CertificateAlias, AliasIssuer>;
  for (const alias of CERTIFICATE_ALIASES) {
    const ref = effectiveIssuerRef(target.certificates, alias, target.issuerRef);
    if (!ref) throw new InvalidIssuerError(`certificate ${alias}: no issuerRef`);
    const key = issuerKey(ref);
    let found = seen.get(key);
    if (!found) {
      found = await classifyOne(deps, ns, ref, opts.resolveCa !== false);
      seen.set(key, found);
    }
    out[alias] = found;
  }
  return out;
}

async function classifyOne(deps: Deps, ns: string, ref: IssuerRef, resolveCa: boolean): Promise<AliasIssuer> {
  const who = describeIssuer(ref, ns);
  if ((ref.apiGroup || CERT_MANAGER_GROUP) !== CERT_MANAGER_GROUP) {
    // An external issuer: its controller is cert-manager's business, but it must exist.
    await assertExternalIssuerExists(deps, ns, ref, who);
    return { ref, class: 'cert-manager-only' };
  }
  const issuer =
    ref.kind === 'ClusterIssuer'
      ? await deps.kube.get<{ metadata: object; spec?: Record<string, unknown> }>(KINDS.ClusterIssuer, {
          name: ref.name,
        })
      : await deps.kube.get<{ metadata: object; spec?: Record<string, unknown> }>(KINDS.Issuer, {
          namespace: ns,
          name: ref.name,
        });
  if (!issuer) throw new InvalidIssuerError(`${who} not found`);
  const cls = classifyIssuer(ref, issuer.spec);
  if (typeof cls === 'object') throw new InvalidIssuerError(`${who}: ${cls.refused}`);
  if (cls === 'ca' && resolveCa) {
    const { resolveIssuer } = await loadPki();
    return {
      ref,
      class: cls,
      ca: await resolveIssuer(deps.kube, ref, { ...issuerOptions(ns, deps), issuer }),
    };
  }
  return { ref, class: cls };
}

/**
 * An external issuer (another API group, e.g. awspca.cert-manager.io) is taken only when the
 * cluster serves its group and kind (discovery, which every authenticated client may read) and
 * the object exists: otherwise cert-manager would only fail the Certificates after the database
 * was paused and its spec changed. `certmanager.k8s.io`, cert-manager's group before 0.11, is the
 * usual mistake: no current cluster serves it. An issuer this role may not read (403: RBAC grants
 * no external groups) is taken on trust; cert-manager reports on it.
 */
async function assertExternalIssuerExists(
  deps: Deps,
  ns: string,
  ref: IssuerRef,
  who: string,
): Promise<void> {
  const group = ref.apiGroup!;
  const served = await deps.kube.discover(group);
  if (!served)
    throw new InvalidIssuerError(
      `${who}: this cluster does not serve API group ${group}${group === 'certmanager.k8s.io' ? " (cert-manager's group before 0.11: issuers are cert-manager.io now)" : ''}`,
    );
  const resource = served.resources.find((r) => r.kind === ref.kind);
  if (!resource)
    throw new InvalidIssuerError(
      `${who}: API group ${group} serves no kind ${ref.kind} (it serves ${served.resources.map((r) => r.kind).join(', ') || 'nothing'})`,
    );
  const kind = {
    apiVersion: `${group}/${served.version}`,
    kind: ref.kind,
    plural: resource.plural,
    namespaced: resource.namespaced,
  };
  try {
    const issuer = await deps.kube.get(kind, {
      ...(resource.namespaced ? { namespace: ns } : {}),
      name: ref.name,
    });
    if (!issuer) throw new InvalidIssuerError(`${who} not found`);
  } catch (err) {
    if (err instanceof KubeForbiddenError) {
      deps.logger.info('external issuer not readable with this role: taken on trust', { issuer: who });
      return;
    }
    throw err;
  }
}
