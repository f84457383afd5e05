import { describe, expect, it } from 'vitest';
import { CLAIM_ANNOTATION } from '../../../functions/model/names.js';
import { admit, blockingRequest, buildPlan, passesFor, targetTls } from '../../../functions/model/plan.js';
import type {
  PerconaXtraDB,
  PerconaXtraDBOpsRequest,
  ReconfigureTLSSpec,
} from '../../../functions/model/types.js';

const issuer = { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' };
const db = (o: { tls?: boolean; phase?: string } = {}): PerconaXtraDB => ({
  metadata: { name: 'db', namespace: 'demo' },
  spec: {
    replicas: 3,
    ...(o.tls
      ? { tls: { issuerRef: issuer, certificates: [{ alias: 'server', dnsNames: ['a'] }] }, requireSSL: true }
      : {}),
  },
  status: { phase: o.phase ?? 'Ready' },
});
const ops = (
  tls: ReconfigureTLSSpec | undefined,
  spec: Partial<PerconaXtraDBOpsRequest['spec']> = {},
): PerconaXtraDBOpsRequest => ({
  metadata: { name: 'r', namespace: 'demo', uid: 'u-1' },
  spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, ...(tls ? { tls } : {}), ...spec },
});

describe('Admission: which action a request asks for', () => {
  it.each([
    { tls: { issuerRef: issuer, requireSSL: true }, hasTls: false, action: 'add' },
    { tls: { rotateCertificates: true }, hasTls: true, action: 'rotate' },
    { tls: { remove: true }, hasTls: true, action: 'remove' },
    {
      tls: { certificates: [{ alias: 'server', emailAddresses: ['x@y.z'] }] },
      hasTls: true,
      action: 'update',
    },
    {
      tls: { issuerRef: { ...issuer, kind: 'ClusterIssuer', name: 'other' } },
      hasTls: true,
      action: 'change-issuer',
    },
    { tls: { issuerRef: issuer }, hasTls: true, action: 'update' },
    { tls: { requireSSL: false }, hasTls: true, action: 'require-ssl' },
  ])('$action from $tls', ({ tls, hasTls, action }) => {
    expect(admit(ops(tls as ReconfigureTLSSpec), db({ tls: hasTls }))).toBe(action);
  });

  it('takes Issuer px-issuer → ClusterIssuer px-issuer (same name, other kind) as a change of issuer, not an update', () => {
    // A ClusterIssuer's CA Secret lives elsewhere and is another CA: the pods must learn to trust it.
    const clusterIssuer = { ...issuer, kind: 'ClusterIssuer' };
    expect(admit(ops({ issuerRef: clusterIssuer }), db({ tls: true }))).toBe('change-issuer');
  });

  it.each([
    { why: 'no spec.tls', o: ops(undefined), d: db(), msg: /spec\.tls is required/ },
    {
      why: 'two kinds at once',
      o: ops({ remove: true, rotateCertificates: true }),
      d: db({ tls: true }),
      msg: /at once/,
    },
    {
      why: 'nothing asked',
      o: ops({ rotateCertificates: false }),
      d: db({ tls: true }),
      msg: /asks for nothing/,
    },
    {
      why: 'unknown tls field',
      o: ops({ rotate: true } as ReconfigureTLSSpec),
      d: db({ tls: true }),
      msg: /unknown field/,
    },
    { why: 'rotate without TLS', o: ops({ rotateCertificates: true }), d: db(), msg: /no TLS to rotate/ },
    {
      why: 'requireSSL without TLS',
      o: ops({ requireSSL: true }),
      d: db(),
      msg: /needs spec\.tls\.issuerRef/,
    },
    { why: 'missing database', o: ops({ rotateCertificates: true }), d: undefined, msg: /not found/ },
    {
      why: 'not Ready under IfReady',
      o: ops({ rotateCertificates: true }),
      d: db({ tls: true, phase: 'Critical' }),
      msg: /Critical/,
    },
    {
      why: 'bad apply',
      o: ops({ rotateCertificates: true }, { apply: 'Never' }),
      d: db({ tls: true }),
      msg: /spec\.apply/,
    },
    {
      why: 'bad timeout',
      o: ops({ rotateCertificates: true }, { timeout: '10 minutes' }),
      d: db({ tls: true }),
      msg: /spec\.timeout/,
    },
    { why: 'bad alias', o: ops({ certificates: [{ alias: 'foo' }] }), d: db({ tls: true }), msg: /foo/ },
  ])('refuses $why', ({ o, d, msg }) => {
    expect(() => admit(o, d)).toThrow(msg);
  });

  it('lets apply: Always run on a database that is not Ready', () => {
    expect(
      admit(ops({ rotateCertificates: true }, { apply: 'Always' }), db({ tls: true, phase: 'Critical' })),
    ).toBe('rotate');
  });
});

describe('Plan', () => {
  it.each([
    { action: 'change-issuer' as const, trusted: false, passes: ['trust-bundle', 'certificates'] },
    { action: 'change-issuer' as const, trusted: true, passes: ['certificates'] },
    { action: 'rotate' as const, trusted: false, passes: ['certificates'] },
    { action: 'remove' as const, trusted: false, passes: ['wiring'] },
    { action: 'require-ssl' as const, trusted: false, passes: ['wiring'] },
  ])('$action takes $passes', ({ action, trusted, passes }) => {
    expect(passesFor(action, { newCaAlreadyTrusted: trusted })).toEqual(passes);
  });

  it('restarts pods in ordinal order with the request timeout (default 10m)', () => {
    const plan = buildPlan(ops({ rotateCertificates: true }), db({ tls: true }), 'rotate');
    expect(plan).toMatchObject({
      pods: ['db-0', 'db-1', 'db-2'],
      timeoutSeconds: 600,
      opsRequestUid: 'u-1',
      apply: 'IfReady',
    });
    expect(
      buildPlan(ops({ rotateCertificates: true }, { timeout: '90s' }), db({ tls: true }), 'rotate')
        .timeoutSeconds,
    ).toBe(90);
  });

  it('merges requested certificate fields over the database ones, keeping requireSSL unless asked', () => {
    const t = targetTls(
      'update',
      { certificates: [{ alias: 'server', emailAddresses: ['x@y.z'] }] },
      db({ tls: true }),
    );
    expect(t.certificates).toEqual([{ alias: 'server', dnsNames: ['a'], emailAddresses: ['x@y.z'] }]);
    expect(t.requireSSL).toBe(true);
    expect(targetTls('remove', { remove: true }, db({ tls: true }))).toEqual({
      enabled: false,
      certificates: [],
      requireSSL: false,
    });
  });
});

describe('One request per database at a time', () => {
  const other = (o: {
    name: string;
    phase?: string;
    claimed?: boolean;
    created: string;
    db?: string;
  }): PerconaXtraDBOpsRequest => ({
    metadata: {
      name: o.name,
      namespace: 'demo',
      creationTimestamp: o.created,
      ...(o.claimed ? { annotations: { [CLAIM_ANNOTATION]: 'x' } } : {}),
    },
    spec: { type: 'ReconfigureTLS', databaseRef: { name: o.db ?? 'db' } },
    ...(o.phase ? { status: { phase: o.phase } } : {}),
  });
  const self = { ...other({ name: 'self', created: '2026-01-01T00:01:00Z', claimed: true }) };

  it.each([
    {
      why: 'a Progressing request on the same database blocks',
      o: other({ name: 'a', phase: 'Progressing', created: '2026-01-01T00:05:00Z' }),
      blocks: true,
    },
    {
      why: 'an older claimed one that has not started yet blocks',
      o: other({ name: 'a', claimed: true, created: '2026-01-01T00:00:00Z' }),
      blocks: true,
    },
    {
      why: 'a newer claimed one does not',
      o: other({ name: 'a', claimed: true, created: '2026-01-01T00:02:00Z' }),
      blocks: false,
    },
    {
      why: 'a finished one does not',
      o: other({ name: 'a', phase: 'Successful', created: '2026-01-01T00:00:00Z' }),
      blocks: false,
    },
    {
      why: 'another database does not',
      o: other({ name: 'a', phase: 'Progressing', created: '2026-01-01T00:00:00Z', db: 'x' }),
      blocks: false,
    },
    {
      why: 'an unclaimed Pending one does not',
      o: other({ name: 'a', created: '2026-01-01T00:00:00Z' }),
      blocks: false,
    },
  ])('$why', ({ o, blocks }) => {
    expect(blockingRequest(self, [self, o], CLAIM_ANNOTATION)?.metadata.name).toBe(blocks ? 'a' : undefined);
  });
});
