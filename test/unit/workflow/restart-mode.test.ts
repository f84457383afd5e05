import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import { RESTART_MODE_ANNOTATION } from '../../../functions/model/names.js';
import { passesFor, restartModeOf } from '../../../functions/model/plan.js';
import { parseRows, sqlError, unproven } from '../../../functions/model/reload.js';
import type { PerconaXtraDBOpsRequest } from '../../../functions/model/types.js';
import { mergeTrustBundle, retireTrust, trustOverlap } from '../../../functions/pki/index.js';
import { issueTime } from '../../../functions/steps/issue-certificates.js';
import { mountProblem } from '../../../functions/steps/pod-volumes.js';
import {
  renewalOpsRequest,
  renewalRestartMode,
  stackRestartMode,
} from '../../../functions/steps/renewal-plan.js';
import { reloadSummary } from '../../../functions/steps/resume.js';
import { issueCert, makeCa } from '../../../local/sim/ca.js';

const ops = (annotations?: Record<string, string>) =>
  ({
    metadata: { name: 'r', namespace: 'demo', ...(annotations ? { annotations } : {}) },
    spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotateCertificates: true } },
  }) as PerconaXtraDBOpsRequest;

describe('Restart mode', () => {
  it.each([
    [undefined, undefined, 'Restart'],
    [undefined, 'Reload', 'Reload'],
    [undefined, 'reload', 'Restart'],
    ['Reload', undefined, 'Reload'],
    ['Restart', 'Reload', 'Restart'],
    ['Reload', 'Restart', 'Reload'],
  ])('annotation %s with stack default %s is %s', (annotation, stack, mode) => {
    const o = ops(annotation ? { [RESTART_MODE_ANNOTATION]: annotation } : undefined);
    expect(restartModeOf(o, stack)).toBe(mode);
  });

  it.each(['reload', 'RELOAD', '', 'Rolling'])('refuses the annotation value %j, naming it', (value) => {
    expect(() => restartModeOf(ops({ [RESTART_MODE_ANNOTATION]: value }), 'Reload')).toThrow(
      new InvalidRequestError(
        `metadata.annotations["pxc-tls-ops.io/restart-mode"]: ${JSON.stringify(value)} is not Reload or Restart`,
      ),
    );
  });

  it.each([
    ['change-issuer', false, 'Restart', ['trust-bundle', 'certificates']],
    ['change-issuer', false, 'Reload', ['trust-bundle', 'certificates', 'retire-ca']],
    ['change-issuer', true, 'Reload', ['certificates', 'retire-ca']],
    ['rotate', false, 'Reload', ['certificates']],
    ['require-ssl', false, 'Reload', ['wiring']],
  ] as const)('plans %s (new CA trusted: %s) in %s mode as %j', (action, trusted, mode, passes) => {
    expect(passesFor(action, { newCaAlreadyTrusted: trusted, restartMode: mode })).toEqual(passes);
  });

  it('writes the stack default on the renewals the expiry scanner creates', () => {
    expect(stackRestartMode({})).toBe('Restart');
    // Short-lived certificates renew in Reload mode whatever the stack says: a weekly renewal restarts nothing.
    const DAY = 86_400_000;
    expect(renewalRestartMode({ lifetimeMs: 7 * DAY }, {})).toBe('Reload');
    expect(renewalRestartMode({ lifetimeMs: 90 * DAY }, {})).toBe('Restart');
    expect(renewalRestartMode({ lifetimeMs: 90 * DAY }, { DEFAULT_RESTART_MODE: 'Reload' })).toBe('Reload');
    expect(stackRestartMode({ DEFAULT_RESTART_MODE: 'Reload' })).toBe('Reload');
    const renewal = {
      namespace: 'demo',
      database: 'db',
      opsRequest: 'db-renew',
      executionName: 'x',
      expired: false,
      renewalTime: '2026-01-01T00:00:00Z',
      notAfter: '2026-02-01T00:00:00Z',
      apply: 'IfReady' as const,
    };
    expect(
      renewalOpsRequest(renewal as Parameters<typeof renewalOpsRequest>[0], 'Reload').metadata.annotations?.[
        RESTART_MODE_ANNOTATION
      ],
    ).toBe('Reload');
  });
});

describe('Trust overlap (when pods may reload in parallel)', () => {
  const oldCa = makeCa('old CA');
  const newCa = makeCa('new CA');
  const oldLeaf = issueCert(oldCa, 'db').certPem;
  const sameCaLeaf = issueCert(oldCa, 'db').certPem;
  const newLeaf = issueCert(newCa, 'db').certPem;
  const bundle = mergeTrustBundle(oldCa.certPem, newCa.certPem);

  it.each([
    ['a rotation under the same CA', oldLeaf, oldCa.certPem, sameCaLeaf, oldCa.certPem, true],
    ['the trust-bundle pass of a CA change', oldLeaf, oldCa.certPem, oldLeaf, bundle, true],
    ['the certificates pass under the bundle', oldLeaf, bundle, newLeaf, bundle, true],
    ['retiring the old CA once every leaf is new', newLeaf, bundle, newLeaf, newCa.certPem, true],
    ['a CA change without the bundle pass', oldLeaf, oldCa.certPem, newLeaf, newCa.certPem, false],
    ['retiring the old CA while an old leaf is still served', oldLeaf, bundle, oldLeaf, newCa.certPem, false],
  ])('%s: %s', (_, oldCert, oldCaPem, newCert, newCaPem, overlap) => {
    expect(trustOverlap({ certPem: oldCert, caPem: oldCaPem }, { certPem: newCert, caPem: newCaPem })).toBe(
      overlap,
    );
  });

  it('retires the CAs trusted before the request that anchor no certificate now served', () => {
    const otherCa = makeCa('client CA');
    const clientLeaf = issueCert(otherCa, 'root').certPem;
    const original = mergeTrustBundle(oldCa.certPem, otherCa.certPem);
    const current = mergeTrustBundle(original, newCa.certPem);
    // The server moved to the new CA; the client alias kept its own issuer: its CA stays.
    expect(retireTrust(current, original, [newLeaf, clientLeaf])).toBe(
      mergeTrustBundle(otherCa.certPem, newCa.certPem),
    );
    // Nothing served from the old CA any more, nothing added by anyone else: the new CA alone.
    expect(retireTrust(bundle, oldCa.certPem, [newLeaf, newLeaf])).toBe(mergeTrustBundle(newCa.certPem));
    // An old leaf still served keeps its CA.
    expect(retireTrust(bundle, oldCa.certPem, [oldLeaf])).toBe(bundle);
  });

  it('trusts nothing unparsable', () => {
    expect(
      trustOverlap({ certPem: 'x', caPem: oldCa.certPem }, { certPem: oldLeaf, caPem: oldCa.certPem }),
    ).toBe(false);
  });
});

describe('Reload proof', () => {
  const v = (a: string, b: string) => ({ notBefore: a, notAfter: b });
  const expected = v('Apr 28 14:16:39 2026 GMT', 'Jul 27 14:16:39 2026 GMT');
  const old = v('Jan  2 10:00:00 2026 GMT', 'Apr  2 10:00:00 2026 GMT');

  it('is proven when the server reports the new validity and it differs from the replaced one', () => {
    expect(unproven(expected, expected, old)).toBeUndefined();
    expect(unproven(expected, expected, undefined)).toBeUndefined();
  });

  it('is not proven while the server reports the old certificate', () => {
    expect(unproven(old, expected, old)).toMatch(/not the new one/);
    expect(unproven({}, expected, old)).toMatch(/valid \? – \?/);
  });

  it('is not proven when old and new share their validity (nothing tells them apart)', () => {
    expect(unproven(expected, expected, expected)).toMatch(/same validity/);
  });

  it('issues a replacement so that its notBefore differs from the replaced certificate, to the second', () => {
    const now = new Date('2026-05-01T10:00:00.400Z');
    const backdated = new Date('2026-05-01T09:55:00.000Z'); // what `now` would give (5 min backdate)
    expect(issueTime(now, undefined)).toBe(now);
    expect(issueTime(now, new Date('2026-05-01T09:54:59.000Z'))).toBe(now);
    expect(issueTime(now, backdated).toISOString()).toBe('2026-05-01T10:00:01.000Z');
    // A replaced certificate from the future (clock skew): still one second after it.
    expect(issueTime(now, new Date('2026-05-01T09:58:00.000Z')).toISOString()).toBe(
      '2026-05-01T10:03:01.000Z',
    );
  });

  it('reads mysql -N -B rows and keeps only the ERROR line of stderr', () => {
    expect(
      parseRows(
        'Ssl_server_not_after\tJul 27 14:16:39 2026 GMT\nSsl_server_not_before\tApr 28 14:16:39 2026 GMT\n',
      ),
    ).toEqual({ Ssl_server_not_after: expected.notAfter, Ssl_server_not_before: expected.notBefore });
    expect(
      sqlError({
        stdout: '',
        stderr:
          'mysql: [Warning] Using a password on the command line interface can be insecure.\nERROR 3888 (HY000) at line 1: Failed\n',
        exitCode: 1,
      }),
    ).toBe('ERROR 3888 (HY000) at line 1: Failed');
  });

  const pod = (mounts: Array<Record<string, string>>) => ({
    metadata: { name: 'db-0' },
    spec: {
      containers: [{ name: 'perconaxtradb', volumeMounts: mounts }],
      volumes: [{ name: 'tls-server-config', secret: { secretName: 'db-server-cert' } }],
    },
  });

  it.each([
    [[{ name: 'tls-server-config', mountPath: '/etc/mysql/certs/server' }], undefined],
    [
      [{ name: 'tls-server-config', mountPath: '/etc/mysql/certs/server/tls.crt', subPath: 'tls.crt' }],
      /subPath, which the kubelet never updates/,
    ],
    [
      [{ name: 'tls-server-config', mountPath: '/etc/mysql/tls' }],
      /not mounted at \/etc\/mysql\/certs\/server/,
    ],
  ])('checks the server Secret is mounted whole where mysqld reads it: %j', (mounts, problem) => {
    const why = mountProblem(pod(mounts), 'db-server-cert');
    if (problem) expect(why).toMatch(problem);
    else expect(why).toBeUndefined();
  });

  it('sums up reloads and fallbacks for the final reason', () => {
    const c = (type: string) => ({ type, status: 'True' });
    expect(reloadSummary([c('Successful')])).toBeUndefined();
    expect(reloadSummary([c('ReloadTLS--a'), c('ReloadTLS--b'), c('ReloadFallback--c')])).toBe(
      'Reload mode: TLS reloaded without a restart in 2 pod(s), 1 restarted because a reload could not be proven (c; see the ReloadFallback conditions)',
    );
  });
});
