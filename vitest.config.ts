import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real MariaDB test needs Debian packages; it runs as `npm run test:mariadb` from .ci/run.
    exclude: ['test/mariadb/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
