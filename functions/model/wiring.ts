/**
 * The TLS wiring of the database's pod template (DESIGN.md "Pod TLS wiring"): pure functions
 * that add or remove exactly the volumes, mounts, env and args TLS needs, and nothing else.
 *
 * It must be exactly what KubeDB's provisioner renders from `spec.tls`/`spec.requireSSL`: the
 * provisioner re-renders the PetSet once the database is resumed, and any difference is a second
 * template change (a second full restart under RollingUpdate). The PerconaXtraDB renderer is not
 * public; what is:
 * - kubedb/docs, PerconaXtraDB TLS guide: mysqld runs with `ssl_ca`, `ssl_cert`, `ssl_key` under
 *   /etc/mysql/certs/server and `ssl_capath` = /etc/mysql/certs/server; /etc/mysql/certs/client
 *   and /server hold ca.crt, tls.crt, tls.key in the `perconaxtradb` container;
 * - kubedb/percona-xtradb-init-docker scripts/entrypoint.sh: when `SSL_ENABLED` is non-empty, SST
 *   is encrypted (`[sst] encrypt=4`) with /etc/mysql/certs/server/{ca.crt,tls.crt,tls.key};
 *   Galera replication stays unencrypted (`pxc_encrypt_cluster_traffic=OFF`);
 * - KubeDB's MariaDB PetSet builder (the public sibling of the PerconaXtraDB one): args
 *   `--ssl-capath`, `--ssl-ca`, `--ssl-cert`, `--ssl-key` then `--require-secure-transport=ON`,
 *   appended after the user's args; Secret volumes `tls-<alias>-config` projecting the three keys
 *   as items; mounts with only name and path (no readOnly); volumes, mounts and env upserted by
 *   name (so they keep their place in the lists).
 * What could not be confirmed for PerconaXtraDB (docs/kubedb-cert-manager.md):
 * the metrics-exporter volume's name and mount, and the value of SSL_ENABLED (the scripts only
 * test that it is set).
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

export const CERT_KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const;

export function tlsArgs(requireSSL: boolean): string[] {
  const dir = `${CERT_DIR}/server`;
  return [
    `--ssl-capath=${dir}`,
    `--ssl-ca=${dir}/ca.crt`,
    `--ssl-cert=${dir}/tls.crt`,
    `--ssl-key=${dir}/tls.key`,
    ...(requireSSL ? [REQUIRE_SECURE_TRANSPORT_ARG] : []),
  ];
}

const TLS_ARG_PREFIXES = [
  '--ssl-capath=',
  '--ssl-ca=',
  '--ssl-cert=',
  '--ssl-key=',
  '--require-secure-transport=',
];
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
    next.spec.volumes = upsertByName(
      template.spec.volumes,
      CERTIFICATE_ALIASES.map((alias) => ({
        name: volumeName(alias),
        secret: {
          secretName: wiring.secretNames[alias],
          items: CERT_KEYS.map((key) => ({ key, path: key })),
        },
      })),
    );
    container.volumeMounts = upsertByName(
      container.volumeMounts,
      CERTIFICATE_ALIASES.map((alias) => ({ name: volumeName(alias), mountPath: `${CERT_DIR}/${alias}` })),
    );
    container.env = upsertByName(container.env, [{ name: SSL_ENV, value: 'true' }]);
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

/** Replaces entries of the same name where they are, appends the others (KubeDB's Upsert* helpers). */
function upsertByName<T extends { name: string }>(list: readonly T[] | undefined, items: T[]): T[] {
  const out = [...(list ?? [])];
  for (const item of items) {
    const i = out.findIndex((x) => x.name === item.name);
    if (i >= 0) out[i] = item;
    else out.push(item);
  }
  return out;
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

/**
 * Pure: whether a database container's args make Galera encrypt cluster traffic
 * (`--pxc-encrypt-cluster-traffic=ON`, PXC 8.0's default, OFF in KubeDB's images) and whether
 * Galera may fall back to plain connections (`socket.dynamic=yes` in `--wsrep-provider-options`).
 * With encryption on and no fallback, a node restarted with Galera TLS turned on or off cannot
 * join peers that still have it the other way (galera-4 26.4.23 on real servers, docs/galera.md).
 */
export function galeraTraffic(args: readonly string[]): { encrypted: boolean; dynamic: boolean } {
  let encrypted = false;
  let dynamic = false;
  for (const a of args) {
    const m = /^--pxc[-_]encrypt[-_]cluster[-_]traffic(?:=(.*))?$/.exec(a);
    if (m) encrypted = /^(ON|1|TRUE|YES)?$/i.test(m[1] ?? '');
    const p = /^--wsrep[-_]provider[-_]options=(.*)$/.exec(a);
    if (p)
      dynamic = p[1]!
        .split(';')
        .map((o) => o.split('=').map((x) => x.trim()))
        .some(([k, v]) => k === 'socket.dynamic' && /^(1|yes|true|on)$/i.test(v ?? ''));
  }
  return { encrypted, dynamic };
}
