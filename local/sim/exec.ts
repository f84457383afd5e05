/**
 * The `pods/exec` subresource: `GET|POST /api/v1/namespaces/{ns}/pods/{pod}/exec?container=..
 * &command=..&command=..&stdin=..&stdout=..&stderr=..&tty=..`, upgraded to one of the streaming
 * protocols real clients speak:
 *
 * - WebSocket (RFC 6455), subprotocols `v5.channel.k8s.io` (kubectl >= 1.30 only offers this one;
 *   @kubernetes/client-node offers v5 first), `v4.channel.k8s.io`, `v3`, `v2`, `channel.k8s.io`.
 *   Every message is binary: one channel byte (0 stdin, 1 stdout, 2 stderr, 3 error/status,
 *   4 resize) then data. v5 adds the CLOSE signal `[255, channel]`, with which a client
 *   half-closes stdin. The server sends stdout/stderr, then on channel 3 the metav1.Status
 *   (v4/v5: JSON, `Success`, or `Failure` with reason `NonZeroExitCode` and a cause `ExitCode`
 *   carrying the code; v1-v3: the error text only), then closes with 1000.
 * - SPDY/3.1 with `X-Stream-Protocol-Version: v4.channel.k8s.io` (spdy.ts): kubectl before 1.30,
 *   and kubectl 1.30+ when the WebSocket upgrade fails or KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false.
 *
 * The API server's checks come first, answered as plain HTTP errors (no upgrade): the pod must
 * exist, a command must be given, the container must be one of the pod's (or implied when there
 * is only one), at least one stream must be asked for, and the container must be running.
 * Authorization is RBAC's `create` on `pods/exec` (the request record says so).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { POD } from './api.js';
import type { Mysqld } from './mysqld.js';
import type { ExecResult } from './shell.js';
import { SpdyServerConnection } from './spdy.js';
import { ApiError, failureStatus, type J, type Store } from './store.js';

export const WS_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export class ExecEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>) => WS_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  private readonly open = new Set<Duplex>();

  constructor(
    private readonly store: Store,
    private readonly mysqld: Mysqld,
  ) {}

  /** What the API server checks before it upgrades; throws ApiError like it answers. */
  target(url: URL, namespace: string, podName: string): ExecTarget {
    const q = url.searchParams;
    const pod = this.store.get(POD, namespace, podName);
    if (!pod)
      throw new ApiError(404, 'NotFound', `pods "${podName}" not found`, { name: podName, kind: 'pods' });
    const command = q.getAll('command');
    if (command.length === 0) {
      throw new ApiError(400, 'BadRequest', 'you must specify at least one command for the container');
    }
    const flag = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
    const t: ExecTarget = {
      namespace,
      pod: podName,
      container: q.get('container') ?? '',
      command,
      stdin: flag('stdin'),
      stdout: flag('stdout'),
      stderr: flag('stderr'),
      tty: flag('tty'),
    };
    if (!t.stdin && !t.stdout && !t.stderr) {
      throw new ApiError(400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr');
    }
    const containers: string[] = (pod.spec?.containers ?? []).map((c: J) => c.name);
    if (!t.container) {
      if (containers.length !== 1) {
        const inits = (pod.spec?.initContainers ?? []).map((c: J) => c.name).join(' ');
        throw new ApiError(
          400,
          'BadRequest',
          `a container name must be specified for pod ${podName}, choose one of: [${containers.join(' ')}]${inits ? ` or one of the init containers: [${inits}]` : ''}`,
        );
      }
      t.container = containers[0]!;
    } else if (!containers.includes(t.container)) {
      throw new ApiError(400, 'BadRequest', `container ${t.container} is not valid for pod ${podName}`);
    }
    if (pod.metadata.deletionTimestamp || !this.mysqld.view(namespace, podName)) {
      throw new ApiError(
        400,
        'BadRequest',
        `unable to upgrade connection: container not found ("${t.container}")`,
      );
    }
    return t;
  }

  /** Takes over the upgraded connection; resolves with the HTTP status it answered (101 or an error). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, t: ExecTarget): number {
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.serveWebSocket(ws, t));
      return 101;
    }
    if (upgrade.startsWith('spdy/3')) return this.serveSpdy(req, socket, head, t);
    writeHttpError(socket, new ApiError(400, 'BadRequest', 'Upgrade request required'));
    return 400;
  }

  closeAll(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.wss.close();
  }

  private track(socket: Duplex): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }

  private async run(t: ExecTarget, stdin: Buffer[] | undefined): Promise<ExecResult> {
    const input = stdin ? Buffer.concat(stdin).toString('utf8') : undefined;
    const r = await this.mysqld.execAsync(t.namespace, t.pod, t.container, t.command, input);
    // With a TTY the container has one output stream.
    return t.tty ? { stdout: r.stdout + r.stderr, stderr: '', exitCode: r.exitCode } : r;
  }

  private serveWebSocket(ws: WebSocket, t: ExecTarget): void {
    const socket = (ws as unknown as { _socket: Duplex })._socket;
    if (socket) this.track(socket);
    const protocol = ws.protocol;
    const stdin: Buffer[] = [];
    let ran = false;
    const finish = async () => {
      if (ran) return;
      ran = true;
      const r = await this.run(t, t.stdin ? stdin : undefined);
      const send = (channel: number, data: string | Buffer) => {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
      };
      if (t.stdout && r.stdout) send(STDOUT, r.stdout);
      if (t.stderr && r.stderr) send(STDERR, r.stderr);
      const status = execStatus(t, r);
      if (protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io')
        send(ERROR, JSON.stringify(status));
      else if (status.status !== 'Success') send(ERROR, status.message);
      ws.close(1000);
    };
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      if (buf.length === 0) return;
      if (buf[0] === STDIN) stdin.push(buf.subarray(1));
      else if (buf[0] === CLOSE && buf[1] === STDIN && protocol === 'v5.channel.k8s.io') void finish();
    });
    ws.on('error', () => {});
    // Without stdin the command runs at once; with it, once the client half-closes stdin (v5) —
    // older protocols have no half-close, so the command runs on what arrived when they hang up.
    if (!t.stdin) void finish();
    else
      ws.on('close', () => {
        ran = true;
      });
  }

  private serveSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, t: ExecTarget): number {
    const offered = String(req.headers['x-stream-protocol-version'] ?? '')
      .split(',')
      .map((s) => s.trim());
    if (!offered.includes('v4.channel.k8s.io')) {
      writeHttpError(
        socket,
        new ApiError(
          403,
          'Forbidden',
          `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [v4.channel.k8s.io]`,
        ),
      );
      return 403;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        'X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n',
    );
    this.track(socket);
    const expected = new Set<string>(['error']);
    if (t.stdin) expected.add('stdin');
    if (t.stdout) expected.add('stdout');
    if (t.stderr && !t.tty) expected.add('stderr');
    if (t.tty) expected.add('resize');
    const streams = new Map<string, number>();
    const stdin: Buffer[] = [];
    let stdinDone = !t.stdin;
    let ran = false;
    const maybeRun = async () => {
      if (ran || !stdinDone || [...expected].some((s) => !streams.has(s))) return;
      ran = true;
      const r = await this.run(t, t.stdin ? stdin : undefined);
      if (socket.destroyed) return;
      const out = streams.get('stdout');
      const err = streams.get('stderr');
      if (out !== undefined && r.stdout) conn.data(out, Buffer.from(r.stdout));
      if (err !== undefined && r.stderr) conn.data(err, Buffer.from(r.stderr));
      conn.data(streams.get('error')!, Buffer.from(JSON.stringify(execStatus(t, r))));
      for (const id of streams.values()) conn.data(id, Buffer.alloc(0), true);
      conn.goAway();
    };
    const conn = new SpdyServerConnection(
      socket,
      {
        onStream: (id, headers) => {
          conn.reply(id);
          const type = headers.streamtype ?? '';
          streams.set(type, id);
          void maybeRun();
        },
        onData: (id, data) => {
          if (id === streams.get('stdin')) stdin.push(data);
        },
        onEnd: (id) => {
          if (id === streams.get('stdin')) {
            stdinDone = true;
            void maybeRun();
          }
        },
        onClose: () => {
          if (!socket.destroyed) socket.destroy();
        },
      },
      head,
    );
    // A client that never opens all its streams does not hold the connection forever.
    const timer = setTimeout(() => socket.destroy(), 60_000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return 101;
  }
}

/** The metav1.Status the kubelet writes on the error channel when the command ends. */
export function execStatus(t: ExecTarget, r: ExecResult): J {
  if (r.exitCode === 0) return { metadata: {}, status: 'Success' };
  if (r.exitCode < 0) {
    const message = `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: ${r.stderr.trim()}: unknown`;
    return {
      metadata: {},
      status: 'Failure',
      message,
      reason: 'InternalError',
      details: { causes: [{ message }] },
      code: 500,
    };
  }
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${t.command.join(' ')}], exit code ${r.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(r.exitCode) }] },
  };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A Status answer on a socket that was never upgraded. */
export function writeHttpError(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(failureStatus(err));
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${err.code} ${REASONS[err.code] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
