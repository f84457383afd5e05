/**
 * A new TLS connection to a MySQL/MariaDB server, as a client with `ssl-mode=VERIFY_IDENTITY`
 * opens one: the server's greeting, the client's SSLRequest packet, then a TLS handshake that
 * verifies the server's chain against `ca` and its name against `servername` (Node's own checks).
 * It stops there (no login): what it proves is which certificate the server presents now and
 * whether a verifying client accepts it. Also the same handshake straight on a Galera port, where
 * peers speak TLS from the first byte and must present a certificate themselves.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls';

export type TlsOutcome =
  | { ok: true; serial: string; subject: string; ms: number }
  | {
      ok: false;
      /** refused: nothing listens (pod down); no-tls: the server offers no TLS; verify: certificate or name rejected. */
      reason: 'refused' | 'no-tls' | 'verify' | 'error' | 'timeout';
      message: string;
      ms: number;
    };

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_SECURE_CONNECTION = 0x8000;

function serialOf(c: PeerCertificate): string {
  return String(c.serialNumber ?? '').toUpperCase();
}

/** Connects to a MySQL port and upgrades to TLS, verifying `ca` and `servername`. */
export function mysqlTls(o: {
  port: number;
  host?: string;
  ca: string;
  servername: string;
  timeoutMs?: number;
}): Promise<TlsOutcome> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  return new Promise((resolve) => {
    let done = false;
    let tcp: Socket | undefined;
    let secure: TLSSocket | undefined;
    const finish = (r: TlsOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // The TLS socket owns the TCP one once it wraps it: destroy only the outermost.
      if (secure) secure.destroy();
      else tcp?.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'timeout', message: 'no answer', ms: ms() }),
      o.timeoutMs ?? 5000,
    );
    tcp = netConnect({ port: o.port, host: o.host ?? '127.0.0.1' });
    let buf = Buffer.alloc(0);
    tcp.on('error', (err: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason: err.code === 'ECONNREFUSED' ? 'refused' : 'error',
        message: err.message,
        ms: ms(),
      }),
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUIntLE(0, 3);
      if (buf.length < 4 + len) return;
      tcp!.off('data', onData);
      const payload = buf.subarray(4, 4 + len);
      if (payload[0] === 0xff) {
        finish({
          ok: false,
          reason: 'error',
          message: payload
            .subarray(3)
            .toString('utf8')
            .replace(/^#\w{5}/, ''),
          ms: ms(),
        });
        return;
      }
      // Protocol 10: version string, NUL, connection id (4), scramble (8), filler, capabilities (2).
      const nul = payload.indexOf(0, 1);
      const caps = payload.readUInt16LE(nul + 1 + 4 + 8 + 1);
      if (!(caps & CLIENT_SSL)) {
        finish({ ok: false, reason: 'no-tls', message: 'the server does not offer TLS', ms: ms() });
        return;
      }
      const req = Buffer.alloc(4 + 32);
      req.writeUIntLE(32, 0, 3);
      req[3] = 1;
      req.writeUInt32LE(CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, 4);
      req.writeUInt32LE(16 << 20, 8);
      req[12] = 33;
      tcp!.write(req);
      handshake(tcp!);
    };
    tcp.on('data', onData);
    const handshake = (socket: Socket) => {
      const tls = tlsConnect({ socket, ca: o.ca, servername: o.servername, host: o.servername });
      secure = tls;
      tls.once('secureConnect', () => {
        const c = tls.getPeerCertificate();
        finish({ ok: true, serial: serialOf(c), subject: String(c.subject?.CN ?? ''), ms: ms() });
      });
      tls.once('error', (err: NodeJS.ErrnoException) =>
        finish({
          ok: false,
          reason: /certificate|self[- ]signed|altnames|Hostname|issuer/i.test(err.message)
            ? 'verify'
            : 'error',
          message: err.message,
          ms: ms(),
        }),
      );
    };
  });
}

/**
 * A TLS handshake on a Galera port, presenting `cert`/`key` as a peer would (Galera asks peers for
 * a certificate) and verifying the node against `ca` (no name check: Galera checks none).
 */
export function galeraTls(o: {
  port: number;
  ca: string;
  cert: string;
  key: string;
  timeoutMs?: number;
}): Promise<TlsOutcome> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  return new Promise((resolve) => {
    let done = false;
    const tls = tlsConnect({
      port: o.port,
      host: '127.0.0.1',
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      checkServerIdentity: () => undefined,
    });
    const finish = (r: TlsOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      tls.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'timeout', message: 'no answer', ms: ms() }),
      o.timeoutMs ?? 5000,
    );
    tls.once('secureConnect', () => {
      const c = tls.getPeerCertificate();
      finish({ ok: true, serial: serialOf(c), subject: String(c.subject?.CN ?? ''), ms: ms() });
    });
    tls.once('error', (err: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        reason:
          err.code === 'ECONNREFUSED'
            ? 'refused'
            : /certificate|self[- ]signed|issuer/i.test(err.message)
              ? 'verify'
              : 'error',
        message: err.message,
        ms: ms(),
      }),
    );
  });
}
