/**
 * Reload mode's command and proof, pure (docs/reload.md): the one command shape sent through
 * `pods/exec`, the SQL in the order Reload pods sends it, and how what the server reports proves
 * (or does not) that it loaded the pass's certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { ExecResult } from '../kube/types.js';

/** The SQL the step sends, in order (docs/reload.md, "The command the workflow sends"). */
export const SQL = {
  galeraTls: "SHOW GLOBAL VARIABLES LIKE 'wsrep_provider_options'",
  reloadTls: 'ALTER INSTANCE RELOAD TLS',
  reloadGalera: "SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'",
  loaded: "SHOW GLOBAL STATUS LIKE 'Ssl_server_not%'",
} as const;

/**
 * The one command shape: the SQL travels as `$1`, the credentials are the container's own
 * environment (KubeDB's MYSQL_ROOT_USERNAME/PASSWORD), expanded by its shell, so they are in no
 * request, payload, log or Event. `mysql` without `-h` uses the Unix socket, which
 * require_secure_transport allows even while the server's certificate is broken.
 */
export function mysqlCommand(sql: string): string[] {
  return [
    'sh',
    '-c',
    'exec mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -N -B -e "$1"',
    'pxc-tls-ops',
    sql,
  ];
}

/** What the server reports about the certificate it presents (`Ssl_server_not_*`, OpenSSL's format). */
export interface Validity {
  notBefore: string;
  notAfter: string;
}

/** What Galera's own TLS needs from a reload, decided from the provider's options. */
export type GaleraReload = 'off' | 'reload' | 'unsupported';

/**
 * Galera's own TLS, from `wsrep_provider_options` as the provider reports it ("k = v; k = v").
 * It is on whenever the provider says `socket.ssl = YES` — Galera turns it on by itself as soon
 * as `socket.ssl_key` or `socket.ssl_cert` is set (galerautils/src/gu_asio.cpp `init_use_ssl`,
 * `ssl_check_conf`), whatever `pxc_encrypt_cluster_traffic` says, so that variable is not asked.
 * A build that has `socket.ssl_reload` lists it among its options once TLS is on (gu_asio.cpp
 * `ssl_init_options` sets it to 1; codership/galera since 26.4.8); one that does not (percona/galera
 * 4.x-8.0 at Galera 4.7, 2021) cannot reload, and the pod is restarted instead.
 */
export function galeraReload(providerOptions: string): GaleraReload {
  const options = new Map(
    providerOptions
      .split(';')
      .map((kv) => kv.split('=').map((x) => x.trim()))
      .filter(([k]) => k)
      .map(([k, v]) => [k!, v ?? ''] as const),
  );
  const ssl = options.get('socket.ssl');
  const on =
    ssl !== undefined
      ? /^(YES|ON|1|TRUE)$/i.test(ssl)
      : !!options.get('socket.ssl_key') || !!options.get('socket.ssl_cert');
  if (!on) return 'off';
  return options.has('socket.ssl_reload') ? 'reload' : 'unsupported';
}

/** Tab-separated `-N -B` rows of `SHOW ... LIKE` into a map. */
export function parseRows(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) out[line.slice(0, tab)] = line.slice(tab + 1).trim();
  }
  return out;
}

/** The validity of the first certificate of a PEM, as MySQL/OpenSSL print it ("Apr 28 14:16:39 2027 GMT"). */
export function validityOf(pem: string): Validity {
  const x = new X509Certificate(pem);
  return { notBefore: x.validFrom, notAfter: x.validTo };
}

/**
 * Pure: is the reload proven? The server reports the expected certificate's validity; and when
 * the pass replaced the certificate, that validity differs from the one it replaced (validity is
 * all MySQL shows of the loaded certificate: with the same validity the new and the old cannot be
 * told apart, so the reload is not proven). Returns undefined when proven, else why not.
 */
export function unproven(
  loaded: Partial<Validity>,
  expected: Validity,
  replaced: Validity | undefined,
): string | undefined {
  if (loaded.notBefore !== expected.notBefore || loaded.notAfter !== expected.notAfter) {
    return `the server presents a certificate valid ${loaded.notBefore ?? '?'} – ${loaded.notAfter ?? '?'}, not the new one (${expected.notBefore} – ${expected.notAfter})`;
  }
  if (replaced && replaced.notBefore === expected.notBefore && replaced.notAfter === expected.notAfter) {
    return 'the new certificate has the same validity as the one it replaces, so the server cannot show which one it loaded';
  }
  return undefined;
}

/** The first `ERROR ...` line of mysql's stderr (never the password warning, never the command). */
export function sqlError(r: ExecResult): string {
  const line = r.stderr.split('\n').find((l) => /^ERROR\b/.test(l.trim()));
  return line?.trim() || r.message || `exit code ${r.exitCode}`;
}
