import { describe, expect, it } from 'vitest';
import { CA_SINCE_ANNOTATION } from '../../../functions/model/names.js';
import { loadedCurrentCa } from '../../../functions/model/trust.js';

const secret = (since?: string) => ({
  metadata: { name: 'db-server-cert', ...(since ? { annotations: { [CA_SINCE_ANNOTATION]: since } } : {}) },
});
const pod = (created?: string) => ({
  metadata: { name: 'db-0', ...(created ? { creationTimestamp: created } : {}) },
});

describe('loadedCurrentCa: a pod holds the Secret’s ca.crt only if it started after it was written', () => {
  it.each([
    ['started after the write', '2026-11-30T10:00:00Z', '2026-11-30T10:00:05Z', true],
    ['started in the same second', '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z', true],
    [
      'started before the write (an interrupted trust pass)',
      '2026-11-30T10:00:05Z',
      '2026-11-30T10:00:00Z',
      false,
    ],
    ['no record of the write', undefined, '2026-11-30T10:00:00Z', false],
    ['no creation time', '2026-11-30T10:00:00Z', undefined, false],
  ])('%s', (_name, since, created, expected) => {
    expect(loadedCurrentCa(secret(since), pod(created))).toBe(expected);
  });

  it('counts no Secret as no record', () => {
    expect(loadedCurrentCa(undefined, pod('2026-11-30T10:00:00Z'))).toBe(false);
  });
});
