/**
 * The `pods/exec` subresource over WebSocket, spoken directly on node:http(s): the v5/v4 channel
 * protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`) as kubectl >= 1.30 and client-go speak it.
 *
 * Written here rather than taken from @kubernetes/client-node's `Exec` so the Lambda bundles stay
 * small: `Exec` brings `ws`, the generated API and KubeConfig (undici included) into every
 * bundle that reaches the adapter, for one request type. What is needed is small: an RFC 6455
 * client handshake, masked client frames, and reading binary messages whose first byte is the
 * channel (1 stdout, 2 stderr, 3 the final `metav1.Status` as JSON). No stdin and no TTY are
 * asked for, so nothing is ever sent except control frames (pong, close).
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as HttpModule from 'node:http';
import type * as HttpsModule from 'node:https';
import type { Duplex } from 'node:stream';
import { KubeUnavailableError } from '../errors.js';
import type { ExecResult } from './types.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
/** Never more than this much output is kept per stream: the commands sent print a few lines. */
const MAX_OUTPUT = 1 << 20;

interface Status {
  status?: string;
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

/** The exit code a v4/v5 Status says: 0 for Success, the ExitCode cause for NonZeroExitCode, else -1. */
export function exitCodeOf(status: Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = cause ? Number(cause.message) : Number.NaN;
  return Number.isInteger(n) ? n : -1;
}

/** `?container=..&command=..&command=..&stdout=true&stderr=true`, one `command` per argv word. */
export function execQuery(container: string, command: readonly string[]): string {
  const q = new URLSearchParams();
  q.set('container', container);
  for (const word of command) q.append('command', word);
  q.set('stdout', 'true');
  q.set('stderr', 'true');
  return `?${q.toString()}`;
}

/** Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** One client frame: FIN set, masked as RFC 6455 requires of clients. */
export function clientFrame(opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/**
 * Reads frames from a byte stream: `push` bytes, get whole messages (fragments joined) and
 * control frames back. Server frames are unmasked, but a masked one is unmasked all the same.
 */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;

  push(chunk: Buffer): Array<{ opcode: number; payload: Buffer }> {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const out: Array<{ opcode: number; payload: Buffer }> = [];
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) break;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (b.length < off + len) break;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i]! ^= b[maskAt + (i & 3)]!;
      this.buffer = b.subarray(off + len);
      if (opcode >= 8) {
        out.push({ opcode, payload });
        continue;
      }
      if (opcode !== 0) this.fragmentOpcode = opcode;
      this.fragments.push(payload);
      if (fin) {
        out.push({ opcode: this.fragmentOpcode, payload: Buffer.concat(this.fragments) });
        this.fragments = [];
      }
    }
    return out;
  }
}

/**
 * Runs one exec: `reqOpts` is a GET to the exec path with the cluster's agent, TLS and bearer
 * token. Resolves with stdout, stderr and the exit code once the server closes; rejects with
 * `onHttpError(status, body)` when the API server answers without upgrading (403, 404, 400 for a
 * container that is not running), KubeUnavailableError on a network failure or timeout.
 */
export function execOverWebSocket(
  transport: typeof HttpModule | typeof HttpsModule,
  reqOpts: HttpsModule.RequestOptions,
  o: { timeoutMs: number; what: string; onHttpError: (status: number, body: string) => Error },
): Promise<ExecResult> {
  const key = randomBytes(16).toString('base64');
  const headers = {
    ...(reqOpts.headers as Record<string, string>),
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Protocol': EXEC_PROTOCOLS.join(', '),
  };
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let socket: Duplex | undefined;
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], size: 0 };
    let status: Status | undefined;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      if (err) return reject(err);
      if (!status) return reject(new KubeUnavailableError(`${o.what}: the stream closed without a status`));
      resolve({
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        exitCode: exitCodeOf(status),
        ...(status.status !== 'Success' && status.message ? { message: status.message } : {}),
      });
    };
    const timer = setTimeout(() => {
      req.destroy();
      finish(new KubeUnavailableError(`${o.what}: no end of the stream in ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const req = transport.request({ ...reqOpts, method: 'GET', headers });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(o.onHttpError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', (err) => finish(new KubeUnavailableError(`${o.what}: ${err.message}`, { cause: err })));
    });
    req.on('upgrade', (res, sock, head) => {
      socket = sock;
      const protocol = String(res.headers['sec-websocket-protocol'] ?? '');
      if (res.headers['sec-websocket-accept'] !== acceptFor(key)) {
        return finish(new KubeUnavailableError(`${o.what}: bad Sec-WebSocket-Accept in the upgrade`));
      }
      if (!(EXEC_PROTOCOLS as readonly string[]).includes(protocol)) {
        return finish(
          new KubeUnavailableError(
            `${o.what}: the server chose subprotocol "${protocol}", not one of ${EXEC_PROTOCOLS.join(', ')}`,
          ),
        );
      }
      const reader = new FrameReader();
      const onData = (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.opcode === 0x8) {
            // Close: answer it (RFC 6455 5.5.1), then the stream is over.
            if (!sock.destroyed) sock.write(clientFrame(0x8, f.payload.subarray(0, 2)));
            return finish();
          }
          if (f.opcode === 0x9) {
            sock.write(clientFrame(0xa, f.payload));
            continue;
          }
          if (f.opcode !== 0x2 || f.payload.length === 0) continue;
          const channel = f.payload[0];
          const data = f.payload.subarray(1);
          if (channel === ERROR) {
            try {
              status = JSON.parse(data.toString('utf8')) as Status;
            } catch {
              status = { status: 'Failure', message: data.toString('utf8') };
            }
          } else if ((channel === STDOUT || channel === STDERR) && out.size + data.length <= MAX_OUTPUT) {
            out.size += data.length;
            (channel === STDOUT ? out.stdout : out.stderr).push(Buffer.from(data));
          }
        }
      };
      sock.on('data', onData);
      sock.on('end', () => finish());
      sock.on('close', () => finish());
      sock.on('error', (err) =>
        finish(new KubeUnavailableError(`${o.what}: ${err.message}`, { cause: err })),
      );
      if (head.length > 0) onData(head);
    });
    req.on('error', (err) => finish(new KubeUnavailableError(`${o.what}: ${err.message}`, { cause: err })));
    req.end();
  });
}
