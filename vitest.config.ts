import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Dovecot and PostgreSQL are shared per file; files run in parallel on 2 cores.
    pool: 'forks',
  },
});
