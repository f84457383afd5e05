/**
 * The issued certificates in real TLS handshakes (Node's TLS stack, i.e. OpenSSL): the server
 * certificate under pod names, mutual TLS with the client certificate, and the trust matrix of a
 * CA change. Runs everywhere (no external tool), on 127.0.0.1.
 */
import type { AddressInfo } from 'node:net';
import { checkServerIdentity, connect, createServer, type Server } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCA,
  type IssuedSecret,
  issueCertificates,
  mergeTrustBundle,
} from '../../../functions/pki/index.js';
import { authority, type TestCA } from './fixtures.js';

const POD = 'sample-pxc-1.sample-pxc-pods.demo.svc';

interface Outcome {
  clientOk: boolean;
  clientError?: string;
  serverSawClient?: { authorized: boolean; cn?: string };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TLS server presenting `server` (trusting its ca.crt for client certificates) and one client handshake. */
async function handshake(
  server: IssuedSecret,
  clientTrust: string,
  opts: { hostname?: string; clientCert?: IssuedSecret } = {},
): Promise<Outcome> {
  let serverSawClient: Outcome['serverSawClient'];
  const srv = createServer(
    {
      cert: server.data['tls.crt'],
      key: server.data['tls.key'],
      ca: server.data['ca.crt'],
      requestCert: true,
      rejectUnauthorized: false,
    },
    (socket) => {
      const peer = socket.getPeerCertificate();
      serverSawClient = { authorized: socket.authorized, cn: peer?.subject?.CN as string | undefined };
      socket.end('ok');
    },
  );
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  const hostname = opts.hostname ?? POD;
  return new Promise<Outcome>((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: hostname,
      ca: clientTrust,
      cert: opts.clientCert?.data['tls.crt'],
      key: opts.clientCert?.data['tls.key'],
      checkServerIdentity: (_host, cert) => checkServerIdentity(hostname, cert),
    });
    socket.once('secureConnect', () => {
      socket.once('data', () => {
        socket.destroy();
        resolve({ clientOk: true, serverSawClient });
      });
    });
    socket.once('error', (err) => resolve({ clientOk: false, clientError: err.message, serverSawClient }));
  });
}

async function issue(ca: TestCA, chain = '', trustBundlePem?: string) {
  const out = await issueCertificates({
    database: 'sample-pxc',
    namespace: 'demo',
    certificates: [],
    ca: authority(ca.certPem + chain, ca.keyPem),
    trustBundlePem,
  });
  return { server: out[0]!, client: out[1]!, exporter: out[2]! };
}

describe('Issued certificates in TLS handshakes', () => {
  let oldCa: TestCA;
  let newCa: TestCA;

  beforeAll(async () => {
    [oldCa, newCa] = await Promise.all([
      createTestCA({ commonName: 'old' }),
      createTestCA({ commonName: 'new' }),
    ]);
  });

  it('lets a client that trusts the CA verify the server under pod and service names', async () => {
    const { server } = await issue(oldCa);
    for (const hostname of [POD, 'sample-pxc.demo.svc', 'sample-pxc', 'x.sample-pxc.demo.svc']) {
      const r = await handshake(server, oldCa.certPem, { hostname });
      expect(r.clientOk, `${hostname}: ${r.clientError}`).toBe(true);
    }
  });

  it('fails the handshake for a name the certificate does not carry', async () => {
    const { server } = await issue(oldCa);
    const r = await handshake(server, oldCa.certPem, { hostname: 'sample-pxc-1.other-pods.demo.svc' });
    expect(r.clientOk).toBe(false);
    expect(r.clientError).toMatch(/does not match certificate's altnames/);
  });

  it('authenticates the client certificate (CN=root) at the server', async () => {
    const { server, client } = await issue(oldCa);
    const r = await handshake(server, oldCa.certPem, { clientCert: client });
    expect(r.clientOk).toBe(true);
    expect(r.serverSawClient).toEqual({ authorized: true, cn: 'root' });
  });

  it('works through an intermediate CA when clients trust only the root', async () => {
    const root = await createTestCA({ commonName: 'root' });
    const inter = await createTestCA({ commonName: 'intermediate', parent: root });
    const { server, client } = await issue(inter, root.certPem);
    const r = await handshake(server, root.certPem, { clientCert: client });
    expect(r.clientOk, r.clientError).toBe(true);
    expect(r.serverSawClient?.authorized).toBe(true);
  });

  describe('during a CA change', () => {
    it.each([
      // [pass, client trusts, client connects?]
      ['pass 1 (old certificate, old+new ca.crt)', 'old', true],
      ['pass 1 (old certificate, old+new ca.crt)', 'new', false],
      ['pass 1 (old certificate, old+new ca.crt)', 'bundle', true],
      ['pass 2 (new certificate, old+new ca.crt)', 'old', false],
      ['pass 2 (new certificate, old+new ca.crt)', 'new', true],
      ['pass 2 (new certificate, old+new ca.crt)', 'bundle', true],
    ] as const)('%s: a client trusting %s connects: %s', async (pass, trusts, connects) => {
      const bundle = mergeTrustBundle(oldCa.certPem, newCa.certPem);
      const presented = pass.startsWith('pass 1')
        ? await issue(oldCa, '', bundle)
        : await issue(newCa, '', bundle);
      const trust = trusts === 'old' ? oldCa.certPem : trusts === 'new' ? newCa.certPem : bundle;
      const r = await handshake(presented.server, trust);
      expect(r.clientOk, r.clientError).toBe(connects);
    });

    it('keeps peers of both CAs able to authenticate each other while the bundle is in place', async () => {
      const bundle = mergeTrustBundle(oldCa.certPem, newCa.certPem);
      const oldPeer = await issue(oldCa, '', bundle);
      const newPeer = await issue(newCa, '', bundle);
      for (const [srv, cli] of [
        [oldPeer, newPeer],
        [newPeer, oldPeer],
      ] as const) {
        const r = await handshake(srv.server, cli.server.data['ca.crt'], { clientCert: cli.server });
        expect(r.clientOk, r.clientError).toBe(true);
        expect(r.serverSawClient?.authorized).toBe(true);
      }
    });

    it('shows the skew the bundle prevents: an old-CA-only peer cannot trust a new-CA peer', async () => {
      const oldOnly = await issue(oldCa);
      const newPeer = await issue(newCa);
      // The new peer, trusting only the new CA, refuses the old peer's certificate...
      const asClient = await handshake(oldOnly.server, newPeer.server.data['ca.crt'], {
        clientCert: newPeer.server,
      });
      expect(asClient.clientOk).toBe(false);
      // ...and the old peer does not authorise the new peer's certificate.
      const bundle = mergeTrustBundle(oldCa.certPem, newCa.certPem);
      const asServer = await handshake(oldOnly.server, bundle, { clientCert: newPeer.server });
      expect(asServer.clientOk).toBe(true);
      expect(asServer.serverSawClient?.authorized).toBe(false);
    });
  });
});
