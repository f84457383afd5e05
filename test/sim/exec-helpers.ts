/**
 * Running commands in simulated pods the way the workflow will: @kubernetes/client-node's `Exec`
 * over the simulator's `pods/exec` WebSocket endpoint; and a TLS database fixture whose three
 * certificate Secrets can be re-issued in one call.
 */
import { Readable, Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { type Issued, issueCert, makeCa } from '../../local/sim/ca.js';
import {
  ALIASES,
  createPerconaXtraDB,
  type PemSet,
  tlsSecret,
  waitForPodsReady,
} from '../../local/sim/fixtures.js';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';

export interface ExecOutput {
  stdout: string;
  stderr: string;
  status: V1Status;
}

/** The exit code a V1Status says (0 for Success). */
export function exitCode(status: V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause ? Number(cause.message) : -1;
}

export async function execIn(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  command: string[],
  opts: { container?: string; stdin?: string } = {},
): Promise<ExecOutput> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(chunk.toString());
        cb();
      },
    });
  return await new Promise<ExecOutput>((resolve, reject) => {
    new Exec(kc)
      .exec(
        namespace,
        pod,
        opts.container ?? 'perconaxtradb',
        command,
        sink((s) => {
          stdout += s;
        }),
        sink((s) => {
          stderr += s;
        }),
        opts.stdin === undefined ? null : Readable.from([Buffer.from(opts.stdin)]),
        false,
        (status) => resolve({ stdout, stderr, status }),
      )
      .catch(reject);
  });
}

/** The command the workflow sends (Reload pods' own): the simulator must run exactly that. */
export { mysqlCommand } from '../../functions/model/reload.js';

export interface TlsDatabase {
  name: string;
  podNames: string[];
  ca: Issued;
  server: Issued;
  /** Writes new Secrets for all three aliases (same CA unless given); returns the server leaf. */
  rotate(opts?: { ca?: Issued; caPem?: string; keyPem?: string }): Issued;
}

/** A 3-pod database with TLS, Ready, in namespace `demo`. */
export async function tlsDatabase(
  sim: Simulator,
  name: string,
  opts: { args?: string[]; subPath?: boolean } = {},
): Promise<TlsDatabase> {
  const ca = makeCa(`${name}-ca`);
  const leaf = (issuer: Issued) =>
    issueCert(issuer, `${name}.demo.svc`, { dnsNames: [`*.${name}-pods.demo.svc`, 'localhost'] });
  const server = leaf(ca);
  const pem: PemSet = { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem };
  const secrets = Object.fromEntries(ALIASES.map((a) => [a, pem]));
  const db = createPerconaXtraDB(sim, { namespace: 'demo', name, tls: { secrets } });
  if (opts.args || opts.subPath) {
    const set = sim.store.get<J>(db.workloadApiVersion, db.workloadKind, 'demo', name)!;
    const c = set.spec.template.spec.containers.find((x: J) => x.name === 'perconaxtradb');
    c.args = [...c.args, ...(opts.args ?? [])];
    if (opts.subPath) {
      // The server files through subPath mounts, as some charts do: the kubelet never updates them.
      c.volumeMounts = c.volumeMounts.map((m: J) =>
        m.name === 'tls-server-config'
          ? { ...m, mountPath: '/etc/mysql/certs/server/tls.crt', subPath: 'tls.crt' }
          : m,
      );
      c.volumeMounts.push(
        {
          name: 'tls-server-config',
          mountPath: '/etc/mysql/certs/server/tls.key',
          subPath: 'tls.key',
          readOnly: true,
        },
        {
          name: 'tls-server-config',
          mountPath: '/etc/mysql/certs/server/ca.crt',
          subPath: 'ca.crt',
          readOnly: true,
        },
      );
    }
    sim.store.put(set);
    // The set's pods exist already (OnDelete): recreate them from the changed template.
    for (const p of db.podNames) sim.store.delete('v1', 'Pod', 'demo', p);
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitForPodsReady(sim, 'demo', db.podNames);
  return {
    name,
    podNames: db.podNames,
    ca,
    server,
    rotate(o = {}) {
      const issuer = o.ca ?? ca;
      const next = leaf(issuer);
      const p: PemSet = {
        caPem: o.caPem ?? issuer.certPem,
        certPem: next.certPem,
        keyPem: o.keyPem ?? next.keyPem,
      };
      for (const a of ALIASES) sim.store.put(tlsSecret('demo', `${name}-${a}-cert`, p));
      return next;
    },
  };
}

/** The certificate serial as the stand-in reports it (upper-case hex). */
export function serialOf(cert: Issued): string {
  return cert.cert.serialNumber.toUpperCase();
}
