/**
 * The server half of SPDY/3.1 as Kubernetes uses it for `pods/exec` (kubectl before 1.30 —
 * Debian's kubernetes-client is 1.20 — and newer kubectl when WebSockets are turned off or the
 * upgrade to them fails): the client opens one stream per channel (`streamtype: error`, `stdin`,
 * `stdout`, `stderr`, `resize`), the server answers each SYN_STREAM with a SYN_REPLY, reads stdin
 * until its FIN, writes stdout/stderr and the v4 status JSON on the error stream, then FINs every
 * stream and says GOAWAY. PINGs are echoed; SETTINGS and WINDOW_UPDATE are accepted and ignored
 * (the outputs here are far below the 64 KiB initial window).
 *
 * Frame layouts and the header-compression dictionary are those of the SPDY/3 draft
 * (draft-mbelshe-httpbis-spdy-00, 2.2 and 2.6.10.1). Header blocks share one zlib stream per
 * direction for the whole connection, each block ending on a sync flush. The client's stream is
 * inflated whole each time (a handful of small blocks per connection); ours is written as stored
 * (uncompressed) deflate blocks after a zlib header naming the dictionary, which every inflater
 * reads and which needs no compressor state.
 */
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const HEADERS = 8;
const FLAG_FIN = 0x01;

/** The SPDY/3 zlib dictionary: length-prefixed header names and values, then common strings. */
export const SPDY3_DICTIONARY: Buffer = (() => {
  const words = [
    'options',
    'head',
    'post',
    'put',
    'delete',
    'trace',
    'accept',
    'accept-charset',
    'accept-encoding',
    'accept-language',
    'accept-ranges',
    'age',
    'allow',
    'authorization',
    'cache-control',
    'connection',
    'content-base',
    'content-encoding',
    'content-language',
    'content-length',
    'content-location',
    'content-md5',
    'content-range',
    'content-type',
    'date',
    'etag',
    'expect',
    'expires',
    'from',
    'host',
    'if-match',
    'if-modified-since',
    'if-none-match',
    'if-range',
    'if-unmodified-since',
    'last-modified',
    'location',
    'max-forwards',
    'pragma',
    'proxy-authenticate',
    'proxy-authorization',
    'range',
    'referer',
    'retry-after',
    'server',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'user-agent',
    'vary',
    'via',
    'warning',
    'www-authenticate',
    'method',
    'get',
    'status',
    '200 OK',
    'version',
    'HTTP/1.1',
    'url',
    'public',
    'set-cookie',
    'keep-alive',
    'origin',
  ];
  const tail =
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  const parts: Buffer[] = [];
  for (const w of words) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
})();

/** Adler-32 (RFC 1950), the dictionary id in a zlib header. */
function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const byte of b) {
    a = (a + byte) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

export interface SpdyStreamEvents {
  /** The client opened a stream with these (lower-case) headers. */
  onStream(id: number, headers: Record<string, string>): void;
  onData(id: number, data: Buffer): void;
  /** The client half-closed (FIN) or reset the stream. */
  onEnd(id: number): void;
  /** The client said GOAWAY or the connection ended. */
  onClose(): void;
}

/** One SPDY/3.1 server connection over an upgraded socket. */
export class SpdyServerConnection {
  private buf: Buffer = Buffer.alloc(0);
  /** Every compressed header block the client sent, and how much of it was already read. */
  private readonly inflated: Buffer[] = [];
  private inflatedLength = 0;
  private deflateStarted = false;
  private closed = false;
  private lastClientStream = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly events: SpdyStreamEvents,
    head: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
    if (head.length) this.receive(head);
  }

  reply(id: number): void {
    const block = this.compress({});
    const payload = Buffer.alloc(4 + block.length);
    payload.writeUInt32BE(id & 0x7fffffff, 0);
    block.copy(payload, 4);
    this.writeControl(SYN_REPLY, 0, payload);
  }

  data(id: number, data: Buffer, fin = false): void {
    let off = 0;
    do {
      const chunk = data.subarray(off, off + 0xffffff);
      off += chunk.length;
      const h = Buffer.alloc(8);
      h.writeUInt32BE(id & 0x7fffffff, 0);
      h.writeUInt32BE(((fin && off >= data.length ? FLAG_FIN : 0) << 24) | chunk.length, 4);
      this.write(Buffer.concat([h, chunk]));
    } while (off < data.length);
  }

  /** GOAWAY (status OK) and close the socket once written. */
  goAway(): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(this.lastClientStream & 0x7fffffff, 0);
    payload.writeUInt32BE(0, 4);
    this.writeControl(GOAWAY, 0, payload);
    if (!this.socket.destroyed) this.socket.end();
  }

  private receive(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8 && !this.closed) {
      const length = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + length) return;
      const frame = this.buf.subarray(0, 8 + length);
      this.buf = this.buf.subarray(8 + length);
      try {
        this.frame(frame);
      } catch (err) {
        console.error('sim: spdy:', (err as Error).message);
        this.socket.destroy();
        this.finish();
      }
    }
  }

  private frame(f: Buffer): void {
    const flags = f[4]!;
    const payload = f.subarray(8);
    if (!(f[0]! & 0x80)) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      if (payload.length) this.events.onData(id, payload);
      if (flags & FLAG_FIN) this.events.onEnd(id);
      return;
    }
    const type = f.readUInt16BE(2);
    if (type === SYN_STREAM) {
      const id = payload.readUInt32BE(0) & 0x7fffffff;
      this.lastClientStream = Math.max(this.lastClientStream, id);
      const headers = this.decompress(payload.subarray(10));
      this.events.onStream(id, headers);
      if (flags & FLAG_FIN) this.events.onEnd(id);
    } else if (type === HEADERS) {
      this.decompress(payload.subarray(4)); // keeps the shared zlib context in step
    } else if (type === RST_STREAM) {
      this.events.onEnd(payload.readUInt32BE(0) & 0x7fffffff);
    } else if (type === PING) {
      this.writeControl(PING, 0, Buffer.from(payload));
    } else if (type === GOAWAY) {
      this.finish();
    }
    // SETTINGS, WINDOW_UPDATE, NOOP: nothing to do here.
  }

  private decompress(block: Buffer): Record<string, string> {
    this.inflated.push(block);
    const all = zlib.inflateSync(Buffer.concat(this.inflated), {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    const raw = all.subarray(this.inflatedLength);
    this.inflatedLength = all.length;
    const headers: Record<string, string> = {};
    let off = 4;
    const count = raw.readUInt32BE(0);
    for (let i = 0; i < count; i++) {
      const nl = raw.readUInt32BE(off);
      const name = raw
        .subarray(off + 4, off + 4 + nl)
        .toString('latin1')
        .toLowerCase();
      off += 4 + nl;
      const vl = raw.readUInt32BE(off);
      headers[name] = raw
        .subarray(off + 4, off + 4 + vl)
        .toString('latin1')
        .split('\0')
        .join(', ');
      off += 4 + vl;
    }
    return headers;
  }

  private compress(headers: Record<string, string>): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const entries = Object.entries(headers);
    parts.push(u32(entries.length));
    for (const [k, v] of entries) {
      parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
    }
    const raw = Buffer.concat(parts);
    const out: Buffer[] = [];
    if (!this.deflateStarted) {
      // CMF 0x78 (deflate, 32 KiB window), FLG 0xbb (preset dictionary; check bits), DICTID.
      const header = Buffer.from([0x78, 0xbb, 0, 0, 0, 0]);
      header.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      out.push(header);
      this.deflateStarted = true;
    }
    for (let off = 0; off < raw.length || off === 0; off += 0xffff) {
      const chunk = raw.subarray(off, off + 0xffff);
      const stored = Buffer.alloc(5);
      stored[0] = 0; // BFINAL 0, BTYPE 00 (stored), padded to the byte
      stored.writeUInt16LE(chunk.length, 1);
      stored.writeUInt16LE(~chunk.length & 0xffff, 3);
      out.push(stored, chunk);
      if (raw.length === 0) break;
    }
    // The sync-flush marker (an empty stored block): it makes the reader hand over what it has
    // without reading ahead past this frame.
    out.push(Buffer.from([0, 0, 0, 0xff, 0xff]));
    return Buffer.concat(out);
  }

  private writeControl(type: number, flags: number, payload: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | 3, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE((flags << 24) | payload.length, 4);
    this.write(Buffer.concat([h, payload]));
  }

  private write(b: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(b);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onClose();
  }
}
