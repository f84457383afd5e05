/**
 * The TLS wiring of the database's pod template (DESIGN.md "Pod TLS wiring"): pure functions
 * that add or remove exactly the volumes, mounts, env and args TLS needs, and nothing else.
 */
import type { CertificateAlias } from './types.js';
import { CERTIFICATE_ALIASES } from './types.js';

export const DB_CONTAINER = 'perconaxtradb';
export const CERT_DIR = '/etc/mysql/certs';
export const SSL_ENV = 'SSL_ENABLED';
export const REQUIRE_SECURE_TRANSPORT_ARG = '--require-secure-transport=ON';

export interface EnvVar {
  name: string;
  value?: string;
  [k: string]: unknown;
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  [k: string]: unknown;
}
export interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  [k: string]: unknown;
}
export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; [k: string]: unknown };
  [k: string]: unknown;
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: Volume[]; [k: string]: unknown };
}

/** What the pods should have. `enabled: false` means no TLS at all (requireSSL is then ignored). */
export interface TlsWiring {
  enabled: boolean;
  requireSSL: boolean;
  secretNames: Record<CertificateAlias, string>;
}

export function volumeName(alias: CertificateAlias): string {
  return `tls-${alias}-config`;
}

export function tlsArgs(requireSSL: boolean): string[] {
  const dir = `${CERT_DIR}/server`;
  return [
    `--ssl-ca=${dir}/ca.crt`,
    `--ssl-cert=${dir}/tls.crt`,
    `--ssl-key=${dir}/tls.key`,
    ...(requireSSL ? [REQUIRE_SECURE_TRANSPORT_ARG] : []),
  ];
}

const TLS_ARG_PREFIXES = ['--ssl-ca=', '--ssl-cert=', '--ssl-key=', '--require-secure-transport='];
const isTlsArg = (a: string): boolean => TLS_ARG_PREFIXES.some((p) => a.startsWith(p));
const TLS_VOLUMES = new Set(CERTIFICATE_ALIASES.map(volumeName));

/**
 * The template with the wiring applied, and whether anything changed. The input is not modified.
 * Other containers, volumes, env and args are kept as they are and in their order.
 */
export function applyWiring(
  template: PodTemplate,
  wiring: TlsWiring,
): { template: PodTemplate; changed: boolean } {
  const next = structuredClone(template) as PodTemplate;
  const container = next.spec.containers.find((c) => c.name === DB_CONTAINER);
  if (!container) return { template, changed: false };

  const otherVolumes = (next.spec.volumes ?? []).filter((v) => !TLS_VOLUMES.has(v.name));
  const otherMounts = (container.volumeMounts ?? []).filter((m) => !TLS_VOLUMES.has(m.name));
  const otherEnv = (container.env ?? []).filter((e) => e.name !== SSL_ENV);
  const otherArgs = (container.args ?? []).filter((a) => !isTlsArg(a));

  if (wiring.enabled) {
    next.spec.volumes = [
      ...otherVolumes,
      ...CERTIFICATE_ALIASES.map((alias) => {
        const old = template.spec.volumes?.find((v) => v.name === volumeName(alias));
        return {
          name: volumeName(alias),
          secret: { ...(old?.secret ?? {}), secretName: wiring.secretNames[alias] },
        };
      }),
    ];
    container.volumeMounts = [
      ...otherMounts,
      ...CERTIFICATE_ALIASES.map((alias) => ({
        name: volumeName(alias),
        mountPath: `${CERT_DIR}/${alias}`,
        readOnly: true,
      })),
    ];
    container.env = [...otherEnv, { name: SSL_ENV, value: 'true' }];
    container.args = [...otherArgs, ...tlsArgs(wiring.requireSSL)];
  } else {
    setOrDrop(next.spec, 'volumes', otherVolumes, template.spec.volumes);
    setOrDrop(
      container,
      'volumeMounts',
      otherMounts,
      template.spec.containers.find((c) => c.name === DB_CONTAINER)?.volumeMounts,
    );
    setOrDrop(container, 'env', otherEnv, template.spec.containers.find((c) => c.name === DB_CONTAINER)?.env);
    setOrDrop(
      container,
      'args',
      otherArgs,
      template.spec.containers.find((c) => c.name === DB_CONTAINER)?.args,
    );
  }
  const changed = !sameWiring(template, next);
  return { template: changed ? next : template, changed };
}

/** Keeps an emptied list only if the original had the field at all. */
function setOrDrop<T extends object>(
  obj: T,
  key: keyof T & string,
  value: unknown[],
  original: unknown[] | undefined,
): void {
  if (value.length > 0 || original !== undefined) (obj as Record<string, unknown>)[key] = value;
  else delete (obj as Record<string, unknown>)[key];
}

/** The TLS wiring a template has now, or undefined when it has none. */
export function readWiring(template: PodTemplate): TlsWiring | undefined {
  const container = template.spec.containers.find((c) => c.name === DB_CONTAINER);
  const volumes = template.spec.volumes ?? [];
  const secretNames = {} as Record<CertificateAlias, string>;
  for (const alias of CERTIFICATE_ALIASES) {
    const v = volumes.find((x) => x.name === volumeName(alias));
    if (!v?.secret?.secretName) return undefined;
    secretNames[alias] = v.secret.secretName;
  }
  return {
    enabled: true,
    requireSSL: (container?.args ?? []).includes(REQUIRE_SECURE_TRANSPORT_ARG),
    secretNames,
  };
}

/** Just the parts wiring touches, for a snapshot that can be put back on rollback. */
export interface WiringSnapshot {
  volumes?: Volume[];
  volumeMounts?: VolumeMount[];
  env?: EnvVar[];
  args?: string[];
}

export function snapshotWiring(template: PodTemplate): WiringSnapshot {
  const c = template.spec.containers.find((x) => x.name === DB_CONTAINER);
  return {
    ...(template.spec.volumes ? { volumes: template.spec.volumes } : {}),
    ...(c?.volumeMounts ? { volumeMounts: c.volumeMounts } : {}),
    ...(c?.env ? { env: c.env } : {}),
    ...(c?.args ? { args: c.args } : {}),
  };
}

/** The template with the snapshot's parts put back; `changed` false when it already matches. */
export function restoreWiring(
  template: PodTemplate,
  snap: WiringSnapshot,
): { template: PodTemplate; changed: boolean } {
  const next = structuredClone(template) as PodTemplate;
  const c = next.spec.containers.find((x) => x.name === DB_CONTAINER);
  if (!c) return { template, changed: false };
  assignOrDelete(next.spec, 'volumes', snap.volumes);
  assignOrDelete(c, 'volumeMounts', snap.volumeMounts);
  assignOrDelete(c, 'env', snap.env);
  assignOrDelete(c, 'args', snap.args);
  const changed = !sameWiring(template, next);
  return { template: changed ? next : template, changed };
}

function assignOrDelete<T extends object>(obj: T, key: keyof T & string, value: unknown): void {
  if (value === undefined) delete (obj as Record<string, unknown>)[key];
  else (obj as Record<string, unknown>)[key] = structuredClone(value);
}

function sameWiring(a: PodTemplate, b: PodTemplate): boolean {
  return JSON.stringify(snapshotWiring(a)) === JSON.stringify(snapshotWiring(b));
}
