import { describe, expect, it } from 'vitest';

describe('Toolchain', () => {
  it('runs the tests on Node 22, the Lambda runtime (nodejs22.x)', () => {
    expect(process.versions.node.split('.')[0]).toBe('22');
  });
});
