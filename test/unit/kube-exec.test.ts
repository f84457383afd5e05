import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeForbiddenError, KubeRequestError, KubeUnavailableError } from '../../functions/errors.js';
import { kubeFromAccess, kubeFromKubeconfig } from '../../functions/kube/client.js';
import { acceptFor, clientFrame, EXEC_PROTOCOLS, FrameReader } from '../../functions/kube/exec.js';
import type { Kube } from '../../functions/kube/types.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { mysqlCommand, tlsDatabase } from '../sim/exec-helpers.js';

/** A server frame: unmasked, optionally split into fragments (the first carries the opcode). */
function serverFrames(opcode: number, payload: Buffer, fragments = 1): Buffer {
  const parts: Buffer[] = [];
  const size = Math.ceil(payload.length / fragments);
  for (let i = 0; i < fragments; i++) {
    const chunk = payload.subarray(i * size, (i + 1) * size);
    const fin = i === fragments - 1 ? 0x80 : 0;
    const op = i === 0 ? opcode : 0;
    const len = chunk.length;
    const head =
      len < 126 ? Buffer.from([fin | op, len]) : Buffer.from([fin | op, 126, (len >> 8) & 0xff, len & 0xff]);
    parts.push(head, chunk);
  }
  return Buffer.concat(parts);
}

const channel = (n: number, text: string) => Buffer.concat([Buffer.from([n]), Buffer.from(text)]);

/**
 * What a server reads from a client: complete masked frames (RFC 6455 5.3), decoded here rather
 * than with the adapter's own reader so the test holds whatever implements the client.
 */
function clientFramesIn(bytes: Buffer): { opcode: number; masked: boolean; payload: Buffer }[] {
  const out = [];
  let b = bytes;
  while (b.length >= 2) {
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      len = Number(b.readBigUInt64BE(2));
      off = 10;
    }
    const mask = masked ? b.subarray(off, off + 4) : Buffer.alloc(4);
    if (masked) off += 4;
    if (b.length < off + len) break;
    const payload = Buffer.from(b.subarray(off, off + len));
    for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!;
    out.push({ opcode, masked, payload });
    b = b.subarray(off + len);
  }
  return out;
}

describe('Kubernetes adapter: exec over WebSocket', () => {
  describe('frames', () => {
    it('joins fragmented messages and reads 16-bit lengths, however the bytes arrive', () => {
      const big = channel(1, 'x'.repeat(300));
      const bytes = Buffer.concat([serverFrames(2, big, 3), serverFrames(9, Buffer.from('hi'))]);
      const reader = new FrameReader();
      const got = [];
      for (let i = 0; i < bytes.length; i += 7) got.push(...reader.push(bytes.subarray(i, i + 7)));
      expect(got.map((f) => f.opcode)).toEqual([2, 9]);
      expect(got[0]!.payload.equals(big)).toBe(true);
      expect(got[1]!.payload.toString()).toBe('hi');
    });

    it('masks client frames, which a reader unmasks back to the payload', () => {
      const payload = Buffer.from('pong payload');
      const frame = clientFrame(0xa, payload);
      expect(frame[1]! & 0x80).toBe(0x80);
      expect(frame.subarray(6).equals(payload)).toBe(false);
      const [f] = new FrameReader().push(frame);
      expect(f).toEqual({ opcode: 0xa, payload });
    });
  });

  describe('against the simulator (its pods/exec is a real WebSocket server)', () => {
    let sim: Simulator;
    let kube: Kube;
    beforeAll(async () => {
      sim = await startSimulator({ podReadyDelayMs: 20 });
      kube = kubeFromKubeconfig(sim.kubeconfig);
      await tlsDatabase(sim, 'db');
    });
    afterAll(async () => {
      await sim?.stop();
    });

    it('runs the workflow mysql command and returns stdout, stderr and exit code 0', async () => {
      const r = await kube.exec(
        { namespace: 'demo', name: 'db-0' },
        { container: 'perconaxtradb', command: mysqlCommand('SELECT 1') },
      );
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe('1');
      expect(r.stderr).toMatch(/Using a password on the command line/);
    });

    it('passes a non-zero exit code and its stderr through (an SQL error)', async () => {
      const r = await kube.exec(
        { namespace: 'demo', name: 'db-1' },
        { container: 'perconaxtradb', command: mysqlCommand('FLUSH SSL') },
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/ERROR 1064/);
    });

    it('sends each argv word as its own command parameter, spaces and quotes intact', async () => {
      const r = await kube.exec(
        { namespace: 'demo', name: 'db-0' },
        { container: 'perconaxtradb', command: ['sh', '-c', 'echo "$1"', 'x', "a b 'c'"] },
      );
      expect(r).toMatchObject({ exitCode: 0, stdout: "a b 'c'\n" });
    });

    it('reports a program the container lacks as exit code -1 with the Status message', async () => {
      const r = await kube.exec(
        { namespace: 'demo', name: 'db-0' },
        { container: 'perconaxtradb', command: ['openssl', 'version'] },
      );
      expect(r.exitCode).toBe(-1);
      expect(r.message).toMatch(/executable file not found/);
    });

    it('maps a refused upgrade to the error families (400 unknown container → KubeRequestError)', async () => {
      await expect(
        kube.exec({ namespace: 'demo', name: 'db-0' }, { container: 'nope', command: ['true'] }),
      ).rejects.toThrow(KubeRequestError);
    });
  });

  describe('against a scripted server', () => {
    let server: http.Server;
    let url: string;
    let mode: 'forbid' | 'v4' | 'hang' | 'ping' | 'bad-accept' | 'bad-protocol' | 'no-status' = 'v4';
    const seen: http.IncomingHttpHeaders[] = [];
    /** Bytes the client sent after the upgrade, per connection. */
    const fromClient: Buffer[][] = [];
    const sockets: Duplex[] = [];
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        seen.push(req.headers);
        res.writeHead(403, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            status: 'Failure',
            reason: 'Forbidden',
            message: 'pods "p" is forbidden: User "x" cannot create resource "pods/exec"',
            code: 403,
          }),
        );
      });
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
        seen.push(req.headers);
        sockets.push(socket);
        // A client that refuses the upgrade hangs up while this server is still writing.
        socket.on('error', () => {});
        if (mode === 'forbid') {
          const body = JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'no exec', code: 403 });
          socket.end(
            `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          );
          return;
        }
        const key = String(req.headers['sec-websocket-key']);
        // A key of our own gives an accept computed correctly, for the wrong key.
        const accept = mode === 'bad-accept' ? acceptFor('AAAAAAAAAAAAAAAAAAAAAA==') : acceptFor(key);
        const protocol = mode === 'bad-protocol' ? 'channel.k8s.io' : 'v4.channel.k8s.io';
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
        );
        if (mode === 'hang') return;
        const received: Buffer[] = [];
        fromClient.push(received);
        socket.on('data', (b: Buffer) => received.push(b));
        if (mode === 'no-status') {
          socket.write(serverFrames(2, channel(1, 'out\n')));
          socket.end(serverFrames(8, Buffer.from([0x03, 0xe8])));
          return;
        }
        if (mode === 'ping') socket.write(serverFrames(9, Buffer.from('are you there')));
        socket.write(serverFrames(2, channel(1, 'out\n'), 2));
        socket.write(serverFrames(2, channel(2, 'err\n')));
        const status = {
          status: 'Failure',
          reason: 'NonZeroExitCode',
          message:
            'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
          details: { causes: [{ reason: 'ExitCode', message: '3' }] },
        };
        setTimeout(() => {
          socket.write(serverFrames(2, channel(3, JSON.stringify(status))));
          socket.write(serverFrames(8, Buffer.from([0x03, 0xe8])));
        }, 20);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    const kube = () => kubeFromAccess({ server: url, token: async () => 'secret-token' });

    it('offers v5 then v4, sends the bearer token, and reads v4 channels and the exit code', async () => {
      mode = 'v4';
      const r = await kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] });
      expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
      const h = seen.at(-1)!;
      expect(h['sec-websocket-protocol']).toBe(EXEC_PROTOCOLS.join(', '));
      expect(h.authorization).toBe('Bearer secret-token');
      expect(h.upgrade).toBe('websocket');
    });

    it('answers a ping with a masked pong carrying the same payload, and still reads the rest', async () => {
      mode = 'ping';
      const r = await kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] });
      expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
      const received = fromClient.at(-1)!;
      await vi.waitFor(() => {
        const pongs = clientFramesIn(Buffer.concat(received)).filter((f) => f.opcode === 0xa);
        expect(pongs).toHaveLength(1);
        expect(pongs[0]!.masked).toBe(true);
        expect(pongs[0]!.payload.toString()).toBe('are you there');
      });
    });

    it('refuses an upgrade whose Sec-WebSocket-Accept does not answer its key, reading nothing', async () => {
      mode = 'bad-accept';
      await expect(
        kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] }),
      ).rejects.toThrow(KubeUnavailableError);
    });

    it('refuses a subprotocol it did not offer (the old unversioned channel.k8s.io)', async () => {
      mode = 'bad-protocol';
      await expect(
        kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] }),
      ).rejects.toThrow(/subprotocol|channel\.k8s\.io/);
    });

    it('treats a stream that closes without a status as unavailable, not as success', async () => {
      mode = 'no-status';
      await expect(
        kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] }),
      ).rejects.toThrow(/the stream closed without a status/);
    });

    it('maps a 403 answer to the upgrade to KubeForbiddenError', async () => {
      mode = 'forbid';
      await expect(
        kube().exec({ namespace: 'demo', name: 'p' }, { container: 'c', command: ['sh'] }),
      ).rejects.toThrow(KubeForbiddenError);
    });

    it('gives up after timeoutSeconds with KubeUnavailableError when the stream never ends', async () => {
      mode = 'hang';
      await expect(
        kube().exec(
          { namespace: 'demo', name: 'p' },
          { container: 'c', command: ['sh'], timeoutSeconds: 0.3 },
        ),
      ).rejects.toThrow(KubeUnavailableError);
    });
  });
});
