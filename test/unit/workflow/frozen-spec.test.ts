import { describe, expect, it } from 'vitest';
import { assertSpecFrozen, specHash } from '../../../functions/model/frozen-spec.js';
import { SPEC_HASH_ANNOTATION } from '../../../functions/model/names.js';
import type { PerconaXtraDBOpsRequest } from '../../../functions/model/types.js';

const spec = {
  type: 'ReconfigureTLS',
  databaseRef: { name: 'db' },
  tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'a' } },
  apply: 'IfReady',
};
const ops = (s: object, hash?: string): PerconaXtraDBOpsRequest => ({
  metadata: {
    name: 'r',
    namespace: 'demo',
    ...(hash ? { annotations: { [SPEC_HASH_ANNOTATION]: hash } } : {}),
  },
  spec: s as PerconaXtraDBOpsRequest['spec'],
});

describe('Frozen spec: the hash recorded at claim', () => {
  it('does not depend on key order', () => {
    const reordered = {
      apply: 'IfReady',
      tls: spec.tls,
      databaseRef: { name: 'db' },
      type: 'ReconfigureTLS',
    };
    expect(specHash(reordered)).toBe(specHash(spec));
  });

  it.each([
    ['another issuer', { ...spec, tls: { issuerRef: { ...spec.tls.issuerRef, name: 'b' } } }],
    ['a field added', { ...spec, timeout: '5m' }],
  ])('changes with %s', (_, changed) => {
    expect(specHash(changed)).not.toBe(specHash(spec));
  });

  it('changes with a list reordered, and only with the order changed', () => {
    const withList = (aliases: string[]) => ({
      ...spec,
      tls: { ...spec.tls, certificates: aliases.map((alias) => ({ alias })) },
    });
    expect(specHash(withList(['client', 'server']))).not.toBe(specHash(withList(['server', 'client'])));
  });

  it('passes the spec that was claimed, and a request not claimed yet', () => {
    expect(() => assertSpecFrozen(ops(spec, specHash(spec)))).not.toThrow();
    expect(() => assertSpecFrozen(ops(spec))).not.toThrow();
  });

  it('fails an edited spec with a reason that says what to do', () => {
    const edited = ops({ ...spec, apply: 'Always' }, specHash(spec));
    expect(() => assertSpecFrozen(edited)).toThrow(
      expect.objectContaining({
        name: 'InvalidRequestError',
        message: expect.stringMatching(/demo\/r was changed after it was claimed.*create a new request/),
      }),
    );
  });
});
